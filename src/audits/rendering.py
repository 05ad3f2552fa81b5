"""The one event shape: what is read for an event, and its JSON and CSV forms.

`EventOut` (schemas.py) declares the fields an event has in the API, in their order; each is
a stored column (the actor's three columns are one object), whose type `StoredEvent`
(src/events/stored.py) declares and says how it is written. Everything else is derived from
the two here: the compact JSON every route returns, written by PostgreSQL in the query that
reads the events (`EVENT_JSON`, the whole object) or by Python for rows just written
(`render`, `render_stored`); the columns CSV reads (`EVENT_COLUMNS`) and its header and rows.
Tests hold the two JSON writers equal to each other and to `EventOut`.
"""

import csv
import io
import json
import math
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from decimal import Decimal
from ipaddress import IPv4Address, IPv4Interface, IPv6Address, IPv6Interface
from json.encoder import encode_basestring  # the C escaper json.dumps uses
from operator import attrgetter, itemgetter
from typing import Any

from sqlalchemy import JSON, Row, Text, case, cast, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from src.audits.schemas import ActorOut, EventOut
from src.events.models import events
from src.events.stored import FIELD_BY_NAME, SqlType, StoredEvent, format_timestamp

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
# export's time went to decoding and formatting them in Python), by the column's type.
_AS_TEXT: dict[SqlType, Any] = {  # PostgreSQL type -> SQL expression of a column
    "uuid": lambda c: cast(c, Text),
    "timestamptz": _utc_text,
    "inet": func.host,
    "jsonb": _compact_details,
    "bytea": lambda c: func.encode(c, "hex"),
}


def _sql_type(name: str) -> SqlType:
    return FIELD_BY_NAME[name].storage.sql_type


def _column_as_text(name: str) -> Any:  # SQL: the column as EVENT_COLUMNS reads it
    as_text = _AS_TEXT.get(_sql_type(name))
    return events.c[name] if as_text is None else as_text(events.c[name])


EVENT_COLUMNS: tuple[Any, ...] = tuple(  # SQL expressions, labelled with the column names
    _column_as_text(name).label(name) for name in EVENT_COLUMN_NAMES
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
    sql_type = _sql_type(field)
    if sql_type == "bigint":
        return cast(c[field], Text)
    if sql_type == "jsonb":
        return func.coalesce(_compact_details(c[field]), literal("null"))
    if sql_type == "text":
        return _json_string(c[field])
    return _json_quoted(_column_as_text(field))


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


Values = Sequence[Any]  # an event's column values in EVENT_COLUMN_NAMES order (Any: each its own)
_ACTOR_AT = EVENT_COLUMN_NAMES.index(ACTOR_COLUMNS[0])  # where the actor's three values start


def _actor(values: Values) -> dict[str, Any] | None:
    actor_id, actor_type, actor_name = values[_ACTOR_AT : _ACTOR_AT + 3]
    return None if actor_id is None else {"id": actor_id, "type": actor_type, "name": actor_name}


def _value_reader(field: str) -> Callable[[Values], Any]:
    """The API field's JSON value from the column values: text where `_text` makes it."""
    if field == "actor":
        return _actor
    at = EVENT_COLUMN_NAMES.index(field)
    if _sql_type(field) in ("text", "bigint", "jsonb"):
        return itemgetter(at)
    return lambda values: _text(values[at])


_VALUE_READERS = [(field, _value_reader(field)) for field in EventOut.model_fields]


def as_dict(values: Values) -> dict[str, Any]:  # an event as JSON values
    """The event whose column values (in `EVENT_COLUMN_NAMES` order) start `values`.

    Values come either as `EVENT_COLUMNS` reads them (text where PostgreSQL formats, `details`
    as its JSON text) or as Python objects (a row just written): `_text` gives both the same
    form, but for `details`, which stays as it came.
    """
    return {field: read(values) for field, read in _VALUE_READERS}


def _string(value: str | None) -> str:
    return "null" if value is None else _escape(value)


def _quoted(value: object) -> str:  # a value `_text` makes plain ASCII text, or None
    text = _text(value)
    return "null" if text is None else f'"{text}"'


def _actor_json(values: Values) -> str:
    actor_id, actor_type, actor_name = values[_ACTOR_AT : _ACTOR_AT + 3]
    if actor_id is None:
        return "null"
    return f'{{"id":{_escape(actor_id)},"type":{_string(actor_type)},"name":{_string(actor_name)}}}'


_JSON_WRITERS: dict[SqlType, Callable[[Any], str]] = {  # a column's value as JSON text
    "text": _string,
    "bigint": str,
    "jsonb": details_json,
}


def _member_writer(field: str) -> Callable[[Values], str]:
    """The API field's member (`"name":value`) from the column values."""
    if field == "actor":
        return lambda values: '"actor":' + _actor_json(values)
    at, write = EVENT_COLUMN_NAMES.index(field), _JSON_WRITERS.get(_sql_type(field), _quoted)
    return lambda values: f'"{field}":' + write(values[at])


_MEMBER_WRITERS = [_member_writer(field) for field in EventOut.model_fields]


def render(values: Values) -> str:
    """The event as the API returns it: compact JSON, in EventOut's field order.

    For rows just written (the answer to a write): the same text PostgreSQL writes for the
    stored row with `EVENT_JSON` (an integration test holds them equal byte for byte), member
    by member with the C string escaper `json.dumps` uses. `values` may go on past the event's
    columns.
    """
    return "{" + ",".join([write(values) for write in _MEMBER_WRITERS]) + "}"


_api_values = attrgetter(*EVENT_COLUMN_NAMES)


def render_stored(event: StoredEvent) -> str:
    """A stored event (a row just written) as the API shows it, and as reading it back would."""
    return render(_api_values(event))


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
