"""Agent / owner API: identity verification (the secret is shown once, by the PUT that makes
it)."""

from __future__ import annotations

from flask import Blueprint, Response, g

from server.api.common import commit_ok, json_body, ok
from server.auth import agent_api
from server.db import get_session
from server.services import identity

bp = Blueprint("identity", __name__, url_prefix="/api/v1")


@bp.get("/identity")
@agent_api("keys:write")
def get_identity() -> Response:
    actor = g.actor
    setting = identity.get_setting(get_session(), actor.business_id, actor.mode)
    return ok(identity.identity_json(setting, actor.mode))


@bp.put("/identity")
@agent_api("keys:write")
def put_identity() -> Response:
    actor = g.actor
    changes = identity.check_settings(json_body())
    setting, secret = identity.do_set_identity(get_session(), actor.business_id, actor.mode,
                                               changes)
    response = commit_ok(identity.identity_json(setting, actor.mode, secret))
    response.headers["Cache-Control"] = "no-store"  # it may hold the secret
    return response
