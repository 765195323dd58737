"""The answer bot: its settings, who holds a conversation, and what a bot job changes.

A visitor message in a conversation the bot holds writes a bot job in its own transaction
(server/services/chat.py); server/bot_worker.py claims it (a lease), searches the
knowledge and words an answer outside any transaction, then finishes it here: the answer
or the handoff and the job's `done` commit together, so each job is answered once."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import case, func, select, true, update
from sqlalchemy.orm import Session

from server.channels import conversation_topic
from server.db import emit
from server.errors import ValidationError
from server.models import (
    BotJob,
    BotSettings,
    Conversation,
    KnowledgeCollection,
    Message,
    utcnow,
)
from server.services import availability, tickets, webhooks
from server.services.chat import do_add_message
from server.validation import check_required_text, check_text

DEFAULTS: dict[str, Any] = {
    "enabled": False, "name": "Assistant", "avatar_url": None, "welcome_message": "",
    "fallback_message": "Sorry, I could not find an answer to that.",
    "handoff_message": "Let me get a person to help you; someone will reply here shortly.",
    "handoff_keywords": ["human", "agent", "person", "operator", "representative",
                         "talk to a person"],
    "collection_ids": [], "min_score": 0.1, "inactivity_minutes": 30,
    "public_api_enabled": False}
FIELDS = ("enabled", "name", "avatar_url", "welcome_message", "fallback_message",
          "handoff_message", "handoff_keywords", "collection_ids", "min_score",
          "inactivity_minutes", "public_api")
NAME_MAX, TEXT_MAX, URL_MAX = 100, 1000, 2000
KEYWORDS_MAX, KEYWORD_MAX, COLLECTIONS_MAX = 30, 50, 50
INACTIVITY_MIN, INACTIVITY_MAX = 1, 7 * 24 * 60  # a minute to a week
BOT_ACTOR = "bot"  # the actor_ref of the bot's ticket changes (resolved_by)


# ---------- settings ---------------------------------------------------------------------


def _flag(value: Any, field: str) -> bool:
    if not isinstance(value, bool):
        raise ValidationError(f"{field} must be true or false.", field=field)
    return value


def _avatar(body: dict[str, Any]) -> str | None:
    value = check_text(body, "avatar_url", URL_MAX)
    parts = urlsplit(value or "")
    if value is not None and (parts.scheme not in ("http", "https") or not parts.hostname):
        raise ValidationError("avatar_url must be an http or https URL.", field="avatar_url")
    return value


def _keywords(value: Any) -> list[str]:
    words = [w.strip() for w in value if isinstance(w, str)] if isinstance(value, list) else []
    if not isinstance(value, list) or len(value) > KEYWORDS_MAX or len(words) != len(value) \
            or not all(0 < len(w) <= KEYWORD_MAX for w in words):
        raise ValidationError(f"handoff_keywords must be a list of at most {KEYWORDS_MAX} "
                              f"non-empty strings of at most {KEYWORD_MAX} characters.",
                              field="handoff_keywords")
    return list(dict.fromkeys(w.lower() for w in words))


def _collections(session: Session, business_id: int, value: Any) -> list[int]:
    if not isinstance(value, list) or len(value) > COLLECTIONS_MAX or not all(
            isinstance(i, int) and not isinstance(i, bool) for i in value):
        raise ValidationError(f"collection_ids must be a list of at most {COLLECTIONS_MAX} "
                              "collection ids.", field="collection_ids")
    ids = list(dict.fromkeys(value))
    if not ids:
        return ids
    owned = set(session.scalars(select(KnowledgeCollection.id).where(
        KnowledgeCollection.business_id == business_id,
        KnowledgeCollection.id.in_([i for i in ids if 0 < i < 2**31]))))
    missing = [i for i in ids if i not in owned]
    if missing:
        raise ValidationError(f"collection_ids: {missing[0]} is not a knowledge collection "
                              "of this business.", field="collection_ids")
    return ids


def _score(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise ValidationError("min_score must be a number from 0 to 1.", field="min_score")
    return float(value)


def _minutes(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) \
            or not INACTIVITY_MIN <= value <= INACTIVITY_MAX:
        raise ValidationError(f"inactivity_minutes must be a whole number from "
                              f"{INACTIVITY_MIN} to {INACTIVITY_MAX}.",
                              field="inactivity_minutes")
    return value


def _public_api(value: Any) -> bool:
    if not isinstance(value, dict) or set(value) - {"enabled"}:
        raise ValidationError("public_api must be an object {enabled}.", field="public_api")
    return _flag(value.get("enabled", False), "public_api.enabled")


def check_settings(session: Session, business_id: int, body: dict[str, Any]) -> dict[str, Any]:
    """Validate a partial PUT /bot; unknown fields are refused. Keys are the model's."""
    for field in body:
        if field not in FIELDS:
            raise ValidationError(f"Unknown field {field!r}.", field=field)
    checks = {
        "enabled": lambda: _flag(body["enabled"], "enabled"),
        "name": lambda: check_required_text(body, "name", NAME_MAX),
        "avatar_url": lambda: _avatar(body),
        "welcome_message": lambda: check_text(body, "welcome_message", TEXT_MAX) or "",
        "fallback_message": lambda: check_required_text(body, "fallback_message", TEXT_MAX),
        "handoff_message": lambda: check_required_text(body, "handoff_message", TEXT_MAX),
        "handoff_keywords": lambda: _keywords(body["handoff_keywords"]),
        "collection_ids": lambda: _collections(session, business_id, body["collection_ids"]),
        "min_score": lambda: _score(body["min_score"]),
        "inactivity_minutes": lambda: _minutes(body["inactivity_minutes"]),
        "public_api": lambda: _public_api(body["public_api"]),
    }
    out = {field: check() for field, check in checks.items() if field in body}
    if "public_api" in out:
        out["public_api_enabled"] = out.pop("public_api")
    return out


def settings_json(row: BotSettings) -> dict[str, Any]:
    """GET/PUT /bot: the settings with their id."""
    return {"id": row.id, "enabled": row.enabled, "name": row.name,
            "avatar_url": row.avatar_url, "welcome_message": row.welcome_message,
            "fallback_message": row.fallback_message, "handoff_message": row.handoff_message,
            "handoff_keywords": list(row.handoff_keywords),
            "collection_ids": list(row.collection_ids), "min_score": row.min_score,
            "inactivity_minutes": row.inactivity_minutes,
            "public_api": {"enabled": row.public_api_enabled}}


def get_settings(session: Session, business_id: int) -> BotSettings:
    """The business's bot settings, made with the defaults (bot off) on first use."""
    row = session.scalar(select(BotSettings).where(BotSettings.business_id == business_id))
    if row is None:
        now = utcnow()
        row = BotSettings(business_id=business_id, created_at=now, updated_at=now, **DEFAULTS)
        session.add(row)
        session.flush()
    return row


def do_update_settings(session: Session, business_id: int,
                       changes: dict[str, Any]) -> BotSettings:
    """Apply validated changes. Turning the bot off hands every conversation it holds to
    the team (pending ones turn open), since nobody would answer them otherwise."""
    row = get_settings(session, business_id)
    was_on = row.enabled
    for field, value in changes.items():
        setattr(row, field, value)
    row.updated_at = utcnow()
    session.flush()
    if was_on and not row.enabled:
        session.execute(update(Conversation).where(
            Conversation.business_id == business_id, Conversation.bot_active == true())
            .values(bot_active=False, status=case((Conversation.status == "pending", "open"),
                                                  else_=Conversation.status)))
    return row


# ---------- handoff keywords -------------------------------------------------------------


def _words(text: str) -> str:
    """Lower-case words, one space apart: "Talk to a  PERSON!" -> "talk to a person"."""
    return " ".join(re.findall(r"\w+", text.lower()))


def wants_human(text: str, keywords: list[str]) -> bool:
    """Whether the visitor asks for a person: a keyword as whole words, any case."""
    said = f" {_words(text)} "
    return any(f" {words} " in said for k in keywords if (words := _words(k)))


# ---------- jobs ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Work:
    """A claimed job and what answering it needs (read in the claim's transaction)."""

    job_id: int
    conversation_id: int
    business_id: int
    mode: str
    question: str
    name: str
    handoff_message: str
    keywords: list[str]
    collection_ids: list[int]
    min_score: float


@dataclass(frozen=True)
class Reply:
    """What the bot says: an answer with its sources, or (handoff) the handoff message."""

    text: str
    sources: list[dict[str, Any]]
    handoff: str | None = None  # why it hands off: "asked" | "no_answer"


def claim_due(session: Session, now: datetime, lease: timedelta) -> BotJob | None:
    """Lock the oldest due job that heads its conversation's queue, skipping rows another
    process holds (PostgreSQL), and lease it: not due again until now + lease."""
    heads = (select(func.min(BotJob.id)).where(BotJob.status == "pending")
             .group_by(BotJob.conversation_id))
    job = session.scalar(select(BotJob).where(
        BotJob.id.in_(heads), BotJob.status == "pending", BotJob.next_attempt_at <= now)
        .order_by(BotJob.next_attempt_at, BotJob.id).limit(1).with_for_update(skip_locked=True))
    if job is not None:
        job.next_attempt_at, job.attempts = now + lease, job.attempts + 1
    return job


def _holder(session: Session, conversation_id: int, *,
            lock: bool = False) -> tuple[Conversation, BotSettings] | None:
    """The conversation and its bot's settings while the bot (on) holds it, else None; with
    lock, the conversation row is locked (PostgreSQL) so an agent's reply waits or wins."""
    statement = (select(Conversation, BotSettings)
                 .join(BotSettings, BotSettings.business_id == Conversation.business_id)
                 .where(Conversation.id == conversation_id))
    if lock:
        statement = statement.with_for_update(of=Conversation)
    found = session.execute(statement).first()
    if found is None:
        return None
    conversation, settings = found
    held = settings.enabled and conversation.bot_active and conversation.status != "resolved"
    return (conversation, settings) if held else None


def _work(job_id: int, conversation_id: int, mode: str, question: str,
          settings: BotSettings) -> Work:
    return Work(job_id, conversation_id, settings.business_id, mode, question, settings.name,
                settings.handoff_message, list(settings.handoff_keywords),
                list(settings.collection_ids), settings.min_score)


def preview_work(session: Session, business_id: int, mode: str, question: str) -> Work:
    """A job for no conversation (ids 0): what the bot would do with this question now."""
    return _work(0, 0, mode, question, get_settings(session, business_id))


def _close(job: BotJob, outcome: str) -> None:
    job.status, job.outcome, job.done_at = "done", outcome, utcnow()


def start_job(session: Session, job: BotJob) -> Work | None:
    """Show the visitor the bot is typing and return the work; None (job closed as skipped)
    when the bot no longer holds the conversation."""
    holder = _holder(session, job.conversation_id)
    question = session.scalar(select(Message.content).where(Message.id == job.message_id))
    if holder is None or question is None:
        _close(job, "skipped")
        return None
    conversation, settings = holder
    emit(session, [conversation_topic(conversation.id)], "TypingStarted",
         {"conversation_id": conversation.id, "role": "bot", "name": settings.name,
          "sender": {"role": "bot", "name": settings.name}})
    return _work(job.id, conversation.id, conversation.mode, question, settings)


def finish_job(session: Session, work: Work, reply: Reply) -> str:
    """Say the reply (or hand off) and close the job, once: a job another process finished,
    or a conversation a human took meanwhile, changes nothing. Return the outcome."""
    outcome = "handoff" if reply.handoff else "answered"
    # the job turns done first: a second finisher's conditional UPDATE then matches nothing
    closed = session.execute(update(BotJob).where(BotJob.id == work.job_id,
                                                  BotJob.status == "pending")
                             .values(status="done", outcome=outcome, done_at=utcnow()))
    if not closed.rowcount:  # type: ignore[attr-defined]
        return "duplicate"
    if _holder(session, work.conversation_id, lock=True) is None:
        session.execute(update(BotJob).where(BotJob.id == work.job_id).values(outcome="skipped"))
        return "skipped"
    message = do_add_message(session, work.business_id, work.mode, work.conversation_id,
                             reply.text, direction="outbound", sender_role="bot",
                             sender_name=work.name, sources=reply.sources or None)
    session.execute(update(BotJob).where(BotJob.id == work.job_id)
                    .values(answer_message_id=message["id"]))
    if reply.handoff:
        _hand_off(session, work, reply.handoff, message["id"])
    say_offline(session, work.business_id, work.mode, work.conversation_id, work.name)
    return outcome


def say_offline(session: Session, business_id: int, mode: str, conversation_id: int,
                name: str) -> None:
    """Outside the business's hours, its offline_message from the bot, once per
    conversation: a conditional UPDATE of offline_notified_at claims it, so a second
    finisher (another process) matches nothing."""
    settings = availability.settings_for(session, business_id)
    now = utcnow()
    if not settings.offline_message or availability.status(settings, now).open:
        return
    claimed = session.execute(update(Conversation).where(
        Conversation.id == conversation_id, Conversation.offline_notified_at.is_(None))
        .values(offline_notified_at=now))
    if claimed.rowcount:  # type: ignore[attr-defined]
        do_add_message(session, business_id, mode, conversation_id, settings.offline_message,
                       direction="outbound", sender_role="bot", sender_name=name)


def _hand_off(session: Session, work: Work, reason: str, message_id: int) -> None:
    """Give the conversation to the team: open, unassigned, the bot silent from now on."""
    session.execute(update(Conversation).where(Conversation.id == work.conversation_id)
                    .values(bot_active=False))
    ticket = tickets.do_update_ticket(session, work.business_id, work.mode,
                                      work.conversation_id, {"status": "open"}, BOT_ACTOR)
    webhooks.enqueue(session, work.business_id, work.mode, "conversation.handoff",
                     {**ticket, "reason": reason, "message_id": message_id})


# ---------- inactivity --------------------------------------------------------------------

INACTIVE_MESSAGE = "This conversation was closed after {minutes} minutes without activity."


def do_sweep_inactive(session: Session, minute_seconds: float) -> int:
    """Resolve the conversations the bot holds that were quiet for their business's
    inactivity_minutes, each with a system message; each one by exactly one process (a
    conditional UPDATE claims it). Return how many this call resolved."""
    now = utcnow()
    candidates = session.execute(
        select(Conversation.id, Conversation.business_id, Conversation.mode,
               Conversation.updated_at, BotSettings.inactivity_minutes)
        .join(BotSettings, BotSettings.business_id == Conversation.business_id)
        .where(Conversation.bot_active == true(), Conversation.status != "resolved",
               BotSettings.enabled == true())).all()
    resolved = 0
    for row in candidates:
        cutoff = now - timedelta(seconds=row.inactivity_minutes * minute_seconds)
        if row.updated_at >= cutoff:
            continue
        claimed = session.execute(update(Conversation).where(
            Conversation.id == row.id, Conversation.bot_active == true(),
            Conversation.status != "resolved", Conversation.updated_at < cutoff)
            .values(bot_active=False))
        if not claimed.rowcount:  # type: ignore[attr-defined]
            continue
        do_add_message(session, row.business_id, row.mode, row.id,
                       INACTIVE_MESSAGE.format(minutes=row.inactivity_minutes),
                       direction="outbound", sender_role="system")
        tickets.do_update_ticket(session, row.business_id, row.mode, row.id,
                                 {"status": "resolved"}, BOT_ACTOR)
        resolved += 1
    return resolved
