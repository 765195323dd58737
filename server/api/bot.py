"""Agent / owner API: the answer bot's settings and a preview of its answer
(server/services/bot.py)."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, g

from server import bot_worker
from server.api.common import commit_ok, json_body
from server.auth import agent_api
from server.db import get_session
from server.services import answerers, bot, knowledge
from server.validation import check_required_text

bp = Blueprint("bot", __name__, url_prefix="/api/v1")


@bp.get("/bot")
@agent_api("tickets:read")
def get_bot() -> Response:
    # the first read stores the defaults (the bot off): the settings always have an id
    return commit_ok(bot.settings_json(bot.get_settings(get_session(), g.actor.business_id)))


@bp.put("/bot")
@agent_api("bot:write")
def put_bot() -> Response:
    session = get_session()
    changes = bot.check_settings(session, g.actor.business_id, json_body())
    if changes.get("public_api_enabled"):  # TALKR conversations take this key's mode
        changes["public_api_mode"] = g.actor.mode
    return commit_ok(bot.settings_json(bot.do_update_settings(session, g.actor.business_id,
                                                              changes)))


@bp.post("/bot/preview")
@agent_api("tickets:read")
def preview_bot() -> Response:
    session = get_session()
    question = check_required_text(json_body(), "question", knowledge.QUERY_MAX)
    work = bot.preview_work(session, g.actor.business_id, g.actor.mode, question)
    reply, passages = bot_worker.preview(session, work,
                                         answerers.from_config(current_app.config))
    return commit_ok({"answer": reply.text, "sources": reply.sources, "handoff": reply.handoff,
                      "passages": [knowledge.passage_json(p) for p in passages]})
