"""Retention: per-tenant policies, legal holds (and the events each holds), signed prune
anchors; the append-only guard lets the retention job's prune, and nothing else, remove rows.

A row may be removed only (a) in a transaction that asked to prune (`trailmark.prune`), (b)
below a minimum index the log has already published in a signed anchor, and (c) when no
legal hold holds it. The database checks all three itself, whoever asks.

Revision ID: 0008_retention
Revises: 0007_viewer_tokens
Create Date: 2026-12-03 14:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008_retention"
down_revision: str | None = "0007_viewer_tokens"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Both spell out the update rules of 0003, unchanged (copied, not shared: a migration must
# not change when another does); only DELETE differs.
GUARD_WITH_PRUNING = r"""
CREATE OR REPLACE FUNCTION audit_event_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        RAISE EXCEPTION 'audit events are append-only: TRUNCATE is not allowed'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF TG_OP = 'DELETE' THEN
        IF current_setting('trailmark.prune', true) IS DISTINCT FROM 'on' THEN
            RAISE EXCEPTION 'audit events are append-only: DELETE is not allowed'
                USING ERRCODE = 'insufficient_privilege';
        END IF;
        IF OLD.seq > coalesce((SELECT max(min_index) FROM log_prune_anchor
                               WHERE tenant = OLD.tenant), 0) THEN
            RAISE EXCEPTION 'event % of % is at or above the signed minimum index', OLD.seq,
                OLD.tenant USING ERRCODE = 'insufficient_privilege';
        END IF;
        IF EXISTS (SELECT 1 FROM legal_hold_event
                   WHERE tenant = OLD.tenant AND seq = OLD.seq) THEN
            RAISE EXCEPTION 'event % of % is under a legal hold', OLD.seq, OLD.tenant
                USING ERRCODE = 'insufficient_privilege';
        END IF;
        RETURN OLD;
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

GUARD_WITHOUT_PRUNING = r"""
CREATE OR REPLACE FUNCTION audit_event_guard() RETURNS trigger LANGUAGE plpgsql AS $$
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

ANCHOR_GUARD = r"""
CREATE FUNCTION log_prune_anchor_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'prune anchors are append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
"""


def upgrade() -> None:
    op.create_table(
        "retention_policy",
        sa.Column("tenant", sa.Text(), nullable=False),
        sa.Column("days", sa.Integer(), nullable=True),
        sa.Column("mode", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_run_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "days IS NULL OR days BETWEEN 30 AND 3650",
            name=op.f("ck_retention_policy_days_range"),
        ),
        sa.CheckConstraint(
            "mode IN ('erase', 'prune')", name=op.f("ck_retention_policy_mode_known")
        ),
        sa.ForeignKeyConstraint(
            ["tenant"], ["tenant.slug"], name=op.f("fk_retention_policy_tenant_tenant")
        ),
        sa.PrimaryKeyConstraint("tenant", name=op.f("pk_retention_policy")),
    )
    op.create_table(
        "legal_hold",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("filter", postgresql.JSONB(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("released_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant"], ["tenant.slug"], name=op.f("fk_legal_hold_tenant_tenant")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_legal_hold")),
    )
    op.create_index("ix_legal_hold_tenant_created", "legal_hold", ["tenant", "created_at", "id"])
    op.create_table(
        "legal_hold_event",
        sa.Column("tenant", sa.Text(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hold_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["hold_id"], ["legal_hold.id"], name=op.f("fk_legal_hold_event_hold_id_legal_hold")
        ),
        sa.PrimaryKeyConstraint("tenant", "seq", "hold_id", name=op.f("pk_legal_hold_event")),
    )
    op.create_index("ix_legal_hold_event_hold", "legal_hold_event", ["hold_id"])
    op.create_table(
        "log_prune_anchor",
        sa.Column("tenant", sa.Text(), nullable=False),
        sa.Column("min_index", sa.BigInteger(), nullable=False),
        sa.Column("prev_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("checkpoint_size", sa.BigInteger(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("pruned_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "min_index > 0 AND min_index % 256 = 0",
            name=op.f("ck_log_prune_anchor_min_index_whole_tiles"),
        ),
        sa.CheckConstraint(
            "checkpoint_size >= min_index", name=op.f("ck_log_prune_anchor_within_checkpoint")
        ),
        sa.CheckConstraint(
            "octet_length(prev_hash) = 32", name=op.f("ck_log_prune_anchor_prev_hash_size")
        ),
        sa.ForeignKeyConstraint(
            ["tenant"], ["tenant.slug"], name=op.f("fk_log_prune_anchor_tenant_tenant")
        ),
        sa.PrimaryKeyConstraint("tenant", "min_index", name=op.f("pk_log_prune_anchor")),
    )
    op.execute(ANCHOR_GUARD)
    op.execute(
        "CREATE TRIGGER log_prune_anchor_append_only BEFORE UPDATE OR DELETE ON log_prune_anchor "
        "FOR EACH ROW EXECUTE FUNCTION log_prune_anchor_guard()"
    )
    op.execute(
        "CREATE TRIGGER log_prune_anchor_no_truncate BEFORE TRUNCATE ON log_prune_anchor "
        "FOR EACH STATEMENT EXECUTE FUNCTION log_prune_anchor_guard()"
    )
    op.execute(GUARD_WITH_PRUNING)


def downgrade() -> None:
    op.execute(GUARD_WITHOUT_PRUNING)
    op.execute("DROP TRIGGER IF EXISTS log_prune_anchor_no_truncate ON log_prune_anchor")
    op.execute("DROP TRIGGER IF EXISTS log_prune_anchor_append_only ON log_prune_anchor")
    op.execute("DROP FUNCTION IF EXISTS log_prune_anchor_guard()")
    op.drop_table("log_prune_anchor")
    op.drop_table("legal_hold_event")
    op.drop_table("legal_hold")
    op.drop_table("retention_policy")
