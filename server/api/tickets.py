"""Agent API over tickets (a ticket is a conversation): /api/v1/tickets/..."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, g

from server.api.common import commit_ok, idempotent, json_body
from server.auth import agent_api
from server.db import get_session
from server.services import chat

bp = Blueprint("tickets", __name__, url_prefix="/api/v1/tickets")


@bp.post("/<int:ticket_id>/messages")
@agent_api("tickets:write")
@idempotent
def reply(ticket_id: int) -> Response:
    content = chat.check_content(json_body(), current_app.config["MESSAGE_MAX_LENGTH"])
    session = get_session()
    actor = g.actor
    conversation_id = chat.find_conversation(session, actor.business_id, actor.mode, ticket_id)
    message = chat.do_add_message(session, actor.business_id, actor.mode, conversation_id,
                                  content, direction="outbound", sender_role="agent",
                                  sender_name=actor.name, sender_user_id=actor.user_id)
    return commit_ok(message, 201)
