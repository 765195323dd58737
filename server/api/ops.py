"""Operator endpoints: GET /readyz (readiness) and GET /metrics (Prometheus text).

Neither takes an API key (SPEC "Deployment"): block /metrics at the proxy if the public must
not read it, or turn it off with METRICS_ENABLED = false.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify, request
from flask.blueprints import BlueprintSetupState

from server.errors import NotFound, Unavailable
from server.readiness import Readiness, failures

bp = Blueprint("ops", __name__)


@bp.record_once
def _set_up(state: BlueprintSetupState) -> None:
    state.app.extensions["readiness"] = Readiness(state.app)  # type: ignore[arg-type]


@bp.get("/readyz")
def readyz() -> Response:
    checks = current_app.extensions["readiness"].checks()
    failed = failures(checks)
    if failed:
        raise Unavailable(f"Not ready: {' and '.join(failed)} not reachable.", checks=checks)
    return jsonify(ok=True, checks=checks)


@bp.get("/metrics")
def metrics() -> Response:
    collected = current_app.extensions.get("metrics")
    if collected is None:
        raise NotFound("Metrics are turned off (METRICS_ENABLED = false).")
    body, content_type = collected.render(request.headers.get("Accept"))
    return Response(body, content_type=content_type)
