"""GET /openapi.json (the API's OpenAPI 3.1 document) and /docs (that document, rendered).

Swagger UI's files come from the flask-swagger-ui package, which ships Swagger UI 5 (it renders
OpenAPI 3.1; swagger-ui-bundle's Swagger UI 4.15 does not), and this server serves them: no CDN.
The page is this module's, not that package's blueprint: the blueprint's page runs an inline
script and the standalone layout (a URL bar, a badge that calls an online validator); this one
loads script files only, so a strict Content-Security-Policy holds.
"""

from __future__ import annotations

import hashlib
from importlib.resources import files
from pathlib import Path

from flask import Blueprint, Response, current_app, request, send_from_directory

from server.errors import NotFound
from server.openapi import document_bytes

bp = Blueprint("docs", __name__)

SWAGGER_DIST = Path(str(files("flask_swagger_ui") / "dist"))
ASSETS = {"swagger-ui.css": "text/css",
          "swagger-ui-bundle.js": "text/javascript"}
DOCS_JS = b"""window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({url: "openapi.json", dom_id: "#swagger-ui", deepLinking: true,
    validatorUrl: null, presets: [SwaggerUIBundle.presets.apis], layout: "BaseLayout"});
});
"""
PAGE = ('<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        '<link rel="icon" href="data:,"><title>chatdock API</title>'
        '<link rel="stylesheet" href="docs/swagger-ui.css"></head>'
        '<body><noscript>The document: <a href="openapi.json">openapi.json</a>.</noscript>'
        '<div id="swagger-ui"></div><script src="docs/swagger-ui-bundle.js"></script>'
        '<script src="docs/docs.js"></script></body></html>')
# Swagger UI sets style attributes (hence 'unsafe-inline' for styles) and inlines its icons.
CSP = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
       "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; base-uri 'none'; "
       "form-action 'none'; frame-ancestors 'none'")


def _revalidated(body: bytes, etag: str, content_type: str) -> Response:
    """Answer body with its ETag, or 304 when the client holds it already."""
    headers = {"ETag": etag, "Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}
    if request.if_none_match.contains(etag.strip('"')):
        return Response(status=304, headers=headers)
    return Response(body, headers=headers, content_type=content_type)


@bp.get("/openapi.json")
def openapi() -> Response:
    """The OpenAPI 3.1 document of this server's routes."""
    if "openapi" not in current_app.extensions:
        current_app.extensions["openapi"] = document_bytes(current_app.config)
    body, etag = current_app.extensions["openapi"]
    return _revalidated(body, etag, "application/json")


@bp.get("/docs")
def docs() -> Response:
    """The document rendered by Swagger UI, from files this server serves."""
    return Response(PAGE, content_type="text/html; charset=utf-8",
                    headers={"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
                             "Referrer-Policy": "no-referrer", "Cache-Control": "no-cache"})


@bp.get("/docs/<asset>")
def docs_asset(asset: str) -> Response:
    """Swagger UI's stylesheet and script, and the page's own script."""
    if asset == "docs.js":
        etag = '"' + hashlib.sha256(DOCS_JS).hexdigest()[:32] + '"'
        return _revalidated(DOCS_JS, etag, "text/javascript; charset=utf-8")
    if asset not in ASSETS:
        raise NotFound("No such documentation file.")
    return send_from_directory(SWAGGER_DIST, asset, mimetype=ASSETS[asset], max_age=86400)
