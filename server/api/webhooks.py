"""Agent API: webhook endpoints, their delivery log, test events and retries
(/api/v1/webhooks), per business and mode."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, g

from server.api.common import (
    OK,
    commit_answer,
    commit_ok,
    idempotent,
    json_body,
    ok,
    ok_page,
    page_args,
)
from server.auth import agent_api
from server.db import get_session
from server.services import webhooks

bp = Blueprint("webhooks", __name__, url_prefix="/api/v1/webhooks")
ENDPOINT = "<int:endpoint_id>"
SCOPE = "webhooks:write"


def _allow_private() -> bool:
    return bool(current_app.config["WEBHOOK_ALLOW_PRIVATE"])


@bp.get("")
@agent_api(SCOPE)
def list_endpoints() -> Response:
    return ok(webhooks.list_endpoints(get_session(), g.actor.business_id, g.actor.mode))


@bp.post("")
@agent_api(SCOPE)
@idempotent
def create_endpoint() -> Response:
    new = webhooks.check_new(json_body(), _allow_private())
    return commit_ok(webhooks.do_create(get_session(), g.actor.business_id, g.actor.mode, new),
                     201)


@bp.get(f"/{ENDPOINT}")
@agent_api(SCOPE)
def get_endpoint(endpoint_id: int) -> Response:
    row = webhooks.find_endpoint(get_session(), g.actor.business_id, g.actor.mode, endpoint_id)
    return ok(webhooks.endpoint_json(row))


@bp.patch(f"/{ENDPOINT}")
@agent_api(SCOPE)
@idempotent
def update_endpoint(endpoint_id: int) -> Response:
    changes = webhooks.check_patch(json_body(), _allow_private())
    return commit_ok(webhooks.do_update(get_session(), g.actor.business_id, g.actor.mode,
                                        endpoint_id, changes))


@bp.delete(f"/{ENDPOINT}")
@agent_api(SCOPE)
def delete_endpoint(endpoint_id: int) -> Response:
    webhooks.do_delete(get_session(), g.actor.business_id, g.actor.mode, endpoint_id)
    return commit_answer(OK)


@bp.get(f"/{ENDPOINT}/deliveries")
@agent_api(SCOPE)
def list_deliveries(endpoint_id: int) -> Response:
    page, per_page = page_args()
    rows, total = webhooks.list_deliveries(get_session(), g.actor.business_id, g.actor.mode,
                                           endpoint_id, page, per_page)
    return ok_page(rows, total, page, per_page)


@bp.post(f"/{ENDPOINT}/test")
@agent_api(SCOPE)
@idempotent
def send_test(endpoint_id: int) -> Response:
    return commit_ok(webhooks.do_send_test(get_session(), g.actor.business_id, g.actor.mode,
                                           endpoint_id), 201)


@bp.post(f"/{ENDPOINT}/deliveries/<int:delivery_id>/retry")
@agent_api(SCOPE)
@idempotent
def retry_delivery(endpoint_id: int, delivery_id: int) -> Response:
    return commit_ok(webhooks.do_retry(get_session(), g.actor.business_id, g.actor.mode,
                                       endpoint_id, delivery_id))
