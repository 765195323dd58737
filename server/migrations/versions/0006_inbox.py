"""The agent inbox: canned responses, and whether a conversation's visitor is online.

Revision ID: 0006_inbox
Revises: 0005_idempotency_events
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_inbox"
down_revision: str | None = "0005_idempotency_events"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add canned_responses and conversations.visitor_online (false for every row)."""
    op.create_table(
        "canned_responses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("business_id", sa.Integer(), nullable=False),
        sa.Column("shortcut", sa.String(length=32), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["business_id"], ["businesses.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("business_id", "shortcut"),
    )
    with op.batch_alter_table("conversations") as batch:
        batch.add_column(sa.Column("visitor_online", sa.Boolean(), server_default=sa.false(),
                                   nullable=False))
        batch.create_index("ix_conversations_visitor_online", ["visitor_online"], unique=False)


def downgrade() -> None:
    """Drop conversations.visitor_online and canned_responses."""
    with op.batch_alter_table("conversations") as batch:
        batch.drop_index("ix_conversations_visitor_online")
        batch.drop_column("visitor_online")
    op.drop_table("canned_responses")
