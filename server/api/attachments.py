"""Attachments: visitor and agent uploads, and the signed download URL (no key needed)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO
from urllib.parse import quote

from flask import Blueprint, Response, current_app, g, request
from itsdangerous import BadSignature, SignatureExpired

from server.api.chat import attachment_url as sign
from server.api.common import commit_ok, replay_for
from server.auth import agent_api, visitor_session
from server.db import get_session
from server.errors import Forbidden, NotFound
from server.ratelimit import client_address, enforce
from server.services import attachments, chat
from server.storage import Storage, new_key
from server.uploads import Upload, allowed_types, receive
from server.validation import check_content

bp = Blueprint("attachments", __name__, url_prefix="/api/v1")


def storage() -> Storage:
    return current_app.extensions["storage"]  # type: ignore[no-any-return]


def _receive(business_id: int) -> Upload:
    """Stream the request's `file` part into the storage (413 / 415 / 400 on bad input)."""
    config = current_app.config
    return receive(storage(), new_key(business_id), request.stream, request.content_type,
                   request.content_length, max_bytes=config["MAX_UPLOAD_KB"] * 1024,
                   allowed=allowed_types(config["UPLOAD_MIME_TYPES"]))


def _commit(business_id: int, mode: str, conversation_id: int, upload: Upload, caption: str,
            **sender: str | int | None) -> Response:
    """Record the stored upload and commit (or replay an Idempotency-Key's first answer); the
    file is removed if that fails."""
    try:
        replay = replay_for(_fingerprint(upload))
        if replay is not None:
            storage().delete(upload.key)
            return replay
        created = attachments.do_add_attachment(get_session(), business_id, mode,
                                                conversation_id, upload, sign, caption=caption,
                                                **sender)  # type: ignore[arg-type]
        return commit_ok(created, 201)
    except BaseException:
        storage().delete(upload.key)
        raise


def _fingerprint(upload: Upload) -> bytes:
    """What identifies an upload for Idempotency-Key: its bytes' digest, name and fields."""
    fields = "\0".join(f"{k}={v}" for k, v in sorted(upload.fields.items()))
    return f"{upload.sha256}\0{upload.file_name}\0{fields}".encode()


def _caption(upload: Upload) -> str:
    if not upload.fields.get("content", "").strip():
        return ""
    return check_content({"content": upload.fields["content"]},
                         current_app.config["MESSAGE_MAX_LENGTH"])


@bp.post("/chat/sessions/<int:conversation_id>/attachments")
@visitor_session
def visitor_upload(conversation_id: int) -> Response:
    visitor = g.chat_session
    upload = _receive(visitor.business_id)
    return _commit(visitor.business_id, visitor.mode, visitor.conversation_id, upload, "",
                   direction="inbound", sender_role="visitor")


@bp.post("/tickets/<int:ticket_id>/attachments")
@agent_api("tickets:write")
def agent_upload(ticket_id: int) -> Response:
    actor = g.actor
    # another business's ticket is 404 before a byte of the body is read
    conversation_id = chat.find_conversation(get_session(), actor.business_id, actor.mode,
                                             ticket_id)
    upload = _receive(actor.business_id)
    try:
        caption = _caption(upload)
    except BaseException:
        storage().delete(upload.key)
        raise
    return _commit(actor.business_id, actor.mode, conversation_id, upload, caption,
                   direction="outbound", sender_role="agent", sender_name=actor.name,
                   sender_user_id=actor.user_id)


@bp.get("/chat/attachments/<token>")
def download(token: str) -> Response:
    enforce(f"download:{client_address()}", kind="visitor")
    try:
        attachment_id = current_app.extensions["attachment_urls"].loads(
            token, max_age=current_app.config["ATTACHMENT_URL_SECONDS"])
    except SignatureExpired:
        raise Forbidden("This link has expired; fetch the message again for a fresh one.") \
            from None
    except BadSignature:
        raise Forbidden("This link is not valid.") from None
    row = attachments.find_stored(get_session(), int(attachment_id))
    get_session().close()  # nothing more to ask the database while the bytes stream
    try:
        stored = storage().open(row.storage_key)
    except FileNotFoundError:
        raise NotFound("No such attachment.") from None
    disposition = "inline" if row.mime_type.startswith("image/") else "attachment"
    resp = Response(_chunks(stored), mimetype=row.mime_type, direct_passthrough=True)
    resp.headers["Content-Length"] = str(row.file_size)
    resp.headers["Content-Disposition"] = _disposition(disposition, row.file_name)
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Cache-Control"] = "private, max-age=300"
    return resp


def _chunks(stored: BinaryIO) -> Iterator[bytes]:
    with stored:
        while chunk := stored.read(64 * 1024):
            yield chunk


def _disposition(kind: str, file_name: str) -> str:
    """`kind; filename=...` with an ASCII fallback and RFC 5987's UTF-8 form."""
    ascii_name = file_name.encode("ascii", "replace").decode().replace('"', "'")
    ascii_name = ascii_name.replace("\\", "_")
    return f'{kind}; filename="{ascii_name}"; filename*=UTF-8\'\'{quote(file_name)}'
