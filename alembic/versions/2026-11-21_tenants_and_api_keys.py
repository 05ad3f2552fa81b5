"""Tenants and API keys.

Revision ID: 0002_keys
Revises: 0001_baseline
Create Date: 2026-11-21 23:47:46+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002_keys"
down_revision: str | None = "0001_baseline"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "tenant",
        sa.Column("slug", sa.String(length=63), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("slug", name=op.f("pk_tenant")),
    )
    op.create_table(
        "api_key",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("public_id", sa.String(length=32), nullable=False),
        sa.Column("secret_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("tenant", sa.Text(), nullable=True),
        sa.Column("scopes", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "('admin' = ANY(scopes)) = (tenant IS NULL)",
            name=op.f("ck_api_key_admin_has_no_tenant"),
        ),
        sa.CheckConstraint(
            "cardinality(scopes) >= 1 AND scopes <@ "
            "ARRAY['audits:write', 'audits:read', 'audits:erase', 'admin']::text[]",
            name=op.f("ck_api_key_known_scopes"),
        ),
        sa.ForeignKeyConstraint(["tenant"], ["tenant.slug"], name=op.f("fk_api_key_tenant_tenant")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_key")),
        sa.UniqueConstraint("public_id", name=op.f("uq_api_key_public_id")),
    )
    op.create_index(op.f("ix_api_key_tenant"), "api_key", ["tenant"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_api_key_tenant"), table_name="api_key")
    op.drop_table("api_key")
    op.drop_table("tenant")
