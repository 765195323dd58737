"""Analytics ingest: the events a visitor's app tracks (POST /api/v1/chat/events).

Revision ID: 0008_analytics
Revises: 0007_webhooks
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_analytics"
down_revision: str | None = "0007_webhooks"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add analytics_events with its list indexes."""
    op.create_table(
        "analytics_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("business_id", sa.Integer(), nullable=False),
        sa.Column("mode", sa.String(length=4), nullable=False),
        sa.Column("visitor_id", sa.String(length=128), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=True),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("title", sa.String(length=500), nullable=True),
        sa.Column("url", sa.String(length=2048), nullable=True),
        sa.Column("element_label", sa.String(length=200), nullable=True),
        sa.Column("element_type", sa.String(length=64), nullable=True),
        sa.Column("element_key", sa.String(length=200), nullable=True),
        sa.Column("value", sa.JSON(), nullable=True),
        sa.Column("meta", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(["business_id"], ["businesses.id"]),
        sa.ForeignKeyConstraint(["contact_id"], ["contacts.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_analytics_events_contact_id", "analytics_events", ["contact_id"])
    op.create_index("ix_analytics_events_type", "analytics_events",
                    ["business_id", "mode", "type", "id"])
    op.create_index("ix_analytics_events_visitor", "analytics_events",
                    ["business_id", "mode", "visitor_id", "id"])


def downgrade() -> None:
    """Drop analytics_events."""
    op.drop_table("analytics_events")
