"""Agent / owner API: agents (invite, list, log in, presence) and the business channel."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, Response, current_app, g
from itsdangerous import URLSafeTimedSerializer

from server.api.chat import public_base
from server.api.common import (
    OK,
    commit_answer,
    commit_ok,
    json_body,
    ok,
    ok_page,
    page_args,
    pusher_auth,
)
from server.auth import agent_api, login_guard
from server.channels import business_channel, business_channel_data
from server.db import get_session
from server.models import User
from server.services import agents
from server.validation import check_text

bp = Blueprint("agents", __name__, url_prefix="/api/v1")


def _invites() -> URLSafeTimedSerializer:
    return agents.invite_serializer(current_app.config["SECRET_KEY"])


def _realtime(business_id: int) -> dict[str, object]:
    """Where an agent's Pusher client connects (the login answer and GET /auth/me)."""
    base = urlsplit(public_base())
    scheme = base.scheme or "http"
    return {"key": current_app.config["REALTIME_APP_KEY"], "host": base.hostname,
            "port": base.port or (443 if scheme == "https" else 80),
            "scheme": scheme, "channel": business_channel(business_id),
            "auth_endpoint": public_base() + "/api/v1/broadcasting/auth"}


def _logged_in(user: User, mode: str) -> Response:
    """The login answer, plus where the agent's Pusher client connects."""
    data = agents.login_json(current_app.extensions["agent_tokens"], user, mode,
                             current_app.config["AGENT_TOKEN_HOURS"])
    data["business_id"] = user.business_id  # with agent, mode, realtime: GET /auth/me's answer
    data["realtime"] = _realtime(user.business_id)
    return commit_ok(data)


@bp.post("/agents")
@agent_api("agents:write")
def create_agent() -> Response:
    new = agents.check_new_agent(json_body())
    user = agents.do_create_agent(get_session(), g.actor.business_id, new)
    data = agents.agent_json(user)
    if new.password is None:
        data["invite_token"] = agents.invite_token(_invites(), user)
    return commit_ok(data, 201)


@bp.get("/agents")
@agent_api("tickets:read")
def list_agents() -> Response:
    page, per_page = page_args()
    rows, total = agents.list_agents(get_session(), g.actor.business_id, page, per_page)
    return ok_page([agents.agent_json(u) for u in rows], total, page, per_page)


@bp.post("/agents/heartbeat")
@agent_api("tickets:read")
def heartbeat() -> Response:
    agents.do_heartbeat(get_session(), g.actor.user_id)
    return commit_answer(OK)


@bp.delete("/agents/<int:agent_id>")
@agent_api("agents:write")
def deactivate_agent(agent_id: int) -> Response:
    session = get_session()
    user = agents.get_agent(session, g.actor.business_id, agent_id)
    return commit_ok(agents.agent_json(agents.do_deactivate_agent(session, user)))


@bp.post("/auth/logout")
@agent_api("tickets:read")
def logout() -> Response:
    agents.do_logout(get_session(), g.actor.user_id)
    return commit_answer(OK)


@bp.get("/auth/me")
@agent_api("tickets:read")
def me() -> Response:
    actor = g.actor
    user = (agents.get_agent(get_session(), actor.business_id, actor.user_id)
            if actor.user_id is not None else None)
    return ok({"agent": agents.agent_json(user) if user is not None else None,
               "mode": actor.mode, "business_id": actor.business_id,
               "realtime": _realtime(actor.business_id)})


@bp.post("/auth/login")
def login() -> Response:
    body = json_body()
    email = agents.check_email(body)
    password = agents.check_login_password(body)
    slug = check_text(body, "business", 80)
    mode = agents.check_mode(body)
    with login_guard(email):
        user = agents.authenticate(get_session(), email, password, slug)
    return _logged_in(user, mode)


@bp.post("/auth/accept-invite")
def accept_invite() -> Response:
    body = json_body()
    password = agents.check_password(body)
    mode = agents.check_mode(body)
    return _logged_in(agents.do_accept_invite(get_session(), _invites(), body.get("token"),
                                              password), mode)


@bp.post("/broadcasting/auth")
@agent_api("tickets:read")
def broadcasting_auth() -> Response:
    actor = g.actor
    return pusher_auth(business_channel(actor.business_id), business_channel_data(
        actor.business_id, actor.mode, actor.key_id, actor.user_id, actor.client_id))
