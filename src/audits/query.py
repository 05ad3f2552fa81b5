"""One filter object, the search language that produces it, and the SQL built from it.

`EventFilter` is what query parameters, the `q` search language and (later) the AI all
produce; `conditions()` is the only place that turns one into a WHERE clause, and it serves
list, export and stats alike.
"""

import json
import re
import uuid
from datetime import UTC, date, datetime, time
from ipaddress import IPv4Network, IPv6Network, ip_network
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import ColumnElement, DateTime, Table, Uuid, case, cast, func, literal, null, tuple_
from sqlalchemy.dialects.postgresql import INET, JSONB

from src.audits.constants import ACTION_PATTERN, ActionType, EventStatus
from src.audits.exceptions import InvalidSearchQuery
from src.audits.models import AuditEvent

DetailsValue = str | int | float | bool | None


NonEmpty = Annotated[str, Field(min_length=1, max_length=255)]


class DetailsMatch(BaseModel):
    """`details` must contain `value` at `path` (JSON containment)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    path: tuple[Annotated[str, Field(min_length=1, pattern=r"^[^.\s:\"]+$")], ...] = Field(
        min_length=1, max_length=16, description="Keys from the top of `details` down."
    )
    value: DetailsValue = Field(description="The value found there.")


class EventFilter(BaseModel):
    """Conditions that all hold (`action_types` is any-of). Empty: every event."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    action_types: tuple[ActionType, ...] = ()
    action: Annotated[str, Field(pattern=ACTION_PATTERN, max_length=100)] | None = None
    entity_type: NonEmpty | None = None
    entity_id: NonEmpty | None = None
    actor_id: NonEmpty | None = None
    status: EventStatus | None = None
    occurred_after: AwareDatetime | None = None
    occurred_before: AwareDatetime | None = None
    ip: IPv4Network | IPv6Network | None = None
    details: tuple[DetailsMatch, ...] = ()
    text: tuple[NonEmpty, ...] = ()


# ---------------------------------------------------------------------------------------------
# The search language
# ---------------------------------------------------------------------------------------------

_TOKEN = re.compile(r'\s*(?:([A-Za-z_][A-Za-z0-9_.-]*):)?("(?:[^"\\]|\\.)*"|[^\s"]*)')
_SCALAR_KEYS = {
    "action": "action",
    "entity_type": "entity_type",
    "entity_id": "entity_id",
    "actor": "actor_id",
    "status": "status",
    "after": "occurred_after",
    "before": "occurred_before",
    "ip": "ip",
}
_ACTION = re.compile(ACTION_PATTERN)


def _unquote(raw: str) -> tuple[str, bool]:
    if raw.startswith('"'):
        return re.sub(r"\\(.)", r"\1", raw[1:-1]), True
    return raw, False


def _parse_time(term: str, value: str) -> datetime:
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            return datetime.combine(date.fromisoformat(value), time(), tzinfo=UTC)
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise InvalidSearchQuery(term, "expected a date (2026-11-01) or an RFC 3339 time") from exc
    if parsed.tzinfo is None:
        raise InvalidSearchQuery(term, "a time needs an offset, such as Z or +02:00")
    return parsed


def _parse_details_value(raw: str, quoted: bool) -> DetailsValue:
    if quoted:
        return raw
    try:
        value = json.loads(raw)
    except ValueError:
        return raw
    if isinstance(value, int | float | bool) or value is None:
        return value
    return raw


def parse_search(query: str) -> EventFilter:
    """Parse `q` into an `EventFilter`; `InvalidSearchQuery` names the first bad term."""
    if "\x00" in query:
        term = next(word for word in query.split() if "\x00" in word)
        raise InvalidSearchQuery(term, "NUL characters are not allowed")
    fields: dict[str, Any] = {}  # EventFilter's fields, validated at the end
    action_types: list[ActionType] = []
    details: list[DetailsMatch] = []
    text: list[str] = []
    position = 0
    while position < len(query):
        match = _TOKEN.match(query, position)
        if match is None or match.end() == position:
            raise InvalidSearchQuery(query[position:].split()[0], "unbalanced quotes")
        position = match.end()
        key, raw = match.group(1), match.group(2)
        term = query[match.start() : match.end()].strip()
        if not term:
            continue
        if position < len(query) and not query[position].isspace():
            raise InvalidSearchQuery(
                term + query[position:].split()[0], "unbalanced or stray quote"
            )
        value, quoted = _unquote(raw)
        if key is None:
            if not value:
                continue
            text.append(value)
            continue
        if not value:
            raise InvalidSearchQuery(term, "the term has no value")
        if key == "action_type":
            try:
                action_types.append(ActionType(value))
            except ValueError as exc:
                allowed = ", ".join(item.value for item in ActionType)
                raise InvalidSearchQuery(term, f"action_type is one of {allowed}") from exc
        elif key.startswith("details."):
            path = tuple(key.split(".")[1:])
            if not all(path):
                raise InvalidSearchQuery(term, "details paths look like details.key or details.a.b")
            try:
                details.append(DetailsMatch(path=path, value=_parse_details_value(value, quoted)))
            except ValidationError as exc:
                raise InvalidSearchQuery(term, str(exc.errors()[0]["msg"]).lower()) from exc
        elif key == "entity":
            entity_type, slash, entity_id = value.partition("/")
            if not slash or not entity_type or not entity_id:
                raise InvalidSearchQuery(term, "entity is written entity:type/id")
            _set_once(fields, term, "entity_type", entity_type)
            _set_once(fields, term, "entity_id", entity_id)
        elif key in _SCALAR_KEYS:
            _set_once(fields, term, _SCALAR_KEYS[key], _scalar(term, key, value))
        else:
            raise InvalidSearchQuery(term, f"unknown field {key!r}")
    try:
        return EventFilter(
            **fields, action_types=tuple(action_types), details=tuple(details), text=tuple(text)
        )
    except ValidationError as exc:  # e.g. a word longer than a filter value may be
        error = exc.errors()[0]
        raise InvalidSearchQuery(str(error.get("input"))[:60], str(error["msg"]).lower()) from exc


def _set_once(fields: dict[str, Any], term: str, name: str, value: object) -> None:
    if name in fields:
        raise InvalidSearchQuery(term, "this field is given twice")
    fields[name] = value


def _scalar(term: str, key: str, value: str) -> object:
    if key == "action" and not (_ACTION.fullmatch(value) and len(value) <= 100):
        raise InvalidSearchQuery(term, "an action is a dotted lower-case name")
    if key == "status":
        try:
            return EventStatus(value)
        except ValueError as exc:
            raise InvalidSearchQuery(term, "status is success, failure or pending") from exc
    if key in ("after", "before"):
        return _parse_time(term, value)
    if key == "ip":
        try:
            return ip_network(value, strict=False)
        except ValueError as exc:
            raise InvalidSearchQuery(term, "expected an IP address or a CIDR network") from exc
    return value


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _value(value: str) -> str:
    """A term's value: bare when that reads back the same, else quoted."""
    return value if re.fullmatch(r'[^\s"\\]+', value) else _quoted(value)


def _word(value: str) -> str:
    """A bare word or phrase: quoted when it has a space, a quote or a colon."""
    return value if re.fullmatch(r'[^\s"\\:]+', value) else _quoted(value)


def _details_value(value: DetailsValue) -> str:
    if isinstance(value, str):
        # A string that would read back as a number, boolean or null must be quoted.
        return _value(value) if _parse_details_value(value, False) == value else _quoted(value)
    return json.dumps(value)


def to_search(filter_: EventFilter) -> str:
    """The `q` string that parses back into `filter_` (how the AI's filter is shown as `q`)."""
    terms = [f"action_type:{action_type.value}" for action_type in filter_.action_types]
    if filter_.action is not None:
        terms.append(f"action:{filter_.action}")
    if filter_.entity_type is not None:
        terms.append(f"entity_type:{_value(filter_.entity_type)}")
    if filter_.entity_id is not None:
        terms.append(f"entity_id:{_value(filter_.entity_id)}")
    if filter_.actor_id is not None:
        terms.append(f"actor:{_value(filter_.actor_id)}")
    if filter_.status is not None:
        terms.append(f"status:{filter_.status.value}")
    if filter_.occurred_after is not None:
        terms.append(f"after:{filter_.occurred_after.isoformat()}")
    if filter_.occurred_before is not None:
        terms.append(f"before:{filter_.occurred_before.isoformat()}")
    if filter_.ip is not None:
        terms.append(f"ip:{filter_.ip}")
    for match in filter_.details:
        terms.append(f"details.{'.'.join(match.path)}:{_details_value(match.value)}")
    terms.extend(_word(word) for word in filter_.text)
    return " ".join(terms)


# ---------------------------------------------------------------------------------------------
# SQL
# ---------------------------------------------------------------------------------------------

events: Table = AuditEvent.__table__  # type: ignore[attr-defined]  # SQLModel hides it from mypy


def _nested(path: tuple[str, ...], value: DetailsValue) -> dict[str, Any]:
    nested: Any = value
    for key in reversed(path):
        nested = {key: nested}
    result: dict[str, Any] = nested
    return result


def conditions(
    tenant: str, *filters: EventFilter, include_erased: bool = False
) -> list[ColumnElement[bool]]:
    """The WHERE clause for a tenant's events matching every filter given."""
    c = events.c
    where: list[ColumnElement[bool]] = [c.tenant == tenant]
    if not include_erased:
        where.append(c.erased_at.is_(None))
    for f in filters:
        if f.action_types:
            where.append(c.action_type.in_([item.value for item in f.action_types]))
        for column, value in (
            (c.action, f.action),
            (c.entity_type, f.entity_type),
            (c.entity_id, f.entity_id),
            (c.actor_id, f.actor_id),
            (c.status, f.status.value if f.status else None),
        ):
            if value is not None:
                where.append(column == value)
        if f.occurred_after is not None:
            where.append(c.occurred_at >= f.occurred_after)
        if f.occurred_before is not None:
            where.append(c.occurred_at < f.occurred_before)
        if f.ip is not None:
            where.append(c.ip_address.op("<<=")(cast(str(f.ip), INET)))
        for match in f.details:
            where.append(
                c.details.op("@>")(
                    cast(literal(json.dumps(_nested(match.path, match.value))), JSONB)
                )
            )
        for phrase in f.text:
            where.append(c.search_vector.op("@@")(func.phraseto_tsquery("simple", phrase)))
    return where


def keyset_after(
    occurred_at: datetime, event_id: uuid.UUID, descending: bool
) -> ColumnElement[bool]:
    """Rows strictly after (occurred_at, id) in page order, as a row comparison (indexed)."""
    c = events.c
    key = tuple_(c.occurred_at, c.id)
    bound = tuple_(literal(occurred_at, DateTime(timezone=True)), literal(event_id, Uuid()))
    return key < bound if descending else key > bound


def _utc_text(column: Any) -> Any:  # a SQL expression
    return func.to_char(func.timezone("UTC", column), 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')


def event_json() -> Any:  # a SQL expression: the event exactly as the API shows it
    """The event as the API shows it, shaped by PostgreSQL (`json`, keys in this order)."""
    c = events.c
    actor = func.json_build_object("id", c.actor_id, "type", c.actor_type, "name", c.actor_name)
    return func.json_build_object(
        "id", c.id,
        "tenant", c.tenant,
        "seq", c.seq,
        "action_type", c.action_type,
        "action", c.action,
        "entity_type", c.entity_type,
        "entity_id", c.entity_id,
        "actor", case((c.actor_id.is_(None), null()), else_=actor),
        "status", c.status,
        "occurred_at", _utc_text(c.occurred_at),
        "received_at", _utc_text(c.received_at),
        "status_changed_at", _utc_text(c.status_changed_at),
        "ip_address", func.host(c.ip_address),
        "user_agent", c.user_agent,
        "request_id", c.request_id,
        "details", c.details,
        "hash", func.encode(c.hash, "hex"),
        "prev_hash", func.encode(c.prev_hash, "hex"),
        "erased_at", _utc_text(c.erased_at),
    )  # fmt: skip
