"""The website widget: its script at a stable and a versioned URL, and a demo page.

/widget/v1/chatdock.js is what embeds point at: short max-age, ETag revalidation, so a server
upgrade reaches every site within minutes. /widget/v1/<hash>/chatdock.js is the same bytes
under a content hash, cacheable for a year (and usable with Subresource Integrity). The files
are read once when the app is built; the CSS is inlined into the script (one request).
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import html
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import rcssmin
import rjsmin
from flask import Blueprint, Flask, Response, current_app, request

from server.api.chat import public_base
from server.db import get_session
from server.errors import NotFound
from server.security import parse_key
from server.services.keys import demo_key

log = logging.getLogger("chatdock")
bp = Blueprint("widget", __name__)

WIDGET_DIR = Path(__file__).resolve().parents[2] / "widget"
CSS_SLOT = '"__CHATDOCK_CSS__"'
STABLE_CACHE = "public, max-age=300, must-revalidate"
PINNED_CACHE = "public, max-age=31536000, immutable"


@dataclass(frozen=True)
class Script:
    """The assembled widget script, as served."""

    body: bytes
    gzipped: bytes
    digest: str  # sha256 prefix: the ETag and the versioned URL's segment
    integrity: str  # Subresource Integrity value for <script integrity=...>

    @property
    def etag(self) -> str:
        return f'"{self.digest}"'

    @property
    def pinned_path(self) -> str:
        return f"/widget/v1/{self.digest}/chatdock.js"


def build_script(folder: Path = WIDGET_DIR) -> Script:
    """Read chatdock.js and chatdock.css and assemble the served script."""
    js = (folder / "chatdock.js").read_text(encoding="utf-8")
    css = rcssmin.cssmin((folder / "chatdock.css").read_text(encoding="utf-8"))
    if CSS_SLOT not in js:
        raise RuntimeError(f"{folder / 'chatdock.js'} has no {CSS_SLOT} slot for the CSS")
    # served minified (whitespace and comments only, names kept): issue 6's 30 KB budget
    body = rjsmin.jsmin(js.replace(CSS_SLOT, json.dumps(css), 1)).encode("utf-8")
    integrity = "sha384-" + base64.b64encode(hashlib.sha384(body).digest()).decode()
    return Script(body, gzip.compress(body, 9, mtime=0), hashlib.sha256(body).hexdigest()[:16],
                  integrity)


@bp.record_once
def _load(state: object) -> None:
    app: Flask = state.app  # type: ignore[attr-defined]
    try:
        app.extensions["widget_script"] = build_script()
    except OSError as err:  # an install without the widget/ folder still serves the API
        log.warning("widget files not found (%s); /widget/ answers 404", err)
        app.extensions["widget_script"] = None


def _script() -> Script:
    script: Script | None = current_app.extensions["widget_script"]
    if script is None:
        raise NotFound("The widget files are not installed on this server.")
    return script


def _serve(script: Script, cache_control: str) -> Response:
    headers = {"ETag": script.etag, "Cache-Control": cache_control, "Vary": "Accept-Encoding",
               "X-Content-Type-Options": "nosniff",
               # a page may load it with crossorigin + integrity (SRI needs CORS)
               "Access-Control-Allow-Origin": "*",
               "Cross-Origin-Resource-Policy": "cross-origin",
               "Link": f'<{script.pinned_path}>; rel="canonical"'}
    if request.if_none_match.contains_weak(script.digest):
        return Response(status=304, headers=headers)
    body = script.body
    if request.accept_encodings["gzip"]:
        body = script.gzipped
        headers["Content-Encoding"] = "gzip"
    return Response(body, headers=headers, content_type="text/javascript; charset=utf-8")


@bp.get("/widget/v1/chatdock.js")
def stable_script() -> Response:
    """The URL to embed: revalidated every few minutes, so upgrades reach every site."""
    return _serve(_script(), STABLE_CACHE)


@bp.get("/widget/v1/<digest>/chatdock.js")
def pinned_script(digest: str) -> Response:
    """This exact build, cacheable forever; an older or unknown hash is a 404, never other
    bytes under a pinned name."""
    script = _script()
    if digest != script.digest:
        raise NotFound(f"This server serves widget build {script.digest}, not {digest[:40]}; "
                       "embed /widget/v1/chatdock.js to follow upgrades.")
    return _serve(script, PINNED_CACHE)


# ---------- demo page ---------------------------------------------------------------------


DEMO_STYLE = ("body{font:16px/1.5 system-ui,sans-serif;max-width:44rem;margin:2rem auto;"
              "padding:0 1rem;color:#111827}code,pre{background:#F3F4F6;border-radius:6px}"
              "pre{padding:.75rem;overflow-x:auto;white-space:pre-wrap;word-break:break-all}"
              ".warn{background:#FEF3C7;padding:.75rem;border-radius:6px}")


def _demo_html(base: str, key: str | None, problem: str | None, script: Script,
               start_open: bool = False) -> str:
    e = html.escape
    src, key_attr = e(f"{base}/widget/v1/chatdock.js"), e(key or "")
    if key:
        attrs = f'data-key="{key_attr}"' + (' data-open="true"' if start_open else "")
        snippet = f'<script src="{src}" {attrs} async></script>'
        pinned = (f'<script src="{e(base + script.pinned_path)}" integrity="{script.integrity}" '
                  f'crossorigin="anonymous" {attrs} async></script>')
        where = ("The chat panel starts open on this page (<code>data-open</code>); the "
                 "launcher at the bottom right closes and reopens it" if start_open else
                 "The chat launcher sits at the bottom right of this page")
        body = (f"<p>{where}. This page embeds it with:</p><pre><code>{e(snippet)}</code></pre>"
                f"<p>Pinned to this exact build (cached for a year, checked by the browser):</p>"
                f"<pre><code>{e(pinned)}</code></pre>"
                f'<p>Use another key: <code>/widget/demo?key=pk_test_…</code>; start with the '
                f'panel open: <code>/widget/demo?open=1</code>. '
                f'Docs: <code>docs/widget.md</code>.</p>{snippet}')
    else:
        body = ""
    if problem:
        body = f'<p class="warn">{e(problem)}</p>' + body
    return ("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
            "<link rel=\"icon\" href=\"data:,\">"
            f"<title>chatdock widget demo</title><style>{DEMO_STYLE}</style></head><body>"
            f"<h1>chatdock widget demo</h1>{body}</body></html>")


def _demo_csp(base: str) -> str:
    parts = urlsplit(base)
    socket = f"{'wss' if parts.scheme == 'https' else 'ws'}://{parts.netloc}"
    style_hash = base64.b64encode(hashlib.sha256(DEMO_STYLE.encode()).digest()).decode()
    # Scripts from this server only, nothing inline; the widget's own styles are a
    # constructed stylesheet, which style-src does not govern.
    return (f"default-src 'none'; script-src 'self' {base}; connect-src 'self' {base} {socket}; "
            f"style-src 'sha256-{style_hash}'; img-src http: https: data:; base-uri 'none'; "
            "form-action 'none'; frame-ancestors 'none'")


@bp.get("/widget/demo")
def demo() -> Response:
    """A page with the widget wired to the demo publishable key (or ?key=pk_...); ?open=1
    puts data-open on its snippet, so the panel starts open."""
    key = request.args.get("key", "").strip() or demo_key(get_session())
    problem = None
    if key and (parse_key(key) or ("",))[0] != "publishable":
        key, problem = None, "That is not a publishable key (pk_test_… or pk_live_…)."
    elif not key:
        problem = ("No demo key is recorded on this server (the demo business is created by "
                   "`chatdock serve` on an empty database). Open /widget/demo?key=pk_test_… "
                   "with a publishable key, e.g. from `chatdock keys create --business SLUG "
                   "--type publishable --mode test`.")
    base = public_base()
    headers = {"Content-Security-Policy": _demo_csp(base), "X-Content-Type-Options": "nosniff",
               "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer",
               "Cache-Control": "no-store"}
    start_open = request.args.get("open", "").lower() in ("1", "true", "yes")
    return Response(_demo_html(base, key, problem, _script(), start_open), headers=headers,
                    content_type="text/html; charset=utf-8")
