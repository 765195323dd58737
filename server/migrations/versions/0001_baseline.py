"""Baseline: the schema of chatdock 0.1.0, which made it with create_all.

Revision ID: 0001_baseline
Revises:
Create Date: 2026-12-01

A database 0.1.0 made (these tables, no alembic_version) is stamped with this
revision instead of running it (server.migrate). Constraint names are left to
the database, as create_all left them.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from alembic import op

revision = "0001_baseline"
down_revision = None
branch_labels = None
depends_on = None

TIME = sa.DateTime(timezone=True)


def _id() -> sa.Column[int]:
    return sa.Column("id", sa.Integer(), primary_key=True)


def _fk(name: str, target: str, nullable: bool = False) -> sa.Column[int]:
    return sa.Column(name, sa.Integer(), sa.ForeignKey(target), nullable=nullable)


def _string(name: str, length: int, nullable: bool = False) -> sa.Column[str]:
    return sa.Column(name, sa.String(length), nullable=nullable)


def _time(name: str, nullable: bool = False) -> sa.Column[datetime]:
    return sa.Column(name, TIME, nullable=nullable)


def upgrade() -> None:
    """Create every table and index of 0.1.0."""
    op.create_table(
        "settings",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text(), nullable=False))
    op.create_table(
        "businesses", _id(),
        _string("name", 200), _string("slug", 80), _string("primary_color", 7),
        _string("accent_color", 7), _string("welcome_message", 500),
        _string("logo_url", 2000, nullable=True),
        sa.Column("require_identification", sa.Boolean(), nullable=False),
        sa.Column("suspended", sa.Boolean(), nullable=False),
        _time("created_at"),
        sa.UniqueConstraint("slug"))
    op.create_table(
        "users", _id(), _fk("business_id", "businesses.id"),
        _string("email", 254), _string("name", 200), _string("role", 16),
        _string("password_hash", 200, nullable=True),
        _time("created_at"), _time("last_seen_at", nullable=True),
        sa.UniqueConstraint("business_id", "email"))
    op.create_index("ix_users_business_id", "users", ["business_id"])
    op.create_table(
        "api_keys", _id(), _fk("business_id", "businesses.id"),
        _string("kind", 16), _string("mode", 4), _string("prefix", 32),
        _string("key_hash", 200), _string("name", 200),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("allowed_origins", sa.JSON(), nullable=False),
        sa.Column("allowed_bundle_ids", sa.JSON(), nullable=False),
        _time("created_at"), _time("last_used_at", nullable=True),
        _time("revoked_at", nullable=True),
        sa.UniqueConstraint("prefix"))
    op.create_index("ix_api_keys_business_id", "api_keys", ["business_id"])
    op.create_index("ix_api_keys_revoked_at", "api_keys", ["revoked_at"])
    op.create_table(
        "contacts", _id(), _fk("business_id", "businesses.id"),
        _string("mode", 4), _string("visitor_id", 128),
        _string("name", 200, nullable=True), _string("email", 254, nullable=True),
        _string("phone", 40, nullable=True),
        sa.Column("custom_fields", sa.JSON(), server_default="{}", nullable=False),
        _time("created_at"),
        sa.UniqueConstraint("business_id", "mode", "visitor_id"))
    _conversations()
    op.create_table(
        "ticket_tags",
        sa.Column("conversation_id", sa.Integer(),
                  sa.ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("tag", sa.String(50), primary_key=True))
    op.create_index("ix_ticket_tags_tag", "ticket_tags", ["tag", "conversation_id"])
    _chat_sessions()
    _messages()
    op.create_table(
        "idempotency_records", _id(),
        _string("credential", 80), _string("key", 255), _string("fingerprint", 64),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        _time("created_at"),
        sa.UniqueConstraint("credential", "key"))


def _conversations() -> None:
    op.create_table(
        "conversations", _id(), _fk("business_id", "businesses.id"),
        _string("mode", 4), _fk("contact_id", "contacts.id"),
        _string("status", 16), _string("channel", 16), _string("subject", 300, nullable=True),
        _fk("assigned_to", "users.id", nullable=True),
        _string("last_message_preview", 140, nullable=True),
        sa.Column("unread_count", sa.Integer(), server_default="0", nullable=False),
        _time("resolved_at", nullable=True), _string("resolved_by", 40, nullable=True),
        _time("created_at"), _time("updated_at"))
    for name, columns in [
        ("ix_conversations_contact_status", ["contact_id", "status"]),
        ("ix_tickets_created", ["business_id", "mode", "created_at", "id"]),
        ("ix_tickets_updated", ["business_id", "mode", "updated_at", "id"]),
        ("ix_tickets_status_created", ["business_id", "mode", "status", "created_at", "id"]),
        ("ix_tickets_status_updated", ["business_id", "mode", "status", "updated_at", "id"]),
        ("ix_tickets_assignee_created", ["business_id", "mode", "assigned_to", "created_at",
                                         "id"]),
    ]:
        op.create_index(name, "conversations", columns)


def _chat_sessions() -> None:
    op.create_table(
        "chat_sessions", _id(), _fk("business_id", "businesses.id"),
        _string("mode", 4), _fk("conversation_id", "conversations.id"),
        _fk("key_id", "api_keys.id"), _string("token_hash", 64),
        _time("created_at"), _time("last_seen_at"), _time("revoked_at", nullable=True),
        sa.UniqueConstraint("token_hash"))
    for column in ("conversation_id", "key_id", "revoked_at"):
        op.create_index(f"ix_chat_sessions_{column}", "chat_sessions", [column])


def _messages() -> None:
    op.create_table(
        "messages", _id(), _fk("conversation_id", "conversations.id"),
        _string("direction", 8), _string("type", 16),
        sa.Column("content", sa.Text(), nullable=False),
        _string("sender_role", 8), _string("sender_name", 200, nullable=True),
        _fk("sender_user_id", "users.id", nullable=True),
        _time("created_at"))
    op.create_index("ix_messages_conversation_id_id", "messages", ["conversation_id", "id"])


def downgrade() -> None:
    """Drop every table (and with them their indexes): an empty database."""
    for table in ("idempotency_records", "messages", "chat_sessions", "ticket_tags",
                  "conversations", "contacts", "api_keys", "users", "businesses", "settings"):
        op.drop_table(table)
