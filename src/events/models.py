"""The events table (append-only, hash-chained per tenant) and the tenants' chain heads.

The table's columns are `StoredEvent`'s fields (stored.py), in its order, plus the search
vector PostgreSQL computes; constraints and indexes are declared here.
"""

from enum import StrEnum
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
    Table,
    Text,
    UniqueConstraint,
    Uuid,
    cast,
    text,
)
from sqlalchemy.dialects.postgresql import INET, JSONB, TSVECTOR
from sqlmodel import Field, SQLModel

from src.database import metadata
from src.events.constants import ActionType, ActorType, EventStatus
from src.events.stored import FIELDS, StoredField

# Bare words of the search language match this: action, entity, actor name and details text.
SEARCH_VECTOR_SQL = (
    "to_tsvector('simple'::regconfig, coalesce(action, '') || ' ' || entity_type || ' ' "
    "|| entity_id || ' ' || coalesce(actor_id, '') || ' ' || coalesce(actor_name, '')) "
    "|| coalesce(jsonb_to_tsvector('simple'::regconfig, details, '[\"string\"]'::jsonb), "
    "''::tsvector)"
)


def _column_type(field: StoredField) -> Any:  # Any: SQLAlchemy's type objects differ in kind
    match field.storage.sql_type:
        case "text":
            return Text
        case "bigint":
            return BigInteger
        case "uuid":
            return Uuid
        case "timestamptz":
            return DateTime(timezone=True)
        case "inet":
            return INET
        case "jsonb":
            return JSONB(none_as_null=True)
        case "bytea":
            return LargeBinary(field.storage.size)


def _column(field: StoredField) -> Column[Any]:
    if field.name == "tenant":
        return Column("tenant", Text, ForeignKey("tenant.slug"), nullable=False)
    return Column(field.name, _column_type(field), nullable=field.nullable)


def _one_of(column: str, values: type[StrEnum]) -> str:  # SQL: the column holds one of them
    return f"{column} IN ({', '.join(repr(value.value) for value in values)})"


events = Table(
    "audit_event",
    metadata,
    *(_column(field) for field in FIELDS),
    Column("search_vector", TSVECTOR, Computed(SEARCH_VECTOR_SQL, persisted=True), nullable=True),
    PrimaryKeyConstraint("tenant", "seq", name="pk_audit_event"),
    UniqueConstraint("tenant", "id", name="uq_audit_event_tenant_id"),
    CheckConstraint("seq >= 1", name="seq_positive"),
    CheckConstraint(_one_of("action_type", ActionType), name="action_type_known"),
    CheckConstraint(_one_of("status", EventStatus), name="status_known"),
    CheckConstraint(
        f"actor_type IS NULL OR {_one_of('actor_type', ActorType)}", name="actor_type_known"
    ),
    CheckConstraint("octet_length(hash) = 32 AND octet_length(prev_hash) = 32", name="hash_size"),
    # Every index leads with the tenant, so the table can be distributed by tenant later.
    Index("ix_audit_event_tenant_occurred", "tenant", text("occurred_at DESC"), text("id DESC")),
    Index("ix_audit_event_tenant_actor", "tenant", "actor_id", "occurred_at", "id"),
    Index(
        "ix_audit_event_tenant_entity", "tenant", "entity_type", "entity_id", "occurred_at", "id"
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

# What a `StoredEvent` is read from, in its field order: the id as text (PostgreSQL writes a
# UUID as `str(uuid)` does), the rest as stored, without the search vector.
STORED_COLUMNS = [
    cast(events.c.id, Text).label("id") if field.name == "id" else events.c[field.name]
    for field in FIELDS
]


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
