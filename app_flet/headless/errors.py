"""The one exception tree of the client: every failure is raised as a ChatError subclass.

Codes mirror the server's `{"error": code, "message": ..., "field"?}` envelope
(server/errors.py and the SPEC's list); `error_from_response` is the one place that
turns an HTTP response into the right subclass.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

__all__ = [
    "AUTH_CODES", "AuthError", "ChatConnectionError", "ChatError", "ConflictError",
    "ForbiddenError", "NotFoundError", "PayloadTooLargeError", "ProtocolError",
    "RateLimitedError", "ServerError", "ValidationError", "error_from_response",
]

# A missing, wrong, revoked or refused credential: retrying the same call cannot help.
AUTH_CODES = frozenset({
    "missing_api_key", "wrong_key_type", "invalid_api_key", "missing_session_token",
    "invalid_session", "origin_not_allowed", "business_suspended", "identity_required",
    "invalid_identity",
})


class ChatError(Exception):
    """Base of every error the client raises; branch on `code`, log `message`."""

    default_code = "error"

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None,
                 field: str | None = None, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.status = status
        self.field = field
        self.retry_after = retry_after

    def __str__(self) -> str:
        status = f" [HTTP {self.status}]" if self.status is not None else ""
        field = f" (field {self.field})" if self.field else ""
        return f"{self.code}{status}: {self.message}{field}"

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(code={self.code!r}, status={self.status!r}, "
                f"message={self.message!r}, field={self.field!r})")

    @property
    def is_auth_error(self) -> bool:
        """True for a missing, invalid, revoked or refused credential."""
        return self.code in AUTH_CODES

    @property
    def is_rate_limited(self) -> bool:
        """True when the server asked us to slow down (see `retry_after`)."""
        return self.code == "rate_limited"


class AuthError(ChatError):
    """401, or any credential code (a 403 origin_not_allowed / business_suspended too)."""

    default_code = "invalid_api_key"


class ForbiddenError(ChatError):
    """403: the credential is valid but may not do this (e.g. another session's channel)."""

    default_code = "forbidden"


class NotFoundError(ChatError):
    """404: no such resource for this credential (other tenants' data looks absent)."""

    default_code = "not_found"


class ValidationError(ChatError):
    """400 (and 415): the input is invalid; `field` names the culprit when there is one."""

    default_code = "validation_error"


class ConflictError(ChatError):
    """409 / 422: e.g. an Idempotency-Key reused with a different request."""

    default_code = "idempotency_conflict"


class PayloadTooLargeError(ChatError):
    """413: the body or upload is larger than the server accepts."""

    default_code = "payload_too_large"


class RateLimitedError(ChatError):
    """429: slow down; `retry_after` (seconds) comes from the Retry-After header."""

    default_code = "rate_limited"


class ServerError(ChatError):
    """5xx: the server failed; the call may succeed later."""

    default_code = "internal_error"


class ChatConnectionError(ChatError):
    """The server could not be reached, or the connection failed mid-call (no HTTP status)."""

    default_code = "network_error"


class ProtocolError(ChatError):
    """The server answered something this client does not understand."""

    default_code = "protocol_error"


_BY_STATUS: dict[int, type[ChatError]] = {
    400: ValidationError, 401: AuthError, 403: ForbiddenError, 404: NotFoundError,
    409: ConflictError, 413: PayloadTooLargeError, 415: ValidationError, 422: ConflictError,
    429: RateLimitedError,
}


def error_class(status: int, code: str) -> type[ChatError]:
    """The subclass for an HTTP status and error code (credential codes win)."""
    if code in AUTH_CODES:
        return AuthError
    if status >= 500:
        return ServerError
    return _BY_STATUS.get(status, ChatError)


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _envelope(response: httpx.Response) -> dict[str, Any]:
    try:
        body = json.loads(response.content)
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def error_from_response(response: httpx.Response) -> ChatError:
    """Map a non-2xx response to the matching ChatError subclass."""
    body = _envelope(response)
    status = response.status_code
    raw_code = body.get("error")
    code = raw_code if isinstance(raw_code, str) else f"http_{status}"
    message = body.get("message")
    if not isinstance(message, str):
        message = response.reason_phrase or f"HTTP {status}"
    field = body.get("field") if isinstance(body.get("field"), str) else None
    cls = error_class(status, code)
    return cls(message, code=code, status=status, field=field,
               retry_after=parse_retry_after(response.headers.get("Retry-After")))
