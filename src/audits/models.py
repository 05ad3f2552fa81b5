"""Audit events (append-only, hash-chained per tenant), chain heads and idempotency records."""

import uuid
from datetime import datetime
from ipaddress import IPv4Address, IPv6Address
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Computed,
    DateTime,
    ForeignKey,
    Index,
    LargeBinary,
    PrimaryKeyConstraint,
    Text,
    UniqueConstraint,
    Uuid,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, INET, JSONB, TSVECTOR
from sqlmodel import Field, SQLModel

# Bare words of the search language match this: action, entity, actor name and details text.
SEARCH_VECTOR_SQL = (
    "to_tsvector('simple'::regconfig, coalesce(action, '') || ' ' || entity_type || ' ' "
    "|| entity_id || ' ' || coalesce(actor_id, '') || ' ' || coalesce(actor_name, '')) "
    "|| coalesce(jsonb_to_tsvector('simple'::regconfig, details, '[\"string\"]'::jsonb), "
    "''::tsvector)"
)


def _tz(nullable: bool) -> Any:  # SQLAlchemy's Column is untyped here; the model field types it
    return Column(DateTime(timezone=True), nullable=nullable)


class AuditEvent(SQLModel, table=True):
    """One audit event. Rows are immutable but for status (pending -> final) and erasure."""

    __tablename__ = "audit_event"
    __table_args__ = (
        PrimaryKeyConstraint("tenant", "seq", name="pk_audit_event"),
        UniqueConstraint("tenant", "id", name="uq_audit_event_tenant_id"),
        CheckConstraint("seq >= 1", name="seq_positive"),
        CheckConstraint(
            "action_type IN ('create', 'update', 'delete', 'view', 'export', 'import', "
            "'login', 'logout', 'other')",
            name="action_type_known",
        ),
        CheckConstraint("status IN ('success', 'failure', 'pending')", name="status_known"),
        CheckConstraint(
            "actor_type IS NULL OR actor_type IN ('user', 'service', 'system')",
            name="actor_type_known",
        ),
        CheckConstraint(
            "octet_length(hash) = 32 AND octet_length(prev_hash) = 32", name="hash_size"
        ),
        # Every index leads with the tenant, so the table can be distributed by tenant later.
        Index(
            "ix_audit_event_tenant_occurred", "tenant", text("occurred_at DESC"), text("id DESC")
        ),
        Index("ix_audit_event_tenant_actor", "tenant", "actor_id", "occurred_at", "id"),
        Index(
            "ix_audit_event_tenant_entity",
            "tenant",
            "entity_type",
            "entity_id",
            "occurred_at",
            "id",
        ),
        Index("ix_audit_event_tenant_action", "tenant", "action", "occurred_at", "id"),
        Index("ix_audit_event_tenant_action_type", "tenant", "action_type", "occurred_at", "id"),
        Index("ix_audit_event_tenant_status", "tenant", "status", "occurred_at", "id"),
        Index(
            "ix_audit_event_tenant_details",
            "tenant",
            "details",
            postgresql_using="gin",
            postgresql_ops={"details": "jsonb_path_ops"},
        ),
        Index("ix_audit_event_tenant_search", "tenant", "search_vector", postgresql_using="gin"),
    )

    tenant: str = Field(sa_column=Column(Text, ForeignKey("tenant.slug"), nullable=False))
    seq: int = Field(sa_column=Column(BigInteger, nullable=False))
    id: uuid.UUID = Field(nullable=False)
    action_type: str = Field(sa_column=Column(Text, nullable=False))
    action: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    entity_type: str = Field(sa_column=Column(Text, nullable=False))
    entity_id: str = Field(sa_column=Column(Text, nullable=False))
    actor_id: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    actor_type: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    actor_name: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    status: str = Field(sa_column=Column(Text, nullable=False))
    occurred_at: datetime = Field(sa_column=_tz(nullable=False))
    received_at: datetime = Field(sa_column=_tz(nullable=False))
    status_changed_at: datetime | None = Field(default=None, sa_column=_tz(nullable=True))
    ip_address: IPv4Address | IPv6Address | None = Field(
        default=None, sa_column=Column(INET, nullable=True)
    )
    user_agent: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    request_id: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    details: dict[str, Any] | None = Field(  # arbitrary client JSON
        default=None, sa_column=Column(JSONB(none_as_null=True), nullable=True)
    )
    # A random salt for the per-field hashes of the erasable fields; destroyed on erasure, so
    # the hashes left behind cannot be brute-forced back into an IP address or a name.
    field_salt: bytes | None = Field(default=None, sa_column=Column(LargeBinary(16), nullable=True))
    erased_at: datetime | None = Field(default=None, sa_column=_tz(nullable=True))
    erased_hashes: dict[str, str | None] | None = Field(
        default=None, sa_column=Column(JSONB(none_as_null=True), nullable=True)
    )
    hash: bytes = Field(sa_column=Column(LargeBinary(32), nullable=False))
    prev_hash: bytes = Field(sa_column=Column(LargeBinary(32), nullable=False))
    search_vector: str | None = Field(
        default=None,
        sa_column=Column(TSVECTOR, Computed(SEARCH_VECTOR_SQL, persisted=True), nullable=True),
    )


class ChainHead(SQLModel, table=True):
    """The newest link of a tenant's chain, and the right edge of its Merkle tree.

    Writers lock this row to take the next `seq`; under the same lock they integrate the new
    events into the tree (`tree_size` leaves, `frontier` = the roots of its perfect subtrees,
    largest first). `tree_size` trails `head_seq` only while older events are backfilled.
    """

    __tablename__ = "chain_head"

    tenant: str = Field(sa_column=Column(Text, ForeignKey("tenant.slug"), primary_key=True))
    head_seq: int = Field(sa_column=Column(BigInteger, nullable=False, server_default="0"))
    head_hash: bytes = Field(
        sa_column=Column(
            LargeBinary(32), nullable=False, server_default=text("'\\x" + "00" * 32 + "'::bytea")
        )
    )
    tree_size: int = Field(sa_column=Column(BigInteger, nullable=False, server_default="0"))
    frontier: bytes = Field(
        sa_column=Column(LargeBinary, nullable=False, server_default=text("''::bytea"))
    )


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
