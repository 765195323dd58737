"""Agent / owner API: keys (plaintext shown once; revocation is immediate)."""

from __future__ import annotations

from flask import Blueprint, Response, g

from server.api.common import commit_ok, json_body, ok_page, page_args
from server.auth import agent_api
from server.db import get_session
from server.services import keys

bp = Blueprint("keys", __name__, url_prefix="/api/v1")


@bp.post("/keys")
@agent_api("keys:write")
def create_key() -> Response:
    # Not @idempotent: a replay would have to store the plaintext. A retry mints a second
    # key, which the caller can revoke; nothing is lost or duplicated silently.
    actor = g.actor
    req = keys.check_key_request(json_body(), actor.mode)
    keys.check_may_manage(req.mode, actor.mode, actor.machine)
    key, plaintext = keys.do_mint_key(get_session(), actor.business_id, req, actor.scopes)
    return commit_ok({**keys.key_json(key), "key": plaintext}, 201)


@bp.get("/keys")
@agent_api("keys:write")
def list_keys() -> Response:
    page, per_page = page_args()
    rows, total = keys.business_keys(get_session(), g.actor.business_id, page, per_page)
    return ok_page([keys.key_json(k) for k in rows], total, page, per_page)


@bp.delete("/keys/<int:key_id>")
@agent_api("keys:write")
def revoke_key(key_id: int) -> Response:
    actor = g.actor
    session = get_session()
    key = keys.find_business_key(session, actor.business_id, key_id)
    keys.check_may_manage(key.mode, actor.mode, actor.machine)
    keys.do_revoke_key(session, key.id, actor.business_id)
    return commit_ok(keys.key_json(key))
