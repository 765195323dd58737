"""Agent API over tickets (a ticket is a conversation): /api/v1/tickets/..."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, g, request

from server.api.chat import attachment_url
from server.api.common import (
    OK,
    choice_arg,
    commit_answer,
    commit_ok,
    idempotent,
    int_arg,
    json_body,
    ok,
    page_args,
)
from server.auth import agent_api
from server.db import get_session
from server.errors import ValidationError
from server.models import MAX_ROW_ID
from server.services import attachments, chat, tickets
from server.validation import check_content

bp = Blueprint("tickets", __name__, url_prefix="/api/v1/tickets")
# Larger ids cannot exist; routing them to 404 keeps them away from the database driver.
TICKET = "<int:ticket_id>"


def _filters() -> tickets.TicketFilters:
    tag = request.args.get("tag")
    return tickets.TicketFilters(
        status=choice_arg("status", tickets.STATUSES),
        channel=choice_arg("channel", tickets.CHANNELS),
        assigned_to=tickets.check_assignee_filter(request.args.get("assigned_to")),
        tag=tickets.check_tag(tag, "tag") if tag else None,
        q=tickets.check_query(request.args.get("q")),
        contact_id=int_arg("contact_id", 0, 1, MAX_ROW_ID) or None)


def _cursor() -> str | None:
    cursor = request.args.get("cursor") or None
    if cursor and request.args.get("page"):
        raise ValidationError("Send page or cursor, not both.", field="cursor")
    return cursor


@bp.get("")
@agent_api("tickets:read")
def list_tickets() -> Response:
    filters = _filters()
    sort = choice_arg("sort", tickets.SORTS, "created_desc")
    page, per_page = page_args()
    rows, meta = tickets.list_tickets(get_session(), g.actor.business_id, g.actor.mode, filters,
                                      str(sort), page=page, per_page=per_page, cursor=_cursor())
    return ok(rows, meta=meta)


@bp.get(f"/{TICKET}")
@agent_api("tickets:read")
def get_ticket(ticket_id: int) -> Response:
    ticket, next_cursor = tickets.do_read_ticket(get_session(), g.actor.business_id,
                                                 g.actor.mode, ticket_id,
                                                 request.args.get("cursor") or None)
    attachments.with_attachments(get_session(), ticket["messages"], attachment_url)
    # Reading marks the ticket read (unread_count 0): a write, so commit.
    return commit_ok(ticket, meta={"next_cursor": next_cursor})


@bp.post("")
@agent_api("tickets:write")
@idempotent
def create_ticket() -> Response:
    new = tickets.check_new_ticket(json_body(), current_app.config["MESSAGE_MAX_LENGTH"])
    return commit_ok(tickets.do_create_ticket(get_session(), g.actor.business_id, g.actor.mode,
                                              new), 201)


@bp.patch(f"/{TICKET}")
@agent_api("tickets:write")
@idempotent
def update_ticket(ticket_id: int) -> Response:
    changes = tickets.check_changes(json_body())
    return commit_ok(tickets.do_update_ticket(get_session(), g.actor.business_id, g.actor.mode,
                                              ticket_id, changes, g.actor.ref))


@bp.get(f"/{TICKET}/messages")
@agent_api("tickets:read")
def ticket_messages(ticket_id: int) -> Response:
    rows, next_cursor = tickets.list_ticket_messages(
        get_session(), g.actor.business_id, g.actor.mode, ticket_id,
        request.args.get("cursor") or None, int_arg("limit", 50, 1, 100))
    return ok(attachments.with_attachments(get_session(), rows, attachment_url),
              meta={"next_cursor": next_cursor})


@bp.post(f"/{TICKET}/messages")
@agent_api("tickets:write")
@idempotent
def reply(ticket_id: int) -> Response:
    content = check_content(json_body(), current_app.config["MESSAGE_MAX_LENGTH"])
    session = get_session()
    actor = g.actor
    conversation_id = chat.find_conversation(session, actor.business_id, actor.mode, ticket_id)
    message = chat.do_add_message(session, actor.business_id, actor.mode, conversation_id,
                                  content, direction="outbound", sender_role="agent",
                                  sender_name=actor.name, sender_user_id=actor.user_id)
    return commit_ok(message, 201)


@bp.post(f"/{TICKET}/read")
@agent_api("tickets:read")
def mark_read(ticket_id: int) -> Response:
    # as reading it does: an agent who may read a ticket may mark it read
    return commit_ok(tickets.do_mark_read(get_session(), g.actor.business_id, g.actor.mode,
                                          ticket_id))


@bp.post(f"/{TICKET}/notes")
@agent_api("tickets:write")
@idempotent
def add_note(ticket_id: int) -> Response:
    actor = g.actor
    session = get_session()
    # another business's ticket is 404 as if absent, for a secret key too; then 403
    conversation_id = chat.find_conversation(session, actor.business_id, actor.mode, ticket_id)
    author = tickets.check_note_author(actor.user_id)
    content = check_content(json_body(), current_app.config["MESSAGE_MAX_LENGTH"])
    return commit_ok(tickets.do_add_note(session, actor.business_id, actor.mode,
                                         conversation_id, content, name=actor.name,
                                         user_id=author), 201)


@bp.post(f"/{TICKET}/typing")
@agent_api("tickets:write")
def typing(ticket_id: int) -> Response:
    tickets.do_agent_typing(get_session(), g.actor.business_id, g.actor.mode, ticket_id,
                            g.actor.name)
    return commit_answer(OK)  # events are published on commit
