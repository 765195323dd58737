"""The visitor app's web page without a CDN: every script from its own origin.

`no_cdn=True` makes Flet serve CanvasKit and fonts from the flet-web wheel, but Flet 1.0's
compiled client still initialises its bundled Rive extension at start-up, which appends a
`<script>` from cdn.jsdelivr.net to every visitor's page. chatdock draws no Rive animation,
so the page gets a Content-Security-Policy that allows scripts (and workers) only from its
own origin: the browser refuses that request before it leaves the machine.

The policy rides in a `<meta>` of Flet's own `index.html`, copied at start from the installed
flet-web (never a committed copy, so a Flet patch release keeps its page) into a temporary
assets directory; Flet's static files take `index.html` from an app's `assets_dir` when it
has one, and still patch it (base href, websocket path, `no_cdn` settings) as usual.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

__all__ = ["SCRIPT_POLICY", "index_with_policy", "write_index"]

# 'unsafe-inline': Flet's page boots from inline <script>s (its config, written per start by
# Flet itself, so no hash can be fixed here). 'wasm-unsafe-eval': CanvasKit is WebAssembly.
# connect-src is not set: the page's websocket and fetches are Flet's own business.
SCRIPT_POLICY = ("script-src 'self' 'unsafe-inline' 'wasm-unsafe-eval'; "
                 "worker-src 'self' blob:")
HEAD = re.compile(r"<head(\s[^>]*)?>", re.IGNORECASE)


def index_with_policy(page: str, policy: str = SCRIPT_POLICY) -> str | None:
    """Flet's index.html with the policy as the first element of <head>; None without one."""
    head = HEAD.search(page)
    if head is None:
        return None
    meta = f'\n  <meta http-equiv="Content-Security-Policy" content="{policy}">'
    return page[:head.end()] + meta + page[head.end():]


def write_index(assets_dir: Path) -> bool:
    """Write the installed Flet's index.html, with the policy, into assets_dir."""
    from flet_web import get_package_web_dir

    page = index_with_policy((Path(get_package_web_dir()) / "index.html").read_text("utf-8"))
    if page is None:  # a Flet release that changed its page: serve it as it is, say so
        print("chatdock-chat: Flet's index.html has no <head>; serving it without the "
              "script policy (its Rive extension may load a script from a CDN)", file=sys.stderr)
        return False
    (assets_dir / "index.html").write_text(page, encoding="utf-8")
    return True
