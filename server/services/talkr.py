"""The TALKR-compatible wire endpoint (SPEC "TALKR wire endpoint"; docs/api-talkr.md).

A TALKR `session` is a random token stored hashed, as a visitor session token is; it maps to
one conversation of channel `talkr` with a contact of its own, in the mode of the key that
turned the bot's public API on. Unlike the widget, the caller waits for the answer: the
visitor's message is stored and answered inside the request's transaction by the bot's own
answering function, and the answer (with every agent reply written since the previous call)
is the HTTP response.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from server import bot_worker
from server.channels import business_topic
from server.db import emit
from server.errors import NotFound, TalkrInvalidSession, ValidationError
from server.models import (
    BotJob,
    BotSettings,
    Business,
    Contact,
    Conversation,
    Message,
    TalkrSession,
    utcnow,
)
from server.security import token_digest
from server.services import bot, chat, webhooks
from server.services.answerers import Answerer
from server.services.chat import NOTE
from server.validation import check_content, check_required_text
from server.visitor_ids import talkr_visitor_id

CHANNELS = ("web", "telephony")
CHANNEL = "talkr"  # the conversations' channel, as agents filter tickets by it
TOKEN_PREFIX = "tks_"
LANGUAGE = {"name": "English", "slug": "en"}
SLUG_RE = re.compile(r"[a-z0-9-]{1,80}")  # server.services.keys.slugify's alphabet
TOKEN_MAX = 200
USERRESPONSE = "variables.userresponse"


@dataclass(frozen=True)
class Endpoint:
    """A bot whose public API is on, as the wire endpoint needs it (a plain record)."""

    business_id: int
    mode: str
    bot_id: int
    name: str
    welcome: str


@dataclass(frozen=True)
class TurnIn:
    """A checked message call: the caller's session, its tracking and the visitor's text."""

    session: str
    tracking: str
    text: str


@dataclass(frozen=True)
class TalkrSessionInfo:
    id: int
    conversation_id: int
    last_message_id: int


@dataclass(frozen=True)
class Turn:
    """What one call answers: the bot's answer, every message to show, the new tracking."""

    answer: str
    messages: list[str]
    tracking: str
    object_id: int


def find_endpoint(session: Session, slug: str, bot_id: int) -> Endpoint:
    """The bot with this id in the business with this slug, on and its public API on (the
    bot answers only while it is on); else 404."""
    found = None
    if SLUG_RE.fullmatch(slug):  # never a NUL or the like into the query (PostgreSQL: 500)
        found = session.execute(
            select(BotSettings, Business).join(Business, Business.id == BotSettings.business_id)
            .where(BotSettings.id == bot_id, Business.slug == slug)).first()
    if found is None or not _open(*found):
        raise NotFound("No such bot, or its public API is off.")
    settings, business = found
    return Endpoint(business.id, settings.public_api_mode, settings.id, settings.name,
                    settings.welcome_message or business.welcome_message)


def _open(settings: BotSettings, business: Business) -> bool:
    return settings.enabled and settings.public_api_enabled and not business.suspended


TURN_FIELDS = ("session", "tracking", "message")


def check_turn(body: dict[str, Any], max_len: int) -> TurnIn | None:
    """None for the first call (`{}`); else the message call's fields, or 400 naming the
    missing or bad one. The text is `message`, else `variables.userresponse`."""
    variables = body.get("variables")
    if variables is not None and not isinstance(variables, dict):
        raise ValidationError("variables must be an object.", field="variables")
    reply = (variables or {}).get("userresponse")
    if reply is None and all(body.get(f) is None for f in TURN_FIELDS):
        return None
    token = check_required_text(body, "session", TOKEN_MAX)
    tracking = _check_tracking(body.get("tracking"))
    if body.get("message") is not None:
        text = check_content(body, max_len, "message")
    elif reply is not None:
        text = check_content({USERRESPONSE: reply}, max_len, USERRESPONSE)
    else:
        raise ValidationError("message is required.", field="message")
    return TurnIn(token, tracking, text)


def _check_tracking(value: Any) -> str:
    if value is None:
        raise ValidationError("tracking is required: data.responses[0].tracking of the "
                              "previous answer.", field="tracking")
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise ValidationError("tracking must be a string.", field="tracking")
    return str(value)


def _tracking(last_message_id: int) -> str:
    """The block the conversation is at: the newest message the caller has been shown."""
    return f"msg_{last_message_id}"


def do_start(session: Session, endpoint: Endpoint, channel: str) -> tuple[str, Turn]:
    """Open a conversation for a new caller with the bot's welcome; return its token."""
    conversation_id = _new_conversation(session, endpoint)
    welcome = chat.do_add_message(session, endpoint.business_id, endpoint.mode,
                                  conversation_id, endpoint.welcome, direction="outbound",
                                  sender_role="bot", sender_name=endpoint.name)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = utcnow()
    session.add(TalkrSession(business_id=endpoint.business_id, mode=endpoint.mode,
                             bot_id=endpoint.bot_id, channel=channel,
                             conversation_id=conversation_id, token_hash=token_digest(token),
                             last_message_id=welcome["id"], created_at=now, last_seen_at=now))
    session.flush()
    return token, Turn(endpoint.welcome, [endpoint.welcome], _tracking(welcome["id"]),
                       welcome["id"])


def _new_conversation(session: Session, endpoint: Endpoint) -> int:
    """A pending conversation the bot holds, with a contact of its own."""
    now = utcnow()
    contact = Contact(business_id=endpoint.business_id, mode=endpoint.mode,
                      visitor_id=talkr_visitor_id(), created_at=now)
    session.add(contact)
    session.flush()
    conversation = Conversation(business_id=endpoint.business_id, mode=endpoint.mode,
                                contact_id=contact.id, channel=CHANNEL, status="pending",
                                bot_active=True, created_at=now, updated_at=now)
    session.add(conversation)
    session.flush()
    created = {"conversation_id": conversation.id, "channel": CHANNEL,
               "customer": {"id": contact.id, **chat.load_contact(session, contact.id)}}
    emit(session, [business_topic(endpoint.business_id, endpoint.mode)], "TicketCreated", created)
    webhooks.enqueue(session, endpoint.business_id, endpoint.mode, "conversation.created",
                     created)
    return conversation.id


def find_session(session: Session, endpoint: Endpoint, channel: str, token: str,
                 idle_minutes: int) -> TalkrSessionInfo:
    """The live session behind this token, for this bot and channel; else 400
    invalid_session (unknown, forged, of another bot or channel, or idle too long)."""
    row = session.execute(
        select(TalkrSession.id, TalkrSession.conversation_id, TalkrSession.last_message_id,
               TalkrSession.last_seen_at)
        .join(Conversation, Conversation.id == TalkrSession.conversation_id)
        .where(TalkrSession.token_hash == token_digest(token),
               TalkrSession.bot_id == endpoint.bot_id,
               TalkrSession.business_id == endpoint.business_id,
               TalkrSession.mode == endpoint.mode, TalkrSession.channel == channel,
               Conversation.mode == endpoint.mode)  # an erased contact's is gone
        # two calls of one session at once take turns (PostgreSQL): each message is shown once
        .with_for_update(of=TalkrSession)).first()
    if row is None or (idle_minutes and
                       row.last_seen_at < utcnow() - timedelta(minutes=idle_minutes)):
        raise TalkrInvalidSession()
    return TalkrSessionInfo(row.id, row.conversation_id, row.last_message_id)


_SHOWN = (Message.direction == "outbound", Message.type != NOTE)  # what a visitor may see


def answer_now(session: Session, message_id: int, answerer: Answerer) -> None:
    """Do the bot job of this visitor message in this transaction, with the outbox worker's
    own steps (start_job, search_safely, reply_to, finish_job): done when it commits, so the
    worker never answers it again. No job: the bot does not hold the conversation."""
    job = session.scalar(select(BotJob).where(BotJob.message_id == message_id,
                                              BotJob.status == "pending"))
    work = bot.start_job(session, job) if job is not None else None
    if work is not None:
        passages = bot_worker.search_safely(session, work)
        bot.finish_job(session, work, bot_worker.reply_to(work, passages, answerer))


def do_turn(session: Session, endpoint: Endpoint, talkr_session: TalkrSessionInfo,
            text: str, answerer: Answerer) -> Turn:
    """Store the visitor's message, let the bot answer it now (when the bot holds the
    conversation), and return everything written for the visitor since the last call."""
    conversation_id = talkr_session.conversation_id
    asked = chat.do_add_message(session, endpoint.business_id, endpoint.mode, conversation_id,
                                text, direction="inbound", sender_role="visitor")
    answer_now(session, asked["id"], answerer)
    rows = session.execute(
        select(Message.id, Message.content, Message.sender_role)
        .where(Message.conversation_id == conversation_id,
               Message.id > talkr_session.last_message_id, *_SHOWN)
        .order_by(Message.id)).all()
    answers = [r.content for r in rows if r.sender_role == "bot" and r.id > asked["id"]]
    last = max([asked["id"], *(r.id for r in rows)])
    session.execute(update(TalkrSession).where(TalkrSession.id == talkr_session.id)
                    .values(last_message_id=last, last_seen_at=utcnow()))
    return Turn("\n".join(answers), [r.content for r in rows], _tracking(last), last)


def wire_body(endpoint: Endpoint, channel: str, token: str, turn: Turn,
              telephony: dict[str, Any]) -> dict[str, Any]:
    """TALKR's answer: the session, the bot, its answer, the messages and the tracking;
    `telephony` (TALKR_* config) adds the voice fields on the telephony channel."""
    data: dict[str, Any] = {
        "messages": [{"type": "text", "content": m} for m in turn.messages],
        "responses": [{"type": "custom", "content": turn.answer, "tracking": turn.tracking}],
        "object_id": turn.object_id, "has_background_text": 0}
    if channel == "telephony":
        data.update(speech_synthesis={"text": " ".join(turn.messages),
                                      "language": telephony["language"]},
                    speech_recognizer={"language": telephony["language"],
                                       "timeout": telephony["no_response_seconds"]},
                    hangup_no_response=1, retries=telephony["retries"])
    return {"session": token, "code": 200, "name": endpoint.name, "language": LANGUAGE,
            "variables": {"bot_answer": turn.answer}, "data": data, "background_content": ""}
