"""Request and response models of the audits API."""

import math
import uuid
from datetime import UTC, datetime, timedelta
from ipaddress import IPv4Address, IPv6Address
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    IPvAnyAddress,
    WithJsonSchema,
    field_validator,
)

from src.audits.constants import (
    ACTION_PATTERN,
    MAX_BATCH_EVENTS,
    MAX_DETAILS_BYTES,
    MAX_DETAILS_DEPTH,
    MAX_FUTURE_SECONDS,
)
from src.audits.examples import EXAMPLE_EVENT_IN, EXAMPLE_EVENT_OUT
from src.audits.filters import EventFilter, ListFilters
from src.auth.schemas import TenantSlug
from src.events.constants import ActionType, ActorType, EventStatus
from src.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from src.schemas import NO_NUL_PATTERN, Rfc3339, UtcDatetime, with_examples
from src.verifier.content import canonical_json


def Text(min_length: int, max_length: int, description: str, **extra: Any) -> Any:  # noqa: N802
    """A pydantic Field for client text: length-limited, no NUL characters."""
    return Field(
        min_length=min_length,
        max_length=max_length,
        pattern=NO_NUL_PATTERN,
        description=description,
        **extra,
    )


def OptionalText(max_length: int, description: str, **extra: Any) -> Any:  # noqa: N802
    """A pydantic Field for optional client text: absent, or at most `max_length`, no NULs."""
    return Field(
        default=None,
        max_length=max_length,
        pattern=NO_NUL_PATTERN,
        description=description,
        **extra,
    )


# Validated as one type (one clear error), published as the standard formats clients know.
def _unscoped(address: IPv4Address | IPv6Address) -> IPv4Address | IPv6Address:
    # PostgreSQL's inet keeps no IPv6 zone (`%eth0`): stored, the address would no longer be
    # the one its hash committed to.
    if isinstance(address, IPv6Address) and address.scope_id is not None:
        raise ValueError("an IPv6 zone (`%...`) cannot be stored; send the address without it")
    return address


IpAddress = Annotated[
    IPvAnyAddress,
    AfterValidator(_unscoped),
    WithJsonSchema({"type": "string", "anyOf": [{"format": "ipv4"}, {"format": "ipv6"}]}),
]


class ActorIn(BaseModel):
    """Who did it. Absent on the event: the system itself."""

    model_config = ConfigDict(extra="forbid")

    id: str = Text(1, 255, "The actor's id in your system.", examples=["user_7"])
    type: ActorType = Field(description="What kind of actor.")
    name: str | None = OptionalText(
        255, "A display name (personal data: erasable).", examples=["Ada Lovelace"]
    )


def _normalized_details(value: Any, depth: int) -> Any:  # any JSON value
    if depth > MAX_DETAILS_DEPTH:
        raise ValueError(f"details may nest at most {MAX_DETAILS_DEPTH} levels deep")
    if isinstance(value, dict):
        normalized = {}
        for key, item in value.items():
            if "\x00" in key:
                raise ValueError("details may not contain NUL characters")
            normalized[key] = _normalized_details(item, depth + 1)
        return normalized
    if isinstance(value, list):
        return [_normalized_details(item, depth + 1) for item in value]
    if isinstance(value, str) and "\x00" in value:
        raise ValueError("details may not contain NUL characters")
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("details numbers must be finite")
        # jsonb prints integral numbers without an exponent; storing them as integers keeps
        # what is read back identical to what was hashed.
        if value.is_integer():
            return int(value)
    return value


class EventIn(BaseModel):
    """One audit event, as a producer sends it."""

    model_config = with_examples(EXAMPLE_EVENT_IN, extra="forbid")

    action_type: ActionType = Field(description="The kind of action.")
    action: str | None = Field(
        default=None,
        max_length=100,
        pattern=ACTION_PATTERN,
        description="A dotted lower-case name, e.g. `repository.deleted`.",
    )
    entity_type: str = Text(1, 100, "The kind of thing acted on.", examples=["repository"])
    entity_id: str = Text(1, 255, "Which one.", examples=["repo_42"])
    actor: ActorIn | None = Field(default=None, description="Who did it; absent means the system.")
    status: EventStatus = Field(default=EventStatus.SUCCESS, description="The outcome.")
    occurred_at: Rfc3339 | None = Field(
        default=None,
        description="When it happened (RFC 3339 with an offset); defaults to the time of receipt.",
    )
    ip_address: IpAddress | None = Field(
        default=None, description="The client's IPv4 or IPv6 address (erasable)."
    )
    user_agent: str | None = OptionalText(500, "The client's user agent (erasable).")
    request_id: str | None = OptionalText(128, "Your request id, to correlate.")
    details: dict[str, Any] | None = Field(  # arbitrary client JSON
        default=None,
        description=(
            f"Any JSON object, at most {MAX_DETAILS_BYTES // 1024} KiB and "
            f"{MAX_DETAILS_DEPTH} levels deep (erasable)."
        ),
    )

    @field_validator("occurred_at")
    @classmethod
    def _not_in_the_future(cls, value: datetime | None) -> datetime | None:
        if value is not None and value > datetime.now(UTC) + timedelta(seconds=MAX_FUTURE_SECONDS):
            raise ValueError("occurred_at may be at most 5 minutes in the future")
        return value

    @field_validator("details")
    @classmethod
    def _bounded_json(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is None:
            return None
        normalized: dict[str, Any] = _normalized_details(value, 1)
        if len(canonical_json(normalized)) > MAX_DETAILS_BYTES:
            raise ValueError(f"details may be at most {MAX_DETAILS_BYTES} bytes of JSON")
        return normalized


class EventCreate(EventIn):
    """One event; an admin key names its tenant here or with the `tenant` query parameter."""

    model_config = with_examples({**EXAMPLE_EVENT_IN, "tenant": "acme"}, extra="forbid")

    tenant: TenantSlug | None = Field(
        default=None, description="The tenant (admin keys only need it)."
    )


class EventBatchCreate(BaseModel):
    """Up to 1000 events, written all together or not at all."""

    model_config = with_examples({"events": [EXAMPLE_EVENT_IN]}, extra="forbid")

    tenant: TenantSlug | None = Field(
        default=None, description="The tenant (admin keys only need it)."
    )
    events: list[EventIn] = Field(
        min_length=1, max_length=MAX_BATCH_EVENTS, description="The events, in order."
    )


class StatusChange(BaseModel):
    """The outcome of a pending event."""

    model_config = with_examples({"status": "success"}, extra="forbid")

    status: Literal[EventStatus.SUCCESS, EventStatus.FAILURE] = Field(
        description="The final outcome."
    )


class ActorOut(BaseModel):
    id: str
    type: ActorType
    name: str | None


class EventOut(BaseModel):
    """An audit event as stored, with its place in the tenant's hash chain."""

    model_config = with_examples(EXAMPLE_EVENT_OUT)

    id: uuid.UUID = Field(description="UUIDv7: time-ordered.")
    tenant: str
    seq: int = Field(description="1-based position in the tenant's chain.")
    action_type: ActionType
    action: str | None
    entity_type: str
    entity_id: str
    actor: ActorOut | None
    status: EventStatus
    occurred_at: UtcDatetime
    received_at: UtcDatetime
    status_changed_at: UtcDatetime | None
    ip_address: IPv4Address | IPv6Address | None
    user_agent: str | None
    request_id: str | None
    details: dict[str, Any] | None  # client JSON
    hash: Annotated[
        str, Field(pattern="^[0-9a-f]{64}$", description="SHA-256(prev_hash || digest), hex.")
    ]
    prev_hash: Annotated[
        str, Field(pattern="^[0-9a-f]{64}$", description="The previous event's hash.")
    ]
    erased_at: UtcDatetime | None = Field(description="When the personal payload was erased.")


class EventPage(BaseModel):
    items: list[EventOut]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null at the end."
    )
    limit: int


class EventBatchOut(BaseModel):
    items: list[EventOut]
    count: int


class StatsBucket(BaseModel):
    start: UtcDatetime = Field(description="Start of the time bucket.")
    key: str | None = Field(description="The group's value (null: events without one).")
    count: int


class Stats(BaseModel):
    model_config = with_examples(
        {"buckets": [{"start": "2026-11-21T00:00:00Z", "key": "delete", "count": 12}]}
    )

    buckets: list[StatsBucket]


class Verification(BaseModel):
    model_config = with_examples(
        {
            "valid": True,
            "checked": 1200,
            "first_invalid_seq": None,
            "reason": None,
            "head_seq": 1200,
            "head_hash": "3b1f" + "0" * 60,
            "checkpoint_size": 1200,
            "root_hash": "Hj5TksjVG3ZlTTP3Kq2R1KmJHGnCVOw8qYWCdfk8CzY=",
            "min_index": 0,
        }
    )

    valid: bool = Field(description="True when every event in the range verified.")
    checked: int = Field(description="How many events were recomputed.")
    first_invalid_seq: int | None = Field(description="The first event that failed, if any.")
    reason: str | None = Field(description="Why it failed.")
    head_seq: int = Field(description="The newest `seq` of the tenant's chain.")
    head_hash: str = Field(description="The newest hash of the tenant's chain (hex).")
    checkpoint_size: int = Field(description="The size of the latest signed checkpoint.")
    root_hash: str | None = Field(
        description="The latest checkpoint's root hash (base64); null before the first."
    )
    min_index: int = Field(
        description="The log's minimum index: a pruned chain is checked from its signed prune "
        "anchor (seq `min_index + 1`), not from seq 1."
    )


QUESTION_MAX_CHARS = 500


class AskRequest(BaseModel):
    model_config = with_examples(
        {"question": "who deleted repositories last week?"}, extra="forbid"
    )

    question: str = Text(3, QUESTION_MAX_CHARS, "A question about this tenant's audit events.")
    limit: int = Field(
        default=DEFAULT_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE, description="Events in the first page."
    )


class AskResponse(BaseModel):
    model_config = with_examples(
        {
            "question": "who deleted repositories last week?",
            "filter": {
                "action_types": ["delete"],
                "action": None,
                "entity_type": "repository",
                "entity_id": None,
                "actor_id": None,
                "status": None,
                "occurred_after": "2026-11-14T09:30:00Z",
                "occurred_before": "2026-11-21T09:30:00Z",
                "ip": None,
                "details": [],
                "text": [],
            },
            "q": "action_type:delete entity_type:repository "
            "after:2026-11-14T09:30:00+00:00 before:2026-11-21T09:30:00+00:00",
            "items": [EXAMPLE_EVENT_OUT],
            "next_cursor": None,
            "answer": "Ada Lovelace (user_7) deleted repository repo_42 on 21 November.",
            "model": "gpt-4o-mini",
        }
    )

    question: str
    filter: EventFilter = Field(description="The structured filter the model produced.")
    q: str = Field(description="The same filter in the search language: `GET /audits?q=`.")
    items: list[EventOut] = Field(description="The first page of matching events, newest first.")
    next_cursor: str | None = Field(
        description="Continue with `GET /audits?q=<q>&cursor=<next_cursor>`; null at the end."
    )
    answer: str = Field(description="One sentence, from the model, about the first page.")
    model: str = Field(description="The model that answered.")


class SummarizeRequest(ListFilters):
    """The list filters of `GET /audits`, as JSON, and how many events to summarize."""

    model_config = with_examples({"actor_id": "user_7", "q": "after:2026-11-14"}, extra="forbid")

    max_events: int | None = Field(
        default=None,
        ge=1,
        description="Summarize at most this many of the newest matching events; at most, and "
        "by default, AI_SUMMARY_MAX_EVENTS.",
    )


class SummaryOut(BaseModel):
    model_config = with_examples(
        {
            "summary": "user_7 deleted three repositories on 21 November, citing "
            "cleanup; one deletion failed.",
            "cited_event_ids": [EXAMPLE_EVENT_OUT["id"]],
            "event_count": 3,
            "max_events": 100,
            "truncated": False,
            "model": "gpt-4o-mini",
        }
    )

    summary: str
    cited_event_ids: list[uuid.UUID] = Field(
        description="Events the summary relies on; each is one of the events summarized."
    )
    event_count: int = Field(description="How many events were summarized.")
    max_events: int = Field(description="The cap that applied to this summary.")
    truncated: bool = Field(description="More events matched than were summarized.")
    model: str = Field(description="The model that answered.")
