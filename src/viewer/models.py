"""Viewer tokens: like API keys, stored only as a keyed hash of the whole token."""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Column, DateTime, ForeignKey, LargeBinary, Text, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel


class ViewerToken(SQLModel, table=True):
    __tablename__ = "viewer_token"

    id: uuid.UUID = Field(primary_key=True)
    public_id: str = Field(unique=True, max_length=32)
    secret_hash: bytes = Field(sa_column=Column(LargeBinary(32), nullable=False))
    tenant: str = Field(
        sa_column=Column(Text, ForeignKey("tenant.slug"), nullable=False, index=True)
    )
    # The fixed filter as list filters (`ViewerFilter`), parsed again on each use.
    filter: dict[str, Any] = Field(sa_column=Column(JSONB, nullable=False))  # JSON object
    can_export: bool = Field(sa_column=Column(Boolean, nullable=False))
    created_by: uuid.UUID = Field(
        sa_column=Column(ForeignKey("api_key.id"), nullable=False, index=True)
    )
    created_at: datetime = Field(
        sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now())
    )
    expires_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
