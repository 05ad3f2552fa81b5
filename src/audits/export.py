"""Export: every matching event, read in keyset batches and written as NDJSON or CSV (or as
the log's proof bundle, which `bundle` hands to the log with the events it selects).

Batches, not single events, travel up the stack: each becomes one chunk of the response
body, so the per-chunk cost (ASGI message, gzip flush, socket write) is paid per thousands.
An NDJSON batch arrives as one text PostgreSQL wrote: the lines of its events, joined;
Python only passes it on, and two PostgreSQL backends write two batches at once. CSV batches
are rows, read one batch ahead. Either way a batch is a short statement in a transaction of
its own, at most three batches are held, and a slow client slows the reads (the response
waits for each chunk to be sent before asking for more), so memory and the time any
snapshot is held stay constant.
"""

import asyncio
import uuid
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from contextlib import aclosing, asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Row, Select, func, literal, select
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from src.audits.query import EVENTS_ORDER, Selection
from src.audits.rendering import EVENT_COLUMNS, EVENT_JSON, csv_header, csv_rows
from src.events.models import STORED_COLUMNS, events
from src.log import service as log_service
from src.log.signing import LogIdentity
from src.pagination import read_ahead

ExportFormat = Literal["ndjson", "csv", "bundle"]
MEDIA_TYPES: dict[ExportFormat, str] = {
    "ndjson": "application/x-ndjson",
    "csv": "text/csv",
    "bundle": "application/x-ndjson",
}
EXTENSIONS: dict[ExportFormat, str] = {"ndjson": "ndjson", "csv": "csv", "bundle": "bundle.ndjson"}

EXPORT_BATCH = 5000  # events per batch: about 3 MB of NDJSON
Position = tuple[datetime, uuid.UUID]  # (occurred_at, id) of the last event of a batch


@dataclass(frozen=True, slots=True)
class Lines:
    """An NDJSON batch: its events' lines as PostgreSQL wrote them, and where it ended."""

    text: str  # the lines, each ending with a newline
    count: int
    last: Position | None


def batch_query(
    selection: Selection,
    *,
    format: Literal["ndjson", "csv"],
    descending: bool,
    after: Position | None,
    up_to: Position | None = None,
) -> Select[*tuple[Any, ...]]:
    """One export batch: the selected events after `after`, up to and including `up_to`, or
    the next `EXPORT_BATCH` of them.

    CSV reads each event's columns, a row each. NDJSON reads one row: the events' JSON
    (`EVENT_JSON`) joined into lines in the list's order, their number, and the last one's
    key.
    """
    columns = (EVENT_JSON,) if format == "ndjson" else EVENT_COLUMNS
    query = select(*columns, *EVENTS_ORDER.key).where(selection.where())
    if after is not None:
        query = query.where(EVENTS_ORDER.after(after, descending))
    query = query.order_by(*EVENTS_ORDER.order(descending))
    if up_to is None:
        query = query.limit(EXPORT_BATCH)
    else:
        query = query.where(EVENTS_ORDER.up_to(up_to, descending))
    if format == "csv":
        return query
    batch = query.subquery("batch")
    keys = [batch.c[column.name] for column in EVENTS_ORDER.key]
    # Every aggregate in the batch's own order: PostgreSQL (16 and later) then reads the
    # batch as the index gives it, with no sort; the last key is the last element.
    in_order = [key.desc() if descending else key.asc() for key in keys]
    count = func.count()
    return select(
        func.string_agg(batch.c.event + literal("\n"), aggregate_order_by(literal(""), *in_order)),
        count,
        *(func.array_agg(aggregate_order_by(key, *in_order))[count] for key in keys),
    )


def bound_query(tenant: str, *, descending: bool, after: Position | None) -> Select[Any]:
    """Where the batch after `after` ends: the key of the tenant's `EXPORT_BATCH`-th event
    after it (no row: fewer are left).

    Bounds split the tenant's events, not the selection's: the probe then reads the index
    alone (about 1 ms for 5,000 keys, against 30 ms with the filters' heap reads), and a
    batch holds at most `EXPORT_BATCH` selected events, fewer under a filter.
    """
    query = select(*EVENTS_ORDER.key).where(events.c.tenant == tenant)
    if after is not None:
        query = query.where(EVENTS_ORDER.after(after, descending))
    return query.order_by(*EVENTS_ORDER.order(descending)).offset(EXPORT_BATCH - 1).limit(1)


async def stream(
    *,
    session: AsyncSession,
    selection: Selection,
    format: Literal["ndjson", "csv"],
    descending: bool,
) -> AsyncIterator[str]:
    """The export file's text, a chunk per keyset batch, in the list's order.

    The first chunk holds the first batch (after CSV's header), so `started` reads it.
    """
    header = csv_header() if format == "csv" else ""
    if selection.access.visible:
        read = _csv_chunks if format == "csv" else _ndjson_chunks
        async with aclosing(read(session, selection, descending)) as chunks:
            async for chunk in chunks:
                yield header + chunk
                header = ""
    if header:  # nothing matched: the header alone
        yield header


async def _ndjson_chunks(
    session: AsyncSession, selection: Selection, descending: bool
) -> AsyncGenerator[str, None]:
    """The batches' lines in order, two batches read at once, each on its own session.

    PostgreSQL writing the lines is what an NDJSON export waits on; two backends write two
    batches at once. Each batch first probes where it ends (a keys-only read) and hands that
    bound to the next one at once, so batches start a probe apart, not a batch apart. Batches
    cover contiguous key ranges: an event written meanwhile into a range not read yet is
    exported, and none twice. At most two batches are read ahead of the one being sent, so
    the response's back pressure stops the reads.
    """
    async with _another_session(session) as second:
        sessions = (session, second)
        reading: deque[asyncio.Task[tuple[Lines, Position | None]]] = deque()
        started = 0  # batches started: batch n reads on sessions[n % len(sessions)]
        after: Position | None = None  # where the next batch to start begins
        more = True  # a batch may follow those started

        async def start_batches() -> None:
            """Start batches on the free sessions, each once the one before knows its end."""
            nonlocal started, after, more
            while more and len(reading) < len(sessions):
                bound: asyncio.Future[Position | None] = asyncio.Future()
                lane = sessions[started % len(sessions)]
                reading.append(
                    asyncio.create_task(_read_batch(lane, selection, descending, after, bound))
                )
                started += 1
                after = await bound
                more = after is not None

        try:
            await start_batches()
            while reading:
                lines, up_to = await reading.popleft()
                if up_to is None and lines.count >= EXPORT_BATCH:  # the last one grew meanwhile
                    more, after = True, lines.last
                await start_batches()  # the freed session reads on while this batch is sent
                if lines.count:
                    yield lines.text
        finally:
            for task in reading:
                task.cancel()
            await asyncio.gather(*reading, return_exceptions=True)


async def _read_batch(
    session: AsyncSession,
    selection: Selection,
    descending: bool,
    after: Position | None,
    bound: asyncio.Future[Position | None],
) -> tuple[Lines, Position | None]:
    """Probe where the batch after `after` ends and set `bound` to it, then read its lines."""
    try:
        async with session.begin():
            probed = (
                await session.execute(
                    bound_query(selection.access.tenant, descending=descending, after=after)
                )
            ).first()
    except asyncio.CancelledError:
        bound.cancel()
        raise
    except Exception as error:  # the next batch waits on the bound: it fails with this
        bound.set_exception(error)
        raise
    up_to: Position | None = None if probed is None else (probed[0], probed[1])
    bound.set_result(up_to)
    query = batch_query(selection, format="ndjson", descending=descending, after=after, up_to=up_to)
    async with session.begin():
        text, count, *last = (await session.execute(query)).one()
    return Lines(text or "", count, (last[0], last[1]) if count else None), up_to


@asynccontextmanager
async def _another_session(session: AsyncSession) -> AsyncIterator[AsyncSession]:
    """A second session on `session`'s engine: another PostgreSQL backend for the reads."""
    if not isinstance(session.bind, AsyncEngine):
        raise TypeError("an export needs a session bound to an engine")
    async with AsyncSession(session.bind) as other:
        yield other


async def _csv_chunks(
    session: AsyncSession, selection: Selection, descending: bool
) -> AsyncGenerator[str, None]:
    async def fetch(after: Position | None) -> Sequence[Row[*tuple[Any, ...]]]:
        query = batch_query(selection, format="csv", descending=descending, after=after)
        async with session.begin():
            rows: Sequence[Row[*tuple[Any, ...]]] = (await session.execute(query)).all()
        return rows

    batches = read_ahead(fetch, lambda row: (row[-2], row[-1]), EXPORT_BATCH)
    async with aclosing(batches):
        async for rows in batches:
            yield csv_rows(rows)


async def started(chunks: AsyncIterator[str]) -> AsyncIterator[str]:
    """`chunks`, with the first one already read: a failure there is raised here and now.

    A streamed response cannot change its status once it has begun; reading ahead before it
    begins turns a failing first query into an error response instead of a broken 200.
    """
    first = await anext(chunks, None)

    async def resumed() -> AsyncIterator[str]:
        if first is None:
            return
        yield first
        async for chunk in chunks:
            yield chunk

    return resumed()


async def bundle(
    *,
    session: AsyncSession,
    identity: LogIdentity,
    selection: Selection,
    descending: bool,
    since_size: int | None,
) -> AsyncIterator[str]:
    """The offline proof bundle of the selected events (the log writes it: header, proofs)."""
    return await log_service.export_bundle(
        session=session,
        identity=identity,
        access=selection.access,
        selected=select(EVENT_JSON, *STORED_COLUMNS).where(selection.where()),
        complete=selection.is_everything() and not descending,
        descending=descending,
        since_size=since_size,
    )
