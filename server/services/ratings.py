"""Ratings (CSAT): a visitor scores a resolved conversation 1-5, once per resolution.

A rating belongs to the resolution it was given for (the conversation's resolved_at at the
time): the unique (conversation_id, resolved_at) pair refuses a second one for the same
resolution even from two requests at once, and a reopened then again resolved conversation
can be rated anew. Tickets show the newest rating (server/services/tickets.py).
"""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from server.channels import business_topic
from server.db import emit, upsert
from server.errors import Conflict, ValidationError
from server.models import Conversation, Rating, utcnow
from server.services import webhooks
from server.services.chat import SessionInfo
from server.services.tickets import load_ticket
from server.wire import iso

RATINGS, CONVERSATIONS = (cast(Table, m.__table__) for m in (Rating, Conversation))
SCORES = range(1, 6)
COMMENT_MAX = 1000


def check_rating(body: dict[str, Any]) -> tuple[int, str | None]:
    """A POST .../rating body: score an integer 1..5 (not a bool), comment an optional
    string of at most COMMENT_MAX characters (blank counts as none)."""
    score = body.get("score")
    if isinstance(score, bool) or not isinstance(score, int) or score not in SCORES:
        raise ValidationError("score must be an integer from 1 to 5.", field="score")
    comment = body.get("comment")
    if comment is None:
        return score, None
    if not isinstance(comment, str):
        raise ValidationError("comment must be a string.", field="comment")
    comment = comment.strip()
    if len(comment) > COMMENT_MAX:
        raise ValidationError(f"comment is longer than {COMMENT_MAX} characters.",
                              field="comment")
    return score, comment or None


def rating_json(row: Any) -> dict[str, Any]:
    """A rating as the visitor API answers it."""
    return {"id": row.id, "score": row.score, "comment": row.comment,
            "created_at": iso(row.created_at)}


def _resolution(session: Session, conversation_id: int) -> Any:
    return session.execute(select(CONVERSATIONS.c.status, CONVERSATIONS.c.resolved_at)
                           .where(CONVERSATIONS.c.id == conversation_id)).one()


def _rated(session: Session, conversation_id: int, resolved_at: Any) -> Any:
    return session.execute(select(RATINGS).where(
        RATINGS.c.conversation_id == conversation_id,
        RATINGS.c.resolved_at == resolved_at)).first()


def do_rate(session: Session, visitor: SessionInfo, score: int,
            comment: str | None) -> dict[str, Any]:
    """Store the visitor's rating of their conversation's current resolution (409 when it is
    not resolved or this resolution is rated); tell the inbox and the webhooks."""
    conversation = _resolution(session, visitor.conversation_id)
    if conversation.status != "resolved" or conversation.resolved_at is None:
        raise Conflict("This conversation is not resolved: there is nothing to rate yet.")
    row = session.execute(upsert(session)(RATINGS).values(
        business_id=visitor.business_id, mode=visitor.mode,
        conversation_id=visitor.conversation_id, contact_id=visitor.contact_id,
        resolved_at=conversation.resolved_at, score=score, comment=comment,
        created_at=utcnow()).on_conflict_do_nothing().returning(*RATINGS.c)).first()
    if row is None:  # ON CONFLICT: this resolution already has its rating
        raise Conflict("This conversation was already rated since it was resolved.")
    rating = rating_json(row)
    _announce(session, visitor, rating)
    return rating


def _announce(session: Session, visitor: SessionInfo, rating: dict[str, Any]) -> None:
    ticket = load_ticket(session, visitor.business_id, visitor.mode, visitor.conversation_id)
    emit(session, [business_topic(visitor.business_id, visitor.mode)], "ConversationUpdated",
         ticket)
    webhooks.enqueue(session, visitor.business_id, visitor.mode, "rating.created",
                     {"conversation_id": visitor.conversation_id,
                      "contact_id": visitor.contact_id, "rating": rating})


def rating_status(session: Session, conversation_id: int) -> dict[str, Any]:
    """What the visitor's widget asks on load: the current resolution's rating, and whether
    one is wanted (resolved and not yet rated)."""
    conversation = _resolution(session, conversation_id)
    resolved = conversation.status == "resolved" and conversation.resolved_at is not None
    row = _rated(session, conversation_id, conversation.resolved_at) if resolved else None
    return {"status": conversation.status, "pending": resolved and row is None,
            "rating": None if row is None else rating_json(row)}

