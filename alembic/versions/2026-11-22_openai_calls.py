"""The OpenAI call ledger.

Revision ID: 0004_openai_calls
Revises: 0003_audit_events
Create Date: 2026-11-22 01:48:18+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004_openai_calls"
down_revision: str | None = "0003_audit_events"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "openai_call",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("tenant", sa.Text(), nullable=False),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.Column("model", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("upstream_status", sa.Integer(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("latency_ms", sa.Float(), nullable=False),
        sa.Column("prompt_tokens", sa.Integer(), nullable=True),
        sa.Column("completion_tokens", sa.Integer(), nullable=True),
        sa.Column("request_id", sa.Text(), nullable=True),
        sa.Column("prompt", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("response", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "purpose IN ('ask.translate', 'ask.answer', 'summarize')",
            name=op.f("ck_openai_call_purpose_known"),
        ),
        sa.CheckConstraint(
            "status IN ('ok', 'upstream_error', 'rate_limited', 'timeout', 'invalid_output')",
            name=op.f("ck_openai_call_status_known"),
        ),
        sa.CheckConstraint("attempts >= 1", name=op.f("ck_openai_call_attempts_positive")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_openai_call")),
    )
    op.create_index(
        "ix_openai_call_created_at_id", "openai_call", ["created_at", "id"], unique=False
    )
    op.create_index(
        "ix_openai_call_tenant_created_at_id",
        "openai_call",
        ["tenant", "created_at", "id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_openai_call_tenant_created_at_id", table_name="openai_call")
    op.drop_index("ix_openai_call_created_at_id", table_name="openai_call")
    op.drop_table("openai_call")
