"""CORS on the visitor API: preflights for any origin, headers on every answer (errors too)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from server import create_app
from tests.conftest import auth, make_business, start_visitor

ORIGIN = "https://shop.example"
ALLOWED_HEADERS = {"authorization", "content-type", "x-tickki-session", "idempotency-key"}


def cors_ok(resp: Any, origin: str = ORIGIN) -> None:
    assert resp.headers["Access-Control-Allow-Origin"] == origin
    assert "Origin" in resp.headers["Vary"]
    assert "Retry-After" in resp.headers["Access-Control-Expose-Headers"]
    assert "Access-Control-Allow-Credentials" not in resp.headers


@pytest.mark.parametrize("path, method", [
    ("/api/v1/chat/config", "GET"), ("/api/v1/chat/sessions", "POST"),
    ("/api/v1/chat/sessions/1/messages", "POST"), ("/api/v1/chat/broadcasting/auth", "POST"),
])
def test_preflight(client: Any, path: str, method: str) -> None:
    resp = client.options(path, headers={
        "Origin": ORIGIN, "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": "authorization,content-type,x-tickki-session"})
    assert resp.status_code == 204 and resp.data == b""
    cors_ok(resp)
    allowed = {h.strip().lower() for h in resp.headers["Access-Control-Allow-Headers"].split(",")}
    assert allowed == ALLOWED_HEADERS
    assert method in resp.headers["Access-Control-Allow-Methods"]
    assert int(resp.headers["Access-Control-Max-Age"]) > 0


def test_success_carries_cors_headers(client: Any, biz: dict) -> None:
    resp = client.get("/api/v1/chat/config",
                      headers=auth(biz["pk"], Origin=ORIGIN))
    assert resp.status_code == 200
    cors_ok(resp)
    assert "ETag" in resp.headers["Access-Control-Expose-Headers"]


@pytest.mark.parametrize("headers, status, code", [
    ({}, 401, "missing_api_key"),
    ({"Authorization": "Bearer pk_test_" + "x" * 32}, 401, "invalid_api_key"),
])
def test_auth_errors_carry_cors_headers(client: Any, headers: dict, status: int,
                                        code: str) -> None:
    resp = client.get("/api/v1/chat/config", headers={"Origin": ORIGIN, **headers})
    assert resp.status_code == status and resp.json["error"] == code
    cors_ok(resp)


def test_origin_not_allowed_is_readable_by_the_page(app: Any, client: Any) -> None:
    keys = make_business(app, "Allowlisted", origins=["https://allowed.example"])
    resp = client.get("/api/v1/chat/config", headers=auth(keys["pk"], Origin=ORIGIN))
    assert resp.status_code == 403 and resp.json["error"] == "origin_not_allowed"
    cors_ok(resp)
    good = client.get("/api/v1/chat/config",
                      headers=auth(keys["pk"], Origin="https://allowed.example"))
    assert good.status_code == 200
    cors_ok(good, "https://allowed.example")


def test_other_errors_carry_cors_headers(client: Any, biz: dict) -> None:
    pk = auth(biz["pk"], Origin=ORIGIN)
    unknown = client.get("/api/v1/chat/nope", headers=pk)
    assert unknown.status_code == 404
    cors_ok(unknown)
    wrong_method = client.delete("/api/v1/chat/config", headers=pk)
    assert wrong_method.status_code == 405
    cors_ok(wrong_method)
    invalid = client.post("/api/v1/chat/sessions", json={}, headers=pk)
    assert invalid.status_code == 400 and invalid.json["field"] == "visitor_id"
    cors_ok(invalid)


def test_rate_limited_answer_carries_cors_headers(tmp_path: Any) -> None:
    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'rl.db'}", "PUBLIC_URL": "",
                      "RATE_LIMIT_REQUESTS": 3})
    keys = make_business(app)
    client = app.test_client()
    headers = auth(keys["pk"], Origin=ORIGIN)
    answers = [client.get("/api/v1/chat/config", headers=headers) for _ in range(10)]
    limited = [r for r in answers if r.status_code == 429]
    assert limited, [r.status_code for r in answers]
    assert json.loads(limited[0].data)["error"] == "rate_limited"
    assert limited[0].headers["Retry-After"]
    cors_ok(limited[0])


def test_session_calls_carry_cors_headers(app: Any, live: str, client: Any, biz: dict) -> None:
    visitor = start_visitor(live, biz["pk"])
    resp = client.get(f"/api/v1/chat/sessions/{visitor['conversation_id']}/messages",
                      headers=auth(biz["pk"], visitor["session_token"], Origin=ORIGIN))
    assert resp.status_code == 200
    cors_ok(resp)


def test_no_origin_no_allow_origin(client: Any, biz: dict) -> None:
    resp = client.get("/api/v1/chat/config", headers=auth(biz["pk"]))
    assert resp.status_code == 200 and "Access-Control-Allow-Origin" not in resp.headers
    assert "Origin" in resp.headers["Vary"]  # caches must not reuse it for a page


def test_agent_api_and_widget_page_are_not_cors_enabled(client: Any) -> None:
    resp = client.options("/api/v1/tickets", headers={
        "Origin": ORIGIN, "Access-Control-Request-Method": "GET"})
    assert "Access-Control-Allow-Origin" not in resp.headers
    assert "Access-Control-Allow-Origin" not in client.get(
        "/api/v1/tickets", headers={"Origin": ORIGIN}).headers


def test_same_origin_get_without_origin_header_is_allowed(app: Any, client: Any) -> None:
    # Browsers send no Origin on a same-origin GET, only Sec-Fetch-Site: a key allow-listing
    # the chat server's own origin (its demo page) must still work there.
    keys = make_business(app, "SelfHosted", origins=["http://localhost"])
    same = client.get("/api/v1/chat/config",
                      headers=auth(keys["pk"], **{"Sec-Fetch-Site": "same-origin"}))
    assert same.status_code == 200, same.get_data(as_text=True)
    # a cross-site page that hides its Origin gains nothing
    other = client.get("/api/v1/chat/config",
                       headers=auth(keys["pk"], **{"Sec-Fetch-Site": "cross-site"}))
    assert other.status_code == 403 and other.json["error"] == "origin_not_allowed"


def test_preflight_never_allows_the_bundle_id_header(app: Any, client: Any) -> None:
    """A preflight carries no key, so it cannot know whether the key lists the origin: the
    bundle-id header, which would stand in for the origin, is allowed for none."""
    make_business(app, "Shop", origins=[ORIGIN], bundle_ids=["com.shop.app"])
    resp = client.options("/api/v1/chat/config", headers={
        "Origin": "https://evil.test", "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "authorization,x-tickki-bundle-id"})
    allowed = {h.strip().lower() for h in resp.headers["Access-Control-Allow-Headers"].split(",")}
    assert "x-tickki-bundle-id" not in allowed
