"""Idempotency records keep the events their write committed (republished on a replay).

Revision ID: 0005_idempotency_events
Revises: 0004_agent_logout
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_idempotency_events"
down_revision: str | None = "0004_agent_logout"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add idempotency_records.events (JSON text; none for records made before)."""
    with op.batch_alter_table("idempotency_records") as batch:
        batch.add_column(sa.Column("events", sa.Text(), nullable=True))


def downgrade() -> None:
    """Drop idempotency_records.events."""
    with op.batch_alter_table("idempotency_records") as batch:
        batch.drop_column("events")
