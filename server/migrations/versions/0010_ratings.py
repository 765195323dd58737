"""Ratings (CSAT): one per resolution of a conversation.

Revision ID: 0010_ratings
Revises: 0009_oauth
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_ratings"
down_revision: str | None = "0009_oauth"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add ratings."""
    op.create_table(
        "ratings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("business_id", sa.Integer(), nullable=False),
        sa.Column("mode", sa.String(length=4), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("comment", sa.String(length=1000), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["business_id"], ["businesses.id"]),
        sa.ForeignKeyConstraint(["contact_id"], ["contacts.id"]),
        sa.ForeignKeyConstraint(["conversation_id"], ["conversations.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("conversation_id", "resolved_at"),
    )
    op.create_index("ix_ratings_business_id", "ratings", ["business_id"], unique=False)
    op.create_index("ix_ratings_contact_id", "ratings", ["contact_id"], unique=False)


def downgrade() -> None:
    """Drop ratings."""
    op.drop_index("ix_ratings_contact_id", table_name="ratings")
    op.drop_index("ix_ratings_business_id", table_name="ratings")
    op.drop_table("ratings")
