"""GET /healthz: 200 when the database answers."""

from __future__ import annotations

from flask import Blueprint, Response, current_app
from sqlalchemy import text

from server.api.common import OK
from server.errors import Unavailable
from server.responses import json_response

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> Response:
    try:
        with current_app.extensions["engine"].connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception:
        raise Unavailable("The database is not reachable.") from None
    return json_response(OK)
