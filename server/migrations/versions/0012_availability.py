"""Business hours: a timezone, weekly opening ranges and an offline message per business.

Revision ID: 0012_availability
Revises: 0011_attachments
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_availability"
down_revision: str | None = "0011_attachments"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add business_hours (no rows: every business stays always open)."""
    op.create_table(
        "business_hours",
        sa.Column("business_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("hours", sa.JSON(), nullable=False),
        sa.Column("offline_message", sa.String(length=500), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["business_id"], ["businesses.id"]),
        sa.PrimaryKeyConstraint("business_id"),
    )


def downgrade() -> None:
    """Drop business_hours."""
    op.drop_table("business_hours")
