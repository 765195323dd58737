"""Rate limits: 429 rate_limited + Retry-After per key and address, shared through Redis."""

from __future__ import annotations

import secrets
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from server import create_app
from server.db import session_scope
from server.models import Message
from server.ratelimit import RateLimiter
from tests.conftest import auth, make_business
from tests.test_admin import PASSWORD, add_user, login
from tests.test_chat_api import CHAT, start
from tests.test_scaleout import redis_url  # noqa: F401  (fixture: fails in CI when Redis is down)

LIMIT = 5


def limited_app(tmp_path: Path, **extra: Any) -> Any:
    return create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'rl.db'}", "PUBLIC_URL": "",
                       "RATE_LIMIT_REQUESTS": LIMIT, "RATE_LIMIT_WINDOW_SECONDS": 60, **extra})


def from_ip(ip: str) -> dict[str, Any]:
    return {"environ_base": {"REMOTE_ADDR": ip}}


def messages(app: Any) -> int:
    with session_scope(app) as s:
        return int(s.scalar(select(func.count()).select_from(Message)) or 0)


def assert_limited(resp: Any) -> None:
    assert resp.status_code == 429, resp.get_data(as_text=True)
    assert resp.get_json() == {"error": "rate_limited", "message": resp.get_json()["message"]}
    assert 1 <= int(resp.headers["Retry-After"]) <= 60


def test_visitor_calls_limited_per_key_and_address(tmp_path: Path) -> None:
    app = limited_app(tmp_path)
    biz, client = make_business(app), app.test_client()
    sess = start(client, biz["pk"])  # request 1 of 5
    send = f"{CHAT}/sessions/{sess['conversation_id']}/messages"
    headers = auth(biz["pk"], sess["session_token"])
    for i in range(LIMIT - 1):
        assert client.post(send, json={"content": f"m{i}"}, headers=headers).status_code == 201
    before = messages(app)
    assert_limited(client.post(send, json={"content": "one too many"}, headers=headers))
    assert messages(app) == before  # the refused write changed nothing
    # another visitor address of the same key has its own allowance
    other = client.post(send, json={"content": "hi"}, headers=headers, **from_ip("10.0.0.7"))
    assert other.status_code == 201


def test_secret_key_has_its_own_bucket(tmp_path: Path) -> None:
    app = limited_app(tmp_path)
    biz, client = make_business(app), app.test_client()
    for _ in range(LIMIT):
        assert client.get(f"{CHAT}/config", headers=auth(biz["pk"])).status_code == 200
    assert_limited(client.get(f"{CHAT}/config", headers=auth(biz["pk"])))
    for _ in range(LIMIT):
        assert client.get("/api/v1/tickets", headers=auth(biz["sk"])).status_code == 200
    assert_limited(client.get("/api/v1/tickets", headers=auth(biz["sk"])))


def test_failed_key_guesses_are_capped_per_address(tmp_path: Path) -> None:
    app = limited_app(tmp_path)
    biz, client = make_business(app), app.test_client()
    wrong = biz["pk"][:-4] + "zzzz"
    for _ in range(LIMIT):
        assert client.get(f"{CHAT}/config", headers=auth(wrong)).status_code == 401
    assert_limited(client.get(f"{CHAT}/config", headers=auth(wrong)))
    # a right key from the same address is not refused for those failures
    assert client.get(f"{CHAT}/config", headers=auth(biz["pk"])).status_code == 200


def test_failed_logins_are_capped_per_address(tmp_path: Path) -> None:
    app = limited_app(tmp_path, LOGIN_FAILURES_PER_ADDRESS=LIMIT, LOGIN_FAILURE_WINDOW_SECONDS=60)
    biz, client = make_business(app), app.test_client()
    add_user(app, biz["id"], "ann@acme.test")
    for i in range(LIMIT):  # a different account each time: the per-account budget is not hit
        assert login(client, f"guess{i}@acme.test", "not-the-password").status_code == 401
    assert_limited(login(client, "ann@acme.test", PASSWORD))
    other = client.post("/api/v1/auth/login", json={"email": "ann@acme.test",
                                                    "password": PASSWORD},
                        **from_ip("10.0.0.9"))
    assert other.status_code == 200


def test_proxy_hops_make_the_forwarded_address_the_client(tmp_path: Path) -> None:
    app = limited_app(tmp_path, PROXY_HOPS=1)
    biz, client = make_business(app), app.test_client()
    for _ in range(LIMIT):
        client.get(f"{CHAT}/config", headers=auth(biz["pk"], **{"X-Forwarded-For": "203.0.113.1"}))
    assert_limited(client.get(f"{CHAT}/config",
                              headers=auth(biz["pk"], **{"X-Forwarded-For": "203.0.113.1"})))
    assert client.get(f"{CHAT}/config",
                      headers=auth(biz["pk"], **{"X-Forwarded-For": "203.0.113.2"})).status_code \
        == 200


def test_zero_turns_limits_off(tmp_path: Path) -> None:
    app = limited_app(tmp_path, RATE_LIMIT_REQUESTS=0)
    biz, client = make_business(app), app.test_client()
    for _ in range(3 * LIMIT):
        assert client.get(f"{CHAT}/config", headers=auth(biz["pk"])).status_code == 200


def test_window_rolls_and_retry_after_is_honest() -> None:
    limiter = RateLimiter(3, 1.0)
    assert [limiter.retry_after("b") for _ in range(3)] == [0, 0, 0]
    wait = limiter.retry_after("b")
    assert wait == 1
    time.sleep(2.05)  # two windows later the bucket is empty again
    assert [limiter.retry_after("b") for _ in range(3)] == [0, 0, 0]
    assert limiter.retry_after("b") > 0
    assert limiter.retry_after("other") == 0


def test_limits_are_shared_across_processes_through_redis(tmp_path: Path,
                                                          redis_url: str) -> None:  # noqa: F811
    # Two apps on one database and one Redis: two server processes of one deployment.
    shared = {"REDIS_URL": redis_url, "REALTIME_APP_KEY": f"rl{secrets.token_hex(6)}"}
    first = limited_app(tmp_path, **shared)
    second = limited_app(tmp_path, **shared)
    biz = make_business(first)
    for app in (first, second, first, second, first):
        assert app.test_client().get(f"{CHAT}/config", headers=auth(biz["pk"])).status_code == 200
    assert_limited(second.test_client().get(f"{CHAT}/config", headers=auth(biz["pk"])))
    assert_limited(first.test_client().get(f"{CHAT}/config", headers=auth(biz["pk"])))


def test_redis_down_fails_open(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    app = limited_app(tmp_path, REDIS_URL="redis://127.0.0.1:1/0")
    biz, client = make_business(app), app.test_client()
    for _ in range(LIMIT + 2):
        assert client.get(f"{CHAT}/config", headers=auth(biz["pk"])).status_code == 200
    assert "rate limit counters unavailable" in caplog.text
