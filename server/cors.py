"""CORS for the visitor API (/api/v1/chat/...) and TALKR's wire endpoint (/api/v1/talkr/...),
which web pages on any origin call.

Preflights are answered for every origin: a preflight carries no key, so it cannot know the
key's allow-list. The allow-list is enforced on the real request (server.auth:
403 origin_not_allowed), and that error, like every other, carries the CORS headers so the
widget can read it. No cookies are involved: credentials are never allowed.
"""

from __future__ import annotations

from flask import Flask, Response, request

PREFIX = "/api/v1/chat/"
TALKR_PREFIX = "/api/v1/talkr/"  # TALKR's wire endpoint: its web channel is called from pages
# Not X-Tickki-Bundle-Id: a browser request is judged by its Origin alone (server.auth), so
# no page may send a bundle id, whatever the key lists.
ALLOW_HEADERS = "Authorization, Content-Type, X-Tickki-Session, Idempotency-Key"
TALKR_ALLOW_HEADERS = "Content-Type, X-Talkr-Query"
ALLOW_METHODS = "GET, POST, OPTIONS"
EXPOSE_HEADERS = "ETag, Retry-After, X-Request-Id"
MAX_AGE = "7200"  # Chromium's cap; the answer does not depend on the key


def _applies() -> bool:
    return request.path.startswith((PREFIX, TALKR_PREFIX))


def _allowed_headers() -> str:
    return TALKR_ALLOW_HEADERS if request.path.startswith(TALKR_PREFIX) else ALLOW_HEADERS


def preflight() -> Response | None:
    """Answer a CORS preflight before routing, auth or limits see it."""
    if (request.method != "OPTIONS" or not _applies()
            or "Access-Control-Request-Method" not in request.headers):
        return None
    response = Response(status=204, headers={"Access-Control-Allow-Methods": ALLOW_METHODS,
                                             "Access-Control-Allow-Headers": _allowed_headers(),
                                             "Access-Control-Max-Age": MAX_AGE})
    del response.headers["Content-Type"]  # no body
    return response


def add_headers(response: Response) -> Response:
    """Let the calling page read every response of the visitor API, errors included."""
    if not _applies():
        return response
    response.vary.add("Origin")
    origin = request.headers.get("Origin")
    if origin:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Expose-Headers"] = EXPOSE_HEADERS
    return response


def init_app(app: Flask) -> None:
    """Register the hooks on the app (every response, including error handlers' ones)."""
    app.before_request(preflight)
    app.after_request(add_headers)
