"""The ApiError tree and the one place that turns any error into contract JSON."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from flask import Flask, Response
from gunicorn.http.errors import ParseException
from werkzeug.exceptions import HTTPException

from server.responses import json_response

log = logging.getLogger("chatdock")


class ApiError(Exception):
    """An error a client sees as {"error": code, "message": ..., "field"?: ...}.

    Every contract error is a named subclass below: raise it with a message (and the field
    it names); its class fixes the code and status.
    """

    status = 400
    code = "bad_request"
    message = "The request could not be processed."

    def __init__(self, message: str | None = None, *, field: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message or self.message)
        self.message = message or self.message
        self.field = field
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        """Return the JSON body of this error."""
        out: dict[str, Any] = {"error": self.code, "message": self.message}
        if self.field:
            out["field"] = self.field
        return out


class BadRequest(ApiError):
    message = "The request could not be understood."


class ValidationError(ApiError):
    code = "validation_error"


class InvalidJson(ValidationError):
    code = "invalid_json"
    message = "The body is not valid JSON."


class InvalidInvite(ApiError):
    code = "invalid_invite"
    message = "The invitation is not valid or was already used."


class InviteExpired(ApiError):
    code = "invite_expired"
    message = "The invitation has expired; ask for a new one."


class Unauthorized(ApiError):
    """A credential that is missing or wrong (failed_auth_guard counts these)."""

    status = 401
    code = "invalid_api_key"
    message = "The API key is not valid."


class MissingApiKey(Unauthorized):
    code = "missing_api_key"
    message = "Send your API key as Authorization: Bearer <key>."


class WrongKeyType(Unauthorized):
    code = "wrong_key_type"


class TokenExpired(Unauthorized):
    code = "token_expired"
    message = "The agent token has expired; log in again."


class TokenRevoked(Unauthorized):
    code = "token_revoked"
    message = "The agent token was revoked (logged out); log in again."


class InvalidCredentials(Unauthorized):
    code = "invalid_credentials"
    message = "The email or password is not right."


class InvalidClient(Unauthorized):
    """401 (RFC 6749 5.2): the OAuth2 client id or secret is wrong or missing."""

    code = "invalid_client"
    message = "The client id or secret is not right."


class InvalidOAuthRequest(ApiError):
    """400 (RFC 6749 5.2): a token request missing, repeating or garbling a parameter."""

    code = "invalid_request"
    message = "The token request is missing a parameter or is malformed."


class InvalidScope(ApiError):
    code = "invalid_scope"
    message = "The scope asked for is unknown or beyond the client's."


class UnsupportedGrantType(ApiError):
    code = "unsupported_grant_type"
    message = "Only grant_type=client_credentials is supported."


class UnauthorizedClient(ApiError):
    code = "unauthorized_client"
    message = "This client may not obtain tokens (its business is suspended)."


class MissingSessionToken(ApiError):
    status = 401
    code = "missing_session_token"
    message = "Send the session token as X-Tickki-Session."


class InvalidSession(ApiError):
    status = 401
    code = "invalid_session"
    message = "The session token is not valid."


class TalkrInvalidSession(InvalidSession):
    """400 (TALKR's status for it): a TALKR `session` that is unknown, forged or expired."""

    status = 400
    message = "The session is not valid or has expired; start again with {}."


class IdentityRequired(ApiError):
    """401: the business requires identity verification, or this visitor is verified."""

    status = 401
    code = "identity_required"
    message = "Start this chat with identity_hash and identity_ts."


class InvalidIdentity(ApiError):
    """401: identity_hash does not match, or identity_ts is too old."""

    status = 401
    code = "invalid_identity"
    message = "identity_hash does not match this visitor_id and identity_ts."


class Forbidden(ApiError):
    status = 403
    code = "forbidden"
    message = "This credential may not do that."


class InsufficientScope(Forbidden):
    code = "insufficient_scope"


class BusinessSuspended(Forbidden):
    code = "business_suspended"
    message = "This business is suspended."


class OriginNotAllowed(Forbidden):
    code = "origin_not_allowed"
    message = "This key is not allowed from this origin or app."


class NotFound(ApiError):
    status = 404
    code = "not_found"
    message = "Not found."


class MethodNotAllowed(ApiError):
    status = 405
    code = "method_not_allowed"
    message = "This endpoint does not accept that method."


class MalformedBody(BadRequest):
    code = "malformed_body"
    message = "The request body could not be read (bad chunked encoding)."


class UriTooLong(ApiError):
    status = 414
    code = "uri_too_long"
    message = "The request line is too long."


class HeadersTooLarge(ApiError):
    status = 431
    code = "headers_too_large"
    message = "The request headers are too many or too large."


class NotImplementedHere(ApiError):
    status = 501
    code = "not_implemented"
    message = "This server does not implement that (e.g. the transfer coding)."


class PayloadTooLarge(ApiError):
    status = 413
    code = "payload_too_large"
    message = "The request body is too large."


class UnsupportedMediaType(ApiError):
    status = 415
    code = "unsupported_media_type"
    message = "That content type is not accepted here."


class Conflict(ApiError):
    """409: the write collides with what is stored (e.g. a canned response's shortcut)."""

    status = 409
    code = "conflict"
    message = "This conflicts with something that already exists."


class IdempotencyConflict(Conflict):
    """422 (the contract's one use of 422): the key was used with another request."""

    status = 422
    code = "idempotency_conflict"
    message = "This Idempotency-Key was used with a different request."


class RateLimited(ApiError):
    status = 429
    code = "rate_limited"
    message = "Too many requests; retry after the number of seconds in Retry-After."


class InternalError(ApiError):
    status = 500
    code = "internal_error"
    message = "Something went wrong on our side."


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


class HttpError(ApiError):
    """A Werkzeug HTTP error the contract has no name for: its own status and description."""

    code = "http_error"

    def __init__(self, exc: HTTPException) -> None:
        super().__init__(exc.description or "HTTP error.")
        self.status = exc.code or 500


# Werkzeug's routing and body errors, in the contract's words.
_HTTP_ERRORS: dict[int, Callable[[], ApiError]] = {
    400: BadRequest,
    404: lambda: NotFound("No such endpoint."),
    405: MethodNotAllowed,
    413: PayloadTooLarge,
    415: UnsupportedMediaType,
    429: lambda: RateLimited("Too many requests."),
}


def error_response(err: ApiError) -> Response:
    """Serialize an ApiError with its status and headers."""
    return json_response(err.body(), err.status, err.headers)


def _from_http(exc: HTTPException) -> Response:
    known = _HTTP_ERRORS.get(exc.code or 500)
    resp = error_response(known() if known else HttpError(exc))
    if exc.code == 405 and exc.get_response().headers.get("Allow"):
        resp.headers["Allow"] = exc.get_response().headers["Allow"]
    return resp


def _unexpected(exc: Exception) -> Response:
    log.exception("unhandled error", exc_info=exc)
    return error_response(InternalError())


# What gunicorn itself answers before (or instead of) the app, by status (server.serve).
SERVER_ERRORS: dict[int, type[ApiError]] = {
    400: BadRequest, 403: Forbidden, 414: UriTooLong, 431: HeadersTooLarge,
    500: InternalError, 501: NotImplementedHere,
}


def server_error_body(status: int) -> dict[str, Any]:
    """The contract body of an answer the HTTP server writes itself (no app involved)."""
    known = SERVER_ERRORS.get(status)
    return known().body() if known else {"error": "http_error", "message": "HTTP error."}


def _malformed_body(_exc: Exception) -> Response:
    return error_response(MalformedBody())


def register_error_handlers(app: Flask) -> None:
    """Install the handlers on the app (blueprint handlers miss routing 404/405)."""
    app.register_error_handler(ApiError, error_response)
    # gunicorn reads a chunked body lazily: a bad chunk surfaces in the view reading it
    app.register_error_handler(ParseException, _malformed_body)
    app.register_error_handler(HTTPException, _from_http)
    app.register_error_handler(Exception, _unexpected)
