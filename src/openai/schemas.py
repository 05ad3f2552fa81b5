"""Response models of the OpenAI domain: the call ledger and the usage report."""

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from src.openai.constants import CallPurpose, CallStatus
from src.schemas import UtcDatetime, with_examples


@dataclass(frozen=True, slots=True)
class Period:
    """The calls made from `since` (inclusive) to `until` (exclusive); None: unbounded."""

    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True, slots=True)
class LedgerScope:
    """Whose calls a request may see: one tenant's, or every tenant's (`tenant=None`, admin).

    A tenant key that names another tenant sees nothing (`visible=False`), not an error.
    """

    tenant: str | None
    visible: bool = True


EXAMPLE_CALL: dict[str, Any] = {
    "id": "0193a1c2-7b3e-7c1d-9a2b-3c4d5e6f7a8b",
    "created_at": "2026-11-21T09:31:02.120000Z",
    "tenant": "acme",
    "purpose": "ask.translate",
    "model": "gpt-4o-mini",
    "status": "ok",
    "upstream_status": 200,
    "attempts": 1,
    "latency_ms": 812.4,
    "prompt_tokens": 912,
    "completion_tokens": 64,
    "request_id": "4f1c2d3e5a6b7c8d9e0f1a2b3c4d5e6f",
    "prompt": None,
    "response": None,
}


class CallOut(BaseModel):
    """One model call: what it was for, how it ended, what it cost."""

    model_config = with_examples(EXAMPLE_CALL)

    id: uuid.UUID
    created_at: UtcDatetime = Field(description="When the call started.")
    tenant: str = Field(description="The tenant whose request made the call.")
    purpose: CallPurpose
    model: str = Field(description="The model that answered (or was asked, on failure).")
    status: CallStatus
    upstream_status: int | None = Field(description="HTTP status of the last try, if any.")
    attempts: int = Field(description="Tries made, retries included.")
    latency_ms: float = Field(description="Wall time of the whole call, retries included.")
    prompt_tokens: int | None = Field(description="As reported by the upstream.")
    completion_tokens: int | None = Field(description="As reported by the upstream.")
    request_id: str | None = Field(description="`X-Request-ID` of the request that made it.")
    # The chat messages exactly as sent: a list of OpenAI message objects.
    prompt: list[dict[str, Any]] | None = Field(
        description="The messages sent; null unless OPENAI_STORE_CONTENT is on."
    )
    response: str | None = Field(
        description="The model's reply; null unless OPENAI_STORE_CONTENT is on."
    )


class UsageGroup(BaseModel):
    key: str = Field(description="The model, or the UTC day (`YYYY-MM-DD`).")
    calls: int
    errors: int = Field(description="Calls that did not end `ok`.")
    prompt_tokens: int
    completion_tokens: int
    latency_p50_ms: float
    latency_p95_ms: float
    estimated_cost_usd: float | None = Field(
        description="From OPENAI_PRICES_PER_MILLION_TOKENS; null when a model has no price."
    )


class UsageReport(BaseModel):
    model_config = with_examples(
        {
            "since": "2026-10-22T00:00:00Z",
            "until": "2026-11-21T10:00:00Z",
            "group_by": "model",
            "groups": [
                {
                    "key": "gpt-4o-mini",
                    "calls": 42,
                    "errors": 1,
                    "prompt_tokens": 38_112,
                    "completion_tokens": 2_310,
                    "latency_p50_ms": 790.5,
                    "latency_p95_ms": 1_840.0,
                    "estimated_cost_usd": 0.007103,
                }
            ],
        }
    )

    since: UtcDatetime = Field(description="Inclusive start of the period reported.")
    until: UtcDatetime = Field(description="Exclusive end of the period reported.")
    group_by: Literal["model", "day"]
    groups: list[UsageGroup]
