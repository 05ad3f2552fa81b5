"""The one event shape: what is read for an event, and its JSON and CSV forms.

`EventOut` (schemas.py) declares the fields an event has in the API. Everything else is
derived from it here: the columns read (`EVENT_COLUMNS`), the compact JSON every route
returns (`render`), the CSV header and rows; a unit test holds `render` equal to EventOut's
own JSON. Rendering is Python's C JSON encoder over values asyncpg already decoded: no JSON
is built in SQL.
"""

import csv
import io
import json
import uuid
from collections.abc import Sequence
from datetime import datetime
from ipaddress import IPv4Address, IPv4Interface, IPv6Address, IPv6Interface
from typing import Any

from sqlalchemy import Column, Row, select
from sqlalchemy.ext.asyncio import AsyncSession

from src.audits.integrity import format_timestamp
from src.audits.query import events
from src.audits.schemas import ActorOut, EventOut

# The stored columns an event's API form is made of, in EventOut's field order (the actor's
# three columns stand where `actor` does).
ACTOR_COLUMNS = tuple(f"actor_{name}" for name in ActorOut.model_fields)
EVENT_COLUMN_NAMES: tuple[str, ...] = tuple(
    column
    for field in EventOut.model_fields
    for column in (ACTOR_COLUMNS if field == "actor" else (field,))
)
EVENT_COLUMNS: tuple[Column[Any], ...] = tuple(events.c[name] for name in EVENT_COLUMN_NAMES)

CSV_COLUMNS: tuple[str, ...] = tuple(
    column
    for field in EventOut.model_fields
    for column in (
        tuple(f"actor.{name}" for name in ActorOut.model_fields) if field == "actor" else (field,)
    )
)

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode


def _text(value: object) -> object:
    """A column value as JSON: timestamps in the API's form, hashes as hex, addresses bare."""
    if isinstance(value, datetime):
        return format_timestamp(value)
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, IPv4Interface | IPv6Interface):
        return str(value.ip)
    if isinstance(value, IPv4Address | IPv6Address):
        return str(value)
    return value


def as_dict(values: Sequence[Any]) -> dict[str, Any]:  # an event as JSON values
    """The event whose column values (in `EVENT_COLUMN_NAMES` order) are `values`."""
    (
        id_, tenant, seq, action_type, action, entity_type, entity_id,
        actor_id, actor_type, actor_name, status, occurred_at, received_at,
        status_changed_at, ip_address, user_agent, request_id, details,
        hash_, prev_hash, erased_at,
    ) = values  # fmt: skip
    return {
        "id": str(id_),
        "tenant": tenant,
        "seq": seq,
        "action_type": action_type,
        "action": action,
        "entity_type": entity_type,
        "entity_id": entity_id,
        "actor": (
            None if actor_id is None else {"id": actor_id, "type": actor_type, "name": actor_name}
        ),
        "status": status,
        "occurred_at": format_timestamp(occurred_at),
        "received_at": format_timestamp(received_at),
        "status_changed_at": _text(status_changed_at),
        "ip_address": _text(ip_address),
        "user_agent": user_agent,
        "request_id": request_id,
        "details": details,
        "hash": hash_.hex(),
        "prev_hash": prev_hash.hex(),
        "erased_at": _text(erased_at),
    }


def render(values: Sequence[Any]) -> str:
    """The event as the API returns it: compact JSON, in EventOut's field order."""
    return _dumps(as_dict(values))


def csv_header() -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerow(CSV_COLUMNS)
    return buffer.getvalue()


def csv_rows(rows: Sequence[Sequence[Any]]) -> str:
    """CSV lines for these events (column values each): `actor.*` flat, `details` as JSON."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for values in rows:
        event = as_dict(values)
        actor = event.pop("actor") or {}
        details = event["details"]
        event["details"] = "" if details is None else _dumps(details)
        writer.writerow(
            [
                actor.get(column[6:]) if column.startswith("actor.") else event[column]
                for column in CSV_COLUMNS
            ]
        )
    return buffer.getvalue()


async def fetch_rendered(session: AsyncSession, tenant: str, ids: Sequence[uuid.UUID]) -> list[str]:
    """The events with these ids, rendered, in the order given (inside the caller's transaction)."""
    rows: Sequence[Row[Any]] = (
        await session.execute(
            select(*EVENT_COLUMNS).where(events.c.tenant == tenant, events.c.id.in_(ids))
        )
    ).all()
    by_id = {row[0]: render(row) for row in rows}
    return [by_id[event_id] for event_id in ids if event_id in by_id]
