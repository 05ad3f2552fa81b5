"""Export encoders: keyset batches of event JSON in, NDJSON or CSV text chunks out."""

import csv
import io
import json
from collections.abc import AsyncIterator
from typing import Literal

ExportFormat = Literal["ndjson", "csv"]
MEDIA_TYPES: dict[ExportFormat, str] = {"ndjson": "application/x-ndjson", "csv": "text/csv"}

CSV_COLUMNS = (
    "id", "tenant", "seq", "action_type", "action", "entity_type", "entity_id",
    "actor.id", "actor.type", "actor.name", "status", "occurred_at", "received_at",
    "status_changed_at", "ip_address", "user_agent", "request_id", "details",
    "hash", "prev_hash", "erased_at",
)  # fmt: skip

Batches = AsyncIterator[list[str]]  # each batch: events as API JSON text


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


def encode(format: ExportFormat, batches: Batches) -> AsyncIterator[str]:
    """The text of the export file, a chunk per batch."""
    return _as_csv(batches) if format == "csv" else _as_ndjson(batches)


def _csv_line(values: list[object]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerow(values)
    return buffer.getvalue()


async def _as_csv(batches: Batches) -> AsyncIterator[str]:
    yield _csv_line(list(CSV_COLUMNS))
    async for batch in batches:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        for line in batch:
            event = json.loads(line)
            actor = event.get("actor") or {}
            row: list[object] = []
            for column in CSV_COLUMNS:
                if column.startswith("actor."):
                    row.append(actor.get(column.removeprefix("actor.")))
                elif column == "details":
                    row.append(
                        json.dumps(event["details"], ensure_ascii=False)
                        if event["details"] is not None
                        else ""
                    )
                else:
                    row.append(event[column])
            writer.writerow(row)
        yield buffer.getvalue()


async def _as_ndjson(batches: Batches) -> AsyncIterator[str]:
    async for batch in batches:
        yield "\n".join(batch) + "\n"
