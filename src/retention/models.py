"""Retention's rows: each tenant's policy, its legal holds, and the events each hold holds.

`legal_hold_event` is what the database's guards read: the range of events holding a row
listed there cannot be dropped, whoever asks (alembic/versions/2026-12-04_partitioned_events.py).
A hold lists the events matching its filter when it is created, and every retention run adds
those that matched since, before it removes anything.
"""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    Text,
    Uuid,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from src.retention.constants import MAX_DAYS, MIN_DAYS, RetentionMode

_MODES = ", ".join(repr(mode.value) for mode in RetentionMode)


class RetentionPolicy(SQLModel, table=True):
    __tablename__ = "retention_policy"
    __table_args__ = (
        CheckConstraint(
            f"days IS NULL OR days BETWEEN {MIN_DAYS} AND {MAX_DAYS}", name="days_range"
        ),
        CheckConstraint(f"mode IN ({_MODES})", name="mode_known"),
    )

    tenant: str = Field(sa_column=Column(Text, ForeignKey("tenant.slug"), primary_key=True))
    days: int | None = Field(sa_column=Column(Integer, nullable=True))
    mode: str = Field(sa_column=Column(Text, nullable=False))
    updated_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    # When the job last ran for the tenant: at most once an interval, whatever the processes.
    last_run_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )


class LegalHold(SQLModel, table=True):
    __tablename__ = "legal_hold"
    __table_args__ = (Index("ix_legal_hold_tenant_created", "tenant", "created_at", "id"),)

    id: uuid.UUID = Field(sa_column=Column(Uuid, primary_key=True))
    tenant: str = Field(sa_column=Column(Text, ForeignKey("tenant.slug"), nullable=False))
    reason: str = Field(sa_column=Column(Text, nullable=False))
    # The list filters as the admin sent them (`ListFilters`), validated then.
    filter: dict[str, Any] = Field(sa_column=Column(JSONB, nullable=False))  # JSON object
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    released_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )


class LegalHoldEvent(SQLModel, table=True):
    """An event an active hold holds (released holds' rows are removed with the release)."""

    __tablename__ = "legal_hold_event"
    __table_args__ = (
        PrimaryKeyConstraint("tenant", "seq", "hold_id", name="pk_legal_hold_event"),
        Index("ix_legal_hold_event_hold", "hold_id"),
    )

    tenant: str = Field(sa_column=Column(Text, nullable=False))
    seq: int = Field(sa_column=Column(BigInteger, nullable=False))
    hold_id: uuid.UUID = Field(sa_column=Column(Uuid, ForeignKey("legal_hold.id"), nullable=False))
