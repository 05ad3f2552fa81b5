"""Export: every matching event, read in keyset batches and written as NDJSON or CSV.

Batches, not single events, travel up the stack: each becomes one chunk of the response
body, so the per-chunk cost (ASGI message, gzip flush, socket write) is paid per thousands.
The next batch is read while this one is written (two batches in memory at most), each in a
short transaction of its own, so memory and the time any snapshot is held stay constant.
"""

import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import aclosing
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Row, Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from src.audits.query import EVENTS_ORDER, Selection
from src.audits.rendering import EVENT_COLUMNS, EVENT_JSON, csv_header, csv_rows, render_selected
from src.pagination import read_ahead

ExportFormat = Literal["ndjson", "csv", "bundle"]
MEDIA_TYPES: dict[ExportFormat, str] = {
    "ndjson": "application/x-ndjson",
    "csv": "text/csv",
    "bundle": "application/x-ndjson",
}
EXTENSIONS: dict[ExportFormat, str] = {"ndjson": "ndjson", "csv": "csv", "bundle": "bundle.ndjson"}

EXPORT_BATCH = 1000
Rows = Sequence[Row[*tuple[Any, ...]]]  # an event each (`EVENT_JSON` or `EVENT_COLUMNS`)
Batches = AsyncIterator[Rows]
Position = tuple[datetime, uuid.UUID]  # (occurred_at, id) of the last row seen


def batch_query(
    selection: Selection,
    *,
    format: Literal["ndjson", "csv"],
    descending: bool,
    after: Position | None,
) -> Select[Any]:
    """One export batch: the next `EXPORT_BATCH` selected events after `after`.

    NDJSON reads each event as the JSON PostgreSQL writes (`EVENT_JSON`), CSV its columns.
    """
    columns = EVENT_JSON if format == "ndjson" else EVENT_COLUMNS
    query = select(*columns, *EVENTS_ORDER.key).where(selection.where())
    if after is not None:
        query = query.where(EVENTS_ORDER.after(after, descending))
    return query.order_by(*EVENTS_ORDER.order(descending)).limit(EXPORT_BATCH)


async def stream(
    *,
    session: AsyncSession,
    selection: Selection,
    format: Literal["ndjson", "csv"],
    descending: bool,
) -> Batches:
    """Every selected event, a keyset batch at a time, in the list's order."""
    if not selection.access.visible:
        return

    async def fetch(after: Position | None) -> Rows:
        query = batch_query(selection, format=format, descending=descending, after=after)
        async with session.begin():
            rows: Rows = (await session.execute(query)).all()
        return rows

    batches = read_ahead(fetch, lambda row: tuple(row[-2:]), EXPORT_BATCH)  # the key ends it
    async with aclosing(batches):
        async for rows in batches:
            yield rows


async def started(batches: Batches) -> Batches:
    """`batches`, with its first batch already read: a failure there is raised here and now.

    A streamed response cannot change its status once it has begun; reading ahead before it
    begins turns a failing first query into an error response instead of a broken 200.
    """
    try:
        first = await anext(batches)
    except StopAsyncIteration:
        first = None

    async def resumed() -> Batches:
        if first is None:
            return
        yield first
        async for batch in batches:
            yield batch

    return resumed()


def encode(format: Literal["ndjson", "csv"], batches: Batches) -> AsyncIterator[str]:
    """The text of the export file, a chunk per batch."""
    return _as_csv(batches) if format == "csv" else _as_ndjson(batches)


async def _as_csv(batches: Batches) -> AsyncIterator[str]:
    yield csv_header()
    async for rows in batches:
        yield csv_rows(rows)


async def _as_ndjson(batches: Batches) -> AsyncIterator[str]:
    async for rows in batches:
        yield "\n".join(map(render_selected, rows)) + "\n"
