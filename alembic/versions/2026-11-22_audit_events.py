"""Audit events, chain heads, idempotency records, and the append-only trigger.

Revision ID: 0003_audit_events
Revises: 0002_keys
Create Date: 2026-11-22 00:05:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003_audit_events"
down_revision: str | None = "0002_keys"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Copied, not imported: a migration must not change when the models do.
SEARCH_VECTOR_SQL = (
    "to_tsvector('simple'::regconfig, coalesce(action, '') || ' ' || entity_type || ' ' "
    "|| entity_id || ' ' || coalesce(actor_id, '') || ' ' || coalesce(actor_name, '')) "
    "|| coalesce(jsonb_to_tsvector('simple'::regconfig, details, '[\"string\"]'::jsonb), "
    "''::tsvector)"
)

# Events are append-only: no DELETE, no TRUNCATE, and an UPDATE may only (a) move a pending
# event to its final status once, or (b) erase the personal payload once. Anything else is
# refused by the database itself, whoever asks.
GUARD_FUNCTION = r"""
CREATE FUNCTION audit_event_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' OR TG_OP = 'TRUNCATE' THEN
        RAISE EXCEPTION 'audit events are append-only: % is not allowed', TG_OP
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF (NEW.tenant, NEW.seq, NEW.id, NEW.action_type, NEW.action, NEW.entity_type,
        NEW.entity_id, NEW.actor_id, NEW.actor_type, NEW.occurred_at, NEW.received_at,
        NEW.request_id, NEW.hash, NEW.prev_hash)
       IS DISTINCT FROM
       (OLD.tenant, OLD.seq, OLD.id, OLD.action_type, OLD.action, OLD.entity_type,
        OLD.entity_id, OLD.actor_id, OLD.actor_type, OLD.occurred_at, OLD.received_at,
        OLD.request_id, OLD.hash, OLD.prev_hash) THEN
        RAISE EXCEPTION 'audit events are immutable' USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF (NEW.status, NEW.status_changed_at) IS DISTINCT FROM (OLD.status, OLD.status_changed_at)
       AND NOT (OLD.status = 'pending' AND OLD.status_changed_at IS NULL
                AND NEW.status IN ('success', 'failure') AND NEW.status_changed_at IS NOT NULL) THEN
        RAISE EXCEPTION 'only a pending event may change status, once'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF (NEW.actor_name, NEW.ip_address, NEW.user_agent, NEW.details, NEW.field_salt,
        NEW.erased_at, NEW.erased_hashes)
       IS DISTINCT FROM
       (OLD.actor_name, OLD.ip_address, OLD.user_agent, OLD.details, OLD.field_salt,
        OLD.erased_at, OLD.erased_hashes)
       AND NOT (OLD.erased_at IS NULL AND NEW.erased_at IS NOT NULL
                AND NEW.erased_hashes IS NOT NULL AND NEW.field_salt IS NULL
                AND NEW.actor_name IS NULL AND NEW.ip_address IS NULL
                AND NEW.user_agent IS NULL AND NEW.details IS NULL) THEN
        RAISE EXCEPTION 'the payload may only be erased, once'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END;
$$;
"""


def upgrade() -> None:
    # GIN indexes that lead with the tenant need btree_gin's operator classes for text.
    op.execute("CREATE EXTENSION IF NOT EXISTS btree_gin")
    op.create_table(
        "audit_event",
        sa.Column("tenant", sa.Text(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("action_type", sa.Text(), nullable=False),
        sa.Column("action", sa.Text(), nullable=True),
        sa.Column("entity_type", sa.Text(), nullable=False),
        sa.Column("entity_id", sa.Text(), nullable=False),
        sa.Column("actor_id", sa.Text(), nullable=True),
        sa.Column("actor_type", sa.Text(), nullable=True),
        sa.Column("actor_name", sa.Text(), nullable=True),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status_changed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ip_address", postgresql.INET(), nullable=True),
        sa.Column("user_agent", sa.Text(), nullable=True),
        sa.Column("request_id", sa.Text(), nullable=True),
        sa.Column("details", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("field_salt", sa.LargeBinary(length=16), nullable=True),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("erased_hashes", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("prev_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column(
            "search_vector",
            postgresql.TSVECTOR(),
            sa.Computed(SEARCH_VECTOR_SQL, persisted=True),
            nullable=True,
        ),
        sa.CheckConstraint("seq >= 1", name=op.f("ck_audit_event_seq_positive")),
        sa.CheckConstraint(
            "action_type IN ('create', 'update', 'delete', 'view', 'export', 'import', "
            "'login', 'logout', 'other')",
            name=op.f("ck_audit_event_action_type_known"),
        ),
        sa.CheckConstraint(
            "status IN ('success', 'failure', 'pending')", name=op.f("ck_audit_event_status_known")
        ),
        sa.CheckConstraint(
            "actor_type IS NULL OR actor_type IN ('user', 'service', 'system')",
            name=op.f("ck_audit_event_actor_type_known"),
        ),
        sa.CheckConstraint(
            "octet_length(hash) = 32 AND octet_length(prev_hash) = 32",
            name=op.f("ck_audit_event_hash_size"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant"], ["tenant.slug"], name=op.f("fk_audit_event_tenant_tenant")
        ),
        sa.PrimaryKeyConstraint("tenant", "seq", name="pk_audit_event"),
        sa.UniqueConstraint("tenant", "id", name="uq_audit_event_tenant_id"),
    )
    op.create_index(
        "ix_audit_event_tenant_occurred",
        "audit_event",
        ["tenant", sa.text("occurred_at DESC"), sa.text("id DESC")],
    )
    for name, columns in (
        ("ix_audit_event_tenant_actor", ["tenant", "actor_id", "occurred_at", "id"]),
        (
            "ix_audit_event_tenant_entity",
            ["tenant", "entity_type", "entity_id", "occurred_at", "id"],
        ),
        ("ix_audit_event_tenant_action", ["tenant", "action", "occurred_at", "id"]),
        ("ix_audit_event_tenant_action_type", ["tenant", "action_type", "occurred_at", "id"]),
        ("ix_audit_event_tenant_status", ["tenant", "status", "occurred_at", "id"]),
    ):
        op.create_index(name, "audit_event", columns)
    op.create_index(
        "ix_audit_event_tenant_details",
        "audit_event",
        ["tenant", "details"],
        postgresql_using="gin",
        postgresql_ops={"details": "jsonb_path_ops"},
    )
    op.create_index(
        "ix_audit_event_tenant_search",
        "audit_event",
        ["tenant", "search_vector"],
        postgresql_using="gin",
    )
    op.execute(GUARD_FUNCTION)
    op.execute(
        "CREATE TRIGGER audit_event_append_only BEFORE UPDATE OR DELETE ON audit_event "
        "FOR EACH ROW EXECUTE FUNCTION audit_event_guard()"
    )
    op.execute(
        "CREATE TRIGGER audit_event_no_truncate BEFORE TRUNCATE ON audit_event "
        "FOR EACH STATEMENT EXECUTE FUNCTION audit_event_guard()"
    )

    op.create_table(
        "chain_head",
        sa.Column("tenant", sa.Text(), nullable=False),
        sa.Column("head_seq", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column(
            "head_hash",
            sa.LargeBinary(length=32),
            server_default=sa.text("'\\x" + "00" * 32 + "'::bytea"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["tenant"], ["tenant.slug"], name=op.f("fk_chain_head_tenant_tenant")
        ),
        sa.PrimaryKeyConstraint("tenant", name=op.f("pk_chain_head")),
    )
    op.create_table(
        "idempotency_record",
        sa.Column("tenant", sa.Text(), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("request_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("response_status", sa.Integer(), nullable=True),
        sa.Column("event_ids", postgresql.ARRAY(sa.Uuid()), nullable=True),
        sa.Column("batch", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "state IN ('in_flight', 'done')", name=op.f("ck_idempotency_record_state_known")
        ),
        sa.ForeignKeyConstraint(
            ["tenant"], ["tenant.slug"], name=op.f("fk_idempotency_record_tenant_tenant")
        ),
        sa.PrimaryKeyConstraint("tenant", "key", name="pk_idempotency_record"),
    )
    op.create_index(
        "ix_idempotency_record_tenant_expires", "idempotency_record", ["tenant", "expires_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_idempotency_record_tenant_expires", table_name="idempotency_record")
    op.drop_table("idempotency_record")
    op.drop_table("chain_head")
    op.execute("DROP TRIGGER IF EXISTS audit_event_no_truncate ON audit_event")
    op.execute("DROP TRIGGER IF EXISTS audit_event_append_only ON audit_event")
    op.drop_table("audit_event")
    op.execute("DROP FUNCTION IF EXISTS audit_event_guard()")
