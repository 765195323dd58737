"""Tickets for the agent API (a ticket is a conversation): list, read, open, update, typing.

Every query starts inside one business and mode. A list page walks one of the
``ix_tickets_*`` indexes (business_id, mode[, status | assigned_to], sort column, id)
in sort order and stops after the page, so a page costs about the rows it returns,
not the size of the inbox; tests/test_tickets.py asserts SQLite's plans on 100,000
tickets. Filters without an index of their own (channel, tag, q) are checked row by
row during that walk (tag and q through indexed correlated subqueries), which keeps
the order and never sorts in a temporary B-tree. One contact's tickets (contact_id) are
found by the contact's own index instead and sorted: a contact has a handful.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Row,
    Select,
    Table,
    delete,
    exists,
    func,
    insert,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.orm import Session

from server.channels import business_topic, conversation_topic
from server.db import emit, upsert
from server.errors import Forbidden, NotFound, ValidationError
from server.models import (
    MAX_ROW_ID,
    Contact,
    Conversation,
    Message,
    Rating,
    TicketTag,
    User,
    utcnow,
)
from server.services import webhooks
from server.services.chat import (
    NOTE,
    contact_created,
    do_add_message,
    find_conversation,
    list_history,
    store_message,
)
from server.validation import (
    EMAIL_RE,
    check_content,
    check_required_text,
    check_text,
    is_whole,
)
from server.visitor_ids import EMAIL_PREFIX, VISITOR_ID_MAX, email_visitor_id
from server.wire import (
    cursor_row_id,
    decode_cursor,
    decode_id_cursor,
    encode_cursor,
    encode_id_cursor,
    invalid_cursor,
    iso,
    message_json,
)

TICKETS, CONTACTS, TAGS, MESSAGES, USERS, RATINGS = (
    cast(Table, m.__table__) for m in (Conversation, Contact, TicketTag, Message, User, Rating))

STATUSES = ("open", "pending", "resolved")
CHANNELS = ("widget", "api", "talkr")  # talkr: the TALKR wire endpoint (services/talkr.py)
SORTS = ("created_desc", "created_asc", "updated_desc")
UNASSIGNED = "unassigned"
TAG_RE = re.compile(r"[a-z0-9_:-]{1,50}")
MAX_TAGS = 20
SUBJECT_MAX = 300
Q_MAX = 200
MESSAGES_PAGE = 100
MAX_ID = MAX_ROW_ID
# visitor_id is String(128): "email:" + the address must fit
EMAIL_MAX = VISITOR_ID_MAX - len(EMAIL_PREFIX)
_SORT_COLUMN = {"created_desc": TICKETS.c.created_at, "created_asc": TICKETS.c.created_at,
                "updated_desc": TICKETS.c.updated_at}
_ROW = (select(TICKETS.c.id, TICKETS.c.status, TICKETS.c.channel, TICKETS.c.subject,
               TICKETS.c.created_at, TICKETS.c.updated_at, TICKETS.c.assigned_to,
               TICKETS.c.last_message_preview, TICKETS.c.unread_count, TICKETS.c.resolved_at,
               TICKETS.c.resolved_by, TICKETS.c.visitor_online, TICKETS.c.bot_active,
               TICKETS.c.contact_id.label("customer_id"), CONTACTS.c.name.label("customer_name"),
               CONTACTS.c.email.label("customer_email"),
               CONTACTS.c.visitor_id.label("customer_visitor_id"))
        .join(CONTACTS, CONTACTS.c.id == TICKETS.c.contact_id))


@dataclass(frozen=True)
class TicketFilters:
    """What GET /tickets narrows by; None leaves a dimension unfiltered."""

    status: str | None = None
    channel: str | None = None
    assigned_to: int | str | None = None  # an agent id, or UNASSIGNED
    tag: str | None = None
    q: str | None = None
    contact_id: int | None = None  # one contact's conversations (its own index)


@dataclass(frozen=True)
class NewTicket:
    """A validated POST /tickets body."""

    subject: str | None
    name: str | None
    email: str
    message: str
    tags: list[str]


# ---------- validation ----------------------------------------------------------------------


def check_tag(raw: Any, field: str) -> str:
    """Lower-case a tag and insist on 1-50 of a-z 0-9 _ : -."""
    tag = raw.strip().lower() if isinstance(raw, str) else None
    if tag is None or not TAG_RE.fullmatch(tag):
        raise ValidationError(f"{field} must be 1-50 characters of a-z, 0-9, '-', '_', ':'.",
                              field=field)
    return tag


def check_tags(raw: Any, field: str = "tags") -> list[str]:
    """A list of at most MAX_TAGS tags, normalized, de-duplicated and sorted."""
    if not isinstance(raw, list):
        raise ValidationError(f"{field} must be a list of strings.", field=field)
    tags = sorted({check_tag(t, field) for t in raw})
    if len(tags) > MAX_TAGS:
        raise ValidationError(f"{field} holds more than {MAX_TAGS} tags.", field=field)
    return tags


def check_assignee_filter(raw: str | None) -> int | str | None:
    """assigned_to in a query: an agent id or 'unassigned'."""
    if raw is None or raw == "":
        return None
    if raw == UNASSIGNED:
        return UNASSIGNED
    if not is_whole(raw) or not 0 < int(raw) <= MAX_ID:
        raise ValidationError("assigned_to must be an agent id or 'unassigned'.",
                              field="assigned_to")
    return int(raw)


def check_query(raw: str | None) -> str | None:
    """q: the text to look for, trimmed, at most Q_MAX characters."""
    q = (raw or "").strip()
    if len(q) > Q_MAX:
        raise ValidationError(f"q is longer than {Q_MAX} characters.", field="q")
    return q or None


def check_new_ticket(body: dict[str, Any], message_max: int) -> NewTicket:
    """Validate a POST /tickets body."""
    customer = body.get("customer")
    if not isinstance(customer, dict):
        raise ValidationError("customer must be an object with an email.", field="customer")
    with _customer_field("email"):
        email = check_required_text(customer, "email", EMAIL_MAX, pattern=EMAIL_RE)
    message = check_content(body, message_max, field="message")
    tags = check_tags(body["tags"]) if body.get("tags") is not None else []
    subject = check_text(body, "subject", SUBJECT_MAX)
    with _customer_field("name"):
        name = check_text(customer, "name", 200)
    return NewTicket(subject, name, email.lower(), message, tags)


@contextmanager
def _customer_field(field: str) -> Iterator[None]:
    """Name a failing customer field customer.<field>."""
    try:
        yield
    except ValidationError as err:
        raise ValidationError(f"customer.{err.message}", field=f"customer.{field}") from None


def check_changes(body: dict[str, Any]) -> dict[str, Any]:
    """Validate a PATCH /tickets/{id} body: status, assigned_to (id or null), tags."""
    unknown = sorted(set(body) - {"status", "assigned_to", "tags"})
    if unknown:
        raise ValidationError(f"{unknown[0]} cannot be changed here.", field=unknown[0])
    changes: dict[str, Any] = {}
    if "status" in body:
        if body["status"] not in STATUSES:
            raise ValidationError(f"status must be one of {', '.join(STATUSES)}.",
                                  field="status")
        changes["status"] = body["status"]
    if "assigned_to" in body:
        agent = body["assigned_to"]
        if agent is not None and (isinstance(agent, bool) or not isinstance(agent, int)
                                  or not 0 < agent <= MAX_ID):
            raise ValidationError("assigned_to must be an agent id or null.", field="assigned_to")
        changes["assigned_to"] = agent
    if "tags" in body:
        changes["tags"] = check_tags(body["tags"])
    return changes


# ---------- cursors -------------------------------------------------------------------------


LIST_CURSOR, MESSAGE_CURSOR = "t", "a"


def encode_list_cursor(sort: str, value: datetime, ticket_id: int) -> str:
    """An opaque keyset position: the sort, the last row's sort value and its id."""
    return encode_cursor(f"{LIST_CURSOR}|{sort}|{value.isoformat()}|{ticket_id}")


def decode_list_cursor(cursor: str, sort: str) -> tuple[datetime, int]:
    """The (sort value, id) a list cursor points after; it must belong to this sort."""
    parts = decode_cursor(cursor).split("|")
    if len(parts) != 4 or parts[0] != LIST_CURSOR:
        raise invalid_cursor()
    ticket_id = cursor_row_id(parts[3])
    try:
        value: datetime | None = datetime.fromisoformat(parts[2])
    except ValueError:
        value = None
    if value is None or value.tzinfo is None:
        raise invalid_cursor()
    if parts[1] != sort:
        raise ValidationError("cursor belongs to another sort order.", field="cursor")
    return value, ticket_id


def encode_message_cursor(message_id: int) -> str:
    """A ticket's message cursor: the last message shown."""
    return encode_id_cursor(MESSAGE_CURSOR, message_id)


def decode_message_cursor(cursor: str) -> int:
    """The message id a ticket's message cursor points after."""
    return decode_id_cursor(cursor, MESSAGE_CURSOR)


# ---------- reading -------------------------------------------------------------------------


def ticket_json(row: Row[Any], tags: list[str],
                rating: dict[str, Any] | None = None) -> dict[str, Any]:
    """A ticket as the agent API shows it."""
    return {"id": row.id, "status": row.status, "channel": row.channel, "subject": row.subject,
            "created_at": iso(row.created_at), "updated_at": iso(row.updated_at),
            "customer": {"id": row.customer_id, "name": row.customer_name,
                         "email": row.customer_email, "visitor_id": row.customer_visitor_id},
            "assigned_to": row.assigned_to, "tags": tags,
            "last_message_preview": row.last_message_preview,
            "unread_count": row.unread_count, "visitor_online": row.visitor_online,
            "bot_active": row.bot_active,
            "resolved_at": iso(row.resolved_at) if row.resolved_at else None,
            "resolved_by": row.resolved_by, "rating": rating}


def _filters(business_id: int, mode: str, f: TicketFilters) -> list[ColumnElement[bool]]:
    conds = [TICKETS.c.business_id == business_id, TICKETS.c.mode == mode]
    if f.contact_id is not None:
        # A contact's conversations are all in its business and mode: checking the contact's
        # (once) instead lets the planner take the contact's index, not walk the whole inbox.
        conds = [TICKETS.c.contact_id == f.contact_id, exists().where(
            CONTACTS.c.id == f.contact_id, CONTACTS.c.business_id == business_id,
            CONTACTS.c.mode == mode)]
    if f.status is not None:
        conds.append(TICKETS.c.status == f.status)
    if f.channel is not None:
        conds.append(TICKETS.c.channel == f.channel)
    if f.assigned_to == UNASSIGNED:
        conds.append(TICKETS.c.assigned_to.is_(None))
    elif f.assigned_to is not None:
        conds.append(TICKETS.c.assigned_to == f.assigned_to)
    if f.tag is not None:
        conds.append(exists().where(TAGS.c.conversation_id == TICKETS.c.id, TAGS.c.tag == f.tag))
    if f.q is not None:
        conds.append(or_(TICKETS.c.subject.icontains(f.q, autoescape=True),
                         exists().where(MESSAGES.c.conversation_id == TICKETS.c.id,
                                        MESSAGES.c.content.icontains(f.q, autoescape=True))))
    return conds


def list_statement(business_id: int, mode: str, filters: TicketFilters, sort: str, *,
                   limit: int, offset: int = 0,
                   after: tuple[datetime, int] | None = None) -> Select[Any]:
    """One page of tickets in sort order, by offset or after a keyset position."""
    column = _SORT_COLUMN[sort]
    ascending = sort == "created_asc"
    stmt = (_ROW.where(*_filters(business_id, mode, filters))
            .order_by(*((column.asc(), TICKETS.c.id.asc()) if ascending
                        else (column.desc(), TICKETS.c.id.desc())))
            .limit(limit))
    if after is not None:
        key = tuple_(column, TICKETS.c.id)
        stmt = stmt.where(key > after if ascending else key < after)
    return stmt.offset(offset) if offset else stmt


def count_statement(business_id: int, mode: str, filters: TicketFilters) -> Select[Any]:
    """How many tickets match the filters."""
    return (select(func.count()).select_from(TICKETS)
            .where(*_filters(business_id, mode, filters)))


def _tags(session: Session, ticket_ids: list[int]) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {i: [] for i in ticket_ids}
    if ticket_ids:
        for ticket_id, tag in session.execute(
                select(TAGS.c.conversation_id, TAGS.c.tag)
                .where(TAGS.c.conversation_id.in_(ticket_ids)).order_by(TAGS.c.tag)):
            out[ticket_id].append(tag)
    return out


def _ratings(session: Session, ticket_ids: list[int]) -> dict[int, dict[str, Any]]:
    """The newest rating of each ticket that has one (the latest rated resolution's)."""
    out: dict[int, dict[str, Any]] = {}
    if ticket_ids:
        for r in session.execute(select(RATINGS).where(RATINGS.c.conversation_id.in_(ticket_ids))
                                 .order_by(RATINGS.c.id)):
            out[r.conversation_id] = {"score": r.score, "comment": r.comment,
                                      "created_at": iso(r.created_at)}
    return out


def _rows_json(session: Session, rows: Sequence[Row[Any]]) -> list[dict[str, Any]]:
    ids = [r.id for r in rows]
    tags, ratings = _tags(session, ids), _ratings(session, ids)
    return [ticket_json(r, tags[r.id], ratings.get(r.id)) for r in rows]


def _next_cursor(sort: str, last: Row[Any]) -> str:
    return encode_list_cursor(sort, last.updated_at if sort == "updated_desc"
                              else last.created_at, last.id)


def list_tickets(session: Session, business_id: int, mode: str, filters: TicketFilters,
                 sort: str, *, page: int, per_page: int,
                 cursor: str | None) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """A page of tickets and its meta: by page (with total) or after a cursor."""
    after = decode_list_cursor(cursor, sort) if cursor else None
    rows = session.execute(list_statement(
        business_id, mode, filters, sort, limit=per_page + 1,
        offset=0 if after else (page - 1) * per_page, after=after)).all()
    more, rows = len(rows) > per_page, rows[:per_page]
    meta: dict[str, Any] = {"per_page": per_page,
                            "next_cursor": _next_cursor(sort, rows[-1]) if more else None}
    if after is None:
        total = session.execute(count_statement(business_id, mode, filters)).scalar_one()
        meta = {"total": total, "page": page, **meta}
    return _rows_json(session, rows), meta


def _row(session: Session, business_id: int, mode: str, ticket_id: int) -> Row[Any]:
    row = session.execute(_ROW.where(TICKETS.c.id == ticket_id,
                                     TICKETS.c.business_id == business_id,
                                     TICKETS.c.mode == mode)).first()
    if row is None:
        raise NotFound("No such ticket.")
    return cast(Row[Any], row)


def load_ticket(session: Session, business_id: int, mode: str, ticket_id: int) -> dict[str, Any]:
    """One ticket of this business and mode (else 404, as if absent)."""
    return _rows_json(session, [_row(session, business_id, mode, ticket_id)])[0]


def _agent_message_json(m: Row[Any]) -> dict[str, Any]:
    out = message_json(m)
    out["sender"] = {**out["sender"], "user_id": m.sender_user_id}
    return out


def _clear_unread(session: Session, ticket: dict[str, Any]) -> None:
    """Mark a loaded ticket read; only when there is something to clear, so a plain read
    takes no write lock."""
    if ticket["unread_count"]:
        session.execute(update(TICKETS).where(TICKETS.c.id == ticket["id"])
                        .values(unread_count=0))
        ticket["unread_count"] = 0


def do_mark_read(session: Session, business_id: int, mode: str,
                 ticket_id: int) -> dict[str, Any]:
    """Mark a ticket read without fetching its messages (an agent with it open on screen
    while the visitor writes); return the ticket."""
    ticket = load_ticket(session, business_id, mode, ticket_id)
    _clear_unread(session, ticket)
    return ticket


def do_read_ticket(session: Session, business_id: int, mode: str, ticket_id: int,
                   cursor: str | None) -> tuple[dict[str, Any], str | None]:
    """A ticket with up to 100 messages oldest first (after cursor); marks it read."""
    ticket = load_ticket(session, business_id, mode, ticket_id)
    after = decode_message_cursor(cursor) if cursor else 0
    rows = session.execute(select(MESSAGES).where(MESSAGES.c.conversation_id == ticket_id,
                                                  MESSAGES.c.id > after)
                           .order_by(MESSAGES.c.id).limit(MESSAGES_PAGE + 1)).all()
    _clear_unread(session, ticket)
    ticket["messages"] = [_agent_message_json(m) for m in rows[:MESSAGES_PAGE]]
    more = len(rows) > MESSAGES_PAGE
    return ticket, encode_message_cursor(rows[MESSAGES_PAGE - 1].id) if more else None


def list_ticket_messages(session: Session, business_id: int, mode: str, ticket_id: int,
                         cursor: str | None, limit: int
                         ) -> tuple[list[dict[str, Any]], str | None]:
    """The team's history of a ticket, newest first (notes included; it marks nothing
    read): an inbox opens a long conversation at its end and pages back."""
    find_conversation(session, business_id, mode, ticket_id)
    return list_history(session, ticket_id, cursor, limit, team=True,
                        render=_agent_message_json)


# ---------- the business's message feed (a client's catch-up) ------------------------------


def _feed(business_id: int, mode: str) -> Select[Any]:
    """This business's and mode's messages. EXISTS, not a join: the planner then walks the
    messages primary key in order and checks each row's conversation by its primary key
    (a join lets SQLite collect every message of the business and sort them)."""
    return select(MESSAGES).where(exists().where(
        TICKETS.c.id == MESSAGES.c.conversation_id, TICKETS.c.business_id == business_id,
        TICKETS.c.mode == mode))


def newest_message_id(session: Session, business_id: int, mode: str) -> int:
    """The newest message id of this business and mode, 0 when none (a feed's watermark)."""
    found = session.execute(_feed(business_id, mode).with_only_columns(MESSAGES.c.id)
                            .order_by(MESSAGES.c.id.desc()).limit(1)).scalar()
    return int(found or 0)


def list_feed(session: Session, business_id: int, mode: str, after_id: int,
              limit: int) -> tuple[list[dict[str, Any]], bool]:
    """Up to limit messages (notes included) after after_id, oldest first; and whether more
    follow."""
    rows = session.execute(_feed(business_id, mode).where(MESSAGES.c.id > after_id)
                           .order_by(MESSAGES.c.id).limit(limit + 1)).all()
    return [_agent_message_json(m) for m in rows[:limit]], len(rows) > limit


# ---------- writing -------------------------------------------------------------------------


def _contact_for(session: Session, business_id: int, mode: str, email: str,
                 name: str | None) -> int:
    """The contact 'email:<address>' of this business and mode, created on first use."""
    ident = {"business_id": business_id, "mode": mode,
             "visitor_id": email_visitor_id(email)}
    lookup = select(CONTACTS.c.id).where(*(CONTACTS.c[k] == v for k, v in ident.items()))
    found = session.execute(lookup).scalar()
    if found is None:
        # ON CONFLICT DO NOTHING: two tickets for a new address at once
        new_id = session.execute(upsert(session)(CONTACTS).values(
            created_at=utcnow(), email=email, name=name, custom_fields={}, **ident)
            .on_conflict_do_nothing().returning(CONTACTS.c.id)).scalar()
        if new_id is not None:
            contact_created(session, business_id, mode, int(new_id))
        return int(session.execute(lookup).scalar_one())
    if name:
        session.execute(update(CONTACTS).where(CONTACTS.c.id == found).values(name=name))
    return int(found)


def _set_tags(session: Session, ticket_id: int, tags: list[str]) -> None:
    session.execute(delete(TAGS).where(TAGS.c.conversation_id == ticket_id))
    if tags:
        session.execute(insert(TAGS), [{"conversation_id": ticket_id, "tag": t} for t in tags])


def do_create_ticket(session: Session, business_id: int, mode: str,
                     new: NewTicket) -> dict[str, Any]:
    """Open an api-channel ticket with the customer's first message; emits TicketCreated."""
    contact_id = _contact_for(session, business_id, mode, new.email, new.name)
    now = utcnow()
    ticket_id = session.execute(insert(TICKETS).values(
        business_id=business_id, mode=mode, contact_id=contact_id, status="open",
        channel="api", subject=new.subject, unread_count=0, created_at=now, updated_at=now,
    ).returning(TICKETS.c.id)).scalar_one()
    _set_tags(session, ticket_id, new.tags)
    created = load_ticket(session, business_id, mode, ticket_id)
    # Before the first message's MessageCreated, as for a widget conversation.
    created_event = {"conversation_id": ticket_id, "channel": "api",
                     "customer": created["customer"], "ticket": created}
    emit(session, [business_topic(business_id, mode)], "TicketCreated", created_event)
    webhooks.enqueue(session, business_id, mode, "conversation.created", created_event)
    message = do_add_message(session, business_id, mode, ticket_id, new.message,
                             direction="inbound", sender_role="visitor", sender_name=new.name)
    ticket = load_ticket(session, business_id, mode, ticket_id)
    ticket["messages"] = [{**message, "sender": {**message["sender"], "user_id": None}}]
    return ticket


def _check_agent(session: Session, business_id: int, user_id: int) -> None:
    found = session.execute(select(USERS.c.id, USERS.c.deactivated_at).where(
        USERS.c.id == user_id, USERS.c.business_id == business_id)).first()
    if found is None:
        raise ValidationError("assigned_to is not an agent of this business.",
                              field="assigned_to")
    if found.deactivated_at is not None:
        raise ValidationError("assigned_to is a deactivated agent.", field="assigned_to")


def _status_values(old: str, new: str, actor_ref: str, now: datetime) -> dict[str, Any]:
    """Resolving records when and by whom; reopening clears both."""
    if new == old:
        return {}
    if new == "resolved":
        return {"status": new, "resolved_at": now, "resolved_by": actor_ref}
    if old == "resolved":
        return {"status": new, "resolved_at": None, "resolved_by": None}
    return {"status": new}


def do_update_ticket(session: Session, business_id: int, mode: str, ticket_id: int,
                     changes: dict[str, Any], actor_ref: str) -> dict[str, Any]:
    """Change status / assignee / tags; emits ConversationUpdated when anything changed."""
    ticket = load_ticket(session, business_id, mode, ticket_id)
    now = utcnow()
    values = _status_values(ticket["status"], changes.get("status", ticket["status"]),
                            actor_ref, now)
    if changes.get("assigned_to") is not None:
        _check_agent(session, business_id, changes["assigned_to"])
    if "assigned_to" in changes and changes["assigned_to"] != ticket["assigned_to"]:
        values["assigned_to"] = changes["assigned_to"]
    if values.get("assigned_to") is not None:
        values["bot_active"] = False  # an assignment takes the conversation from the bot
    retag = "tags" in changes and changes["tags"] != ticket["tags"]
    if not values and not retag:
        return ticket
    session.execute(update(TICKETS).where(TICKETS.c.id == ticket_id)
                    .values(updated_at=now, **values))
    if retag:
        _set_tags(session, ticket_id, changes["tags"])
    ticket = load_ticket(session, business_id, mode, ticket_id)
    emit(session, [business_topic(business_id, mode)], "ConversationUpdated", ticket)
    emit(session, [conversation_topic(ticket_id)], "ConversationUpdated", visitor_view(ticket))
    webhooks.enqueue(session, business_id, mode, "conversation.updated", ticket)
    if values.get("status") == "resolved":
        webhooks.enqueue(session, business_id, mode, "conversation.resolved", ticket)
    return ticket


def visitor_view(ticket: dict[str, Any]) -> dict[str, Any]:
    """What a visitor's devices learn of a ticket change: not tags, assignee or counters."""
    return {"conversation_id": ticket["id"], "status": ticket["status"],
            "updated_at": ticket["updated_at"], "resolved_at": ticket["resolved_at"]}


def check_note_author(user_id: int | None) -> int:
    """A note is an agent's (a secret key is not a person): the agent's user id, else 403."""
    if user_id is None:
        raise Forbidden("Notes are written by agents; log in as one.")
    return user_id


def do_add_note(session: Session, business_id: int, mode: str, ticket_id: int, content: str,
                *, name: str, user_id: int) -> dict[str, Any]:
    """Store an agent's private note on a ticket of this business and mode (checked with
    find_conversation): MessageCreated on the business channel only (never a visitor's); the
    ticket's status, unread_count and preview stay as they are."""
    note = message_json(store_message(session, ticket_id, content, direction="outbound",
                                      sender_role="agent", sender_name=name,
                                      sender_user_id=user_id, type=NOTE))
    emit(session, [business_topic(business_id, mode)], "MessageCreated", note)
    return note


def do_agent_typing(session: Session, business_id: int, mode: str, ticket_id: int,
                    name: str) -> None:
    """Show the visitor's devices that an agent is typing."""
    find_conversation(session, business_id, mode, ticket_id)
    emit(session, [conversation_topic(ticket_id)], "TypingStarted",
         {"conversation_id": ticket_id, "role": "agent", "name": name})


def ticket_scope(session: Session, ticket_id: int) -> tuple[int, str]:
    """The business and mode a ticket belongs to (an operator names a ticket by id alone)."""
    row = None
    if 0 < ticket_id <= MAX_ID:  # a larger id cannot exist (and SQLite refuses to bind it)
        row = session.execute(select(TICKETS.c.business_id, TICKETS.c.mode)
                              .where(TICKETS.c.id == ticket_id)).first()
    if row is None:
        raise NotFound("No such ticket.")
    return int(row.business_id), str(row.mode)
