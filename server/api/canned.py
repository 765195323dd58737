"""Agent API: canned responses (/api/v1/canned-responses), per business."""

from __future__ import annotations

from flask import Blueprint, Response, g, request

from server.api.common import OK, commit_answer, commit_ok, idempotent, json_body, ok
from server.auth import agent_api
from server.db import get_session
from server.services import canned

bp = Blueprint("canned", __name__, url_prefix="/api/v1/canned-responses")
CANNED = "<int:canned_id>"


@bp.get("")
@agent_api("tickets:read")
def list_canned() -> Response:
    prefix = canned.check_prefix(request.args.get("q"))
    return ok(canned.list_canned(get_session(), g.actor.business_id, prefix))


@bp.post("")
@agent_api("tickets:write")
@idempotent
def create_canned() -> Response:
    new = canned.check_new(json_body())
    return commit_ok(canned.do_create(get_session(), g.actor.business_id, new), 201)


@bp.patch(f"/{CANNED}")
@agent_api("tickets:write")
@idempotent
def update_canned(canned_id: int) -> Response:
    changes = canned.check_patch(json_body())
    return commit_ok(canned.do_update(get_session(), g.actor.business_id, canned_id, changes))


@bp.delete(f"/{CANNED}")
@agent_api("tickets:write")
def delete_canned(canned_id: int) -> Response:
    canned.do_delete(get_session(), g.actor.business_id, canned_id)
    return commit_answer(OK)
