"""Group commit: concurrent single-event writes share one transaction.

Every commit waits for PostgreSQL to flush its WAL, and every write holds its tenant's chain
head lock until it commits; one transaction per event caps single-event ingest at the rate
of those flushes. Here, events that arrive while a commit is in flight wait for the next
one, which writes them all together: the first request of a quiet moment is written at once,
later ones share the next commit. Each request still gets its own event back, in order.

Every waiter gets an answer, whatever happens to its group:
- a failure of the database itself (unreachable, or a statement timeout) fails every waiter
  of the group with it: writing them one by one would only fail slower;
- any other failure may belong to one event, so the group is split in halves and each half
  written on its own, until the failing event is alone: its neighbours succeed;
- a writer cancelled mid-commit (shutdown past its grace period) fails every waiter it holds.
"""

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from src.audits.schemas import EventIn
from src.database import is_database_unavailable, is_query_timeout
from src.exceptions import ShuttingDown

MAX_GROUP = 256  # events per shared transaction

# Writes (tenant, event) pairs in one transaction; returns each one's (id, API JSON) in order.
WriteGroup = Callable[[Sequence[tuple[str, EventIn]]], Awaitable[list[tuple[uuid.UUID, str]]]]


@dataclass(slots=True)
class _Pending:
    tenant: str
    event: EventIn
    written: "asyncio.Future[tuple[uuid.UUID, str]]"

    def fail(self, error: BaseException) -> None:
        if not self.written.done():
            self.written.set_exception(error)


def _fails_the_whole_group(error: BaseException) -> bool:
    """True when `error` is the database's, not any one event's."""
    return is_database_unavailable(error) or is_query_timeout(error)


class GroupCommitter:
    """Queues single events and writes each queue-full in one transaction (one per process)."""

    def __init__(self, write: WriteGroup) -> None:
        self._write = write
        self._queue: list[_Pending] = []
        self._writer: asyncio.Task[None] | None = None

    async def append(self, tenant: str, event: EventIn) -> tuple[uuid.UUID, str]:
        """Write `event` at the end of `tenant`'s chain; its id and API JSON once committed."""
        written: asyncio.Future[tuple[uuid.UUID, str]] = asyncio.get_running_loop().create_future()
        self._queue.append(_Pending(tenant, event, written))
        if self._writer is None:
            self._writer = asyncio.create_task(self._drain())
        return await asyncio.shield(written)  # a client that leaves does not undo its write

    async def close(self) -> None:
        """Wait until every queued event is committed (or failed): nothing is left behind."""
        while self._writer is not None:
            await asyncio.shield(self._writer)

    async def _drain(self) -> None:
        try:
            while self._queue:
                group, self._queue = self._queue[:MAX_GROUP], self._queue[MAX_GROUP:]
                await self._commit(group)
        finally:
            self._writer = None
            # Only a cancelled writer leaves events queued: nobody will write them now.
            queued, self._queue = self._queue, []
            for pending in queued:
                pending.fail(ShuttingDown())

    async def _commit(self, group: Sequence[_Pending]) -> None:
        try:
            written = await self._write([(pending.tenant, pending.event) for pending in group])
        except Exception as error:
            if len(group) > 1 and not _fails_the_whole_group(error):
                half = len(group) // 2
                await self._commit(group[:half])
                await self._commit(group[half:])
                return
            for pending in group:
                pending.fail(error)
            return
        except BaseException:  # cancelled while writing: whether it committed is unknown
            for pending in group:
                pending.fail(ShuttingDown())
            raise
        for pending, result in zip(group, written, strict=True):
            pending.written.set_result(result)
