"""The ApiError tree and the one place that turns any error into contract JSON."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, jsonify
from werkzeug.exceptions import HTTPException

log = logging.getLogger("chatdock")


class ApiError(Exception):
    """An error a client sees as {"error": code, "message": ..., "field"?: ...}."""

    status = 400
    code = "bad_request"
    message = "The request could not be processed."

    def __init__(self, message: str | None = None, *, field: str | None = None,
                 code: str | None = None, status: int | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message or self.message)
        self.message = message or self.message
        self.field = field
        self.code = code or self.code
        self.status = status or self.status
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        """Return the JSON body of this error."""
        out: dict[str, Any] = {"error": self.code, "message": self.message}
        if self.field:
            out["field"] = self.field
        return out


class ValidationError(ApiError):
    code = "validation_error"


class Unauthorized(ApiError):
    status = 401
    code = "invalid_api_key"
    message = "The API key is not valid."


class Forbidden(ApiError):
    status = 403
    code = "forbidden"
    message = "This credential may not do that."


class NotFound(ApiError):
    status = 404
    code = "not_found"
    message = "Not found."


class Conflict(ApiError):
    status = 422
    code = "idempotency_conflict"
    message = "This Idempotency-Key was used with a different request."


class Unavailable(ApiError):
    """503: a dependency (database, Redis) does not answer; `checks` says which."""

    status = 503
    code = "unavailable"
    message = "A service this server depends on is not reachable."

    def __init__(self, message: str | None = None, *,
                 checks: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.checks = checks

    def body(self) -> dict[str, Any]:
        out = super().body()
        if self.checks is not None:
            out["checks"] = self.checks
        return out


# Werkzeug's routing and body errors, in the contract's words.
_HTTP_CODES = {
    400: ("bad_request", "The request could not be understood."),
    404: ("not_found", "No such endpoint."),
    405: ("method_not_allowed", "This endpoint does not accept that method."),
    413: ("payload_too_large", "The request body is too large."),
    415: ("unsupported_media_type", "That content type is not accepted here."),
    429: ("rate_limited", "Too many requests."),
}


def error_response(err: ApiError) -> Response:
    """Serialize an ApiError with its status and headers."""
    resp = jsonify(err.body())
    resp.status_code = err.status
    resp.headers.update(err.headers)
    return resp


def _from_http(exc: HTTPException) -> Response:
    status = exc.code or 500
    code, message = _HTTP_CODES.get(status, ("http_error", exc.description or "HTTP error."))
    resp = error_response(ApiError(message, code=code, status=status))
    if status == 405 and exc.get_response().headers.get("Allow"):
        resp.headers["Allow"] = exc.get_response().headers["Allow"]
    return resp


def _unexpected(exc: Exception) -> Response:
    log.exception("unhandled error", exc_info=exc)
    return error_response(ApiError("Something went wrong on our side.",
                                   code="internal_error", status=500))


def register_error_handlers(app: Flask) -> None:
    """Install the handlers on the app (blueprint handlers miss routing 404/405)."""
    app.register_error_handler(ApiError, error_response)
    app.register_error_handler(HTTPException, _from_http)
    app.register_error_handler(Exception, _unexpected)
