"""Identity verification: identity_settings, contacts.verified_at, chat_sessions.verified_at.

Revision ID: 0003_identity_verification
Revises: 0002_agents_deactivated_relay
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_identity_verification"
down_revision: str | None = "0002_agents_deactivated_relay"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the per-business, per-mode secret and the verified marks (existing rows: NULL,
    unverified)."""
    op.create_table(
        "identity_settings",
        sa.Column("business_id", sa.Integer(), nullable=False),
        sa.Column("mode", sa.String(length=4), nullable=False),
        sa.Column("secret", sa.String(length=100), nullable=False),
        sa.Column("required", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["business_id"], ["businesses.id"]),
        sa.PrimaryKeyConstraint("business_id", "mode"),
    )
    for table in ("contacts", "chat_sessions"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("verified_at", sa.DateTime(timezone=True),
                                       nullable=True))


def downgrade() -> None:
    """Drop the verified marks and identity_settings."""
    for table in ("chat_sessions", "contacts"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("verified_at")
    op.drop_table("identity_settings")
