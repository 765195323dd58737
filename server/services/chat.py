"""Visitor chat: sessions, messages, identity, typing, presence, channel auth."""

from __future__ import annotations

import base64
import re
import threading
import time
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from server.db import emit
from server.errors import ApiError, Forbidden, NotFound, ValidationError
from server.models import ApiKey, Business, ChatSession, Contact, Conversation, Message, utcnow
from server.security import new_session_token, token_digest

EMAIL_RE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
SOCKET_ID_RE = re.compile(r"\d+\.\d+")


def session_channel(session_id: int) -> str:
    return f"private-chat.session.{session_id}"


def business_channel(business_id: int) -> str:
    return f"private-business.{business_id}"


def iso(dt: Any) -> str:
    """ISO 8601 UTC with milliseconds and Z, as Dart and JS parse it."""
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


# ---------- validation ----------------------------------------------------


def check_text(body: dict[str, Any], field: str, max_len: int, *, required: bool = False,
               pattern: re.Pattern[str] | None = None) -> str | None:
    """Return a trimmed optional string field, or raise validation_error naming it."""
    value = body.get(field)
    if value is None or (isinstance(value, str) and not value.strip() and not required):
        if required:
            raise ValidationError(f"{field} is required.", field=field)
        return None
    if not isinstance(value, str):
        raise ValidationError(f"{field} must be a string.", field=field)
    value = value.strip()
    if required and not value:
        raise ValidationError(f"{field} must not be empty.", field=field)
    if len(value) > max_len:
        raise ValidationError(f"{field} is longer than {max_len} characters.", field=field)
    if pattern is not None and not pattern.fullmatch(value):
        raise ValidationError(f"{field} is not valid.", field=field)
    return value


def check_contact_fields(body: dict[str, Any]) -> dict[str, str | None]:
    """Validate name / email / phone."""
    return {"name": check_text(body, "name", 200),
            "email": check_text(body, "email", 254, pattern=EMAIL_RE),
            "phone": check_text(body, "phone", 40)}


def check_content(body: dict[str, Any], max_len: int) -> str:
    """Validate a message's content against limits.message_max_length."""
    content = body.get("content")
    if not isinstance(content, str) or not content.strip():
        raise ValidationError("content must be a non-empty string.", field="content")
    if len(content) > max_len:
        raise ValidationError(f"content is longer than {max_len} characters.", field="content")
    return content


# ---------- config --------------------------------------------------------


def config_json(business: Business, *, max_len: int, max_upload_kb: int) -> dict[str, Any]:
    """The widget configuration for GET /chat/config."""
    return {
        "business": {"id": business.id, "name": business.name, "slug": business.slug},
        "branding": {"primary_color": business.primary_color,
                     "accent_color": business.accent_color,
                     "welcome_message": business.welcome_message,
                     "logo_url": business.logo_url},
        # Uploads and voice notes are not offered yet; the SDK hides them when false.
        "features": {"file_uploads": False, "voice_notes": False},
        "limits": {"max_upload_kb": max_upload_kb, "message_max_length": max_len},
        "presence": {"agents_online": 0},
        "identification": {"required_on_start": business.require_identification},
    }


# ---------- sessions ------------------------------------------------------


def _contact_for(session: Session, key: ApiKey, visitor_id: str) -> Contact:
    contact = session.scalar(select(Contact).where(
        Contact.business_id == key.business_id, Contact.mode == key.mode,
        Contact.visitor_id == visitor_id))
    if contact is None:
        contact = Contact(business_id=key.business_id, mode=key.mode, visitor_id=visitor_id)
        session.add(contact)
        session.flush()
    return contact


def _open_conversation(session: Session, contact: Contact) -> tuple[Conversation, bool]:
    conversation = session.scalar(
        select(Conversation).where(Conversation.contact_id == contact.id,
                                   Conversation.status != "resolved")
        .order_by(Conversation.id.desc()).limit(1))
    if conversation is not None:
        return conversation, False
    conversation = Conversation(business_id=contact.business_id, mode=contact.mode,
                                contact_id=contact.id, channel="widget")
    session.add(conversation)
    session.flush()
    return conversation, True


def do_start_session(session: Session, key: ApiKey, visitor_id: str,
                     contact_fields: dict[str, str | None]) -> tuple[ChatSession, str]:
    """Start or resume a visitor's session; return it and its token (shown once)."""
    if key.business.require_identification and not (contact_fields["email"]
                                                    or contact_fields["name"]):
        raise ValidationError("This business asks for a name or email before the chat starts.",
                              field="email")
    contact = _contact_for(session, key, visitor_id)
    _apply_contact(contact, contact_fields)
    conversation, created = _open_conversation(session, contact)
    token = new_session_token()
    chat_session = ChatSession(business_id=key.business_id, mode=key.mode,
                               conversation_id=conversation.id, key_id=key.id,
                               token_hash=token_digest(token), conversation=conversation)
    session.add(chat_session)
    session.flush()
    if created:
        emit(session, [business_channel(key.business_id)], "TicketCreated",
             {"conversation_id": conversation.id, "channel": "widget",
              "customer": contact_json(contact)})
    return chat_session, token


def find_session(session: Session, key: ApiKey, token: str, idle_days: int) -> ChatSession:
    """Return the live session for this token under this key's business and mode."""
    found = session.scalar(select(ChatSession).where(ChatSession.token_hash == token_digest(token)))
    invalid = ApiError("The session token is not valid.", code="invalid_session", status=401)
    if found is None or found.revoked_at is not None or found.business_id != key.business_id \
            or found.mode != key.mode or found.key.revoked_at is not None:
        raise invalid
    if idle_days and found.last_seen_at < utcnow() - timedelta(days=idle_days):
        raise invalid
    return found


def check_conversation(chat_session: ChatSession, conversation_id: int) -> None:
    """A session may only touch its own conversation (else 404, as if absent)."""
    if chat_session.conversation_id != conversation_id:
        raise NotFound("No such conversation.")


def open_session_channels(session: Session, conversation_id: int) -> list[str]:
    """Channels of every live session of a conversation (one visitor, many devices)."""
    ids = session.scalars(
        select(ChatSession.id).join(ApiKey, ApiKey.id == ChatSession.key_id)
        .where(ChatSession.conversation_id == conversation_id,
               ChatSession.revoked_at.is_(None), ApiKey.revoked_at.is_(None)))
    return [session_channel(i) for i in ids]


def channel_owner(session: Session, channel: str) -> int | None:
    """Return the key id behind a live private channel, or None when it is gone."""
    prefix = "private-chat.session."
    if not channel.startswith(prefix) or not channel[len(prefix):].isdigit():
        return None
    found = session.get(ChatSession, int(channel[len(prefix):]))
    if found is None or found.revoked_at is not None or found.key.revoked_at is not None:
        return None
    return found.key_id


# ---------- messages ------------------------------------------------------


def message_json(message: Message) -> dict[str, Any]:
    """ChatMessage as the Tickki SDK reads it, plus chatdock's extras."""
    return {"id": message.id, "conversation_id": message.conversation_id,
            "direction": message.direction, "type": message.type,
            "content": message.content, "created_at": iso(message.created_at),
            "attachments": [],
            "sender": {"role": message.sender_role, "name": message.sender_name}}


def do_add_message(session: Session, conversation: Conversation, content: str, *,
                   direction: str, sender_role: str, sender_name: str | None = None) -> Message:
    """Store a message and queue MessageCreated for the visitor's and the business's channels."""
    now = utcnow()
    message = Message(conversation_id=conversation.id, direction=direction, content=content,
                      sender_role=sender_role, sender_name=sender_name, created_at=now)
    session.add(message)
    conversation.updated_at = now
    if direction == "inbound" and conversation.status == "resolved":
        conversation.status = "open"  # a visitor writing again reopens (Chatwoot's rule)
    session.flush()
    payload = message_json(message)
    emit(session, open_session_channels(session, conversation.id), "MessageCreated", payload)
    emit(session, [business_channel(conversation.business_id)], "MessageCreated", payload)
    return message


def encode_cursor(message_id: int) -> str:
    return base64.urlsafe_b64encode(f"m{message_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """Return the message id a history cursor points before."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if raw[:1] == "m" and raw[1:].isdigit():
            return int(raw[1:])
    except (ValueError, UnicodeDecodeError):
        pass
    raise ValidationError("cursor is not valid.", field="cursor")


def list_history(session: Session, conversation_id: int, cursor: str | None,
                 limit: int) -> tuple[list[Message], str | None]:
    """A page of messages newest first, and the cursor of the next (older) page."""
    query = select(Message).where(Message.conversation_id == conversation_id)
    if cursor:
        query = query.where(Message.id < decode_cursor(cursor))
    rows = list(session.scalars(query.order_by(Message.id.desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, encode_cursor(rows[-1].id) if more and rows else None


def find_conversation(session: Session, business_id: int, mode: str,
                      conversation_id: int) -> Conversation:
    """Return a conversation of this business and mode, or 404."""
    found = session.get(Conversation, conversation_id)
    if found is None or found.business_id != business_id or found.mode != mode:
        raise NotFound("No such ticket.")
    return found


# ---------- contact, typing, presence, channel auth ------------------------


def contact_json(contact: Contact) -> dict[str, Any]:
    return {"name": contact.name, "email": contact.email, "phone": contact.phone,
            "visitor_id": contact.visitor_id}


def _apply_contact(contact: Contact, fields: dict[str, str | None]) -> None:
    for name, value in fields.items():
        if value is not None:
            setattr(contact, name, value)


def do_identify(session: Session, chat_session: ChatSession,
                fields: dict[str, str | None]) -> Contact:
    """Update the contact behind a session."""
    contact = chat_session.conversation.contact
    _apply_contact(contact, fields)
    emit(session, [business_channel(contact.business_id)], "ContactUpdated",
         {"conversation_id": chat_session.conversation_id, "contact": contact_json(contact)})
    return contact


class TypingDebouncer:
    """At most one TypingStarted per session per interval, per process."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._last: dict[int, float] = {}
        self._lock = threading.Lock()

    def should_send(self, session_id: int) -> bool:
        now = time.monotonic()
        with self._lock:
            if now - self._last.get(session_id, -1e9) < self.interval:
                return False
            self._last[session_id] = now
            if len(self._last) > 100_000:
                self._last = {k: v for k, v in self._last.items() if now - v < self.interval}
            return True


def do_visitor_typing(session: Session, chat_session: ChatSession) -> None:
    """Tell the business's agents the visitor is typing (never echoed to the visitor)."""
    emit(session, [business_channel(chat_session.business_id)], "TypingStarted",
         {"conversation_id": chat_session.conversation_id, "role": "visitor"})


def do_heartbeat(session: Session, chat_session: ChatSession) -> None:
    """Record that the visitor is here; agents watch it as VisitorOnline."""
    session.execute(update(ChatSession).where(ChatSession.id == chat_session.id)
                    .values(last_seen_at=utcnow()))
    emit(session, [business_channel(chat_session.business_id)], "VisitorOnline",
         {"conversation_id": chat_session.conversation_id, "session_id": chat_session.id})


def check_channel_auth(chat_session: ChatSession, form: dict[str, str]) -> tuple[str, str]:
    """Validate socket_id and channel_name; only the session's own channel is allowed."""
    socket_id = form.get("socket_id", "")
    channel = form.get("channel_name", "")
    if not SOCKET_ID_RE.fullmatch(socket_id):
        raise ValidationError("socket_id is not a Pusher socket id.", field="socket_id")
    if not channel:
        raise ValidationError("channel_name is required.", field="channel_name")
    if channel != session_channel(chat_session.id):
        raise Forbidden("This session may only subscribe to its own channel.")
    return socket_id, channel
