"""TALKR wire-API sessions (POST /api/v1/talkr/{business_slug}/{bot_id}/{channel}), and the
mode of the key that turned the bot's public API on (its conversations' mode).

Revision ID: 0015_talkr
Revises: 0014_bot
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015_talkr"
down_revision: str | None = "0014_bot"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add talkr_sessions and bot_settings.public_api_mode (live)."""
    with op.batch_alter_table("bot_settings") as batch:
        batch.add_column(sa.Column("public_api_mode", sa.String(length=4),
                                   server_default="live", nullable=False))
    op.create_table(
        "talkr_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("business_id", sa.Integer(), nullable=False),
        sa.Column("mode", sa.String(length=4), nullable=False),
        sa.Column("bot_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("last_message_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["business_id"], ["businesses.id"]),
        sa.ForeignKeyConstraint(["bot_id"], ["bot_settings.id"]),
        sa.ForeignKeyConstraint(["conversation_id"], ["conversations.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_index("ix_talkr_sessions_conversation_id", "talkr_sessions", ["conversation_id"],
                    unique=False)


def downgrade() -> None:
    """Drop talkr_sessions and bot_settings.public_api_mode."""
    op.drop_index("ix_talkr_sessions_conversation_id", table_name="talkr_sessions")
    op.drop_table("talkr_sessions")
    with op.batch_alter_table("bot_settings") as batch:
        batch.drop_column("public_api_mode")
