"""Tenants, API keys and viewer tokens. A credential's secret is never stored: only its
keyed hash."""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    LargeBinary,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlmodel import Field, SQLModel


class Tenant(SQLModel, table=True):
    __tablename__ = "tenant"

    slug: str = Field(primary_key=True, max_length=63)
    created_at: datetime = Field(
        sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now())
    )


class ApiKey(SQLModel, table=True):
    __tablename__ = "api_key"
    __table_args__ = (
        # An admin key belongs to no tenant; every other key belongs to exactly one.
        CheckConstraint("('admin' = ANY(scopes)) = (tenant IS NULL)", name="admin_has_no_tenant"),
        CheckConstraint(
            "cardinality(scopes) >= 1 AND scopes <@ "
            "ARRAY['audits:write', 'audits:read', 'audits:erase', 'admin']::text[]",
            name="known_scopes",
        ),
    )

    id: uuid.UUID = Field(primary_key=True)
    public_id: str = Field(unique=True, max_length=32)
    secret_hash: bytes = Field(sa_column=Column(LargeBinary(32), nullable=False))
    tenant: str | None = Field(
        default=None,
        sa_column=Column(Text, ForeignKey("tenant.slug"), nullable=True, index=True),
    )
    scopes: list[str] = Field(sa_column=Column(ARRAY(Text), nullable=False))
    name: str | None = Field(default=None, max_length=200)
    created_at: datetime = Field(
        sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now())
    )
    last_used_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    revoked_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )


class ViewerToken(SQLModel, table=True):
    __tablename__ = "viewer_token"

    id: uuid.UUID = Field(primary_key=True)
    public_id: str = Field(unique=True, max_length=32)
    secret_hash: bytes = Field(sa_column=Column(LargeBinary(32), nullable=False))
    tenant: str = Field(
        sa_column=Column(Text, ForeignKey("tenant.slug"), nullable=False, index=True)
    )
    # The fixed filter as list filters (`GET /audits`'s), parsed again on each use.
    filter: dict[str, Any] = Field(sa_column=Column(JSONB, nullable=False))  # JSON object
    can_export: bool = Field(sa_column=Column(Boolean, nullable=False))
    created_by: uuid.UUID = Field(
        sa_column=Column(ForeignKey("api_key.id"), nullable=False, index=True)
    )
    created_at: datetime = Field(
        sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now())
    )
    expires_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
