"""Checking lines in several processes, results in input order, with bounded memory.

Each event line of a bundle checks on its own (parsing, rehashing, its inclusion proof: all
but a few microseconds of the work); only the checks across lines (order, chain links) are
sequential, and they run on the results. So the lines go to worker processes in chunks,
at most a few chunks ahead of the one whose results are being read: however large the
bundle, memory holds only those chunks.
"""

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from itertools import islice
from typing import TypeVar

Context = TypeVar("Context")
Item = TypeVar("Item")
Result = TypeVar("Result")

CHUNK = 2000  # lines per task: large enough that sending them costs little beside checking
AHEAD = 2  # chunks in flight per process


def in_order(
    check: Callable[[Context, list[Item]], list[Result]],
    context: Context,
    items: Iterable[Item],
    *,
    jobs: int,
) -> Iterator[Result]:
    """`check(context, chunk)` over `items` in chunks, its results in input order.

    With `jobs` <= 1, or fewer items than one chunk, everything runs in this process; a
    worker pool is only worth starting for more. `check` must be a module-level function
    (the workers import it). Stopping early cancels the chunks not started.
    """
    chunk = CHUNK
    iterator = iter(items)
    first = list(islice(iterator, chunk))
    if jobs <= 1 or len(first) < chunk:
        yield from check(context, first)
        while batch := list(islice(iterator, chunk)):
            yield from check(context, batch)
        return
    pool = ProcessPoolExecutor(max_workers=jobs)
    try:
        pending: deque[Future[list[Result]]] = deque([pool.submit(check, context, first)])
        while batch := list(islice(iterator, chunk)):
            pending.append(pool.submit(check, context, batch))
            if len(pending) >= jobs * AHEAD:
                yield from pending.popleft().result()
        while pending:
            yield from pending.popleft().result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
