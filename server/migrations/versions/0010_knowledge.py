"""Knowledge base: collections, documents, chunks and their full-text index.

SQLite: an external-content FTS5 table over the view knowledge_chunk_texts (a chunk with its
document's title), written explicitly by server.services.knowledge. PostgreSQL: a tsvector
column on knowledge_chunks (title weighted A, heading and text B), written by the same
service, under a GIN index.

Revision ID: 0010_knowledge
Revises: 0009_oauth
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0010_knowledge"
down_revision: str | None = "0009_oauth"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SQLITE_INDEX = [
    """CREATE VIEW knowledge_chunk_texts AS
       SELECT c.id AS id, d.title AS title, c.heading AS heading, c.text AS text,
              c.document_id AS document_id
       FROM knowledge_chunks c JOIN knowledge_documents d ON d.id = c.document_id""",
    """CREATE VIRTUAL TABLE knowledge_fts USING fts5(
       title, heading, text, content='knowledge_chunk_texts', content_rowid='id',
       tokenize='porter unicode61 remove_diacritics 2')""",
]


def _tables() -> None:
    op.create_table(
        "knowledge_collections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("business_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.String(length=2000), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["business_id"], ["businesses.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("business_id", "name"),
    )
    op.create_table(
        "knowledge_documents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("collection_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("chunk_count", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["collection_id"], ["knowledge_collections.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_knowledge_documents_collection_id", "knowledge_documents",
                    ["collection_id"], unique=False)
    op.create_table(
        "knowledge_chunks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("document_id", sa.Integer(), nullable=False),
        sa.Column("business_id", sa.Integer(), nullable=False),
        sa.Column("collection_id", sa.Integer(), nullable=False),
        sa.Column("ordinal", sa.Integer(), nullable=False),
        sa.Column("heading", sa.String(length=200), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["business_id"], ["businesses.id"]),
        sa.ForeignKeyConstraint(["collection_id"], ["knowledge_collections.id"]),
        sa.ForeignKeyConstraint(["document_id"], ["knowledge_documents.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_knowledge_chunks_document_id_ordinal", "knowledge_chunks",
                    ["document_id", "ordinal"], unique=False)
    op.create_index("ix_knowledge_chunks_scope", "knowledge_chunks",
                    ["id", "business_id", "collection_id"], unique=False)


def upgrade() -> None:
    """Add the knowledge tables and the full-text index of this database."""
    _tables()
    if op.get_bind().dialect.name == "sqlite":
        for statement in SQLITE_INDEX:
            op.execute(statement)
        return
    op.add_column("knowledge_chunks",
                  sa.Column("search_vector", postgresql.TSVECTOR(), nullable=True))
    op.create_index("ix_knowledge_chunks_search", "knowledge_chunks", ["search_vector"],
                    postgresql_using="gin")


def downgrade() -> None:
    """Drop the knowledge tables and their index."""
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE knowledge_fts")
        op.execute("DROP VIEW knowledge_chunk_texts")
    else:
        op.drop_index("ix_knowledge_chunks_search", table_name="knowledge_chunks")
    op.drop_index("ix_knowledge_chunks_scope", table_name="knowledge_chunks")
    op.drop_index("ix_knowledge_chunks_document_id_ordinal", table_name="knowledge_chunks")
    op.drop_table("knowledge_chunks")
    op.drop_index("ix_knowledge_documents_collection_id", table_name="knowledge_documents")
    op.drop_table("knowledge_documents")
    op.drop_table("knowledge_collections")
