"""The widget's server side: the script at its stable and versioned URLs, the demo page."""

from __future__ import annotations

import gzip
import html
import re
from typing import Any

import pytest

from server import cli
from server.api.widget import WIDGET_DIR, build_script
from server.db import session_scope
from server.models import Setting
from server.services.keys import DEMO_KEY_SETTING, demo_key, remember_demo_key

STABLE = "/widget/v1/chatdock.js"


def pinned_url(client: Any) -> str:
    link = client.get(STABLE).headers["Link"]
    match = re.fullmatch(r'<(/widget/v1/([0-9a-f]{16})/chatdock\.js)>; rel="canonical"', link)
    assert match, link
    return match.group(1)


def test_stable_url_serves_the_script_revalidated(client: Any) -> None:
    resp = client.get(STABLE)
    assert resp.status_code == 200
    assert resp.content_type == "text/javascript; charset=utf-8"
    assert resp.headers["Cache-Control"] == "public, max-age=300, must-revalidate"
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["Vary"] == "Accept-Encoding"
    assert re.fullmatch(r'"[0-9a-f]{16}"', resp.headers["ETag"])
    body = resp.get_data(as_text=True)
    assert "__CHATDOCK_CSS__" not in body  # the CSS is inlined: one request
    assert ":host{all:initial!important" in body  # minified by rcssmin
    again = client.get(STABLE, headers={"If-None-Match": resp.headers["ETag"]})
    assert again.status_code == 304 and again.data == b""
    assert again.headers["ETag"] == resp.headers["ETag"]
    stale = client.get(STABLE, headers={"If-None-Match": '"0000000000000000"'})
    assert stale.status_code == 200


def test_versioned_url_is_the_same_bytes_immutable(client: Any) -> None:
    stable = client.get(STABLE)
    resp = client.get(pinned_url(client))
    assert resp.status_code == 200 and resp.data == stable.data
    assert resp.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert resp.headers["ETag"] == stable.headers["ETag"]
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["Access-Control-Allow-Origin"] == "*"  # crossorigin + integrity work
    not_modified = client.get(pinned_url(client), headers={"If-None-Match": stable.headers["ETag"]})
    assert not_modified.status_code == 304


def test_an_unknown_version_is_a_404_not_other_bytes(client: Any) -> None:
    resp = client.get("/widget/v1/0123456789abcdef/chatdock.js")
    assert resp.status_code == 404 and resp.json["error"] == "not_found"
    assert "/widget/v1/chatdock.js" in resp.json["message"]


def test_gzip_when_accepted(client: Any) -> None:
    plain = client.get(STABLE)
    packed = client.get(STABLE, headers={"Accept-Encoding": "gzip, deflate, br"})
    assert packed.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(packed.data) == plain.data
    assert "Content-Encoding" not in plain.headers


def test_script_stays_small_and_never_uses_innerhtml() -> None:
    script = build_script()
    # docs/widget.md's budget: the served script is minified (rjsmin) and at most 30 KB
    assert len(script.body) <= 30 * 1024
    assert len(script.gzipped) <= 12 * 1024
    source = (WIDGET_DIR / "chatdock.js").read_text()
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in source, sink


def test_demo_page_embeds_the_recorded_demo_key(app: Any, client: Any, biz: dict) -> None:
    with session_scope(app) as session:
        remember_demo_key(session, biz["pk"])
    resp = client.get("/widget/demo")
    assert resp.status_code == 200 and resp.content_type == "text/html; charset=utf-8"
    page = resp.get_data(as_text=True)
    shown = html.unescape(page)  # the snippets shown as code
    base = "http://localhost"
    assert f'<script src="{base}/widget/v1/chatdock.js" data-key="{biz["pk"]}" async>' in page
    assert biz["sk"] not in page
    assert 'integrity="sha384-' in shown and pinned_url(client) in shown
    csp = resp.headers["Content-Security-Policy"]
    assert f"script-src 'self' {base};" in csp and "'unsafe-inline'" not in csp
    assert f"connect-src 'self' {base} ws://localhost;" in csp
    assert "frame-ancestors 'none'" in csp and "default-src 'none'" in csp
    assert "<script>" not in page  # no inline script at all
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["X-Frame-Options"] == "DENY"


def test_demo_page_without_a_recorded_key_explains_how(client: Any) -> None:
    page = client.get("/widget/demo").get_data(as_text=True)
    assert "/widget/demo?key=pk_test_" in page and "<script src" not in page


def test_demo_page_open_1_puts_data_open_on_the_snippet(client: Any, biz: dict) -> None:
    page = client.get(f"/widget/demo?key={biz['pk']}&open=1").get_data(as_text=True)
    assert f'data-key="{biz["pk"]}" data-open="true" async></script>' in page
    assert html.unescape(page).count('data-open="true"') == 3  # two snippets shown, one live
    assert "starts open" in page
    closed = client.get(f"/widget/demo?key={biz['pk']}").get_data(as_text=True)
    assert "data-open=" not in closed and "/widget/demo?open=1" in closed


def test_demo_page_takes_any_publishable_key(client: Any, biz: dict) -> None:
    page = client.get(f"/widget/demo?key={biz['pk']}").get_data(as_text=True)
    assert f'data-key="{biz["pk"]}"' in page


@pytest.mark.parametrize("key", ["sk_test_" + "a" * 32, '"><script>alert(1)</script>',
                                 "pk_test_short"])
def test_demo_page_refuses_anything_but_a_publishable_key(client: Any, biz: dict,
                                                          key: str) -> None:
    if key.startswith("sk_"):
        key = biz["sk"]
    page = client.get("/widget/demo", query_string={"key": key}).get_data(as_text=True)
    assert "not a publishable key" in page
    assert "<script src" not in page and key not in page


def test_only_publishable_keys_are_recorded(app: Any, biz: dict) -> None:
    with session_scope(app) as session, pytest.raises(ValueError):
        remember_demo_key(session, biz["sk"])


def test_serve_records_the_demo_publishable_key(app: Any, capsys: Any) -> None:
    cli._ensure_demo(app, "http://127.0.0.1:8000")
    banner = capsys.readouterr().out
    pk = next(line.split()[-1] for line in banner.splitlines() if "publishable key:" in line)
    assert "widget demo: http://127.0.0.1:8000/widget/demo" in banner
    with session_scope(app) as session:
        assert demo_key(session) == pk
        assert session.get(Setting, DEMO_KEY_SETTING).value.startswith("pk_test_")  # type: ignore[union-attr]
