"""Agent API: the business's message feed (/api/v1/messages), a client's catch-up."""

from __future__ import annotations

from flask import Blueprint, Response, g, request

from server.api.chat import attachment_url
from server.api.common import int_arg, ok
from server.auth import agent_api
from server.db import get_session
from server.models import MAX_ROW_ID
from server.services import attachments, tickets

bp = Blueprint("messages", __name__, url_prefix="/api/v1")
FEED_LIMIT = 100


@bp.get("/messages")
@agent_api("tickets:read")
def feed() -> Response:
    actor = g.actor
    session = get_session()
    limit = int_arg("limit", FEED_LIMIT, 1, FEED_LIMIT)
    if not request.args.get("after_id"):  # no position yet: where the feed is now
        newest = tickets.newest_message_id(session, actor.business_id, actor.mode)
        return ok([], meta={"has_more": False, "last_id": newest})
    after_id = int_arg("after_id", 0, 0, MAX_ROW_ID)
    rows, more = tickets.list_feed(session, actor.business_id, actor.mode, after_id, limit)
    attachments.with_attachments(session, rows, attachment_url)
    return ok(rows, meta={"has_more": more, "last_id": rows[-1]["id"] if rows else after_id})
