"""Visitor chat: sessions, messages, identity, typing, presence.

The visitor paths are the hot paths (every message, every session start), so
they run Core statements on the tables, built once at import with bind
parameters, on the Session's connection, and return plain records. Measured
here: an ORM-enabled insert through the Session costs ~160-300 us of Python,
the same prebuilt Table insert ~30 us (SQLite itself ~14 us).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    Row,
    Table,
    bindparam,
    case,
    exists,
    false,
    func,
    insert,
    select,
    true,
    update,
)
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session

from server.channels import (
    Route,
    business_topic,
    conversation_topic,
    session_channel_id,
    session_route,
)
from server.db import connection, emit, upsert, wake_outbox
from server.errors import IdentityRequired, InvalidSession, NotFound, ValidationError
from server.models import (
    ApiKey,
    BotJob,
    BotSettings,
    Business,
    ChatSession,
    Contact,
    Conversation,
    Message,
    User,
    utcnow,
)
from server.security import new_session_token, token_digest
from server.services import availability, webhooks
from server.services.agents import AGENT_ONLINE_SECONDS
from server.services.identity import IdentityProof, check_start
from server.services.keys import KeyInfo
from server.wire import decode_id_cursor, encode_id_cursor, message_json

API_KEYS, BUSINESSES, CONTACTS = (cast(Table, m.__table__) for m in (ApiKey, Business, Contact))
BOT_JOBS, BOT_SETTINGS = (cast(Table, m.__table__) for m in (BotJob, BotSettings))
CONVERSATIONS, SESSIONS, MESSAGES = (cast(Table, m.__table__)
                                     for m in (Conversation, ChatSession, Message))


def run(session: Session, statement: Any, **params: Any) -> CursorResult[Any]:
    """Execute a prebuilt Core statement on the session's connection (its transaction)."""
    return connection(session).execute(statement, params)


# ---------- config --------------------------------------------------------


_BUSINESS = select(BUSINESSES).where(BUSINESSES.c.id == bindparam("business_id"))
_USERS = cast(Table, User.__table__)
_AGENTS_ONLINE = select(func.count()).select_from(_USERS).where(
    _USERS.c.business_id == bindparam("business_id"),
    _USERS.c.last_seen_at >= bindparam("since", type_=_USERS.c.last_seen_at.type),
    _USERS.c.deactivated_at.is_(None))


def config_json(session: Session, business_id: int, *, max_len: int,
                max_upload_kb: int) -> dict[str, Any]:
    """The widget configuration for GET /chat/config."""
    b = run(session, _BUSINESS, business_id=business_id).one()
    online = run(session, _AGENTS_ONLINE, business_id=business_id,
                 since=utcnow() - timedelta(seconds=AGENT_ONLINE_SECONDS)).scalar_one()
    return {
        "business": {"id": b.id, "name": b.name, "slug": b.slug},
        "branding": {"primary_color": b.primary_color, "accent_color": b.accent_color,
                     "welcome_message": b.welcome_message, "logo_url": b.logo_url},
        # Voice notes are not offered yet; the SDK hides them when false.
        "features": {"file_uploads": True, "voice_notes": False},
        "limits": {"max_upload_kb": max_upload_kb, "message_max_length": max_len},
        "presence": {"agents_online": int(online)},
        "identification": {"required_on_start": b.require_identification},
        "availability": availability.config_block(
            availability.settings_for(session, business_id), utcnow()),
    }


# ---------- sessions ------------------------------------------------------


@dataclass(frozen=True)
class SessionInfo:
    """A live visitor session as a request sees it (a plain record)."""

    id: int
    conversation_id: int
    business_id: int
    mode: str
    key_id: int
    last_seen_at: datetime
    contact_id: int
    verified_at: datetime | None = None  # started with a valid identity_hash


@dataclass(frozen=True)
class StartedSession:
    session_id: int
    token: str
    conversation_id: int
    contact: dict[str, Any]
    verified: bool


_CONTACT_ID = select(CONTACTS.c.id, CONTACTS.c.verified_at).where(
    CONTACTS.c.business_id == bindparam("business_id"), CONTACTS.c.mode == bindparam("mode"),
    CONTACTS.c.visitor_id == bindparam("visitor_id"))
# Only the fields given change: COALESCE(:new, current).
_CONTACT_UPDATE = update(CONTACTS).where(CONTACTS.c.id == bindparam("contact_id")).values(
    {c: func.coalesce(bindparam(f"new_{c}", type_=CONTACTS.c[c].type), CONTACTS.c[c])
     for c in ("name", "email", "phone")})
_CONTACT = select(CONTACTS.c.name, CONTACTS.c.email, CONTACTS.c.phone, CONTACTS.c.visitor_id
                  ).where(CONTACTS.c.id == bindparam("contact_id"))
_OPEN_CONVERSATION = (select(CONVERSATIONS.c.id)
                      .where(CONVERSATIONS.c.contact_id == bindparam("contact_id"),
                             CONVERSATIONS.c.status != "resolved")
                      .order_by(CONVERSATIONS.c.id.desc()).limit(1))
_NEW_CONVERSATION = insert(CONVERSATIONS).returning(CONVERSATIONS.c.id)
_NEW_SESSION = insert(SESSIONS).returning(SESSIONS.c.id)
_VERIFY_CONTACT = (update(CONTACTS).where(CONTACTS.c.id == bindparam("contact_id"),
                                          CONTACTS.c.verified_at.is_(None))
                   .values(verified_at=bindparam("now", type_=CONTACTS.c.verified_at.type)))
# A contact that turns verified shuts out every unverified session it had (their sockets close
# with 4009, as on any revocation): whoever resumed it by visitor_id alone loses it.
_REVOKE_UNVERIFIED = (update(SESSIONS).where(
    SESSIONS.c.conversation_id.in_(select(CONVERSATIONS.c.id).where(
        CONVERSATIONS.c.contact_id == bindparam("contact_id"))),
    SESSIONS.c.verified_at.is_(None), SESSIONS.c.revoked_at.is_(None))
    .values(revoked_at=bindparam("now", type_=SESSIONS.c.revoked_at.type)))
# A session is live while neither it nor the key it was started with is revoked.
_LIVE_SESSIONS = SESSIONS.join(API_KEYS, API_KEYS.c.id == SESSIONS.c.key_id)
_LIVE = (SESSIONS.c.revoked_at.is_(None), API_KEYS.c.revoked_at.is_(None))
_SESSION_LOOKUP = (
    select(SESSIONS.c.id, SESSIONS.c.conversation_id, SESSIONS.c.business_id, SESSIONS.c.mode,
           SESSIONS.c.key_id, SESSIONS.c.last_seen_at, CONVERSATIONS.c.contact_id,
           SESSIONS.c.verified_at)
    .select_from(_LIVE_SESSIONS)
    .join(CONVERSATIONS, CONVERSATIONS.c.id == SESSIONS.c.conversation_id)
    .where(SESSIONS.c.token_hash == bindparam("token_hash"), *_LIVE))
_TOUCH_SESSION = update(SESSIONS).where(SESSIONS.c.id == bindparam("session_id")).values(
    last_seen_at=bindparam("now", type_=SESSIONS.c.last_seen_at.type))
_CHANNEL_ROUTE = (select(SESSIONS.c.conversation_id, SESSIONS.c.key_id, SESSIONS.c.business_id,
                          SESSIONS.c.mode)
                  .select_from(_LIVE_SESSIONS)
                  .where(SESSIONS.c.id == bindparam("session_id"), *_LIVE))


def _update_contact(session: Session, contact_id: int, fields: dict[str, str | None]) -> None:
    if any(v is not None for v in fields.values()):
        run(session, _CONTACT_UPDATE, contact_id=contact_id,
            **{f"new_{k}": v for k, v in fields.items()})


def _contact_id(session: Session, key: KeyInfo, visitor_id: str,
                fields: dict[str, str | None], verified: bool) -> int:
    ident = {"business_id": key.business_id, "mode": key.mode, "visitor_id": visitor_id}
    found = run(session, _CONTACT_ID, **ident).first()
    existed = found is not None
    if found is None:
        # ON CONFLICT DO NOTHING: the same visitor starting on two devices at once; RETURNING
        # answers only to the request that inserted, which announces the contact
        new_id = session.execute(upsert(session)(CONTACTS).values(
            created_at=utcnow(), **ident, **fields).on_conflict_do_nothing()
            .returning(CONTACTS.c.id)).scalar()
        if new_id is not None:
            contact_created(session, key.business_id, key.mode, int(new_id))
        found = run(session, _CONTACT_ID, **ident).one()
    if found.verified_at is not None and not verified:
        raise IdentityRequired("This visitor's identity is verified: start with identity_hash "
                               "and identity_ts.")
    if existed:
        _update_contact(session, found.id, fields)
    if verified:
        now = utcnow()
        run(session, _VERIFY_CONTACT, contact_id=found.id, now=now)
        run(session, _REVOKE_UNVERIFIED, contact_id=found.id, now=now)
    return int(found.id)


_BOT_ON = select(BOT_SETTINGS.c.name, BOT_SETTINGS.c.welcome_message).where(
    BOT_SETTINGS.c.business_id == bindparam("business_id"), BOT_SETTINGS.c.enabled.is_(True))


def _open_conversation(session: Session, key: KeyInfo,
                       contact_id: int) -> tuple[int, bool, Row[Any] | None]:
    """The contact's open conversation, or a new one: (id, created, the bot's name and
    welcome_message when it holds a new one)."""
    found = run(session, _OPEN_CONVERSATION, contact_id=contact_id).scalar()
    if found is not None:
        return int(found), False, None
    now = utcnow()
    # with the bot on, a new conversation is the bot's: pending until a human takes it
    bot = run(session, _BOT_ON, business_id=key.business_id).first()
    new_id = run(session, _NEW_CONVERSATION, business_id=key.business_id, mode=key.mode,
                 contact_id=contact_id, status="pending" if bot else "open", channel="widget",
                 created_at=now, updated_at=now, bot_active=bot is not None).scalar_one()
    return int(new_id), True, bot


def sent_contact(visitor_id: str, fields: dict[str, str | None]) -> dict[str, Any]:
    """The contact as an unverified visitor may see it: only what this request sent."""
    return {"name": fields.get("name"), "email": fields.get("email"),
            "phone": fields.get("phone"), "visitor_id": visitor_id}


def do_start_session(session: Session, key: KeyInfo, visitor_id: str,
                     fields: dict[str, str | None], proof: IdentityProof | None = None, *,
                     identity_max_age: int = 600) -> StartedSession:
    """Start or resume a visitor's session; the token is returned once, stored hashed.

    Knowing a visitor_id is all an unverified start proves, so its answer echoes only what it
    sent, never the stored email or phone; a verified contact is resumed by verified starts
    only (docs/security.md "Visitor identity")."""
    verified = check_start(session, key, visitor_id, proof, identity_max_age)
    if not (fields["email"] or fields["name"]) and run(
            session, _BUSINESS, business_id=key.business_id).one().require_identification:
        raise ValidationError("This business asks for a name or email before the chat starts.",
                              field="email")
    contact_id = _contact_id(session, key, visitor_id, fields, verified)
    conversation_id, created, bot = _open_conversation(session, key, contact_id)
    token = new_session_token()
    now = utcnow()
    session_id = run(session, _NEW_SESSION, business_id=key.business_id, mode=key.mode,
                     conversation_id=conversation_id, key_id=key.id,
                     token_hash=token_digest(token), created_at=now, last_seen_at=now,
                     revoked_at=None, verified_at=now if verified else None).scalar_one()
    stored = load_contact(session, contact_id)
    if created:
        created_event = {"conversation_id": conversation_id, "channel": "widget",
                         "customer": {"id": contact_id, **stored}}
        emit(session, [business_topic(key.business_id, key.mode)], "TicketCreated",
             created_event)
        webhooks.enqueue(session, key.business_id, key.mode, "conversation.created",
                         created_event)
    if bot is not None and bot.welcome_message:  # the first message, in history on open
        do_add_message(session, key.business_id, key.mode, conversation_id,
                       bot.welcome_message, direction="outbound", sender_role="bot",
                       sender_name=bot.name)
    do_mark_online(session, key.business_id, key.mode, conversation_id, int(session_id))
    return StartedSession(int(session_id), token, conversation_id,
                          stored if verified else sent_contact(visitor_id, fields), verified)


def find_session(session: Session, key: KeyInfo, token: str, idle_days: int) -> SessionInfo:
    """Return the live session for this token under this key's business and mode."""
    row = run(session, _SESSION_LOOKUP, token_hash=token_digest(token)).first()
    if row is None or row.business_id != key.business_id or row.mode != key.mode or (
            idle_days and row.last_seen_at < utcnow() - timedelta(days=idle_days)):
        raise InvalidSession()
    return SessionInfo(**row._mapping)


def do_touch_session(session: Session, chat_session: SessionInfo) -> None:
    """Record that the session was used now."""
    run(session, _TOUCH_SESSION, session_id=chat_session.id, now=utcnow())


def check_conversation(chat_session: SessionInfo, conversation_id: int) -> None:
    """A session may only touch its own conversation (else 404, as if absent)."""
    if chat_session.conversation_id != conversation_id:
        raise NotFound("No such conversation.")


def session_channel_route(session: Session, channel: str) -> Route | None:
    """A live visitor session channel's route (its conversation); None when it is gone."""
    session_id = session_channel_id(channel)
    if session_id is None:
        return None
    row = run(session, _CHANNEL_ROUTE, session_id=session_id).first()
    if row is None:
        return None
    return session_route(row.conversation_id, row.business_id, row.mode, row.key_id, session_id)


# ---------- messages ------------------------------------------------------

_NEW_MESSAGE = insert(MESSAGES).returning(*MESSAGES.c)
_TOUCH = (update(CONVERSATIONS).where(CONVERSATIONS.c.id == bindparam("conversation_id"))
          .values(updated_at=bindparam("now", type_=CONVERSATIONS.c.updated_at.type),
                  last_message_preview=bindparam("preview")))
_REOPEN = ((CONVERSATIONS.c.status == "resolved", "open"),)
_REOPEN_CLEAR = ((CONVERSATIONS.c.status == "resolved", None),)
_TOUCH_CONVERSATION = {
    # a visitor writing again reopens a resolved conversation (Chatwoot's rule) and is unread;
    # RETURNING whether the bot holds it (then the message is the bot's to answer)
    "inbound": _TOUCH.values(status=case(*_REOPEN, else_=CONVERSATIONS.c.status),
                             resolved_at=case(*_REOPEN_CLEAR, else_=CONVERSATIONS.c.resolved_at),
                             resolved_by=case(*_REOPEN_CLEAR, else_=CONVERSATIONS.c.resolved_by),
                             unread_count=CONVERSATIONS.c.unread_count + 1)
    .returning(CONVERSATIONS.c.bot_active),
    # an agent answering has read the thread, and takes it from the bot
    "outbound": _TOUCH.values(unread_count=0, bot_active=False),
    # the bot (or the system) writing: no agent has read anything, nobody takes anything
    "bot": _TOUCH,
}
_NEW_BOT_JOB = insert(BOT_JOBS)
BOT_ROLES = frozenset({"bot", "system"})  # senders that neither read nor take a conversation
PREVIEW_CHARS = 140
HISTORY_CURSOR = "m"  # a history cursor: "m" + the id of the oldest message shown
NOTE = "note"  # a private note: the team's, never on a visitor path (history, socket)
_TEAM_HISTORY = (select(MESSAGES)
                 .where(MESSAGES.c.conversation_id == bindparam("conversation_id"))
                 .order_by(MESSAGES.c.id.desc()).limit(bindparam("limit")))
_HISTORY = _TEAM_HISTORY.where(MESSAGES.c.type != NOTE)  # the visitor's: never a note
_HISTORIES = {False: (_HISTORY, _HISTORY.where(MESSAGES.c.id < bindparam("before"))),
              True: (_TEAM_HISTORY, _TEAM_HISTORY.where(MESSAGES.c.id < bindparam("before")))}
_FIND_CONVERSATION = select(CONVERSATIONS.c.id).where(
    CONVERSATIONS.c.id == bindparam("conversation_id"),
    CONVERSATIONS.c.business_id == bindparam("business_id"),
    CONVERSATIONS.c.mode == bindparam("mode"))


def do_add_message(session: Session, business_id: int, mode: str, conversation_id: int,
                   content: str, *,
                   direction: str, sender_role: str, sender_name: str | None = None,
                   sender_user_id: int | None = None, type: str = "text",
                   attach: Callable[[int], list[dict[str, Any]]] | None = None,
                   preview: str | None = None,
                   sources: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Store a message; MessageCreated goes to the visitor's sessions and the business.
    `attach(message_id)` stores the message's attachments and returns their JSON. A
    visitor's message in a conversation the bot holds gets a bot job, in this transaction."""
    row = store_message(session, conversation_id, content, direction=direction,
                        sender_role=sender_role, sender_name=sender_name,
                        sender_user_id=sender_user_id, type=type, sources=sources)
    shown = content if preview is None else preview
    touched = run(session, _TOUCH_CONVERSATION["bot" if sender_role in BOT_ROLES
                                               else direction],
                  conversation_id=conversation_id, now=row.created_at,
                  preview=" ".join(shown.split())[:PREVIEW_CHARS])
    if direction == "inbound" and touched.scalar():
        _add_bot_job(session, conversation_id, row.id, row.created_at)
    payload = message_json(row)
    if attach is not None:
        payload["attachments"] = attach(row.id)
    emit(session, [conversation_topic(conversation_id), business_topic(business_id, mode)],
         "MessageCreated", payload)
    webhooks.enqueue(session, business_id, mode, "message.created", payload)
    return payload


def _add_bot_job(session: Session, conversation_id: int, message_id: int,
                 now: datetime) -> None:
    """The bot's outbox row for this message; this process's worker is woken on commit."""
    run(session, _NEW_BOT_JOB, conversation_id=conversation_id, message_id=message_id,
        status="pending", attempts=0, next_attempt_at=now, created_at=now)
    wake_outbox(session)


def store_message(session: Session, conversation_id: int, content: str, *, direction: str,
                  sender_role: str, sender_name: str | None = None,
                  sender_user_id: int | None = None, type: str = "text",
                  sources: list[dict[str, Any]] | None = None) -> Row[Any]:
    """Insert a message row (nothing else: no counters, no events); return it."""
    return run(session, _NEW_MESSAGE, conversation_id=conversation_id, direction=direction,
               type=type, content=content, sender_role=sender_role, sender_name=sender_name,
               sender_user_id=sender_user_id, created_at=utcnow(), sources=sources).one()


def list_history(session: Session, conversation_id: int, cursor: str | None, limit: int, *,
                 team: bool = False,
                 render: Callable[[Any], dict[str, Any]] = message_json
                 ) -> tuple[list[dict[str, Any]], str | None]:
    """A page of messages newest first, and the cursor of the next (older) page. The
    visitor's history leaves notes out; the team's (`team`) has them."""
    first, before = _HISTORIES[team]
    if cursor:
        rows = run(session, before, conversation_id=conversation_id,
                   before=decode_id_cursor(cursor, HISTORY_CURSOR), limit=limit + 1).all()
    else:
        rows = run(session, first, conversation_id=conversation_id, limit=limit + 1).all()
    page = [render(r) for r in rows[:limit]]
    more = len(rows) > limit
    return page, encode_id_cursor(HISTORY_CURSOR, page[-1]["id"]) if more else None


def find_conversation(session: Session, business_id: int, mode: str,
                      conversation_id: int) -> int:
    """Check a conversation belongs to this business and mode (else 404); return its id."""
    found = run(session, _FIND_CONVERSATION, conversation_id=conversation_id,
                business_id=business_id, mode=mode).scalar()
    if found is None:
        raise NotFound("No such ticket.")
    return int(found)


# ---------- contact, typing, presence -------------------------------------


def contact_created(session: Session, business_id: int, mode: str, contact_id: int) -> None:
    """Send the contact.created webhook for a contact this transaction inserted."""
    webhooks.enqueue(session, business_id, mode, "contact.created",
                     {"contact_id": contact_id, "contact": load_contact(session, contact_id)})


def load_contact(session: Session, contact_id: int) -> dict[str, Any]:
    row = run(session, _CONTACT, contact_id=contact_id).one()
    return {"name": row.name, "email": row.email, "phone": row.phone,
            "visitor_id": row.visitor_id}


def do_identify(session: Session, chat_session: SessionInfo,
                fields: dict[str, str | None]) -> dict[str, Any]:
    """Update the contact behind a session; an unverified session sees back what it sent."""
    _update_contact(session, chat_session.contact_id, fields)
    contact = load_contact(session, chat_session.contact_id)
    updated = {"conversation_id": chat_session.conversation_id, "contact": contact}
    emit(session, [business_topic(chat_session.business_id, chat_session.mode)], "ContactUpdated",
         updated)
    webhooks.enqueue(session, chat_session.business_id, chat_session.mode, "contact.updated",
                     {"contact_id": chat_session.contact_id, **updated})
    if chat_session.verified_at is None:
        return sent_contact(contact["visitor_id"], fields)
    return contact


def do_visitor_typing(session: Session, chat_session: SessionInfo) -> None:
    """Tell the business's agents the visitor is typing (never echoed to the visitor)."""
    emit(session, [business_topic(chat_session.business_id, chat_session.mode)], "TypingStarted",
         {"conversation_id": chat_session.conversation_id, "role": "visitor"})


def do_heartbeat(session: Session, chat_session: SessionInfo) -> None:
    """Record that the visitor is here (agents hear VisitorOnline when that is news)."""
    do_touch_session(session, chat_session)
    do_mark_online(session, chat_session.business_id, chat_session.mode,
                   chat_session.conversation_id, chat_session.id)


# Conditional: only the request that turns the flag on announces it (a heartbeat every 30 s
# from every device of every visitor would otherwise flood the business channel).
_MARK_ONLINE = (update(CONVERSATIONS)
                .where(CONVERSATIONS.c.id == bindparam("conversation_id"),
                       CONVERSATIONS.c.visitor_online == false())
                .values(visitor_online=True))
# Conditional too, and RETURNING the rows it changed: of several processes sweeping at once,
# each row is turned off, and announced, by exactly one.
_SWEEP_OFFLINE = (update(CONVERSATIONS)
                  .where(CONVERSATIONS.c.visitor_online == true(),
                         ~exists().where(SESSIONS.c.conversation_id == CONVERSATIONS.c.id,
                                         SESSIONS.c.last_seen_at >= bindparam(
                                             "since", type_=SESSIONS.c.last_seen_at.type)))
                  .values(visitor_online=False)
                  .returning(CONVERSATIONS.c.id, CONVERSATIONS.c.business_id,
                             CONVERSATIONS.c.mode))


def do_mark_online(session: Session, business_id: int, mode: str, conversation_id: int,
                   session_id: int) -> None:
    """Set the conversation's visitor online; emit VisitorOnline only if it was not."""
    if run(session, _MARK_ONLINE, conversation_id=conversation_id).rowcount:
        emit(session, [business_topic(business_id, mode)], "VisitorOnline",
             {"conversation_id": conversation_id, "session_id": session_id})


def do_sweep_offline(session: Session, online_seconds: int) -> int:
    """Set visitors offline whose sessions were all silent for online_seconds; emit
    VisitorOffline for each conversation this call changed. Return how many."""
    since = utcnow() - timedelta(seconds=online_seconds)
    rows = run(session, _SWEEP_OFFLINE, since=since).all()
    for row in rows:
        emit(session, [business_topic(row.business_id, row.mode)], "VisitorOffline",
             {"conversation_id": row.id})
    return len(rows)
