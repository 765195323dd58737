"""OAuth2 clients (the client credentials grant; their tokens are signed, not stored).

Revision ID: 0009_oauth
Revises: 0008_analytics
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_oauth"
down_revision: str | None = "0008_analytics"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add oauth_clients."""
    op.create_table(
        "oauth_clients",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("business_id", sa.Integer(), nullable=False),
        sa.Column("mode", sa.String(length=4), nullable=False),
        sa.Column("client_id", sa.String(length=40), nullable=False),
        sa.Column("secret_hash", sa.String(length=200), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["business_id"], ["businesses.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("client_id"),
    )
    op.create_index("ix_oauth_clients_business_id", "oauth_clients", ["business_id"],
                    unique=False)
    op.create_index("ix_oauth_clients_revoked_at", "oauth_clients", ["revoked_at"],
                    unique=False)


def downgrade() -> None:
    """Drop oauth_clients."""
    op.drop_index("ix_oauth_clients_revoked_at", table_name="oauth_clients")
    op.drop_index("ix_oauth_clients_business_id", table_name="oauth_clients")
    op.drop_table("oauth_clients")
