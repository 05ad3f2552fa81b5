"""The one filter: `EventFilter`, the search language that produces it, and the list's parameters.

`EventFilter` is what `q` parses into (`parse_search`), what the model's answer becomes
(prompts.py derives the model's schema from it), and what `query.conditions()` turns into the
one WHERE clause of list, export, stats and the AI endpoints. `ListFilters` is the same
filter as clients send it over HTTP, flat: the query parameters of `GET /audits` (and of
export and stats) and the body of `/audits/summarize`.
"""

import json
import re
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, time
from ipaddress import IPv4Network, IPv6Network, ip_network
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, JsonValue, ValidationError

from src.audits.constants import ACTION_PATTERN
from src.audits.exceptions import InvalidSearchQuery
from src.events.constants import ActionType, EventStatus
from src.schemas import NO_NUL_PATTERN, Rfc3339

DetailsValue = str | int | float | bool | None


NonEmpty = Annotated[str, Field(min_length=1, max_length=255)]


class DetailsMatch(BaseModel):
    """`details` must contain `value` at `path` (JSON containment)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    path: tuple[Annotated[str, Field(min_length=1, pattern=r"^[^.\s:\"]+$")], ...] = Field(
        min_length=1,
        max_length=16,
        description="Keys from the top of `details` down, e.g. ['reason'].",
    )
    value: DetailsValue = Field(description="The value at that path.")


class EventFilter(BaseModel):
    """Conditions that all hold (`action_types` is any-of). Empty: every event."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # The descriptions are also what the model reads when it fills a filter (prompts.py).
    action_types: tuple[ActionType, ...] = Field(
        default=(), description="Any of these kinds of action; [] = any."
    )
    action: Annotated[str, Field(pattern=ACTION_PATTERN, max_length=100)] | None = Field(
        default=None,
        description="An exact dotted action name such as 'repository.deleted', only when the "
        "question names one.",
    )
    entity_type: NonEmpty | None = Field(
        default=None,
        description="The kind of thing acted on, singular and lower-case, e.g. 'repository'.",
    )
    entity_id: NonEmpty | None = Field(
        default=None, description="The id of the thing acted on, if given."
    )
    actor_id: NonEmpty | None = Field(
        default=None, description="The id of who acted, e.g. 'user_7', if given."
    )
    status: EventStatus | None = Field(default=None, description="The outcome asked about, if any.")
    occurred_after: AwareDatetime | None = Field(
        default=None, description="Inclusive start, RFC 3339 in UTC, e.g. '2026-11-14T00:00:00Z'."
    )
    occurred_before: AwareDatetime | None = Field(
        default=None, description="Exclusive end, RFC 3339 in UTC."
    )
    ip: IPv4Network | IPv6Network | None = Field(
        default=None, description="An IP address or CIDR network, if given."
    )
    details: tuple[DetailsMatch, ...] = Field(
        default=(), description="Values that must appear in the event's free-form details."
    )
    text: tuple[NonEmpty, ...] = Field(
        default=(),
        description="Words or phrases to search for, only for what no other field captures.",
    )


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


# The single-valued fields as search terms, in the order `to_search` writes them.
_TERMS: tuple[tuple[str, str, Callable[[Any], str]], ...] = (
    ("action", "action", str),
    ("entity_type", "entity_type", _value),
    ("entity_id", "entity_id", _value),
    ("actor_id", "actor", _value),
    ("status", "status", lambda status: str(status.value)),
    ("occurred_after", "after", lambda at: str(at.isoformat())),
    ("occurred_before", "before", lambda at: str(at.isoformat())),
    ("ip", "ip", str),
)


def to_search(filter_: EventFilter) -> str:
    """The `q` string that parses back into `filter_` (how the AI's filter is shown as `q`)."""
    terms = [f"action_type:{action_type.value}" for action_type in filter_.action_types]
    for field, key, written in _TERMS:
        value = getattr(filter_, field)
        if value is not None:
            terms.append(f"{key}:{written(value)}")
    for match in filter_.details:
        terms.append(f"details.{'.'.join(match.path)}:{_details_value(match.value)}")
    terms.extend(_word(word) for word in filter_.text)
    return " ".join(terms)


class ListFilters(BaseModel):
    """The list filters as clients send them: all must hold; `action_type` is any-of."""

    # Used as query parameters next to others (`limit`, `cursor`): unknown ones are refused
    # by `src.http.params.check_query_parameters`, which knows every parameter of a route.
    model_config = ConfigDict(extra="ignore")

    action_type: list[ActionType] = Field(
        default_factory=list, description="Any of these action types (repeatable)."
    )
    action: str | None = Field(
        default=None, max_length=100, pattern=ACTION_PATTERN, description="Exactly this action."
    )
    entity_type: str | None = Field(
        default=None, min_length=1, max_length=100, pattern=NO_NUL_PATTERN
    )
    entity_id: str | None = Field(
        default=None, min_length=1, max_length=255, pattern=NO_NUL_PATTERN
    )
    actor_id: str | None = Field(default=None, min_length=1, max_length=255, pattern=NO_NUL_PATTERN)
    status: EventStatus | None = None
    occurred_after: Rfc3339 | None = Field(
        default=None, description="Inclusive lower bound of `occurred_at`."
    )
    occurred_before: Rfc3339 | None = Field(
        default=None, description="Exclusive upper bound of `occurred_at`."
    )
    q: str | None = Field(
        default=None,
        max_length=2000,
        pattern=NO_NUL_PATTERN,
        description='The search language, e.g. `action:user.login actor:user_7 "bulk export"`.',
        examples=["action_type:delete entity:repository/repo_42 details.reason:cleanup"],
    )

    def filters(self) -> tuple[EventFilter, ...]:
        """The filters that must all hold: the fields, and `q` parsed."""
        # The other fields have the same names in both models.
        same = self.model_dump(include=set(EventFilter.model_fields) & set(type(self).model_fields))
        fields = EventFilter(action_types=tuple(self.action_type), **same)
        return (fields, parse_search(self.q)) if self.q else (fields,)


class FilterBody(ListFilters):
    """The list filters as a field of a request body (a viewer token's, a legal hold's):
    unknown fields are refused there, since no other parameter shares the object."""

    model_config = ConfigDict(extra="forbid")


def fixed_filters(fixed: Mapping[str, JsonValue] | None) -> tuple[EventFilter, ...]:
    """A viewer token's fixed filter, as its credential carries it (the list filters it was
    minted with, checked then), as the filters every read it makes must also match."""
    return () if fixed is None else ListFilters.model_validate(fixed).filters()
