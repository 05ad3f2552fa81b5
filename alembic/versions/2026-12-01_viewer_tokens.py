"""Viewer tokens: read-only, tenant-bound, with a fixed filter; stored as a keyed hash.

Revision ID: 0007_viewer_tokens
Revises: 0006_transparency_log
Create Date: 2026-12-01 20:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007_viewer_tokens"
down_revision: str | None = "0006_transparency_log"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "viewer_token",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("public_id", sa.String(length=32), nullable=False),
        sa.Column("secret_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("tenant", sa.Text(), nullable=False),
        sa.Column("filter", postgresql.JSONB(), nullable=False),
        sa.Column("can_export", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant"], ["tenant.slug"], name=op.f("fk_viewer_token_tenant_tenant")
        ),
        sa.ForeignKeyConstraint(
            ["created_by"], ["api_key.id"], name=op.f("fk_viewer_token_created_by_api_key")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_viewer_token")),
        sa.UniqueConstraint("public_id", name=op.f("uq_viewer_token_public_id")),
    )
    op.create_index(op.f("ix_viewer_token_tenant"), "viewer_token", ["tenant"])
    op.create_index(op.f("ix_viewer_token_created_by"), "viewer_token", ["created_by"])


def downgrade() -> None:
    op.drop_table("viewer_token")
