"""The transparency log: hash tiles, signed checkpoints, the tree's right edge on the head.

Events that exist already are integrated by the server on start (a backfill that logs its
progress), not here: the leaves are the events' committed content, which the application
encodes, and a long migration would hold up every deployment.

Revision ID: 0006_transparency_log
Revises: 0005_idempotency_claims
Create Date: 2026-12-01 16:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_transparency_log"
down_revision: str | None = "0005_idempotency_claims"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TILE_GUARD = r"""
CREATE FUNCTION log_tile_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.tenant = OLD.tenant AND NEW.level = OLD.level
            AND NEW.index = OLD.index
            AND substring(NEW.hashes FROM 1 FOR octet_length(OLD.hashes)) = OLD.hashes THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'log tiles only grow by appending: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
"""

CHECKPOINT_GUARD = r"""
CREATE FUNCTION log_checkpoint_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'signed checkpoints are append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
"""


def upgrade() -> None:
    op.add_column(
        "chain_head", sa.Column("tree_size", sa.BigInteger(), server_default="0", nullable=False)
    )
    op.add_column(
        "chain_head",
        sa.Column(
            "frontier", sa.LargeBinary(), server_default=sa.text("''::bytea"), nullable=False
        ),
    )
    op.create_table(
        "log_tile",
        sa.Column("tenant", sa.Text(), nullable=False),
        sa.Column("level", sa.SmallInteger(), nullable=False),
        sa.Column("index", sa.BigInteger(), nullable=False),
        sa.Column("hashes", sa.LargeBinary(), nullable=False),
        sa.CheckConstraint(
            "octet_length(hashes) % 32 = 0 AND octet_length(hashes) BETWEEN 32 AND 8192",
            name=op.f("ck_log_tile_hashes_whole"),
        ),
        sa.CheckConstraint("index >= 0", name=op.f("ck_log_tile_index_positive")),
        sa.CheckConstraint("level >= 0 AND level < 64", name=op.f("ck_log_tile_level_range")),
        sa.ForeignKeyConstraint(
            ["tenant"], ["tenant.slug"], name=op.f("fk_log_tile_tenant_tenant")
        ),
        sa.PrimaryKeyConstraint("tenant", "level", "index", name="pk_log_tile"),
    )
    op.create_table(
        "log_checkpoint",
        sa.Column("tenant", sa.Text(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("root_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("signed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.CheckConstraint(
            "octet_length(root_hash) = 32", name=op.f("ck_log_checkpoint_root_hash_size")
        ),
        sa.CheckConstraint("size >= 0", name=op.f("ck_log_checkpoint_size_positive")),
        sa.ForeignKeyConstraint(
            ["tenant"], ["tenant.slug"], name=op.f("fk_log_checkpoint_tenant_tenant")
        ),
        sa.PrimaryKeyConstraint("tenant", "size", name="pk_log_checkpoint"),
    )
    op.create_table(
        "log_head",
        sa.Column("tenant", sa.Text(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("root_hash", sa.LargeBinary(length=32), nullable=False),
        sa.CheckConstraint("size >= 0", name=op.f("ck_log_head_size_positive")),
        sa.ForeignKeyConstraint(
            ["tenant"], ["tenant.slug"], name=op.f("fk_log_head_tenant_tenant")
        ),
        sa.PrimaryKeyConstraint("tenant", name=op.f("pk_log_head")),
    )
    op.execute(TILE_GUARD)
    op.execute(
        "CREATE TRIGGER log_tile_append_only BEFORE UPDATE OR DELETE ON log_tile "
        "FOR EACH ROW EXECUTE FUNCTION log_tile_guard()"
    )
    op.execute(
        "CREATE TRIGGER log_tile_no_truncate BEFORE TRUNCATE ON log_tile "
        "FOR EACH STATEMENT EXECUTE FUNCTION log_tile_guard()"
    )
    op.execute(CHECKPOINT_GUARD)
    op.execute(
        "CREATE TRIGGER log_checkpoint_append_only BEFORE UPDATE OR DELETE ON log_checkpoint "
        "FOR EACH ROW EXECUTE FUNCTION log_checkpoint_guard()"
    )
    op.execute(
        "CREATE TRIGGER log_checkpoint_no_truncate BEFORE TRUNCATE ON log_checkpoint "
        "FOR EACH STATEMENT EXECUTE FUNCTION log_checkpoint_guard()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS log_checkpoint_no_truncate ON log_checkpoint")
    op.execute("DROP TRIGGER IF EXISTS log_checkpoint_append_only ON log_checkpoint")
    op.execute("DROP FUNCTION IF EXISTS log_checkpoint_guard()")
    op.execute("DROP TRIGGER IF EXISTS log_tile_no_truncate ON log_tile")
    op.execute("DROP TRIGGER IF EXISTS log_tile_append_only ON log_tile")
    op.execute("DROP FUNCTION IF EXISTS log_tile_guard()")
    op.drop_table("log_head")
    op.drop_table("log_checkpoint")
    op.drop_table("log_tile")
    op.drop_column("chain_head", "frontier")
    op.drop_column("chain_head", "tree_size")
