"""conversations.offline_notified_at: when the bot said the offline message in the
conversation (once per conversation outside hours; set with the message).

Revision ID: 0016_bot_offline
Revises: 0015_talkr
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016_bot_offline"
down_revision: str | None = "0015_talkr"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add conversations.offline_notified_at (null: not said yet)."""
    with op.batch_alter_table("conversations") as batch:
        batch.add_column(sa.Column("offline_notified_at", sa.DateTime(timezone=True),
                                   nullable=True))


def downgrade() -> None:
    """Drop conversations.offline_notified_at."""
    with op.batch_alter_table("conversations") as batch:
        batch.drop_column("offline_notified_at")
