"""Semantic retrieval (the `semantic` extra): each knowledge chunk's embedding.

A BLOB (PostgreSQL bytea) of float32 little-endian, its dimension and the model that made it
(a changed KNOWLEDGE_EMBEDDING_MODEL leaves the old vectors unused until re-embedded). The
same column on both databases: the PostgreSQL here has no pgvector extension
(pg_available_extensions), and a brute-force cosine over one business's vectors is numpy's.

Revision ID: 0017_semantic
Revises: 0016_bot_offline
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017_semantic"
down_revision: str | None = "0016_bot_offline"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add knowledge_chunks.embedding, embedding_dim, embedding_model and their index."""
    # plain ADD COLUMN (no batch copy on SQLite: the FTS view reads this table)
    op.add_column("knowledge_chunks", sa.Column("embedding", sa.LargeBinary(), nullable=True))
    op.add_column("knowledge_chunks", sa.Column("embedding_dim", sa.Integer(), nullable=True))
    op.add_column("knowledge_chunks",
                  sa.Column("embedding_model", sa.String(length=200), nullable=True))
    # covering: the per-query fingerprint (count, max, sum of ids) of a business's vectors
    op.create_index("ix_knowledge_chunks_embedded", "knowledge_chunks",
                    ["business_id", "embedding_model", "id"])


def downgrade() -> None:
    """Drop the embedding columns."""
    op.drop_index("ix_knowledge_chunks_embedded", table_name="knowledge_chunks")
    # native DROP COLUMN on both (SQLite 3.35+): a batch copy would break the FTS view
    for column in ("embedding_model", "embedding_dim", "embedding"):
        op.execute(f"ALTER TABLE knowledge_chunks DROP COLUMN {column}")
