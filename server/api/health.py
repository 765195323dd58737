"""GET /healthz: 200 when the database answers."""

from __future__ import annotations

from flask import Blueprint, Response, current_app
from sqlalchemy import text

from server.errors import ApiError

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> Response:
    try:
        with current_app.extensions["engine"].connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception:
        raise ApiError("The database is not reachable.", code="unavailable", status=503) from None
    return Response('{"ok": true}', mimetype="application/json")
