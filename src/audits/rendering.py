"""The one event shape: what is read for an event, and its JSON and CSV forms.

`EventOut` (schemas.py) declares the fields an event has in the API. Everything else is
derived from it here: the compact JSON every route returns, written by PostgreSQL in the
query that reads the events (`EVENT_JSON`, the whole object) or by Python for rows just
written (`render`); the columns CSV reads (`EVENT_COLUMNS`) and its header and rows. Tests
hold the two JSON writers equal to each other and to `EventOut`.
"""

import csv
import io
import json
import math
import uuid
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from ipaddress import IPv4Address, IPv4Interface, IPv6Address, IPv6Interface
from json.encoder import encode_basestring  # the C escaper json.dumps uses
from typing import Any

from sqlalchemy import JSON, Row, Text, case, cast, func, literal, select
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


def _utc_text(column: Any) -> Any:  # a SQL expression: a timestamp as the API writes it
    return func.to_char(func.timezone("UTC", column), 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')


# jsonb's text has a space after every `,` and `:` between tokens; this drops them, and
# nothing inside a string (a string is matched whole, so its commas are never separators).
_JSONB_SEPARATOR_SPACES = r'("(?:[^"\\]|\\.)*")|([,:]) '


def _compact_details(column: Any) -> Any:  # SQL: a jsonb column as compact JSON text (or NULL)
    """Compact JSON of a jsonb value, in jsonb's key order and number form.

    `json_strip_nulls` on the `json` form re-writes it compactly in C, but also drops members
    whose value is null: values holding a null go through the exact, slower regular
    expression instead (the word may as well be in a string: that only costs time).
    """
    as_text = cast(column, Text)
    return case(
        (
            func.strpos(as_text, literal("null")) == 0,
            cast(func.json_strip_nulls(cast(as_text, JSON)), Text),
        ),
        else_=func.regexp_replace(
            as_text, literal(_JSONB_SEPARATOR_SPACES), literal(r"\1\2"), literal("g")
        ),
    )


# How PostgreSQL hands over a column, where its own text form is cheaper than Python's:
# timestamps, hashes, addresses and ids arrive as the text the API shows (a third of an
# export's time went to decoding and formatting them in Python).
_AS_TEXT: dict[str, Any] = {  # column name -> SQL expression
    "id": lambda c: cast(c, Text),
    "occurred_at": _utc_text,
    "received_at": _utc_text,
    "status_changed_at": _utc_text,
    "erased_at": _utc_text,
    "ip_address": func.host,
    "details": _compact_details,
    "hash": lambda c: func.encode(c, "hex"),
    "prev_hash": lambda c: func.encode(c, "hex"),
}
EVENT_COLUMNS: tuple[Any, ...] = tuple(  # SQL expressions, labelled with the column names
    (_AS_TEXT[name](events.c[name]) if name in _AS_TEXT else events.c[name]).label(name)
    for name in EVENT_COLUMN_NAMES
)


# The same JSON as `render`, written by PostgreSQL in the query that reads the events (lists,
# pages, exports), so an event travels as one text from the database to the client. One
# member per field of EventOut, in its order; tests hold this and `render` equal.
def _json_string(column: Any) -> Any:  # SQL: a text column as a JSON string, or null
    return func.coalesce(cast(func.to_json(column), Text), literal("null"))


def _json_quoted(text: Any) -> Any:  # SQL: plain ASCII text (no escaping needed), or null
    return func.coalesce(literal('"') + text + literal('"'), literal("null"))


def _json_member(field: str) -> Any:  # SQL: the field's value as JSON text
    c = events.c
    if field == "actor":
        actor = (
            literal('{"id":')
            + _json_string(c.actor_id)
            + literal(',"type":')
            + _json_string(c.actor_type)
            + literal(',"name":')
            + _json_string(c.actor_name)
            + literal("}")
        )
        return case((c.actor_id.is_(None), literal("null")), else_=actor)
    if field == "seq":
        return cast(c.seq, Text)
    if field == "details":
        return func.coalesce(_compact_details(c.details), literal("null"))
    if field in _AS_TEXT:
        return _json_quoted(_AS_TEXT[field](c[field]))
    return _json_string(c[field])


def _json_object(fields: Sequence[str]) -> Any:  # SQL: `{"name":value,...}`
    text: Any = None
    for field in fields:
        member = literal(f'"{field}":') + _json_member(field)
        text = member if text is None else text + literal(",") + member
    return literal("{") + text + literal("}")


# SQL: the event as the API returns it (text), labelled `event`.
EVENT_JSON: Any = _json_object(list(EventOut.model_fields)).label("event")


CSV_COLUMNS: tuple[str, ...] = tuple(
    column
    for field in EventOut.model_fields
    for column in (
        tuple(f"actor.{name}" for name in ActorOut.model_fields) if field == "actor" else (field,)
    )
)

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode
_escape = encode_basestring  # a str as a JSON string, as `_dumps` and PostgreSQL write it


def _jsonb_key(key: str) -> tuple[int, bytes]:
    """jsonb keeps an object's keys shorter first, then by their bytes."""
    encoded = key.encode()
    return len(encoded), encoded


def _numeric_text(number: float) -> str:
    """A JSON number as PostgreSQL's `numeric` writes it back: never an exponent (1e-05 is
    0.00001), no negative zero. The value is the one `json.dumps` wrote into the row."""
    if not math.isfinite(number):
        raise ValueError(f"{number} is not a JSON number")
    text = format(Decimal(repr(number)), "f")
    return text[1:] if number == 0 and text.startswith("-") else text


def details_json(value: Any) -> str:  # any JSON value
    """`details` as reading its row back gives it (`_compact_details` in SQL): compact, keys
    in jsonb's order, numbers in `numeric`'s form, strings escaped as both escape them."""
    if isinstance(value, dict):
        keys = sorted(value, key=_jsonb_key)
        return "{" + ",".join(_escape(key) + ":" + details_json(value[key]) for key in keys) + "}"
    if isinstance(value, list):
        return "[" + ",".join(map(details_json, value)) + "]"
    if isinstance(value, float):
        return _numeric_text(value)
    return _dumps(value)  # a string, an integer, true, false, null


def _text(value: object) -> object:
    """A column value as JSON: timestamps in the API's form, hashes as hex, addresses bare."""
    if value is None or isinstance(value, str):  # already as the API shows it
        return value
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
    """The event whose column values (in `EVENT_COLUMN_NAMES` order) start `values`.

    Values come either as `EVENT_COLUMNS` reads them (text where PostgreSQL formats, `details`
    as its JSON text) or as Python objects (a row just written): `_text` gives both the same
    form, but for `details`, which stays as it came.
    """
    (
        id_, tenant, seq, action_type, action, entity_type, entity_id,
        actor_id, actor_type, actor_name, status, occurred_at, received_at,
        status_changed_at, ip_address, user_agent, request_id, details,
        hash_, prev_hash, erased_at, *_,
    ) = values  # fmt: skip
    return {
        "id": _text(id_),
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
        "occurred_at": _text(occurred_at),
        "received_at": _text(received_at),
        "status_changed_at": _text(status_changed_at),
        "ip_address": _text(ip_address),
        "user_agent": user_agent,
        "request_id": request_id,
        "details": details,
        "hash": _text(hash_),
        "prev_hash": _text(prev_hash),
        "erased_at": _text(erased_at),
    }


def _string(value: str | None) -> str:
    return "null" if value is None else _escape(value)


def _quoted(value: object) -> str:  # a value `_text` makes plain ASCII text, or None
    text = _text(value)
    return "null" if text is None else f'"{text}"'


def render(values: Sequence[Any]) -> str:
    """The event as the API returns it: compact JSON, in EventOut's field order.

    For rows just written (the answer to a write): the same text PostgreSQL writes for the
    stored row with `EVENT_JSON` (an integration test holds them equal byte for byte), member
    by member with the C string escaper `json.dumps` uses. `values` may go on past the event's
    columns.
    """
    (
        id_, tenant, seq, action_type, action, entity_type, entity_id,
        actor_id, actor_type, actor_name, status, occurred_at, received_at,
        status_changed_at, ip_address, user_agent, request_id, details,
        hash_, prev_hash, erased_at, *_,
    ) = values  # fmt: skip
    actor = (
        "null"
        if actor_id is None
        else f'{{"id":{_escape(actor_id)},"type":{_string(actor_type)},'
        f'"name":{_string(actor_name)}}}'
    )
    return (
        f'{{"id":{_quoted(id_)},"tenant":{_escape(tenant)},"seq":{seq},'
        f'"action_type":{_escape(action_type)},"action":{_string(action)},'
        f'"entity_type":{_escape(entity_type)},"entity_id":{_escape(entity_id)},'
        f'"actor":{actor},"status":{_escape(status)},'
        f'"occurred_at":{_quoted(occurred_at)},"received_at":{_quoted(received_at)},'
        f'"status_changed_at":{_quoted(status_changed_at)},'
        f'"ip_address":{_quoted(ip_address)},"user_agent":{_string(user_agent)},'
        f'"request_id":{_string(request_id)},'
        f'"details":{details_json(details)},'
        f'"hash":{_quoted(hash_)},"prev_hash":{_quoted(prev_hash)},'
        f'"erased_at":{_quoted(erased_at)}}}'
    )


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
        # As the JSON form writes it: read by `EVENT_COLUMNS`, it already is that text.
        if details is None:
            event["details"] = ""
        elif not isinstance(details, str):
            event["details"] = details_json(details)
        writer.writerow(
            [
                actor.get(column[6:]) if column.startswith("actor.") else event[column]
                for column in CSV_COLUMNS
            ]
        )
    return buffer.getvalue()


async def fetch_rendered(session: AsyncSession, tenant: str, ids: Sequence[uuid.UUID]) -> list[str]:
    """The events with these ids, rendered, in the order given (inside the caller's transaction)."""
    rows: Sequence[Row[*tuple[Any, ...]]] = (
        await session.execute(
            select(EVENT_JSON, events.c.id).where(events.c.tenant == tenant, events.c.id.in_(ids))
        )
    ).all()
    by_id: dict[uuid.UUID, str] = {row.id: row.event for row in rows}
    return [by_id[event_id] for event_id in ids if event_id in by_id]
