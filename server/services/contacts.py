"""Contacts for the agent API: search, read, update, export and erase (GDPR).

Erasure anonymises instead of deleting rows. Every server process learns that a
visitor's sessions were revoked from ``chat_sessions.revoked_at`` (the revocation
watcher closes their sockets with 4009), and chat_sessions references
conversations, which reference the contact: deleting those rows would hide the
revocation from the watchers, and SQLite would hand a deleted newest id to the
next conversation (its events would reach the erased visitor's open socket).
So the sessions are revoked, messages, tags and idempotency replays are deleted,
and the contact and conversation rows are emptied of personal data and moved to
``ERASED_MODE``: every query of the API is scoped to a business *and* its mode
(test | live), so no endpoint sees them again.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from typing import Any

from sqlalchemy import ColumnElement, delete, func, or_, select, text, update
from sqlalchemy.orm import Session

from server.channels import business_topic
from server.db import emit
from server.errors import NotFound, ValidationError
from server.models import (
    AnalyticsEvent,
    ChatSession,
    Contact,
    Conversation,
    IdempotencyRecord,
    Message,
    TicketTag,
    utcnow,
)
from server.services import analytics, attachments, webhooks
from server.validation import check_contact_fields
from server.visitor_ids import erased_visitor_id
from server.wire import iso, message_json

ERASED_MODE = "gone"  # neither test nor live: out of reach of every endpoint
MAX_QUERY = 200
MAX_CUSTOM_FIELDS = 50
MAX_FIELD_KEY = 64
MAX_FIELD_VALUE = 500  # characters of a string value (Stripe's metadata limit)
PATCH_FIELDS = ("name", "email", "phone", "custom_fields")


# ---------- validation ----------------------------------------------------


def check_query(raw: str | None) -> str | None:
    """The search text (trimmed; empty means no filter), or 400 field q."""
    q = (raw or "").strip()
    if len(q) > MAX_QUERY:
        raise ValidationError(f"q is longer than {MAX_QUERY} characters.", field="q")
    return q or None


def check_patch(body: dict[str, Any]) -> dict[str, Any]:
    """Validate a PATCH body: only the fields given; null (or "") clears name/email/phone."""
    for name in body:
        if name not in PATCH_FIELDS:
            raise ValidationError(f"Unknown field {name!r}; send one of "
                                  f"{', '.join(PATCH_FIELDS)}.", field=name)
    changes: dict[str, Any] = {k: v for k, v in check_contact_fields(body).items() if k in body}
    if "custom_fields" in body:
        changes["custom_fields"] = check_custom_fields(body["custom_fields"])
    return changes


def check_custom_fields(fields: Any) -> dict[str, Any]:
    """An object of string keys to string, number, boolean or null (null deletes the key)."""
    if not isinstance(fields, dict):
        raise ValidationError("custom_fields must be an object.", field="custom_fields")
    for key, value in fields.items():
        if not key or len(key) > MAX_FIELD_KEY:
            raise ValidationError(f"custom_fields keys must be 1 to {MAX_FIELD_KEY} characters.",
                                  field="custom_fields")
        _check_field_value(key, value)
    return fields


def _check_field_value(key: str, value: Any) -> None:
    if isinstance(value, str):
        if len(value) > MAX_FIELD_VALUE:
            raise ValidationError(f"custom_fields.{key} is longer than {MAX_FIELD_VALUE} "
                                  "characters.", field="custom_fields")
    elif isinstance(value, float) and not math.isfinite(value):
        raise ValidationError(f"custom_fields.{key} must be a finite number.",
                              field="custom_fields")
    elif value is not None and not isinstance(value, (bool, int, float)):
        raise ValidationError(f"custom_fields.{key} must be a string, number, boolean or null.",
                              field="custom_fields")


def merge_custom_fields(current: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """Merge a patch into custom fields (null deletes); at most MAX_CUSTOM_FIELDS keys."""
    merged = {**current, **patch}
    merged = {k: v for k, v in merged.items() if v is not None}
    if len(merged) > MAX_CUSTOM_FIELDS:
        raise ValidationError(f"A contact holds at most {MAX_CUSTOM_FIELDS} custom fields.",
                              field="custom_fields")
    return merged


# ---------- reading -------------------------------------------------------


_CONVERSATIONS = (select(func.count()).where(Conversation.contact_id == Contact.id)
                  .correlate(Contact).scalar_subquery())


def contact_json(contact: Contact, conversations: int) -> dict[str, Any]:
    """A contact as the agent API shows it."""
    return {"id": contact.id, "visitor_id": contact.visitor_id, "name": contact.name,
            "email": contact.email, "phone": contact.phone,
            "custom_fields": contact.custom_fields or {}, "created_at": iso(contact.created_at),
            "verified_at": iso(contact.verified_at) if contact.verified_at else None,
            "conversations": conversations}


def _search(q: str) -> ColumnElement[bool]:
    return or_(*(column.icontains(q, autoescape=True)
                 for column in (Contact.name, Contact.email, Contact.visitor_id)))


def list_contacts(session: Session, business_id: int, mode: str, q: str | None, page: int,
                  per_page: int) -> tuple[list[dict[str, Any]], int]:
    """One page of the business's contacts, newest first, and the total that match."""
    where = [Contact.business_id == business_id, Contact.mode == mode]
    if q:
        where.append(_search(q))
    total = session.scalar(select(func.count()).select_from(Contact).where(*where)) or 0
    rows = session.execute(select(Contact, _CONVERSATIONS).where(*where)
                           .order_by(Contact.created_at.desc(), Contact.id.desc())
                           .limit(per_page).offset((page - 1) * per_page)).all()
    return [contact_json(contact, count) for contact, count in rows], total


def find_contact(session: Session, business_id: int, mode: str, contact_id: int) -> Contact:
    """This business's contact in this mode, or 404 as if absent."""
    contact = session.scalar(select(Contact).where(
        Contact.id == contact_id, Contact.business_id == business_id, Contact.mode == mode))
    if contact is None:
        raise NotFound("No such contact.")
    return contact


def get_contact(session: Session, business_id: int, mode: str,
                contact_id: int) -> dict[str, Any]:
    """One contact with its conversation count."""
    contact = find_contact(session, business_id, mode, contact_id)
    return contact_json(contact, len(_conversation_ids(session, contact.id)))


def _conversation_ids(session: Session, contact_id: int) -> list[int]:
    return list(session.scalars(select(Conversation.id).where(
        Conversation.contact_id == contact_id).order_by(Conversation.id)))


# ---------- writing -------------------------------------------------------


def do_update_contact(session: Session, business_id: int, mode: str, contact_id: int,
                      changes: dict[str, Any]) -> dict[str, Any]:
    """Apply validated changes; agents hear ContactUpdated."""
    contact = find_contact(session, business_id, mode, contact_id)
    for name in ("name", "email", "phone"):
        if name in changes:
            setattr(contact, name, changes[name])
    if "custom_fields" in changes:
        contact.custom_fields = merge_custom_fields(contact.custom_fields or {},
                                                    changes["custom_fields"])
    session.flush()
    conversation_ids = _conversation_ids(session, contact.id)
    row = contact_json(contact, len(conversation_ids))
    if changes:
        updated = {"contact_id": contact.id, "conversation_ids": conversation_ids,
                   "contact": row}
        emit(session, [business_topic(business_id, mode)], "ContactUpdated", updated)
        webhooks.enqueue(session, business_id, mode, "contact.updated", updated)
    return row


def do_erase_contact(session: Session, business_id: int, mode: str,
                     contact_id: int) -> list[str]:
    """Erase a visitor: revoke their sessions first, then remove every trace of them.
    Return the storage keys of their attachments: the caller deletes the files once this
    transaction has committed (a rolled-back erasure keeps them)."""
    contact = find_contact(session, business_id, mode, contact_id)
    conversation_ids = _conversation_ids(session, contact.id)
    session_ids = _revoke_sessions(session, conversation_ids)
    _secure_delete(session)
    _forget_replays(session, contact, conversation_ids, session_ids)
    stored = _empty_conversations(session, business_id, conversation_ids)
    _forget_events(session, contact)
    _anonymise(contact)
    session.flush()
    deleted = {"id": contact_id, "conversation_ids": conversation_ids}
    emit(session, [business_topic(business_id, mode)], "ContactDeleted", deleted)
    webhooks.enqueue(session, business_id, mode, "contact.deleted", deleted)
    return stored


def _revoke_sessions(session: Session, conversation_ids: list[int]) -> list[int]:
    """Revoke every session of these conversations (tokens die, the watcher closes sockets)."""
    session_ids = list(session.scalars(select(ChatSession.id).where(
        ChatSession.conversation_id.in_(conversation_ids))))
    session.execute(update(ChatSession).where(ChatSession.id.in_(session_ids),
                                              ChatSession.revoked_at.is_(None))
                    .values(revoked_at=utcnow()))
    return session_ids


def _empty_conversations(session: Session, business_id: int,
                         conversation_ids: list[int]) -> list[str]:
    """Clear the conversations, move them out of reach, delete their messages, tags and
    attachments (returning the attachments' storage keys).

    The deletes cover every erased conversation of the business: a visitor request that
    passed its session check just before an earlier erasure committed may have added a
    message after it; the next erasure sweeps it.
    """
    session.execute(update(Conversation).where(Conversation.id.in_(conversation_ids)).values(
        mode=ERASED_MODE, status="resolved", subject=None, last_message_preview=None,
        unread_count=0, assigned_to=None, updated_at=utcnow()))
    erased = select(Conversation.id).where(Conversation.business_id == business_id,
                                           Conversation.mode == ERASED_MODE)
    stored = attachments.do_forget(session, erased)  # before the messages they reference
    session.execute(delete(Message).where(Message.conversation_id.in_(erased)))
    session.execute(delete(TicketTag).where(TicketTag.conversation_id.in_(erased)))
    return stored


def _forget_events(session: Session, contact: Contact) -> None:
    """Delete the visitor's analytics events (before the visitor id is anonymised)."""
    session.execute(delete(AnalyticsEvent).where(analytics.of_contact(contact)))


def _anonymise(contact: Contact) -> None:
    contact.mode = ERASED_MODE
    contact.visitor_id = erased_visitor_id()
    contact.name = contact.email = contact.phone = None
    contact.custom_fields = {}


def _secure_delete(session: Session) -> None:
    """On SQLite, overwrite deleted content with zeros instead of leaving it in free pages."""
    if session.get_bind().dialect.name == "sqlite":
        session.execute(text("PRAGMA secure_delete = ON"))


def _forget_replays(session: Session, contact: Contact, conversation_ids: list[int],
                    session_ids: list[int]) -> None:
    """Delete stored Idempotency-Key responses that hold the visitor's data."""
    body = IdempotencyRecord.body
    matches = [IdempotencyRecord.credential.in_([f"session:{i}" for i in session_ids]),
               body.contains(f'"visitor_id": {_json_str(contact.visitor_id)}',
                             autoescape=True)]
    if contact.email:
        matches.append(body.contains(_json_str(contact.email), autoescape=True))
    matches += [body.contains(f'"conversation_id": {cid},', autoescape=True)
                for cid in conversation_ids]
    session.execute(delete(IdempotencyRecord).where(or_(*matches)))


def _json_str(value: str) -> str:
    """A string as it appears in a stored JSON body."""
    return json.dumps(value)


# ---------- export --------------------------------------------------------


def export_contact(session: Session, business_id: int, mode: str,
                   contact_id: int) -> dict[str, Any]:
    """Everything stored about a contact: fields, conversations with messages, sessions,
    analytics events."""
    contact = find_contact(session, business_id, mode, contact_id)
    conversations = list(session.scalars(select(Conversation).where(
        Conversation.contact_id == contact.id).order_by(Conversation.id)))
    ids = [c.id for c in conversations]
    tags, messages = _tags_by_conversation(session, ids), _messages_by_conversation(session, ids)
    return {"contact": {**contact_json(contact, len(ids)), "mode": contact.mode},
            "conversations": [_conversation_export(c, tags[c.id], messages[c.id])
                              for c in conversations],
            "sessions": _sessions_export(session, ids),
            "analytics_events": [analytics.event_json(e) for e in session.scalars(
                select(AnalyticsEvent).where(analytics.of_contact(contact))
                .order_by(AnalyticsEvent.id))],
            "exported_at": iso(utcnow())}


def _conversation_export(c: Conversation, tags: list[str],
                         messages: list[dict[str, Any]]) -> dict[str, Any]:
    return {"id": c.id, "status": c.status, "channel": c.channel, "subject": c.subject,
            "created_at": iso(c.created_at), "updated_at": iso(c.updated_at),
            "resolved_at": iso(c.resolved_at) if c.resolved_at else None,
            "tags": tags, "messages": messages}


def _tags_by_conversation(session: Session, ids: list[int]) -> dict[int, list[str]]:
    out: dict[int, list[str]] = defaultdict(list)
    for cid, tag in session.execute(select(TicketTag.conversation_id, TicketTag.tag)
                                    .where(TicketTag.conversation_id.in_(ids))
                                    .order_by(TicketTag.tag)):
        out[cid].append(tag)
    return out


def _messages_by_conversation(session: Session,
                              ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    """Every message, oldest first."""
    out: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for m in session.scalars(select(Message).where(Message.conversation_id.in_(ids))
                             .order_by(Message.conversation_id, Message.id)):
        out[m.conversation_id].append(message_json(m))
    return out


def _sessions_export(session: Session, ids: list[int]) -> list[dict[str, Any]]:
    """The visitor's devices: when each session started, was last used, was revoked."""
    rows = session.scalars(select(ChatSession).where(ChatSession.conversation_id.in_(ids))
                           .order_by(ChatSession.id))
    return [{"id": s.id, "conversation_id": s.conversation_id, "created_at": iso(s.created_at),
             "last_seen_at": iso(s.last_seen_at),
             "revoked_at": iso(s.revoked_at) if s.revoked_at else None} for s in rows]
