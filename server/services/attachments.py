"""Attachments: a stored upload becomes an `attachment` message; reads carry fresh signed URLs.

`sign` (a callable from attachment id to an absolute signed URL) comes from the view: the
URL's host and signature are request and deployment matters, not the database's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from sqlalchemy import Select, Table, delete, select
from sqlalchemy.orm import Session

from server.errors import NotFound
from server.models import Attachment, Conversation, utcnow
from server.services import chat
from server.uploads import Upload

Signer = Callable[[int], str]
ATTACHMENTS = cast(Table, Attachment.__table__)
ATTACHMENT = "attachment"  # the message type


def attachment_json(row: Any, sign: Signer) -> dict[str, Any]:
    """An attachment as the Tickki SDK reads it: with a signed URL valid from now."""
    return {"id": row.id, "file_name": row.file_name, "mime_type": row.mime_type,
            "file_size": row.file_size, "signed_url": sign(row.id)}


def do_add_attachment(session: Session, business_id: int, mode: str, conversation_id: int,
                      upload: Upload, sign: Signer, *, caption: str, direction: str,
                      sender_role: str, sender_name: str | None = None,
                      sender_user_id: int | None = None) -> dict[str, Any]:
    """Record a stored upload as an attachment message (MessageCreated, message.created);
    return {attachment, message}."""
    made: list[dict[str, Any]] = []

    def attach(message_id: int) -> list[dict[str, Any]]:
        row = chat.run(session, ATTACHMENTS.insert().returning(*ATTACHMENTS.c),
                       business_id=business_id, mode=mode, conversation_id=conversation_id,
                       message_id=message_id, storage_key=upload.key,
                       file_name=upload.file_name, mime_type=upload.mime_type,
                       file_size=upload.file_size, sha256=upload.sha256,
                       created_at=utcnow()).one()
        made.append(attachment_json(row, sign))
        return made

    message = chat.do_add_message(
        session, business_id, mode, conversation_id, caption, direction=direction,
        sender_role=sender_role, sender_name=sender_name, sender_user_id=sender_user_id,
        type=ATTACHMENT, attach=attach, preview=caption or f"\N{PAPERCLIP} {upload.file_name}")
    return {"attachment": made[0], "message": message}


def with_attachments(session: Session, messages: list[dict[str, Any]],
                     sign: Signer) -> list[dict[str, Any]]:
    """Fill the attachments of a page of messages (one query for the page), in place."""
    ids = [m["id"] for m in messages if m["type"] == ATTACHMENT]
    if not ids:
        return messages
    found: dict[int, list[dict[str, Any]]] = {}
    for row in session.execute(select(ATTACHMENTS).where(ATTACHMENTS.c.message_id.in_(ids))
                               .order_by(ATTACHMENTS.c.id)):
        found.setdefault(row.message_id, []).append(attachment_json(row, sign))
    for m in messages:
        if m["type"] == ATTACHMENT:
            m["attachments"] = found.get(m["id"], [])
    return messages


def find_stored(session: Session, attachment_id: int) -> Any:
    """An attachment row still in reach (its conversation not erased), else 404."""
    row = session.execute(
        select(ATTACHMENTS).join(Conversation, Conversation.id == ATTACHMENTS.c.conversation_id)
        .where(ATTACHMENTS.c.id == attachment_id, Conversation.mode == ATTACHMENTS.c.mode)
    ).first()
    if row is None:
        raise NotFound("No such attachment.")
    return row


def do_forget(session: Session, conversation_ids: Select[Any] | list[int]) -> list[str]:
    """Delete the attachment rows of these conversations (ids or a subquery); return the
    storage keys, for the caller to delete once the transaction commits."""
    where = ATTACHMENTS.c.conversation_id.in_(conversation_ids)
    keys = list(session.scalars(select(ATTACHMENTS.c.storage_key).where(where)))
    session.execute(delete(ATTACHMENTS).where(where))
    return keys
