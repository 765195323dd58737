"""Agents can be deactivated (users.deactivated_at); the CLI's event relay (relay_events).

Revision ID: 0002_agents_deactivated_relay
Revises: 0001_baseline
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_agents_deactivated_relay"
down_revision: str | None = "0001_baseline"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add users.deactivated_at (indexed: every watcher polls it) and relay_events."""
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("deactivated_at", sa.DateTime(timezone=True), nullable=True))
        batch.create_index("ix_users_deactivated_at", ["deactivated_at"], unique=False)
    op.create_table(
        "relay_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("topics", sa.JSON(), nullable=False),
        sa.Column("event", sa.String(length=64), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sqlite_autoincrement=True,  # SQLite must never reuse an id after pruning
    )
    with op.batch_alter_table("relay_events") as batch:
        batch.create_index("ix_relay_events_created_at", ["created_at"], unique=False)


def downgrade() -> None:
    """Drop relay_events and users.deactivated_at."""
    with op.batch_alter_table("relay_events") as batch:
        batch.drop_index("ix_relay_events_created_at")
    op.drop_table("relay_events")
    with op.batch_alter_table("users") as batch:
        batch.drop_index("ix_users_deactivated_at")
        batch.drop_column("deactivated_at")
