"""Visitor API (Tickki Chat SDK wire format): /api/v1/chat/..."""

from __future__ import annotations

import hashlib
from urllib.parse import urlsplit

from flask import Blueprint, Response, current_app, g, request

from server.api.common import (
    OK,
    commit_answer,
    commit_ok,
    idempotent,
    int_arg,
    json_body,
    ok,
    pusher_auth,
)
from server.auth import visitor_key, visitor_session
from server.channels import session_channel
from server.db import get_session
from server.services import attachments, chat, identity
from server.validation import check_contact_fields, check_content
from server.visitor_ids import check_visitor_id

bp = Blueprint("chat", __name__, url_prefix="/api/v1/chat")


def public_base() -> str:
    """The URL visitors reach us at: PUBLIC_URL, else this request's host."""
    return (current_app.config["PUBLIC_URL"] or request.host_url).rstrip("/")


def attachment_url(attachment_id: int) -> str:
    """An absolute URL that downloads the attachment for ATTACHMENT_URL_SECONDS."""
    token = current_app.extensions["attachment_urls"].dumps(attachment_id)
    return f"{public_base()}/api/v1/chat/attachments/{token}"


def realtime_block(session_id: int) -> dict[str, object]:
    """Where and how the visitor's Pusher client connects."""
    base = urlsplit(public_base())
    scheme = base.scheme or "http"
    return {"key": current_app.config["REALTIME_APP_KEY"], "host": base.hostname,
            "port": base.port or (443 if scheme == "https" else 80), "scheme": scheme,
            "channel": session_channel(session_id),
            "auth_endpoint": public_base() + "/api/v1/chat/broadcasting/auth",
            "event": "MessageCreated"}


@bp.get("/config")
@visitor_key
def config() -> Response:
    data = chat.config_json(get_session(), g.api_key.business_id,
                            max_len=current_app.config["MESSAGE_MAX_LENGTH"],
                            max_upload_kb=current_app.config["MAX_UPLOAD_KB"])
    resp = ok(data)
    etag = '"' + hashlib.sha256(resp.get_data()).hexdigest()[:32] + '"'
    headers = {"ETag": etag, "Cache-Control": "no-cache"}
    if etag in request.headers.get("If-None-Match", ""):
        return Response(status=304, headers=headers)
    resp.headers.update(headers)
    return resp


@bp.post("/sessions")
@visitor_key
def start_session() -> Response:
    # Not @idempotent: a replay would have to store the plaintext token. Starting is
    # already safe to retry: the same visitor_id resumes the same conversation.
    body = json_body()
    visitor_id = check_visitor_id(body)
    fields = check_contact_fields(body)
    started = chat.do_start_session(
        get_session(), g.api_key, visitor_id, fields, identity.check_proof(body),
        identity_max_age=current_app.config["IDENTITY_MAX_AGE_SECONDS"])
    return commit_ok({
        "session_id": started.session_id, "session_token": started.token,
        "conversation_id": started.conversation_id, "visitor_id": visitor_id,
        "contact": started.contact, "verified": started.verified,
        "realtime": realtime_block(started.session_id)}, 201)


@bp.post("/sessions/<int:conversation_id>/messages")
@visitor_session
@idempotent
def send_message(conversation_id: int) -> Response:
    content = check_content(json_body(), current_app.config["MESSAGE_MAX_LENGTH"])
    visitor = g.chat_session
    message = chat.do_add_message(get_session(), visitor.business_id, visitor.mode,
                                  visitor.conversation_id, content, direction="inbound",
                                  sender_role="visitor")
    return commit_ok(message, 201)


@bp.get("/sessions/<int:conversation_id>/messages")
@visitor_session
def history(conversation_id: int) -> Response:
    rows, next_cursor = chat.list_history(get_session(), conversation_id,
                                          request.args.get("cursor") or None,
                                          int_arg("limit", 30, 1, 100))
    return ok(attachments.with_attachments(get_session(), rows, attachment_url),
              meta={"next_cursor": next_cursor})


@bp.post("/sessions/<int:conversation_id>/identify")
@visitor_session
def identify(conversation_id: int) -> Response:
    fields = check_contact_fields(json_body())
    return commit_ok(chat.do_identify(get_session(), g.chat_session, fields))


@bp.post("/sessions/<int:conversation_id>/typing")
@visitor_session
def typing(conversation_id: int) -> Response:
    if current_app.extensions["typing"].should_send(g.chat_session.id):
        chat.do_visitor_typing(get_session(), g.chat_session)
    return commit_answer(OK)


@bp.post("/sessions/<int:conversation_id>/heartbeat")
@visitor_session
def heartbeat(conversation_id: int) -> Response:
    chat.do_heartbeat(get_session(), g.chat_session)
    return commit_answer(OK)


@bp.post("/broadcasting/auth")
@visitor_session
def broadcasting_auth() -> Response:
    return pusher_auth(session_channel(g.chat_session.id))
