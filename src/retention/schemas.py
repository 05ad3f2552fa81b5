"""Retention policies, legal holds and run reports, as the API and the command line show them."""

import uuid
from datetime import datetime

from pydantic import BaseModel, Field, JsonValue

from src.audits.filters import FilterBody
from src.retention.constants import MAX_DAYS, MIN_DAYS, RetentionMode
from src.schemas import UtcDatetime, with_examples


class PolicyIn(BaseModel):
    model_config = with_examples({"days": 365, "mode": "prune"}, extra="forbid")

    days: int | None = Field(
        ge=MIN_DAYS,
        le=MAX_DAYS,
        description=f"Keep events this many days after `received_at` ({MIN_DAYS}-{MAX_DAYS}); "
        "null keeps them forever.",
    )
    mode: RetentionMode = Field(
        default=RetentionMode.ERASE,
        description="`erase`: older events lose their personal payload, as `DELETE "
        "/audits/{id}` does (row, leaf and proofs stay). `prune`: their rows go too, a month "
        "at a time, and the log's minimum index moves up (to the end of the newest whole month "
        "of events, a multiple of 256, at or below the oldest kept leaf).",
    )


class PolicyOut(BaseModel):
    model_config = with_examples(
        {
            "tenant": "acme",
            "days": 365,
            "mode": "prune",
            "updated_at": "2026-12-03T14:00:00Z",
            "last_run_at": "2026-12-03T14:01:00Z",
        }
    )

    tenant: str = Field(description="The tenant.")
    days: int | None = Field(description="Days kept after `received_at`; null: forever.")
    mode: RetentionMode = Field(description="What happens to older events.")
    updated_at: UtcDatetime | None = Field(description="When the policy was set; null: never.")
    last_run_at: UtcDatetime | None = Field(description="When retention last ran for the tenant.")


class HoldCreate(BaseModel):
    model_config = with_examples(
        {
            "reason": "Litigation 2026-114: keep everything about repo_42",
            "filter": {"q": "entity:repository/repo_42"},
        },
        extra="forbid",
    )

    reason: str = Field(min_length=1, max_length=1000, pattern=r"^[^\x00]*$", description="Why.")
    filter: FilterBody = Field(
        default_factory=FilterBody,
        description="The list filters of `GET /audits` (and `q`): events matching them, now "
        "or later, are neither erased nor pruned while the hold stands. Empty: every event.",
    )


class HoldOut(BaseModel):
    model_config = with_examples(
        {
            "id": "0b6f4f7e-4c1e-4a53-9d1c-2f3e4d5c6b7a",
            "reason": "Litigation 2026-114: keep everything about repo_42",
            "filter": {"q": "entity:repository/repo_42"},
            "created_at": "2026-12-03T14:00:00Z",
            "released_at": None,
        }
    )

    id: uuid.UUID
    reason: str
    filter: dict[str, JsonValue] = Field(
        description="The filter as given (the list filters of `GET /audits`, only those set)."
    )
    created_at: UtcDatetime
    released_at: UtcDatetime | None = Field(description="When it was released; null: in force.")


class RunReport(BaseModel):
    """What one retention run did (or, dry, would do) to one tenant."""

    model_config = with_examples(
        {
            "tenant": "acme",
            "dry_run": False,
            "mode": "prune",
            "days": 365,
            "as_of": "2026-12-03T14:01:00Z",
            "cutoff": "2025-12-03T14:01:00Z",
            "held": 1,
            "erased": 250,
            "pruned": 10240,
            "first_seq": 1,
            "last_seq": 10497,
            "min_index": 10240,
            "recorded_seq": 10932,
        }
    )

    tenant: str
    dry_run: bool
    mode: RetentionMode | None = Field(description="The policy's mode; null: no policy.")
    days: int | None
    as_of: UtcDatetime = Field(description="The time age was judged at.")
    cutoff: UtcDatetime | None = Field(description="Events received before this expired.")
    held: int = Field(description="Expired events a legal hold kept.")
    erased: int = Field(description="Events whose payload was erased.")
    pruned: int = Field(description="Events whose rows were removed.")
    first_seq: int | None = Field(description="The lowest seq touched.")
    last_seq: int | None = Field(description="The highest seq touched.")
    min_index: int = Field(description="The log's minimum index after the run.")
    recorded_seq: int | None = Field(
        default=None, description="The seq of the `retention.run` event recording it."
    )


def as_hold_out(
    id: uuid.UUID,
    reason: str,
    filter: dict[str, object],
    created_at: datetime,
    released_at: datetime | None,
) -> HoldOut:
    return HoldOut(
        id=id,
        reason=reason,
        filter=filter,
        created_at=created_at,
        released_at=released_at,
    )
