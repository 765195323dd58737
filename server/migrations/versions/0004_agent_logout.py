"""Agents can log out: users.tokens_valid_after (tokens issued up to it are refused).

Revision ID: 0004_agent_logout
Revises: 0003_identity_verification
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_agent_logout"
down_revision: str | None = "0003_identity_verification"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add users.tokens_valid_after (indexed: every watcher polls it)."""
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("tokens_valid_after", sa.DateTime(timezone=True),
                                   nullable=True))
        batch.create_index("ix_users_tokens_valid_after", ["tokens_valid_after"], unique=False)


def downgrade() -> None:
    """Drop users.tokens_valid_after."""
    with op.batch_alter_table("users") as batch:
        batch.drop_index("ix_users_tokens_valid_after")
        batch.drop_column("tokens_valid_after")
