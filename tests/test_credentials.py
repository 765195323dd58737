"""Credentials: keys as keyed digests (argon2 rows from 0.x rewritten on use), and failed
logins budgeted per account and per address without locking valid credentials out."""

from __future__ import annotations

import secrets
import statistics
import time
from pathlib import Path
from typing import Any

from server import create_app
from server.db import session_scope
from server.models import ApiKey
from server.security import hash_secret
from tests.conftest import agent_token, auth, make_business
from tests.test_admin import PASSWORD, add_user, login
from tests.test_chat_api import CHAT
from tests.test_ratelimit import assert_limited, from_ip
from tests.test_scaleout import redis_url  # noqa: F401  (fixture: fails in CI when Redis is down)

ATTACKER = "198.51.100.7"


def fresh_app(tmp_path: Path, **extra: Any) -> Any:
    return create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'cred.db'}", "PUBLIC_URL": "",
                       **extra})


def stored_hash(app: Any, key_id: int) -> str:
    with session_scope(app) as s:
        return s.get(ApiKey, key_id).key_hash  # type: ignore[union-attr]


def test_keys_are_stored_as_a_keyed_digest_not_argon2(tmp_path: Path) -> None:
    app = fresh_app(tmp_path)
    biz, client = make_business(app), app.test_client()
    assert stored_hash(app, biz["pk_id"]).startswith("hmac-sha256$")
    made = client.post("/api/v1/keys", json={"type": "secret"}, headers=auth(biz["sk"]))
    assert made.status_code == 201
    assert stored_hash(app, made.get_json()["data"]["id"]).startswith("hmac-sha256$")


def test_an_argon2_key_from_the_previous_release_works_and_is_rewritten(tmp_path: Path) -> None:
    app = fresh_app(tmp_path)
    biz, client = make_business(app), app.test_client()
    with session_scope(app) as s:  # the row as chatdock 0.x wrote it
        s.get(ApiKey, biz["pk_id"]).key_hash = hash_secret(biz["pk"])  # type: ignore[union-attr]
    assert stored_hash(app, biz["pk_id"]).startswith("$argon2")
    wrong = biz["pk"][:-4] + "zzzz"
    assert client.get(f"{CHAT}/config", headers=auth(wrong)).status_code == 401
    assert stored_hash(app, biz["pk_id"]).startswith("$argon2")  # a wrong key rewrites nothing
    assert client.get(f"{CHAT}/config", headers=auth(biz["pk"])).status_code == 200
    assert stored_hash(app, biz["pk_id"]).startswith("hmac-sha256$")
    assert client.get(f"{CHAT}/config", headers=auth(biz["pk"])).status_code == 200
    assert client.get(f"{CHAT}/config", headers=auth(wrong)).status_code == 401


def test_an_argon2_key_keeps_its_pre_check_until_rewritten(tmp_path: Path) -> None:
    app = fresh_app(tmp_path, RATE_LIMIT_REQUESTS=3)
    biz, client = make_business(app), app.test_client()
    with session_scope(app) as s:
        s.get(ApiKey, biz["pk_id"]).key_hash = hash_secret(biz["pk"])  # type: ignore[union-attr]
    wrong, here = biz["pk"][:-4] + "zzzz", from_ip(ATTACKER)
    codes = [client.get(f"{CHAT}/config", headers=auth(wrong), **here).status_code
             for _ in range(5)]
    assert codes == [401, 401, 401, 429, 429]  # over the budget: refused before argon2 runs
    assert client.get(f"{CHAT}/config", headers=auth(biz["pk"]), **here).status_code == 429
    assert client.get(f"{CHAT}/config", headers=auth(biz["pk"])).status_code == 200
    # rewritten: from now on the key is checked first, from any address
    assert client.get(f"{CHAT}/config", headers=auth(biz["pk"]), **here).status_code == 200


def _median_ms(client: Any, key: str) -> float:
    times = []
    for _ in range(15):
        start = time.perf_counter()
        assert client.get(f"{CHAT}/config", headers=auth(key)).status_code == 401
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def test_a_wrong_secret_after_a_real_prefix_is_refused_cheaply(tmp_path: Path) -> None:
    app = fresh_app(tmp_path)
    biz, client = make_business(app), app.test_client()
    real_prefix = biz["pk"][:-4] + "zzzz"
    unknown_prefix = biz["pk"][:8] + "Q" * (len(biz["pk"]) - 8)
    # argon2 took ~50-100 ms a guess after a real prefix (and ~1 ms after an unknown one)
    assert _median_ms(client, real_prefix) < 25
    assert _median_ms(client, unknown_prefix) < 25


def test_many_failed_logins_from_one_address_lock_no_valid_credential_out(
        tmp_path: Path) -> None:
    app = fresh_app(tmp_path, RATE_LIMIT_REQUESTS=20)
    biz, client = make_business(app), app.test_client()
    add_user(app, biz["id"], "victim@acme.test")
    add_user(app, biz["id"], "colleague@acme.test")
    token = agent_token(app, biz["id"])
    codes = [client.post("/api/v1/auth/login", json={"email": "victim@acme.test",
                                                      "password": f"guess-{i}"},
                         **from_ip(ATTACKER)).status_code for i in range(300)]
    assert codes[:10] == [401] * 10 and set(codes[10:]) == {429}  # the account's budget
    for _ in range(40):  # and wrong keys and forged tokens from the same address
        client.get("/api/v1/tickets", headers=auth(biz["sk"][:-4] + "zzzz"), **from_ip(ATTACKER))
        client.get("/api/v1/tickets", headers=auth("at_forged"), **from_ip(ATTACKER))
    assert_limited(client.get("/api/v1/tickets", headers=auth("at_forged"), **from_ip(ATTACKER)))

    here = from_ip(ATTACKER)
    assert client.get("/api/v1/tickets", headers=auth(biz["sk"]), **here).status_code == 200
    assert client.get("/api/v1/tickets", headers=auth(token), **here).status_code == 200
    assert client.get(f"{CHAT}/config", headers=auth(biz["pk"]), **here).status_code == 200
    colleague = client.post("/api/v1/auth/login", json={"email": "colleague@acme.test",
                                                        "password": PASSWORD}, **here)
    assert colleague.status_code == 200, colleague.get_json()
    # the guessed account itself stays capped, whatever the password, from any address
    again = client.post("/api/v1/auth/login", json={"email": "victim@acme.test",
                                                     "password": PASSWORD}, **here)
    assert again.status_code == 429 and again.get_json()["error"] == "rate_limited"


def test_the_account_budget_holds_across_addresses(tmp_path: Path) -> None:
    app = fresh_app(tmp_path)
    biz, client = make_business(app), app.test_client()
    add_user(app, biz["id"], "ann@acme.test")
    for i in range(10):  # one guess from each of ten addresses: no address budget is near
        resp = client.post("/api/v1/auth/login", json={"email": "ann@acme.test",
                                                        "password": "not-it"},
                           **from_ip(f"203.0.113.{i + 1}"))
        assert resp.status_code == 401
    fresh = from_ip("203.0.113.200")
    refused = client.post("/api/v1/auth/login", json={"email": "ann@acme.test",
                                                       "password": PASSWORD}, **fresh)
    assert refused.status_code == 429 and refused.get_json()["error"] == "rate_limited"
    # the 15-minute window, not a minute: the account's failures fill the current window,
    # so the wait runs to that window's end (which, near the end, can be under a minute)
    window = app.config["LOGIN_FAILURE_WINDOW_SECONDS"]
    assert window == 900
    assert abs(int(refused.headers["Retry-After"]) - (window - time.time() % window)) <= 2
    add_user(app, biz["id"], "bob@acme.test")
    assert login(client, "bob@acme.test").status_code == 200  # other accounts are unaffected


def test_login_budgets_are_shared_across_processes_through_redis(
        tmp_path: Path, redis_url: str) -> None:  # noqa: F811
    shared = {"REDIS_URL": redis_url, "REALTIME_APP_KEY": f"cred{secrets.token_hex(6)}",
              "LOGIN_FAILURES_PER_ACCOUNT": 2}
    first, second = fresh_app(tmp_path, **shared), fresh_app(tmp_path, **shared)
    biz = make_business(first)
    add_user(first, biz["id"], "ann@acme.test")
    assert login(first.test_client(), "ann@acme.test", "nope-1").status_code == 401
    assert login(second.test_client(), "ann@acme.test", "nope-2").status_code == 401
    assert login(first.test_client(), "ann@acme.test").status_code == 429
    assert login(second.test_client(), "ann@acme.test").status_code == 429
