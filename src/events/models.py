"""The events table (append-only, hash-chained per tenant) and the tenants' chain heads.

The table's columns are `StoredEvent`'s fields (stored.py), in its order, plus the search
vector PostgreSQL computes; constraints and indexes are declared here.
"""

from datetime import datetime
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
    Uuid,
    cast,
    text,
)
from sqlalchemy.dialects.postgresql import INET, JSONB, OID, TSVECTOR
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
        # No foreign key: the tenant's partition, made only by the trigger on `tenant`, is
        # the reference (migration 0009 says why).
        return Column("tenant", Text, nullable=False)
    return Column(field.name, _column_type(field), nullable=field.nullable)


def _one_of(column: str, values: type[StrEnum]) -> str:  # SQL: the column holds one of them
    return f"{column} IN ({', '.join(repr(value.value) for value in values)})"


events = Table(
    "audit_event",
    metadata,
    *(_column(field) for field in FIELDS),
    Column("search_vector", TSVECTOR, Computed(SEARCH_VECTOR_SQL, persisted=True), nullable=True),
    PrimaryKeyConstraint("tenant", "seq", name="pk_audit_event"),
    CheckConstraint("seq >= 1", name="seq_positive"),
    CheckConstraint(_one_of("action_type", ActionType), name="action_type_known"),
    CheckConstraint(_one_of("status", EventStatus), name="status_known"),
    CheckConstraint(
        f"actor_type IS NULL OR {_one_of('actor_type', ActorType)}", name="actor_type_known"
    ),
    CheckConstraint("octet_length(hash) = 32 AND octet_length(prev_hash) = 32", name="hash_size"),
    # Ids are uuid7s the server makes: an index, not a unique constraint, which a table
    # partitioned by seq could not hold (migration 0009).
    Index("ix_audit_event_tenant_id", "tenant", "id"),
    # Every index leads with the tenant, the first partition key.
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
    # Each tenant's events are a partition, and each tile-aligned range of its seq one of
    # that: the retention job drops a pruned range whole (src/retention/partitions.py).
    postgresql_partition_by="LIST (tenant)",
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


class EventPartition(SQLModel, table=True):
    """One partition of the events (migration 0009): a tenant's own (`lower_seq` None), or a
    range of its seq, `[lower_seq, upper_seq)`, open (`upper_seq` None) until the retention
    job closes it on a tile boundary, and dropped whole when it is pruned.

    The database writes these rows itself (its partition functions and drop guard); the
    application only reads them.
    """

    __tablename__ = "audit_event_partition"
    __table_args__ = (Index("ix_audit_event_partition_tenant", "tenant", "lower_seq"),)

    name: str = Field(sa_column=Column(Text, primary_key=True))
    # The table's oid: the guards know it by that, which no rename or move changes.
    relid: int = Field(sa_column=Column(OID, nullable=False, unique=True))
    tenant: str = Field(sa_column=Column(Text, nullable=False))
    lower_seq: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    upper_seq: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    created_at: datetime = Field(
        sa_column=Column(DateTime(timezone=True), nullable=False, server_default=text("now()"))
    )
    closed_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    dropped_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
