"""Idempotency claims live in the writing transaction: only finished records are stored.

A claim used to be a committed `in_flight` row, which a crashed process left behind for two
minutes. Claims are now transaction-scoped advisory locks, so a row exists only for a
finished request: `state`, the never-read `response_status` and `batch` (the fingerprint
already tells a batch from a single event) go, and `event_ids` is always set.

Revision ID: 0005_idempotency_claims
Revises: 0004_openai_calls
Create Date: 2026-11-23 15:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_idempotency_claims"
down_revision: str | None = "0004_openai_calls"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Unfinished claims wrote nothing: dropping them frees their keys for a retry.
    op.execute("DELETE FROM idempotency_record WHERE state <> 'done' OR event_ids IS NULL")
    op.drop_constraint(
        op.f("ck_idempotency_record_state_known"), "idempotency_record", type_="check"
    )
    op.drop_column("idempotency_record", "state")
    op.drop_column("idempotency_record", "response_status")
    op.drop_column("idempotency_record", "batch")
    op.alter_column("idempotency_record", "event_ids", nullable=False)


def downgrade() -> None:
    op.alter_column("idempotency_record", "event_ids", nullable=True)
    op.add_column(
        "idempotency_record",
        sa.Column("batch", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.alter_column("idempotency_record", "batch", server_default=None)
    op.add_column("idempotency_record", sa.Column("response_status", sa.Integer(), nullable=True))
    op.add_column(
        "idempotency_record",
        sa.Column("state", sa.Text(), nullable=False, server_default="done"),
    )
    op.alter_column("idempotency_record", "state", server_default=None)
    op.create_check_constraint(
        op.f("ck_idempotency_record_state_known"),
        "idempotency_record",
        "state IN ('in_flight', 'done')",
    )
