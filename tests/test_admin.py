"""Keys, branding, agents (login, invitations, presence) and the business channel."""

from __future__ import annotations

import time
import types
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import itsdangerous.timed
import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from server.db import session_scope
from server.models import ApiKey, Business, User
from server.security import verify_key, verify_secret
from server.services.keys import SCOPES, do_create_key
from tests.conftest import ServedProcess, agent_token, auth, make_business, start_visitor
from tests.pusher import PusherTestClient
from tests.test_served import PusherJs

API = "/api/v1"
PASSWORD = "correct horse battery"


def body(resp: Any) -> Any:
    return resp.get_json()


def set_password(app: Any, business_id: int, email: str, password: str | None,
                 hasher: PasswordHasher | None = None) -> None:
    with session_scope(app) as s:
        user = s.scalar(select(User).where(User.business_id == business_id, User.email == email))
        user.password_hash = (hasher or PasswordHasher()).hash(password) if password else None


ANN = "ann@acme.test"  # the agent of Acme most tests add


def add_user(app: Any, business_id: int, email: str = ANN, role: str = "agent",
             password: str | None = PASSWORD) -> int:
    with session_scope(app) as s:
        user = User(business_id=business_id, email=email, name=email.split("@")[0], role=role,
                    password_hash=PasswordHasher().hash(password) if password else None)
        s.add(user)
        s.flush()
        return user.id


def login(client: Any, email: str, password: str = PASSWORD, **extra: Any) -> Any:
    return client.post(f"{API}/auth/login", json={"email": email, "password": password, **extra})


def create_key(client: Any, credential: str, **fields: Any) -> Any:
    return client.post(f"{API}/keys", json=fields, headers=auth(credential))


def config(client: Any, pk: str, etag: str | None = None) -> Any:
    headers = auth(pk, **({"If-None-Match": etag} if etag else {}))
    return client.get(f"{API}/chat/config", headers=headers)


# ---------- keys ----------------------------------------------------------------------------


def test_created_key_shows_its_plaintext_once(client: Any, app: Any,
                                              biz: dict[str, Any]) -> None:
    resp = create_key(client, biz["sk"], type="secret", mode="test", name="CI",
                      scopes=["tickets:read"])
    assert resp.status_code == 201, resp.get_data(as_text=True)
    data = body(resp)["data"]
    plaintext = data["key"]
    assert plaintext.startswith("sk_test_") and plaintext.startswith(data["prefix"])
    assert (data["type"], data["mode"], data["name"], data["scopes"]) == (
        "secret", "test", "CI", ["tickets:read"])
    assert data["revoked_at"] is None and data["last_used_at"] is None
    with session_scope(app) as s:
        row = s.get(ApiKey, data["id"])
        assert row.key_hash != plaintext and verify_key(row.key_hash, plaintext)
    listed = client.get(f"{API}/keys", headers=auth(biz["sk"]))
    assert listed.status_code == 200
    text = listed.get_data(as_text=True)
    assert plaintext not in text and "key_hash" not in text and '"key"' not in text
    rows = body(listed)["data"]
    assert [r["id"] for r in rows] == [data["id"], biz["sk_id"], biz["pk_id"]]  # newest first
    assert set(rows[0]) >= {"prefix", "type", "mode", "name", "scopes", "origins",
                            "created_at", "last_used_at", "revoked_at"}
    assert body(listed)["meta"] == {"total": 3, "page": 1, "per_page": 25}


def test_new_key_is_usable_within_its_scopes(client: Any, biz: dict[str, Any]) -> None:
    key = body(create_key(client, biz["sk"], type="secret", scopes=["tickets:read"]))["data"]
    assert client.get(f"{API}/branding", headers=auth(key["key"])).status_code == 200
    refused = client.put(f"{API}/branding", json={"name": "X"}, headers=auth(key["key"]))
    assert refused.status_code == 403 and body(refused)["error"] == "insufficient_scope"


def test_keys_of_both_modes_are_listed(client: Any, app: Any, biz: dict[str, Any]) -> None:
    token = agent_token(app, biz["id"], user_id=biz["owner_id"])
    live = create_key(client, token, type="publishable", mode="live",
                      origins=["https://Shop.example/"], bundle_ids=["com.shop.app"])
    assert live.status_code == 201
    data = body(live)["data"]
    assert data["key"].startswith("pk_live_") and data["scopes"] == []
    assert data["origins"] == ["https://shop.example"] and data["bundle_ids"] == ["com.shop.app"]
    modes = {r["mode"] for r in body(client.get(f"{API}/keys", headers=auth(biz["sk"])))["data"]}
    assert modes == {"test", "live"}


def test_secret_key_defaults_to_every_scope(client: Any, biz: dict[str, Any]) -> None:
    data = body(create_key(client, biz["sk"], type="secret"))["data"]
    assert data["scopes"] == list(SCOPES) and data["mode"] == "test"


@pytest.mark.parametrize("fields,field", [
    ({}, "type"),
    ({"type": "admin"}, "type"),
    ({"type": "secret", "mode": "prod"}, "mode"),
    ({"type": "secret", "scopes": ["tickets:burn"]}, "scopes"),
    ({"type": "secret", "scopes": "tickets:read"}, "scopes"),
    ({"type": "secret", "scopes": []}, "scopes"),
    ({"type": "publishable", "scopes": ["tickets:read"]}, "scopes"),
    ({"type": "secret", "origins": ["https://a.example"]}, "origins"),
    ({"type": "secret", "bundle_ids": ["com.a"]}, "bundle_ids"),
    ({"type": "publishable", "origins": ["javascript:alert(1)"]}, "origins"),
    ({"type": "publishable", "origins": ["https://a.example"] * 51}, "origins"),
    ({"type": "publishable", "name": "n" * 201}, "name"),
    ({"type": "publishable", "name": 5}, "name"),
])
def test_key_validation(client: Any, app: Any, biz: dict[str, Any], fields: dict[str, Any],
                        field: str) -> None:
    resp = create_key(client, biz["sk"], **fields)
    assert resp.status_code == 400, resp.get_data(as_text=True)
    assert body(resp)["error"] == "validation_error" and body(resp)["field"] == field
    with session_scope(app) as s:
        assert len(s.scalars(select(ApiKey)).all()) == 2


def test_a_key_cannot_grant_scopes_it_lacks(client: Any, app: Any, biz: dict[str, Any]) -> None:
    narrow = body(create_key(client, biz["sk"], type="secret",
                             scopes=["keys:write", "tickets:read"]))["data"]["key"]
    wider = create_key(client, narrow, type="secret", scopes=["tickets:write"])
    assert wider.status_code == 403 and body(wider)["error"] == "insufficient_scope"
    default = body(create_key(client, narrow, type="secret"))["data"]
    assert default["scopes"] == ["tickets:read", "keys:write"]


def test_a_test_key_cannot_touch_live_keys(client: Any, app: Any, biz: dict[str, Any]) -> None:
    refused = create_key(client, biz["sk"], type="secret", mode="live")
    assert refused.status_code == 403 and body(refused)["field"] == "mode"
    token = agent_token(app, biz["id"], user_id=biz["owner_id"])  # an owner manages both modes
    live_key = body(create_key(client, token, type="secret", mode="live"))["data"]
    gone = client.delete(f"{API}/keys/{live_key['id']}", headers=auth(biz["sk"]))
    assert gone.status_code == 403
    with session_scope(app) as s:
        assert s.get(ApiKey, live_key["id"]).revoked_at is None


def test_revoking_stops_the_key_at_once(client: Any, app: Any, biz: dict[str, Any]) -> None:
    created = body(create_key(client, biz["sk"], type="publishable"))["data"]
    assert config(client, created["key"]).status_code == 200
    resp = client.delete(f"{API}/keys/{created['id']}", headers=auth(biz["sk"]))
    assert resp.status_code == 200
    revoked_at = body(resp)["data"]["revoked_at"]
    assert revoked_at is not None
    after = config(client, created["key"])
    assert after.status_code == 401 and body(after)["error"] == "invalid_api_key"
    again = client.delete(f"{API}/keys/{created['id']}", headers=auth(biz["sk"]))
    assert again.status_code == 200 and body(again)["data"]["revoked_at"] == revoked_at
    listed = body(client.get(f"{API}/keys", headers=auth(biz["sk"])))["data"]
    assert next(k for k in listed if k["id"] == created["id"])["revoked_at"] == revoked_at


def test_a_key_may_revoke_itself(client: Any, biz: dict[str, Any]) -> None:
    assert client.delete(f"{API}/keys/{biz['sk_id']}", headers=auth(biz["sk"])).status_code == 200
    after = client.get(f"{API}/keys", headers=auth(biz["sk"]))
    assert after.status_code == 401


def test_another_business_keys_are_not_found(client: Any, app: Any,
                                             biz: dict[str, Any]) -> None:
    other = make_business(app, "Globex")
    resp = client.delete(f"{API}/keys/{other['pk_id']}", headers=auth(biz["sk"]))
    assert resp.status_code == 404 and body(resp)["error"] == "not_found"
    assert client.delete(f"{API}/keys/99999", headers=auth(biz["sk"])).status_code == 404
    ids = {k["id"] for k in body(client.get(f"{API}/keys", headers=auth(biz["sk"])))["data"]}
    assert ids == {biz["pk_id"], biz["sk_id"]}
    assert config(client, other["pk"]).status_code == 200


def test_revoked_key_closes_its_open_socket(live: str, biz: dict[str, Any]) -> None:
    created = httpx.post(f"{live}{API}/keys", json={"type": "publishable"},
                         headers=auth(biz["sk"])).json()["data"]
    started = start_visitor(live, created["key"], "soon-revoked")
    sock = PusherTestClient.for_session(started)
    sock.subscribe_session(started, created["key"])
    assert httpx.delete(f"{live}{API}/keys/{created['id']}",
                        headers=auth(biz["sk"])).status_code == 200
    assert sock.close_code(timeout=6) == 4009


# ---------- branding ------------------------------------------------------------------------


def test_branding_partial_update_reaches_config(client: Any, app: Any,
                                                biz: dict[str, Any]) -> None:
    before = client.get(f"{API}/branding", headers=auth(biz["sk"]))
    assert before.status_code == 200
    assert body(before)["data"] == {
        "business_id": biz["id"], "slug": "acme", "name": "Acme", "primary_color": "#4F46E5",
        "accent_color": "#111827", "welcome_message": "Hi! How can we help?", "logo_url": None,
        "require_identification": False}
    etag = config(client, biz["pk"]).headers["ETag"]
    resp = client.put(f"{API}/branding", json={"primary_color": "#12ab9f", "name": "Acme Inc",
                                               "logo_url": "https://cdn.acme.test/logo.png"},
                      headers=auth(biz["sk"]))
    assert resp.status_code == 200, resp.get_data(as_text=True)
    data = body(resp)["data"]
    assert (data["primary_color"], data["name"], data["accent_color"], data["slug"]) == (
        "#12AB9F", "Acme Inc", "#111827", "acme")
    with session_scope(app) as s:
        row = s.get(Business, biz["id"])
        assert (row.primary_color, row.name, row.logo_url) == (
            "#12AB9F", "Acme Inc", "https://cdn.acme.test/logo.png")
    assert config(client, biz["pk"], etag).status_code == 200  # the old ETag is stale
    fresh = config(client, biz["pk"])
    assert fresh.headers["ETag"] != etag
    cfg = body(fresh)["data"]
    assert cfg["branding"]["primary_color"] == "#12AB9F"
    assert cfg["business"]["name"] == "Acme Inc"
    cleared = client.put(f"{API}/branding", json={"logo_url": None,
                                                  "require_identification": True},
                         headers=auth(biz["sk"]))
    assert body(cleared)["data"]["logo_url"] is None
    assert body(config(client, biz["pk"]))["data"]["identification"]["required_on_start"]


@pytest.mark.parametrize("fields,field", [
    ({"primary_color": "red"}, "primary_color"),
    ({"primary_color": "#12345"}, "primary_color"),
    ({"accent_color": "#GGGGGG"}, "accent_color"),
    ({"accent_color": "#1234567"}, "accent_color"),
    ({"accent_color": None}, "accent_color"),
    ({"logo_url": "javascript:alert(1)"}, "logo_url"),
    ({"logo_url": "ftp://files.example/logo.png"}, "logo_url"),
    ({"logo_url": "https://"}, "logo_url"),
    ({"logo_url": "https://a.example/" + "x" * 2000}, "logo_url"),
    ({"welcome_message": "w" * 501}, "welcome_message"),
    ({"welcome_message": 3}, "welcome_message"),
    ({"name": ""}, "name"),
    ({"name": "n" * 201}, "name"),
    ({"require_identification": "yes"}, "require_identification"),
    ({"slug": "hijack"}, "slug"),
])
def test_branding_validation(client: Any, app: Any, biz: dict[str, Any],
                             fields: dict[str, Any], field: str) -> None:
    resp = client.put(f"{API}/branding", json={"welcome_message": "kept?", **fields},
                      headers=auth(biz["sk"]))
    assert resp.status_code == 400, resp.get_data(as_text=True)
    assert body(resp)["error"] == "validation_error" and body(resp)["field"] == field
    with session_scope(app) as s:  # nothing of a refused update is applied
        assert s.get(Business, biz["id"]).welcome_message == "Hi! How can we help?"


def test_branding_scopes(client: Any, app: Any, biz: dict[str, Any]) -> None:
    token = agent_token(app, biz["id"], user_id=add_user(app, biz["id"]))
    assert client.get(f"{API}/branding", headers=auth(token)).status_code == 200
    refused = client.put(f"{API}/branding", json={"name": "Mine"}, headers=auth(token))
    assert refused.status_code == 403 and body(refused)["error"] == "insufficient_scope"
    wrong = client.get(f"{API}/branding", headers=auth(biz["pk"]))
    assert wrong.status_code == 401 and body(wrong)["error"] == "wrong_key_type"


def test_branding_reaches_visitors_of_both_modes(live: str, app: Any,
                                                 biz: dict[str, Any]) -> None:
    with session_scope(app) as s:
        _key, live_pk = do_create_key(s, s.get(Business, biz["id"]), "publishable", "live")
    socks = []
    for pk in (biz["pk"], live_pk):
        started = start_visitor(live, pk, f"visitor-{pk[:7]}")
        sock = PusherTestClient.for_session(started)
        sock.subscribe_session(started, pk)
        socks.append(sock)
    resp = httpx.put(f"{live}{API}/branding", json={"welcome_message": "Hello again"},
                     headers=auth(biz["sk"]))
    assert resp.status_code == 200
    for sock in socks:
        event = sock.expect("BrandingUpdated")
        assert event["data"] == {
            "branding": {"primary_color": "#4F46E5", "accent_color": "#111827",
                         "welcome_message": "Hello again", "logo_url": None},
            "business": {"id": biz["id"], "name": "Acme", "slug": "acme"}}
    # the same values again change nothing, so nothing is broadcast
    httpx.put(f"{live}{API}/branding", json={"welcome_message": "Hello again"},
              headers=auth(biz["sk"]))
    assert socks[0].quiet(1.0)
    for sock in socks:
        sock.close()


def test_pusher_js_repaints_on_branding_update(served: ServedProcess) -> None:
    base, pk, sk = served.base, served.pk, served.sk
    etag = httpx.get(f"{base}{API}/chat/config", headers=auth(pk)).headers["ETag"]
    started = start_visitor(base, pk, "pusher-js-branding")
    js = PusherJs({"realtime": started["realtime"], "pk": pk,
                   "session_token": started["session_token"], "seconds": 15})
    try:
        assert js.until("subscribed")["channel"] == started["realtime"]["channel"]
        resp = httpx.put(f"{base}{API}/branding", json={"accent_color": "#00FF88"},
                         headers=auth(sk))
        assert resp.status_code == 200
        event = js.until("event")
        assert event["event"] == "BrandingUpdated"
        assert event["data"]["branding"]["accent_color"] == "#00FF88"
        assert event["data"]["business"]["slug"] == resp.json()["data"]["slug"]
    finally:
        js.stop()
    after = httpx.get(f"{base}{API}/chat/config", headers=auth(pk, **{"If-None-Match": etag}))
    assert after.status_code == 200 and after.headers["ETag"] != etag
    assert after.json()["data"]["branding"]["accent_color"] == "#00FF88"


def test_pusher_js_agent_gets_the_business_feed(served: ServedProcess) -> None:
    base, pk, sk = served.base, served.pk, served.sk
    made = httpx.post(f"{base}{API}/agents", json={"email": "js@demo.test",
                                                   "password": "pusher-js agent"},
                      headers=auth(sk))
    assert made.status_code == 201, made.text
    logged = httpx.post(f"{base}{API}/auth/login", json={
        "email": "js@demo.test", "password": "pusher-js agent", "mode": "test"}).json()["data"]
    js = PusherJs({"realtime": logged["realtime"], "pk": logged["token"], "session_token": "",
                   "seconds": 15})
    try:
        assert js.until("subscribed")["channel"] == logged["realtime"]["channel"]
        started = start_visitor(base, pk, "seen-by-pusher-js-agent")
        sent = visitor_send(base, pk, started, "agent, are you there?")
        while (event := js.until("event"))["event"] != "MessageCreated":
            pass
        assert event["data"] == sent
    finally:
        js.stop()


# ---------- login and agent tokens ----------------------------------------------------------


def test_login_gives_a_token_for_the_agent_api(client: Any, app: Any,
                                               biz: dict[str, Any]) -> None:
    set_password(app, biz["id"], "owner@acme.test", PASSWORD)
    resp = login(client, "Owner@Acme.test", business="acme")
    assert resp.status_code == 200, resp.get_data(as_text=True)
    data = body(resp)["data"]
    assert data["token"].startswith("at_") and data["mode"] == "live"
    expires = datetime.fromisoformat(data["expires_at"].replace("Z", "+00:00"))
    assert abs(expires - datetime.now(timezone.utc) - timedelta(hours=12)) < timedelta(minutes=1)
    assert (data["agent"]["email"], data["agent"]["role"]) == ("owner@acme.test", "owner")
    assert "password_hash" not in resp.get_data(as_text=True)
    assert data["realtime"] == {
        "key": app.config["REALTIME_APP_KEY"], "host": "localhost", "port": 80,
        "scheme": "http", "channel": f"private-business.{biz['id']}",
        "auth_endpoint": "http://localhost/api/v1/broadcasting/auth"}
    agents = client.get(f"{API}/agents", headers=auth(data["token"]))
    assert agents.status_code == 200
    assert [a["email"] for a in body(agents)["data"]] == ["owner@acme.test"]


def test_login_failures_look_the_same(client: Any, app: Any, biz: dict[str, Any],
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    set_password(app, biz["id"], "owner@acme.test", PASSWORD)
    add_user(app, biz["id"], "invited@acme.test", password=None)
    runs: list[str] = []
    from server.services import agents as service
    real = service.verify_secret
    monkeypatch.setattr(service, "verify_secret", lambda h_, p: runs.append(p) or real(h_, p))
    answers = [login(client, "owner@acme.test", "wrong password!"),
               login(client, "nobody@acme.test"),
               login(client, "invited@acme.test"),
               login(client, "owner@acme.test", business="no-such-business")]
    assert len({(r.status_code, r.get_data()) for r in answers}) == 1  # byte for byte
    assert answers[0].status_code == 401
    assert body(answers[0]) == {"error": "invalid_credentials",
                                "message": "The email or password is not right."}
    assert len(runs) == 4  # one argon2 verify each, known email or not


@pytest.mark.parametrize("fields,field", [
    ({"password": PASSWORD}, "email"),
    ({"email": "not-an-email", "password": PASSWORD}, "email"),
    ({"email": "owner@acme.test"}, "password"),
    ({"email": "owner@acme.test", "password": ""}, "password"),
    ({"email": "owner@acme.test", "password": PASSWORD, "mode": "prod"}, "mode"),
    ({"email": "owner@acme.test", "password": PASSWORD, "business": 7}, "business"),
])
def test_login_validation(client: Any, fields: dict[str, Any], field: str) -> None:
    resp = client.post(f"{API}/auth/login", json=fields)
    assert resp.status_code == 400 and body(resp)["field"] == field


def test_a_short_password_from_before_still_logs_in(client: Any, app: Any,
                                                     biz: dict[str, Any]) -> None:
    set_password(app, biz["id"], "owner@acme.test", "pw")  # e.g. chatdock init --owner-password
    assert login(client, "owner@acme.test", "pw").status_code == 200


def test_expired_agent_token_is_token_expired(client: Any, app: Any, biz: dict[str, Any],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    token = agent_token(app, biz["id"], user_id=biz["owner_id"])
    assert client.get(f"{API}/agents", headers=auth(token)).status_code == 200
    later = time.time() + (app.config["AGENT_TOKEN_HOURS"] * 3600 + 5)
    monkeypatch.setattr(itsdangerous.timed, "time", types.SimpleNamespace(time=lambda: later))
    resp = client.get(f"{API}/agents", headers=auth(token))
    assert resp.status_code == 401 and body(resp)["error"] == "token_expired"


def test_tampered_agent_token_is_refused(client: Any, app: Any, biz: dict[str, Any]) -> None:
    token = agent_token(app, biz["id"], user_id=biz["owner_id"])
    resp = client.get(f"{API}/agents", headers=auth(token[:-2] + "xx"))
    assert resp.status_code == 401 and body(resp)["error"] == "invalid_api_key"


def test_login_upgrades_an_old_hash(client: Any, app: Any, biz: dict[str, Any]) -> None:
    weak = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    set_password(app, biz["id"], "owner@acme.test", PASSWORD, hasher=weak)
    assert login(client, "owner@acme.test").status_code == 200
    with session_scope(app) as s:
        stored = s.scalar(select(User.password_hash).where(User.email == "owner@acme.test"))
    assert not PasswordHasher().check_needs_rehash(stored) and verify_secret(stored, PASSWORD)


def test_one_email_in_two_businesses(client: Any, app: Any, biz: dict[str, Any]) -> None:
    other = make_business(app, "Globex")
    add_user(app, biz["id"], "sam@both.test", password="password at acme")
    add_user(app, other["id"], "sam@both.test", password="password at globex")
    picked = login(client, "sam@both.test", "password at globex")
    assert picked.status_code == 200
    token = body(picked)["data"]["token"]
    assert body(client.get(f"{API}/branding", headers=auth(token)))["data"]["slug"] == "globex"
    set_password(app, other["id"], "sam@both.test", "password at acme")
    ambiguous = login(client, "sam@both.test", "password at acme")
    assert ambiguous.status_code == 400 and body(ambiguous)["field"] == "business"
    chosen = login(client, "sam@both.test", "password at acme", business="acme")
    assert chosen.status_code == 200
    assert body(chosen)["data"]["agent"]["id"] != body(picked)["data"]["agent"]["id"]


def test_role_decides_the_scopes(client: Any, app: Any, biz: dict[str, Any]) -> None:
    token = agent_token(app, biz["id"], user_id=add_user(app, biz["id"]))
    refused = create_key(client, token, type="publishable")
    assert refused.status_code == 403 and body(refused)["error"] == "insufficient_scope"
    invite = client.post(f"{API}/agents", json={"email": "x@acme.test"}, headers=auth(token))
    assert invite.status_code == 403
    assert client.get(f"{API}/agents", headers=auth(token)).status_code == 200
    owner = agent_token(app, biz["id"], user_id=biz["owner_id"])
    made = create_key(client, owner, type="publishable")
    assert made.status_code == 201 and body(made)["data"]["mode"] == "test"  # the token's mode


def test_suspended_business_cannot_log_in(client: Any, app: Any, biz: dict[str, Any]) -> None:
    set_password(app, biz["id"], "owner@acme.test", PASSWORD)
    with session_scope(app) as s:
        s.get(Business, biz["id"]).suspended = True
    resp = login(client, "owner@acme.test")
    assert resp.status_code == 403 and body(resp)["error"] == "business_suspended"


# ---------- agents and invitations ----------------------------------------------------------


def test_invite_then_accept(client: Any, app: Any, biz: dict[str, Any]) -> None:
    owner = agent_token(app, biz["id"], user_id=biz["owner_id"])
    resp = client.post(f"{API}/agents", json={"email": "Bea@Acme.test", "name": "Bea"},
                       headers=auth(owner))
    assert resp.status_code == 201, resp.get_data(as_text=True)
    agent = body(resp)["data"]
    assert (agent["email"], agent["name"], agent["role"], agent["online"]) == (
        "bea@acme.test", "Bea", "agent", False)
    invite = agent["invite_token"]
    assert login(client, "bea@acme.test", "anything at all").status_code == 401
    short = client.post(f"{API}/auth/accept-invite", json={"token": invite, "password": "short"})
    assert short.status_code == 400 and body(short)["field"] == "password"
    accepted = client.post(f"{API}/auth/accept-invite",
                           json={"token": invite, "password": "bea's long password"})
    assert accepted.status_code == 200, accepted.get_data(as_text=True)
    assert body(accepted)["data"]["agent"]["id"] == agent["id"]
    token = body(accepted)["data"]["token"]
    assert client.get(f"{API}/agents", headers=auth(token)).status_code == 200
    assert login(client, "bea@acme.test", "bea's long password").status_code == 200
    reused = client.post(f"{API}/auth/accept-invite",
                         json={"token": invite, "password": "another long password"})
    assert reused.status_code == 400 and body(reused)["error"] == "invalid_invite"
    assert login(client, "bea@acme.test", "bea's long password").status_code == 200


def test_invite_expires_after_seven_days(client: Any, app: Any, biz: dict[str, Any],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    owner = agent_token(app, biz["id"], user_id=biz["owner_id"])
    invite = body(client.post(f"{API}/agents", json={"email": "late@acme.test"},
                              headers=auth(owner)))["data"]["invite_token"]
    later = time.time() + 7 * 86400 + 5
    monkeypatch.setattr(itsdangerous.timed, "time", types.SimpleNamespace(time=lambda: later))
    resp = client.post(f"{API}/auth/accept-invite",
                       json={"token": invite, "password": "long enough password"})
    assert resp.status_code == 400 and body(resp)["error"] == "invite_expired"


def test_agent_token_is_not_an_invite(client: Any, app: Any, biz: dict[str, Any]) -> None:
    add_user(app, biz["id"], "nopass@acme.test", password=None)
    token = agent_token(app, biz["id"], user_id=biz["owner_id"])
    resp = client.post(f"{API}/auth/accept-invite",
                       json={"token": token[3:], "password": "long enough password"})
    assert resp.status_code == 400 and body(resp)["error"] == "invalid_invite"


def test_agent_with_a_password_gets_no_invite(client: Any, app: Any,
                                              biz: dict[str, Any]) -> None:
    resp = client.post(f"{API}/agents", json={"email": "own@acme.test", "role": "owner",
                                              "password": "owner's password"},
                       headers=auth(biz["sk"]))
    assert resp.status_code == 201 and "invite_token" not in body(resp)["data"]
    logged = login(client, "own@acme.test", "owner's password")
    assert body(logged)["data"]["agent"]["role"] == "owner"


@pytest.mark.parametrize("fields,field", [
    ({"email": "owner@acme.test"}, "email"),
    ({"email": "OWNER@acme.test"}, "email"),
    ({"email": "nope"}, "email"),
    ({}, "email"),
    ({"email": "a@acme.test", "role": "admin"}, "role"),
    ({"email": "a@acme.test", "password": "short"}, "password"),
    ({"email": "a@acme.test", "name": "n" * 201}, "name"),
])
def test_create_agent_validation(client: Any, app: Any, biz: dict[str, Any],
                                 fields: dict[str, Any], field: str) -> None:
    resp = client.post(f"{API}/agents", json=fields, headers=auth(biz["sk"]))
    assert resp.status_code == 400 and body(resp)["field"] == field
    with session_scope(app) as s:
        assert len(s.scalars(select(User)).all()) == 1


def test_agents_are_listed_per_business(client: Any, app: Any, biz: dict[str, Any]) -> None:
    other = make_business(app, "Globex")
    add_user(app, biz["id"], "ann@acme.test")
    rows = body(client.get(f"{API}/agents", headers=auth(biz["sk"])))
    assert [a["email"] for a in rows["data"]] == ["owner@acme.test", "ann@acme.test"]
    assert rows["meta"]["total"] == 2
    theirs = body(client.get(f"{API}/agents", headers=auth(other["sk"])))["data"]
    assert [a["email"] for a in theirs] == ["owner@globex.test"]


# ---------- presence ------------------------------------------------------------------------


def test_heartbeat_makes_the_agent_online(client: Any, app: Any, biz: dict[str, Any]) -> None:
    token = agent_token(app, biz["id"], user_id=add_user(app, biz["id"]))
    assert body(config(client, biz["pk"]))["data"]["presence"]["agents_online"] == 0
    beat = client.post(f"{API}/agents/heartbeat", headers=auth(token))
    assert beat.status_code == 200 and body(beat) == {"ok": True}
    assert body(config(client, biz["pk"]))["data"]["presence"]["agents_online"] == 1
    listed = body(client.get(f"{API}/agents", headers=auth(token)))["data"]
    assert {a["email"]: a["online"] for a in listed} == {"owner@acme.test": False,
                                                        "ann@acme.test": True}
    other = make_business(app, "Globex")
    assert body(config(client, other["pk"]))["data"]["presence"]["agents_online"] == 0
    with session_scope(app) as s:  # a minute later with no heartbeat: offline
        user = s.scalar(select(User).where(User.email == "ann@acme.test"))
        user.last_seen_at = datetime.now(timezone.utc) - timedelta(seconds=61)
    assert body(config(client, biz["pk"]))["data"]["presence"]["agents_online"] == 0


def test_heartbeat_needs_a_person(client: Any, biz: dict[str, Any]) -> None:
    resp = client.post(f"{API}/agents/heartbeat", headers=auth(biz["sk"]))
    assert resp.status_code == 403 and body(resp)["error"] == "forbidden"


# ---------- the business channel ------------------------------------------------------------


def business_socket(base: str, app: Any, credential: str, business_id: int) -> PusherTestClient:
    """Authorize through POST /broadcasting/auth and subscribe, as pusher-js does."""
    sock = PusherTestClient(base.replace("http://", "ws://")
                            + f"/app/{app.config['REALTIME_APP_KEY']}?protocol=7")
    channel = f"private-business.{business_id}"
    signed = httpx.post(f"{base}{API}/broadcasting/auth",
                        data={"socket_id": sock.socket_id(), "channel_name": channel},
                        headers=auth(credential))
    assert signed.status_code == 200, signed.text
    assert set(signed.json()) == {"auth", "channel_data"}
    sock.send("pusher:subscribe", {"channel": channel, **signed.json()})
    sock.expect("pusher_internal:subscription_succeeded")
    return sock


def visitor_send(base: str, pk: str, started: dict[str, Any], content: str) -> dict[str, Any]:
    resp = httpx.post(f"{base}{API}/chat/sessions/{started['conversation_id']}/messages",
                      json={"content": content},
                      headers=auth(pk, **{"X-Tickki-Session": started["session_token"]}))
    assert resp.status_code == 201, resp.text
    return resp.json()["data"]  # type: ignore[no-any-return]


def test_agent_receives_the_business_feed(live: str, app: Any, biz: dict[str, Any]) -> None:
    token = agent_token(app, biz["id"], user_id=add_user(app, biz["id"]))
    sock = business_socket(live, app, token, biz["id"])
    started = start_visitor(live, biz["pk"], "feed-visitor")
    created = sock.expect("TicketCreated")["data"]
    assert created["conversation_id"] == started["conversation_id"]
    sent = visitor_send(live, biz["pk"], started, "I need help")
    got = sock.expect("MessageCreated")
    assert got["channel"] == f"private-business.{biz['id']}"
    assert got["data"] == sent and got["data"]["conversation_id"] == started["conversation_id"]
    typing = httpx.post(f"{live}{API}/chat/sessions/{started['conversation_id']}/typing",
                        headers=auth(biz["pk"], **{"X-Tickki-Session": started["session_token"]}))
    assert typing.status_code == 200
    assert sock.expect("TypingStarted")["data"]["role"] == "visitor"
    sock.close()


def test_test_mode_agents_never_see_live_events(live: str, app: Any,
                                                biz: dict[str, Any]) -> None:
    with session_scope(app) as s:
        _key, live_pk = do_create_key(s, s.get(Business, biz["id"]), "publishable", "live")
    client = app.test_client()
    ann = agent_token(app, biz["id"], user_id=add_user(app, biz["id"]))
    test_agent = business_socket(live, app, ann, biz["id"])
    live_token = body(login(client, "ann@acme.test", mode="live"))["data"]["token"]
    live_agent = business_socket(live, app, live_token, biz["id"])
    started = start_visitor(live, live_pk, "live-visitor")
    sent = visitor_send(live, live_pk, started, "live money")
    assert live_agent.expect("MessageCreated")["data"]["id"] == sent["id"]
    test_started = start_visitor(live, biz["pk"], "test-visitor")
    test_sent = visitor_send(live, biz["pk"], test_started, "test money")
    frames = []
    while (frame := test_agent.recv(timeout=1.5)) is not None:
        frames.append(frame)
    assert [f["data"]["id"] for f in frames if f["event"] == "MessageCreated"] == [test_sent["id"]]
    assert all(f["data"].get("conversation_id") != started["conversation_id"] for f in frames)
    test_agent.close()
    live_agent.close()


def test_channel_auth_is_for_your_own_business(live: str, app: Any, biz: dict[str, Any]) -> None:
    other = make_business(app, "Globex")
    sock = PusherTestClient(live.replace("http://", "ws://")
                            + f"/app/{app.config['REALTIME_APP_KEY']}?protocol=7")
    form = {"socket_id": sock.socket_id(), "channel_name": f"private-business.{other['id']}"}
    refused = httpx.post(f"{live}{API}/broadcasting/auth", data=form, headers=auth(biz["sk"]))
    assert refused.status_code == 403 and refused.json()["error"] == "forbidden"
    session_channel = {**form, "channel_name": "private-chat.session.1"}
    assert httpx.post(f"{live}{API}/broadcasting/auth", data=session_channel,
                      headers=auth(biz["sk"])).status_code == 403
    bad_socket = {**form, "socket_id": "nope", "channel_name": f"private-business.{biz['id']}"}
    resp = httpx.post(f"{live}{API}/broadcasting/auth", data=bad_socket, headers=auth(biz["sk"]))
    assert resp.status_code == 400 and resp.json()["field"] == "socket_id"
    pk = httpx.post(f"{live}{API}/broadcasting/auth", data=form, headers=auth(biz["pk"]))
    assert pk.status_code == 401 and pk.json()["error"] == "wrong_key_type"
    # a signature for our channel does not open another business's channel
    ours = httpx.post(f"{live}{API}/broadcasting/auth",
                      data={**form, "channel_name": f"private-business.{biz['id']}"},
                      headers=auth(biz["sk"])).json()
    sock.send("pusher:subscribe", {"channel": f"private-business.{other['id']}", **ours})
    assert sock.expect("pusher:subscription_error")["data"]["status"] == 401
    sock.close()


def test_open_business_socket_keeps_the_agent_online(live: str, app: Any,
                                                     biz: dict[str, Any]) -> None:
    client = app.test_client()
    ann = agent_token(app, biz["id"], user_id=add_user(app, biz["id"]))
    sock = business_socket(live, app, ann, biz["id"])
    deadline = time.monotonic() + 8  # the watcher polls every 2 s
    online = 0
    while time.monotonic() < deadline and not online:
        online = body(config(client, biz["pk"]))["data"]["presence"]["agents_online"]
        time.sleep(0.2)
    assert online == 1
    sock.close()


def presence_until(visitor: PusherTestClient, want: int, timeout: float = 10) -> list[int]:
    """The agents_online counts the visitor is told, up to and including `want`."""
    seen: list[int] = []
    deadline = time.monotonic() + timeout
    while not seen or seen[-1] != want:
        left = deadline - time.monotonic()
        assert left > 0, f"never told {want}; told {seen}"
        seen.append(visitor.expect("PresenceUpdated", timeout=left)["data"]["agents_online"])
    return seen


def test_visitors_see_agents_come_online_and_leave(live: str, app: Any,
                                                   biz: dict[str, Any]) -> None:
    started = start_visitor(live, biz["pk"], "presence-watcher")
    visitor = PusherTestClient.for_session(started)
    visitor.subscribe_session(started, biz["pk"])
    # a new channel is told the current count once (its config may be older)
    assert presence_until(visitor, 0) == [0]
    other = make_business(app, "Globex")  # its agent's presence is not ours to see
    gus = add_user(app, other["id"], "gus@globex.test")
    other_agent = business_socket(live, app, agent_token(app, other["id"], user_id=gus),
                                  other["id"])
    ann = agent_token(app, biz["id"], user_id=add_user(app, biz["id"]))
    sock = business_socket(live, app, ann, biz["id"])
    assert presence_until(visitor, 1) == [1]  # the watcher polls every 2 s
    sock.close()
    other_agent.close()
    with session_scope(app) as s:  # a minute after the socket closed: offline
        user = s.scalar(select(User).where(User.email == "ann@acme.test"))
        user.last_seen_at = datetime.now(timezone.utc) - timedelta(seconds=61)
    assert presence_until(visitor, 0) == [0]
    assert visitor.recv(timeout=3) is None  # nothing changed: nothing more is sent
    visitor.close()


def test_revoking_a_secret_key_closes_its_business_socket(live: str, app: Any,
                                                          biz: dict[str, Any]) -> None:
    sock = business_socket(live, app, biz["sk"], biz["id"])
    resp = httpx.delete(f"{live}{API}/keys/{biz['sk_id']}", headers=auth(biz["sk"]))
    assert resp.status_code == 200
    assert sock.close_code(timeout=6) == 4009
