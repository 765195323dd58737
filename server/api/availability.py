"""Agent / owner API: availability (business hours, shared by test and live like branding)."""

from __future__ import annotations

from flask import Blueprint, Response, g

from server.api.common import commit_ok, json_body, ok
from server.auth import agent_api
from server.db import get_session
from server.services import availability

bp = Blueprint("availability", __name__, url_prefix="/api/v1")


@bp.get("/availability")
@agent_api("tickets:read")
def get_availability() -> Response:
    business_id = g.actor.business_id
    settings = availability.get_availability(get_session(), business_id)
    return ok(availability.settings_json(business_id, settings))


@bp.put("/availability")
@agent_api("branding:write")
def put_availability() -> Response:
    changes = availability.check_availability(json_body())
    business_id = g.actor.business_id
    settings = availability.do_update_availability(get_session(), business_id, changes)
    return commit_ok(availability.settings_json(business_id, settings))
