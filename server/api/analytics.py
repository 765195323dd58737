"""Analytics: the visitor app's event batches (POST /api/v1/chat/events, the Tickki SDK's
TickkiAnalytics flush) and the team's list of them (GET /api/v1/analytics/events)."""

from __future__ import annotations

from flask import Blueprint, Response, g, request

from server.api.common import commit_ok, int_arg, json_body, ok
from server.auth import agent_api, visitor_key
from server.db import get_session
from server.models import MAX_ROW_ID
from server.services import analytics
from server.visitor_ids import check_visitor_id

bp = Blueprint("analytics", __name__, url_prefix="/api/v1")


@bp.post("/chat/events")
@visitor_key
def ingest() -> Response:
    body = json_body()
    visitor_id = check_visitor_id(body)
    events = analytics.check_batch(body)
    accepted = analytics.do_ingest(get_session(), g.api_key.business_id, g.api_key.mode,
                                   visitor_id, events)
    return commit_ok({"accepted": accepted}, 202)


@bp.get("/analytics/events")
@agent_api("contacts:read")
def list_events() -> Response:
    filters = analytics.check_filters(request.args.to_dict(),
                                      int_arg("contact_id", 0, 1, MAX_ROW_ID) or None)
    rows, next_cursor = analytics.list_events(get_session(), g.actor.business_id, g.actor.mode,
                                              filters, request.args.get("cursor") or None,
                                              int_arg("per_page", 25, 1, 100))
    return ok(rows, meta={"next_cursor": next_cursor})
