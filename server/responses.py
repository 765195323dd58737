"""The one serializer of JSON answers: success bodies and contract errors alike."""

from __future__ import annotations

import json
from typing import Any

from flask import Response, current_app


def json_response(body: dict[str, Any], status: int = 200,
                  headers: dict[str, str] | None = None) -> Response:
    """Serialize a JSON body with its status (and headers) as application/json."""
    return current_app.response_class(json.dumps(body), status=status, headers=headers,
                                      mimetype="application/json")
