"""knowledge_collections.chunk_count: how many chunks the collection's documents hold.

Kept with each document added or deleted (in its transaction, as an increment), so a search
knows how many chunks it covers, and whether that is the whole index, from the few rows of
knowledge_collections instead of summing every document (bench/knowledge.py). Backfilled
from the documents' own counts.

Revision ID: 0018_knowledge_chunk_totals
Revises: 0017_semantic
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018_knowledge_chunk_totals"
down_revision: str | None = "0017_semantic"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add knowledge_collections.chunk_count (0 by default) and fill it in."""
    op.add_column("knowledge_collections", sa.Column("chunk_count", sa.Integer(),
                                                     nullable=False, server_default="0"))
    op.execute("UPDATE knowledge_collections SET chunk_count = coalesce((SELECT "
               "sum(d.chunk_count) FROM knowledge_documents AS d "
               "WHERE d.collection_id = knowledge_collections.id), 0)")


def downgrade() -> None:
    """Drop knowledge_collections.chunk_count."""
    op.drop_column("knowledge_collections", "chunk_count")  # SQLite >= 3.35 drops in place
