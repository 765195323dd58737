"""Database schema (SQLAlchemy 2 declarative)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# The largest id any row can have: ids are INTEGER columns, 32-bit on PostgreSQL (SQLite's
# are 64-bit). A larger one in a URL, query or body must be a 404 / 400, never reach the
# database (PostgreSQL answers "integer out of range": a 500).
MAX_ROW_ID = 2**31 - 1


def utcnow() -> datetime:
    """Return the current time, timezone-aware UTC."""
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator[datetime]):
    """A DateTime that always comes back timezone-aware UTC (SQLite drops tzinfo)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        return value.astimezone(timezone.utc) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime()}


class Setting(Base):
    """Deployment-wide values every process must agree on (e.g. the generated secret)."""

    __tablename__ = "settings"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class Business(Base):
    __tablename__ = "businesses"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    primary_color: Mapped[str] = mapped_column(String(7), default="#4F46E5")
    accent_color: Mapped[str] = mapped_column(String(7), default="#111827")
    welcome_message: Mapped[str] = mapped_column(String(500), default="Hi! How can we help?")
    logo_url: Mapped[str | None] = mapped_column(String(2000), default=None)
    require_identification: Mapped[bool] = mapped_column(Boolean, default=False)
    suspended: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class User(Base):
    """An agent or owner of a business."""

    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("business_id", "email"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    business_id: Mapped[int] = mapped_column(ForeignKey("businesses.id"), index=True)
    email: Mapped[str] = mapped_column(String(254))
    name: Mapped[str] = mapped_column(String(200), default="")
    role: Mapped[str] = mapped_column(String(16), default="agent")  # owner | agent
    password_hash: Mapped[str | None] = mapped_column(String(200), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # presence: an open business-channel socket or a recent agent heartbeat
    last_seen_at: Mapped[datetime | None] = mapped_column(default=None)
    # a deactivated agent cannot log in, its tokens and sockets stop, it takes no tickets
    deactivated_at: Mapped[datetime | None] = mapped_column(default=None, index=True)
    # logout: every agent token issued up to this instant is refused, its sockets close
    tokens_valid_after: Mapped[datetime | None] = mapped_column(default=None, index=True)


class ApiKey(Base):
    __tablename__ = "api_keys"
    id: Mapped[int] = mapped_column(primary_key=True)
    business_id: Mapped[int] = mapped_column(ForeignKey("businesses.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # publishable | secret
    mode: Mapped[str] = mapped_column(String(4))  # test | live
    prefix: Mapped[str] = mapped_column(String(32), unique=True)
    key_hash: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(200), default="")
    scopes: Mapped[list[str]] = mapped_column(JSON, default=list)
    allowed_origins: Mapped[list[str]] = mapped_column(JSON, default=list)
    allowed_bundle_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None, index=True)


class Contact(Base):
    """A visitor, identified per business and mode by the app's visitor_id."""

    __tablename__ = "contacts"
    __table_args__ = (UniqueConstraint("business_id", "mode", "visitor_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    business_id: Mapped[int] = mapped_column(ForeignKey("businesses.id"))
    mode: Mapped[str] = mapped_column(String(4))
    visitor_id: Mapped[str] = mapped_column(String(128))
    name: Mapped[str | None] = mapped_column(String(200), default=None)
    email: Mapped[str | None] = mapped_column(String(254), default=None)
    phone: Mapped[str | None] = mapped_column(String(40), default=None)
    custom_fields: Mapped[dict[str, object]] = mapped_column(JSON, default=dict,
                                                             server_default="{}")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # first started with a valid identity_hash; from then on only verified starts resume it
    verified_at: Mapped[datetime | None] = mapped_column(default=None)


class Conversation(Base):
    """A chat thread; the agent API calls it a ticket.

    Listing filters and sorts within one business and mode, so every list index
    leads with (business_id, mode) and ends with the sort column and id.
    """

    __tablename__ = "conversations"
    __table_args__ = (
        Index("ix_conversations_contact_status", "contact_id", "status"),
        Index("ix_tickets_created", "business_id", "mode", "created_at", "id"),
        Index("ix_tickets_updated", "business_id", "mode", "updated_at", "id"),
        Index("ix_tickets_status_created", "business_id", "mode", "status", "created_at", "id"),
        Index("ix_tickets_status_updated", "business_id", "mode", "status", "updated_at", "id"),
        Index("ix_tickets_assignee_created", "business_id", "mode", "assigned_to", "created_at",
              "id"),
        # the presence sweep reads the few conversations whose visitor is online
        Index("ix_conversations_visitor_online", "visitor_online"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    business_id: Mapped[int] = mapped_column(ForeignKey("businesses.id"))
    mode: Mapped[str] = mapped_column(String(4))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"))
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | pending | resolved
    channel: Mapped[str] = mapped_column(String(16), default="widget")  # widget | api
    subject: Mapped[str | None] = mapped_column(String(300), default=None)
    assigned_to: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    last_message_preview: Mapped[str | None] = mapped_column(String(140), default=None)
    # visitor messages no agent has read yet (reset when an agent reads or replies)
    unread_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # a visitor heartbeat or session start within VISITOR_ONLINE_SECONDS (set on the change
    # only, cleared by the realtime watcher's sweep: VisitorOnline / VisitorOffline)
    visitor_online: Mapped[bool] = mapped_column(Boolean, default=False,
                                                 server_default=false())
    resolved_at: Mapped[datetime | None] = mapped_column(default=None)
    resolved_by: Mapped[str | None] = mapped_column(String(40), default=None)  # user:1 | key:2
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    # the bot holds it (started with the bot on): cleared by a handoff, an agent's reply or
    # an assignment, and by the bot's own inactivity resolve (server/services/bot.py)
    bot_active: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # when the bot said the business's offline message here (once per conversation)
    offline_notified_at: Mapped[datetime | None] = mapped_column(default=None)
    contact: Mapped[Contact] = relationship()


class CannedResponse(Base):
    """A saved reply agents insert by its shortcut; per business, shared by test and live."""

    __tablename__ = "canned_responses"
    __table_args__ = (UniqueConstraint("business_id", "shortcut"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    business_id: Mapped[int] = mapped_column(ForeignKey("businesses.id"))
    shortcut: Mapped[str] = mapped_column(String(32))
    content: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class TicketTag(Base):
    __tablename__ = "ticket_tags"
    __table_args__ = (Index("ix_ticket_tags_tag", "tag", "conversation_id"),)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id",
                                                            ondelete="CASCADE"),
                                                 primary_key=True)
    tag: Mapped[str] = mapped_column(String(50), primary_key=True)


class ChatSession(Base):
    """One visitor device's authorization for one conversation."""

    __tablename__ = "chat_sessions"
    id: Mapped[int] = mapped_column(primary_key=True)
    business_id: Mapped[int] = mapped_column(ForeignKey("businesses.id"))
    mode: Mapped[str] = mapped_column(String(4))
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"), index=True)
    key_id: Mapped[int] = mapped_column(ForeignKey("api_keys.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None, index=True)
    # started with a valid identity_hash: it may read the contact's stored email and phone
    verified_at: Mapped[datetime | None] = mapped_column(default=None)


class Message(Base):
    __tablename__ = "messages"
    __table_args__ = (Index("ix_messages_conversation_id_id", "conversation_id", "id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"))
    direction: Mapped[str] = mapped_column(String(8))  # inbound (visitor) | outbound
    type: Mapped[str] = mapped_column(String(16), default="text")
    content: Mapped[str] = mapped_column(Text)
    sender_role: Mapped[str] = mapped_column(String(8))  # visitor | agent | bot
    sender_name: Mapped[str | None] = mapped_column(String(200), default=None)
    sender_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # a bot answer's knowledge passages: [{document_id, title}] (None on every other message)
    sources: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON, default=None)


class IdentitySetting(Base):
    """A business's identity-verification secret for one mode (docs/security.md).

    Kept as written, not hashed: the server computes HMACs with it. Shown once, by the PUT
    that makes it; never in any other answer or log line.
    """

    __tablename__ = "identity_settings"
    business_id: Mapped[int] = mapped_column(ForeignKey("businesses.id"), primary_key=True)
    mode: Mapped[str] = mapped_column(String(4), primary_key=True)
    secret: Mapped[str] = mapped_column(String(100))
    required: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class IdempotencyRecord(Base):
    """The first response to a write sent with an Idempotency-Key (Stripe's rule)."""

    __tablename__ = "idempotency_records"
    __table_args__ = (UniqueConstraint("credential", "key"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    credential: Mapped[str] = mapped_column(String(80))
    key: Mapped[str] = mapped_column(String(255))
    fingerprint: Mapped[str] = mapped_column(String(64))
    status: Mapped[int] = mapped_column(Integer)
    body: Mapped[str] = mapped_column(Text)
    # the realtime events the write committed, published again on a replay: a worker that
    # died between commit and publish must not leave the event unsent (bench.chaos)
    events: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class RelayEvent(Base):
    """A committed realtime event from a process that holds no sockets (the CLI), for every
    server process to deliver to its own sockets (server/realtime/relay.py)."""

    __tablename__ = "relay_events"
    # AUTOINCREMENT: SQLite must never reuse an id after pruning (readers go by id)
    __table_args__ = {"sqlite_autoincrement": True}
    id: Mapped[int] = mapped_column(primary_key=True)
    topics: Mapped[list[str]] = mapped_column(JSON)
    event: Mapped[str] = mapped_column(String(64))
    data: Mapped[str] = mapped_column(Text)  # the payload, JSON-encoded once by the writer
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class WebhookEndpoint(Base):
    """A URL that hears a business's events of one mode (server/services/webhooks.py).

    The signing secret is kept as written, not hashed: every delivery is signed with it
    (HMAC needs the plaintext). Shown once, by the POST that makes it."""

    __tablename__ = "webhook_endpoints"
    id: Mapped[int] = mapped_column(primary_key=True)
    business_id: Mapped[int] = mapped_column(ForeignKey("businesses.id"), index=True)
    mode: Mapped[str] = mapped_column(String(4))
    url: Mapped[str] = mapped_column(String(2048))
    events: Mapped[list[str]] = mapped_column(JSON, default=list)
    description: Mapped[str | None] = mapped_column(String(500), default=None)
    secret: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    disabled_at: Mapped[datetime | None] = mapped_column(default=None)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)


class WebhookEvent(Base):
    """The outbox: one row per event, written in the transaction of the change it reports."""

    __tablename__ = "webhook_events"
    id: Mapped[int] = mapped_column(primary_key=True)
    business_id: Mapped[int] = mapped_column(ForeignKey("businesses.id"), index=True)
    mode: Mapped[str] = mapped_column(String(4))
    type: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class WebhookDelivery(Base):
    """One event owed to one endpoint: pending until a 2xx (succeeded) or the last retry."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (Index("ix_webhook_deliveries_status_next", "status", "next_attempt_at"),
                      Index("ix_webhook_deliveries_endpoint_id_id", "endpoint_id", "id"))
    id: Mapped[int] = mapped_column(primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("webhook_endpoints.id"))
    event_id: Mapped[int] = mapped_column(ForeignKey("webhook_events.id"), index=True)
    status: Mapped[str] = mapped_column(String(10), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_status_code: Mapped[int | None] = mapped_column(Integer, default=None)
    last_error: Mapped[str | None] = mapped_column(String(500), default=None)
    next_attempt_at: Mapped[datetime | None] = mapped_column(default=utcnow)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(default=None)


class AnalyticsEvent(Base):
    """One event a visitor's app tracked (Tickki SDK 0.2 TickkiAnalytics), keyed by visitor id.

    The list reads one business and mode newest first, by visitor or by type: both indexes
    lead with (business_id, mode) and end with id, the keyset cursor's column.
    """

    __tablename__ = "analytics_events"
    __table_args__ = (
        Index("ix_analytics_events_visitor", "business_id", "mode", "visitor_id", "id"),
        Index("ix_analytics_events_type", "business_id", "mode", "type", "id"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    business_id: Mapped[int] = mapped_column(ForeignKey("businesses.id"))
    mode: Mapped[str] = mapped_column(String(4))
    visitor_id: Mapped[str] = mapped_column(String(128))
    # the contact of this visitor id when the batch arrived (None before their first chat)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"), default=None,
                                                   index=True)
    type: Mapped[str] = mapped_column(String(64))
    occurred_at: Mapped[datetime] = mapped_column()
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    title: Mapped[str | None] = mapped_column(String(500), default=None)
    url: Mapped[str | None] = mapped_column(String(2048), default=None)
    element_label: Mapped[str | None] = mapped_column(String(200), default=None)
    element_type: Mapped[str | None] = mapped_column(String(64), default=None)
    element_key: Mapped[str | None] = mapped_column(String(200), default=None)
    value: Mapped[Any] = mapped_column(JSON, nullable=True, default=None)  # number or string
    meta: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)


class OAuthClient(Base):
    """An OAuth2 client (client credentials grant) of one business and mode; its secret is
    stored as a digest, like a key's. Revoking it stops every token it issued."""

    __tablename__ = "oauth_clients"
    id: Mapped[int] = mapped_column(primary_key=True)
    business_id: Mapped[int] = mapped_column(ForeignKey("businesses.id"), index=True)
    mode: Mapped[str] = mapped_column(String(4))
    client_id: Mapped[str] = mapped_column(String(40), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(200), default="")
    scopes: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None, index=True)


class Rating(Base):
    """A visitor's CSAT score for one resolution of a conversation: the unique
    (conversation_id, resolved_at) pair lets a reopened and again resolved conversation be
    rated again, and each resolution once."""

    __tablename__ = "ratings"
    __table_args__ = (UniqueConstraint("conversation_id", "resolved_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    business_id: Mapped[int] = mapped_column(ForeignKey("businesses.id"), index=True)
    mode: Mapped[str] = mapped_column(String(4))
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"), index=True)
    resolved_at: Mapped[datetime] = mapped_column()  # the resolution rated
    score: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str | None] = mapped_column(String(1000), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Attachment(Base):
    """A file on a message; its bytes live in the storage (server.storage) under key."""

    __tablename__ = "attachments"
    id: Mapped[int] = mapped_column(primary_key=True)
    business_id: Mapped[int] = mapped_column(ForeignKey("businesses.id"))
    mode: Mapped[str] = mapped_column(String(4))
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"), index=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id"), index=True)
    storage_key: Mapped[str] = mapped_column(String(200), unique=True)
    file_name: Mapped[str] = mapped_column(String(255))
    mime_type: Mapped[str] = mapped_column(String(100))
    file_size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class BusinessHours(Base):
    """When a business is open (one row per business, shared by test and live like branding).
    No row means always open, so businesses that never set hours are unaffected."""

    __tablename__ = "business_hours"
    business_id: Mapped[int] = mapped_column(ForeignKey("businesses.id"), primary_key=True,
                                             autoincrement=False)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    # {"mon": [["09:00", "17:30"]], ..., "sun": []}: every day present, ranges sorted
    hours: Mapped[dict[str, list[list[str]]]] = mapped_column(JSON)
    offline_message: Mapped[str] = mapped_column(String(500), default="")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class KnowledgeCollection(Base):
    """A named set of help documents the bot answers from; per business, shared by test and
    live mode (like branding and canned responses: one help centre per business)."""

    __tablename__ = "knowledge_collections"
    __table_args__ = (UniqueConstraint("business_id", "name"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    business_id: Mapped[int] = mapped_column(ForeignKey("businesses.id"))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(String(2000), default=None)
    # the chunks of its documents, kept by server.services.knowledge with each add and delete
    # (a search's idf total without summing every document)
    chunk_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class KnowledgeDocument(Base):
    """One uploaded document, kept as its chunks (documents are not edited: delete and add)."""

    __tablename__ = "knowledge_documents"
    id: Mapped[int] = mapped_column(primary_key=True)
    collection_id: Mapped[int] = mapped_column(ForeignKey("knowledge_collections.id"),
                                               index=True)
    title: Mapped[str] = mapped_column(String(200))
    size: Mapped[int] = mapped_column(Integer)  # bytes of the text as sent
    chunk_count: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class KnowledgeChunk(Base):
    """A passage of a document: the unit search ranks and the bot quotes.

    business_id and collection_id repeat the document's (which never moves) so a search
    filters the full-text matches without joining. The full-text index is not mapped here:
    SQLite's FTS5 table knowledge_fts (rowid = chunk id) and PostgreSQL's search_vector
    column are written by server.services.knowledge in the same transaction.
    """

    __tablename__ = "knowledge_chunks"
    __table_args__ = (
        Index("ix_knowledge_chunks_document_id_ordinal", "document_id", "ordinal"),
        # covering: SQLite's search checks each full-text match's business and collection
        # here, a small index, instead of in the wide chunk rows (bench/knowledge.py)
        Index("ix_knowledge_chunks_scope", "id", "business_id", "collection_id"),
        # covering: the hybrid search's per-query fingerprint of a business's vectors
        Index("ix_knowledge_chunks_embedded", "business_id", "embedding_model", "id"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("knowledge_documents.id"))
    business_id: Mapped[int] = mapped_column(ForeignKey("businesses.id"))
    collection_id: Mapped[int] = mapped_column(ForeignKey("knowledge_collections.id"))
    ordinal: Mapped[int] = mapped_column(Integer)
    heading: Mapped[str | None] = mapped_column(String(200), default=None)
    text: Mapped[str] = mapped_column(Text)
    # the `semantic` extra (server.services.embeddings): float32 little-endian, its
    # dimension and the model that made it; None where it was not (yet) embedded
    embedding: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    embedding_dim: Mapped[int | None] = mapped_column(Integer, default=None)
    embedding_model: Mapped[str | None] = mapped_column(String(200), default=None)


class BotSettings(Base):
    """A business's answer bot (server/services/bot.py); one per business, both modes."""

    __tablename__ = "bot_settings"
    id: Mapped[int] = mapped_column(primary_key=True)
    business_id: Mapped[int] = mapped_column(ForeignKey("businesses.id"), unique=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    name: Mapped[str] = mapped_column(String(100))
    avatar_url: Mapped[str | None] = mapped_column(String(2000), default=None)
    welcome_message: Mapped[str] = mapped_column(String(1000), default="")
    fallback_message: Mapped[str] = mapped_column(String(1000))
    handoff_message: Mapped[str] = mapped_column(String(1000))
    handoff_keywords: Mapped[list[str]] = mapped_column(JSON, default=list)
    collection_ids: Mapped[list[int]] = mapped_column(JSON, default=list)  # [] = all
    min_score: Mapped[float] = mapped_column(Float)
    inactivity_minutes: Mapped[int] = mapped_column(Integer)
    public_api_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    # the mode of the key that turned public_api on: its TALKR conversations' (talkr.py)
    public_api_mode: Mapped[str] = mapped_column(String(4), default="live",
                                                 server_default="live")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class BotJob(Base):
    """The outbox of the bot: one visitor message to answer, written in the transaction that
    stores it, done in the transaction that stores the answer (or the handoff)."""

    __tablename__ = "bot_jobs"
    __table_args__ = (Index("ix_bot_jobs_status_next", "status", "next_attempt_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"), index=True)
    # cascades: erasing a contact deletes its messages (server/services/contacts.py)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"),
                                            unique=True)
    status: Mapped[str] = mapped_column(String(10), default="pending")  # pending | done
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)  # a lease once claimed
    outcome: Mapped[str | None] = mapped_column(String(10), default=None)  # answered | handoff…
    # the message that answered it: one answer per job
    answer_message_id: Mapped[int | None] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), default=None, unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    done_at: Mapped[datetime | None] = mapped_column(default=None)


class TalkrSession(Base):
    """One TALKR wire-API caller's conversation (server/services/talkr.py): its `session`
    value is stored hashed, like a visitor session token; `last_message_id` is the newest
    message already returned, so each call returns the agents' replies written since."""

    __tablename__ = "talkr_sessions"
    id: Mapped[int] = mapped_column(primary_key=True)
    business_id: Mapped[int] = mapped_column(ForeignKey("businesses.id"))
    mode: Mapped[str] = mapped_column(String(4))
    bot_id: Mapped[int] = mapped_column(ForeignKey("bot_settings.id"))
    channel: Mapped[str] = mapped_column(String(10))  # web | telephony
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    last_message_id: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
