"""TALKR's chatbot API, spoken by chatdock's bot: /api/v1/talkr/{business_slug}/{bot_id}/{channel}.

No API key: the business slug and bot id identify the bot (TALKR's rule), the bot's
public_api.enabled opens it, and each address is rate-limited. Errors carry TALKR's numeric
`code` beside chatdock's own `error`, `message` and `field`.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, request

from server.api.common import commit_answer, json_body
from server.db import get_session
from server.errors import ApiError, ValidationError
from server.ratelimit import client_address, enforce
from server.responses import json_response
from server.services import answerers, talkr

bp = Blueprint("talkr", __name__, url_prefix="/api/v1/talkr")


@bp.errorhandler(ApiError)
def talkr_error(err: ApiError) -> Response:
    """TALKR's error shape: chatdock's error body plus the HTTP status as `code`."""
    return json_response({"code": err.status, **err.body()}, err.status, err.headers)


def _telephony() -> dict[str, object]:
    config = current_app.config
    return {"language": config["TALKR_SPEECH_LANGUAGE"], "retries": config["TALKR_RETRIES"],
            "no_response_seconds": config["TALKR_NO_RESPONSE_SECONDS"]}


@bp.post("/<business_slug>/<int:bot_id>/<any(web, telephony):channel>")
def talk(business_slug: str, bot_id: int, channel: str) -> Response:
    enforce(f"talkr:{client_address()}", kind="visitor")
    session = get_session()
    endpoint = talkr.find_endpoint(session, business_slug, bot_id)
    if channel == "web" and request.headers.get("X-Talkr-Query", "").strip() != "1":
        raise ValidationError("The web channel takes the header X-Talkr-Query: 1.",
                              field="X-Talkr-Query")
    turn_in = talkr.check_turn(json_body(), current_app.config["MESSAGE_MAX_LENGTH"])
    if turn_in is None:
        token, turn = talkr.do_start(session, endpoint, channel)
    else:
        found = talkr.find_session(session, endpoint, channel, turn_in.session,
                                   current_app.config["TALKR_SESSION_IDLE_MINUTES"])
        turn = talkr.do_turn(session, endpoint, found, turn_in.text,
                             answerers.from_config(current_app.config))
        token = turn_in.session
    return commit_answer(talkr.wire_body(endpoint, channel, token, turn, _telephony()))
