"""Answer the bot's jobs: a background thread in every server process, beside the webhook
deliverer (server/webhook_worker.py starts both).

Each job is claimed with a lease (PostgreSQL: FOR UPDATE SKIP LOCKED) in a transaction that
also publishes the bot's TypingStarted and searches the knowledge; the answer is worded
(maybe over HTTP) outside any transaction; the answer or handoff commits
with the job's `done`. A process killed meanwhile leaves the job pending: another process,
or this one restarted, takes it when the lease ends, and it is answered once. The thread
sleeps on the outbox wake event, which a committed job sets: no poll delay in one process."""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta

from flask import Flask
from sqlalchemy.orm import Session

from server.db import session_scope
from server.models import utcnow
from server.services import bot, knowledge
from server.services.answerers import Answerer, from_config
from server.services.knowledge import Passage

log = logging.getLogger("chatdock.bot")
SEARCH_LIMIT = 5


def ranked(session: Session, work: bot.Work) -> list[Passage]:
    """The bot's collections' best passages for the question, whatever their score."""
    return knowledge.search(session, work.business_id, work.question,
                            collection_ids=work.collection_ids or None, limit=SEARCH_LIMIT)


def usable(work: bot.Work, found: list[Passage]) -> list[Passage]:
    """The passages scoring min_score (none when the visitor asks for a person)."""
    if bot.wants_human(work.question, work.keywords):
        return []
    return [p for p in found if p.score >= work.min_score]


def passages_for(session: Session, work: bot.Work) -> list[Passage]:
    """The knowledge passages the bot answers from (no search when a person is asked for)."""
    if bot.wants_human(work.question, work.keywords):
        return []
    return usable(work, ranked(session, work))


def preview(session: Session, work: bot.Work, answerer: Answerer
            ) -> tuple[bot.Reply, list[Passage]]:
    """What the bot would reply to work's question, and the ranked passages it searched;
    sends and stores nothing (POST /bot/preview)."""
    found = ranked(session, work)
    return reply_to(work, usable(work, found), answerer), found


def search_safely(session: Session, work: bot.Work) -> list[Passage] | None:
    """passages_for in a savepoint; None when it failed (the claim still commits)."""
    try:
        with session.begin_nested():
            return passages_for(session, work)
    except Exception:
        log.exception("knowledge search failed for conversation %s", work.conversation_id)
        return None


def decide(work: bot.Work, passages: list[Passage], answerer: Answerer) -> bot.Reply:
    """The handoff when the visitor asks for a person or no passage scored min_score, else
    the answerer's answer with its sources."""
    if not passages:
        asked = bot.wants_human(work.question, work.keywords)
        return bot.Reply(work.handoff_message, [], handoff="asked" if asked else "no_answer")
    answer = answerer.answer(work.question, passages)
    sources = list({p.document_id: {"document_id": p.document_id, "title": p.title}
                    for p in answer.sources}.values())
    return bot.Reply(answer.text, sources)


def answer_one(app: Flask, answerer: Answerer) -> bool:
    """Claim, answer and finish one due job; False when none was due."""
    lease = timedelta(seconds=app.config["BOT_LEASE_SECONDS"])
    # the claim (a lease, and TypingStarted on commit) and the search: one short transaction
    with session_scope(app) as session:
        job = bot.claim_due(session, utcnow(), lease)
        if job is None:
            return False
        work = bot.start_job(session, job)
        if work is None:
            return True
        passages = search_safely(session, work)
    reply = reply_to(work, passages, answerer)  # outside any transaction: an LLM may take seconds
    with session_scope(app) as session:
        bot.finish_job(session, work, reply)
    return True


def reply_to(work: bot.Work, passages: list[Passage] | None, answerer: Answerer) -> bot.Reply:
    """decide(), or the handoff when the search (None) or the answer failed; also the TALKR
    endpoint's answer, in its request (server/services/talkr.py)."""
    try:
        if passages is None:
            raise RuntimeError("the knowledge search failed")
        return decide(work, passages, answerer)
    except Exception:  # the visitor gets a person rather than silence
        log.exception("bot answer failed for conversation %s", work.conversation_id)
        return bot.Reply(work.handoff_message, [], handoff="error")


def sweep(app: Flask) -> None:
    """Resolve the bot's quiet conversations (inactivity_minutes)."""
    with session_scope(app) as session:
        bot.do_sweep_inactive(session, float(app.config["BOT_MINUTE_SECONDS"]))


def run(app: Flask, stop: threading.Event, round_max: int = 100) -> None:
    """Answer what is due, sweep when it is time, then sleep until woken (a new job) or
    WEBHOOK_POLL_SECONDS pass (jobs of other processes, ended leases); until stop is set."""
    answerer = from_config(app.config)
    wake: threading.Event = app.extensions["outbox_wake"]
    next_sweep = 0.0
    while not stop.is_set():
        wake.clear()  # before the round: a job committed during it wakes the next wait
        try:
            for _ in range(round_max):
                if stop.is_set() or not answer_one(app, answerer):
                    break
            if time.monotonic() >= next_sweep:
                next_sweep = time.monotonic() + float(app.config["BOT_SWEEP_SECONDS"])
                sweep(app)
        except Exception:
            log.exception("bot round failed")
        wake.wait(app.config["WEBHOOK_POLL_SECONDS"])


def start(app: Flask, stop: threading.Event) -> threading.Thread:
    """Start this process's bot thread (stopped by stop, and a wake to notice it)."""
    thread = threading.Thread(target=run, args=(app, stop), daemon=True, name="bot-worker")
    thread.start()
    return thread
