"""The answer bot: its settings, its job outbox, who holds a conversation, answer sources.

Revision ID: 0011_bot
Revises: 0010_knowledge
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_bot"
down_revision: str | None = "0010_knowledge"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add bot_settings, bot_jobs, conversations.bot_active (false) and messages.sources."""
    op.create_table(
        "bot_settings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("business_id", sa.Integer(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("avatar_url", sa.String(length=2000), nullable=True),
        sa.Column("welcome_message", sa.String(length=1000), nullable=False),
        sa.Column("fallback_message", sa.String(length=1000), nullable=False),
        sa.Column("handoff_message", sa.String(length=1000), nullable=False),
        sa.Column("handoff_keywords", sa.JSON(), nullable=False),
        sa.Column("collection_ids", sa.JSON(), nullable=False),
        sa.Column("min_score", sa.Float(), nullable=False),
        sa.Column("inactivity_minutes", sa.Integer(), nullable=False),
        sa.Column("public_api_enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["business_id"], ["businesses.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("business_id"),
    )
    with op.batch_alter_table("conversations") as batch:
        batch.add_column(sa.Column("bot_active", sa.Boolean(), server_default=sa.false(),
                                   nullable=False))
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("sources", sa.JSON(), nullable=True))
    op.create_table(
        "bot_jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.String(length=10), nullable=True),
        sa.Column("answer_message_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["conversation_id"], ["conversations.id"]),
        sa.ForeignKeyConstraint(["message_id"], ["messages.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["answer_message_id"], ["messages.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("message_id"),
        sa.UniqueConstraint("answer_message_id"),
    )
    op.create_index("ix_bot_jobs_conversation_id", "bot_jobs", ["conversation_id"])
    op.create_index("ix_bot_jobs_status_next", "bot_jobs", ["status", "next_attempt_at"])


def downgrade() -> None:
    """Drop the bot's tables and columns."""
    op.drop_table("bot_jobs")
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("sources")
    with op.batch_alter_table("conversations") as batch:
        batch.drop_column("bot_active")
    op.drop_table("bot_settings")
