"""Agent / owner API: the answer bot's settings (server/services/bot.py)."""

from __future__ import annotations

from flask import Blueprint, Response, g

from server.api.common import commit_ok, json_body
from server.auth import agent_api
from server.db import get_session
from server.services import bot

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
