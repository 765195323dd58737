"""Agent / owner API: branding (business-wide; connected widgets repaint live)."""

from __future__ import annotations

from flask import Blueprint, Response, g

from server.api.common import commit_ok, json_body, ok
from server.auth import agent_api
from server.db import get_session
from server.services import branding

bp = Blueprint("branding", __name__, url_prefix="/api/v1")


@bp.get("/branding")
@agent_api("tickets:read")
def get_branding() -> Response:
    return ok(branding.branding_json(branding.get_branding(get_session(), g.actor.business_id)))


@bp.put("/branding")
@agent_api("branding:write")
def put_branding() -> Response:
    changes = branding.check_branding(json_body())
    business = branding.do_update_branding(get_session(), g.actor.business_id, changes)
    return commit_ok(branding.branding_json(business))
