"""Export: every matching event, read in keyset batches and written as NDJSON or CSV.

Batches, not single events, travel up the stack: each becomes one chunk of the response
body, so the per-chunk cost (ASGI message, gzip flush, socket write) is paid per thousands.
An NDJSON batch arrives as one text PostgreSQL wrote: the lines of its events, joined, and
where the next batch starts; Python only passes it on. The next batch is read while this
one is written (two batches in memory at most), each in a short transaction of its own, so
memory and the time any snapshot is held stay constant, and a slow client slows the reads
(the response waits for each chunk to be sent before asking for more).
"""

import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from contextlib import aclosing
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Row, Select, func, literal, select
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncSession

from src.audits.query import EVENTS_ORDER, Selection
from src.audits.rendering import EVENT_COLUMNS, EVENT_JSON, csv_header, csv_rows
from src.pagination import after_full, read_ahead

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

    def __len__(self) -> int:
        return self.count


def batch_query(
    selection: Selection,
    *,
    format: Literal["ndjson", "csv"],
    descending: bool,
    after: Position | None,
) -> Select[*tuple[Any, ...]]:
    """One export batch: the next `EXPORT_BATCH` selected events after `after`.

    CSV reads each event's columns, a row each. NDJSON reads one row: the events' JSON
    (`EVENT_JSON`) joined into lines in the list's order, their number, and the last one's
    key.
    """
    columns = (EVENT_JSON,) if format == "ndjson" else EVENT_COLUMNS
    query = select(*columns, *EVENTS_ORDER.key).where(selection.where())
    if after is not None:
        query = query.where(EVENTS_ORDER.after(after, descending))
    query = query.order_by(*EVENTS_ORDER.order(descending)).limit(EXPORT_BATCH)
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
    async def fetch(after: Position | None) -> Lines:
        query = batch_query(selection, format="ndjson", descending=descending, after=after)
        async with session.begin():
            text, count, *last = (await session.execute(query)).one()
        return Lines(text or "", count, (last[0], last[1]) if count else None)

    def next_position(lines: Lines) -> Position | None:
        return lines.last if len(lines) >= EXPORT_BATCH else None

    async with aclosing(read_ahead(fetch, next_position)) as batches:
        async for lines in batches:
            yield lines.text


async def _csv_chunks(
    session: AsyncSession, selection: Selection, descending: bool
) -> AsyncGenerator[str, None]:
    async def fetch(after: Position | None) -> Sequence[Row[*tuple[Any, ...]]]:
        query = batch_query(selection, format="csv", descending=descending, after=after)
        async with session.begin():
            rows: Sequence[Row[*tuple[Any, ...]]] = (await session.execute(query)).all()
        return rows

    batches = read_ahead(fetch, after_full(lambda row: (row[-2], row[-1]), EXPORT_BATCH))
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
