"""Baseline: the schema is managed by Alembic from here on.

Revision ID: 0001_baseline
Revises:
Create Date: 2026-11-21 23:50:00
"""

from collections.abc import Sequence

revision: str = "0001_baseline"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Deliberately empty: the first domain migration follows this one.
    pass


def downgrade() -> None:
    pass
