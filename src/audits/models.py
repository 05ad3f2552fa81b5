"""Idempotency records: the events table and the chain heads are src/events/models.py."""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    ForeignKey,
    Index,
    LargeBinary,
    PrimaryKeyConstraint,
    Text,
    Uuid,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlmodel import Field, SQLModel


def _tz(nullable: bool) -> Any:  # SQLAlchemy's Column is untyped here; the model field types it
    return Column(DateTime(timezone=True), nullable=nullable)


class IdempotencyRecord(SQLModel, table=True):
    """A used `Idempotency-Key`: what was asked and which events answered it.

    Only event ids are kept, never the response body, so erasing an event leaves no copy of
    its payload here; a replay renders the events as they are now.
    """

    __tablename__ = "idempotency_record"
    __table_args__ = (
        PrimaryKeyConstraint("tenant", "key", name="pk_idempotency_record"),
        Index("ix_idempotency_record_tenant_expires", "tenant", "expires_at"),
    )

    tenant: str = Field(sa_column=Column(Text, ForeignKey("tenant.slug"), nullable=False))
    key: str = Field(sa_column=Column(Text, nullable=False))
    request_hash: bytes = Field(sa_column=Column(LargeBinary(32), nullable=False))
    event_ids: list[uuid.UUID] = Field(sa_column=Column(ARRAY(Uuid), nullable=False))
    created_at: datetime = Field(sa_column=_tz(nullable=False))
    expires_at: datetime = Field(sa_column=_tz(nullable=False))
