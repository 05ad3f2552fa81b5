"""The call ledger: one row per model call, successful or not."""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, Column, DateTime, Index, Text, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel


class OpenAICall(SQLModel, table=True):
    """What a call cost and how it ended; prompt and answer only with `OPENAI_STORE_CONTENT`."""

    __tablename__ = "openai_call"
    __table_args__ = (
        CheckConstraint(
            "purpose IN ('ask.translate', 'ask.answer', 'summarize')", name="purpose_known"
        ),
        CheckConstraint(
            "status IN ('ok', 'upstream_error', 'rate_limited', 'timeout', 'invalid_output')",
            name="status_known",
        ),
        CheckConstraint("attempts >= 1", name="attempts_positive"),
        Index("ix_openai_call_tenant_created_at_id", "tenant", "created_at", "id"),
        Index("ix_openai_call_created_at_id", "created_at", "id"),
    )

    id: uuid.UUID = Field(primary_key=True)
    created_at: datetime = Field(
        sa_column=Column(DateTime(timezone=True), nullable=False, server_default=text("now()"))
    )
    tenant: str = Field(sa_type=Text)
    purpose: str = Field(sa_type=Text)
    model: str = Field(sa_type=Text)
    status: str = Field(sa_type=Text)
    upstream_status: int | None = Field(default=None, description="HTTP status of the last try.")
    attempts: int
    latency_ms: float
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    request_id: str | None = Field(default=None, sa_type=Text)
    # The messages sent, as the JSON list the SDK received.
    prompt: list[dict[str, Any]] | None = Field(default=None, sa_column=Column(JSONB))
    response: str | None = Field(default=None, sa_type=Text)
