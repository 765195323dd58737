"""OAuth2 client credentials (RFC 6749 4.4): clients, the token endpoint, tokens in use."""

from __future__ import annotations

import base64
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from authlib.integrations.requests_client import OAuth2Session
from oauthlib.oauth2 import BackendApplicationClient
from requests_oauthlib import OAuth2Session as RequestsOAuth2Session
from sqlalchemy import func, select

from server import create_app
from server.db import session_scope
from server.models import Business, OAuthClient
from server.security import key_digest
from tests.conftest import agent_token, auth, make_business, serving
from tests.test_admin import business_socket, start_visitor
from tests.test_chat_api import start
from tests.test_ratelimit import assert_limited

CLIENTS, TOKEN = "/api/v1/oauth/clients", "/api/v1/oauth/token"
ALL = ["tickets:read", "tickets:write", "contacts:read"]


def make_client(client: Any, sk: str, scopes: list[str] | None = None,
                name: str = "CRM sync") -> dict[str, Any]:
    resp = client.post(CLIENTS, json={"name": name, "scopes": scopes or ALL}, headers=auth(sk))
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()["data"]  # type: ignore[no-any-return]


def basic(client_id: str, secret: str) -> dict[str, str]:
    """RFC 6749 2.3.1: each part form-encoded, then HTTP Basic."""
    pair = f"{quote(client_id, safe='')}:{quote(secret, safe='')}".encode()
    return {"Authorization": "Basic " + base64.b64encode(pair).decode()}


def fetch(client: Any, made: dict[str, Any], **params: str) -> Any:
    return client.post(TOKEN, data={"grant_type": "client_credentials", **params},
                       headers=basic(made["client_id"], made["client_secret"]))


def token_of(client: Any, made: dict[str, Any], **params: str) -> str:
    resp = fetch(client, made, **params)
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()["access_token"]  # type: ignore[no-any-return]


def clients_in_db(app: Any) -> int:
    with session_scope(app) as s:
        return int(s.scalar(select(func.count()).select_from(OAuthClient)) or 0)


# ---------- a standard OAuth2 library, unmodified, against the served app --------------------


def test_authlib_obtains_a_token_and_lists_tickets(app: Any, biz: dict[str, Any]) -> None:
    made = make_client(app.test_client(), biz["sk"], ["tickets:read"])
    with serving(app) as base:
        ticket = start_visitor(base, biz["pk"], "oauth-visitor")["conversation_id"]
        with OAuth2Session(made["client_id"], made["client_secret"],
                           scope="tickets:read") as session:
            token = session.fetch_token(f"{base}{TOKEN}", grant_type="client_credentials")
            assert token["token_type"] == "Bearer" and token["expires_in"] == 3600
            assert token["scope"] == "tickets:read"
            assert token["access_token"].startswith("oat_")
            listed = session.get(f"{base}/api/v1/tickets")
            assert listed.status_code == 200, listed.text
            assert ticket in [t["id"] for t in listed.json()["data"]]
            # the token's scopes hold: no writing with a read-only token
            denied = session.patch(f"{base}/api/v1/tickets/{ticket}", json={"status": "open"})
            assert denied.status_code == 403 and denied.json()["error"] == "insufficient_scope"


def test_requests_oauthlib_backend_application_client(app: Any, biz: dict[str, Any],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")  # the test server speaks plain http
    made = make_client(app.test_client(), biz["sk"])
    with serving(app) as base:
        session = RequestsOAuth2Session(client=BackendApplicationClient(made["client_id"]))
        token = session.fetch_token(f"{base}{TOKEN}", client_id=made["client_id"],
                                    client_secret=made["client_secret"])
        assert sorted(token["scope"]) == sorted(ALL)  # oauthlib splits the scope string
        assert session.get(f"{base}/api/v1/contacts").status_code == 200


# ---------- the token endpoint ---------------------------------------------------------------


@pytest.mark.parametrize("how", ["basic-form", "basic-json", "body-form", "body-json"])
def test_client_auth_by_basic_or_body_in_form_or_json(client: Any, biz: dict[str, Any],
                                                      how: str) -> None:
    made = make_client(client, biz["sk"])
    params = {"grant_type": "client_credentials", "scope": "tickets:read contacts:read"}
    headers: dict[str, str] = {}
    if how.startswith("basic"):
        headers = basic(made["client_id"], made["client_secret"])
    else:
        params |= {"client_id": made["client_id"], "client_secret": made["client_secret"]}
    resp = (client.post(TOKEN, json=params, headers=headers) if how.endswith("json")
            else client.post(TOKEN, data=params, headers=headers))
    assert resp.status_code == 200, resp.get_json()
    assert resp.headers["Cache-Control"] == "no-store"
    got = resp.get_json()
    assert set(got) == {"access_token", "token_type", "expires_in", "scope"}
    assert got["scope"] == "tickets:read contacts:read"
    assert client.get("/api/v1/contacts", headers=auth(got["access_token"])).status_code == 200


def test_an_unquoted_basic_pair_works(client: Any, biz: dict[str, Any]) -> None:
    """Ids and secrets use only characters form-encoding leaves alone, so a client that
    skips RFC 6749 2.3.1's encoding (most curl scripts) is understood as well."""
    made = make_client(client, biz["sk"])
    raw = base64.b64encode(f"{made['client_id']}:{made['client_secret']}".encode()).decode()
    resp = client.post(TOKEN, data={"grant_type": "client_credentials"},
                       headers={"Authorization": f"Basic {raw}"})
    assert resp.status_code == 200


def test_a_wrong_secret_is_invalid_client(client: Any, biz: dict[str, Any]) -> None:
    made = make_client(client, biz["sk"])
    wrong = {**made, "client_secret": made["client_secret"][:-2] + "xx"}
    resp = fetch(client, wrong)
    assert resp.status_code == 401
    assert resp.get_json() == {"error": "invalid_client", "message": resp.get_json()["message"]}
    assert resp.headers["WWW-Authenticate"].startswith("Basic")
    assert resp.headers["Cache-Control"] == "no-store"
    # by the body: 401 too, without a Basic challenge
    body = client.post(TOKEN, data={"grant_type": "client_credentials",
                                    "client_id": made["client_id"], "client_secret": "nope"})
    assert body.status_code == 401 and body.get_json()["error"] == "invalid_client"
    assert "WWW-Authenticate" not in body.headers
    unknown = fetch(client, {"client_id": "oc_" + "0" * 24,
                             "client_secret": made["client_secret"]})
    assert unknown.status_code == 401 and unknown.get_json()["error"] == "invalid_client"
    for garbage in ("!!!", base64.b64encode(b"oc_%00:x").decode(),
                    base64.b64encode(b"oc_%ff:x").decode(), base64.b64encode(b"no-colon").decode()):
        garbled = client.post(TOKEN, data={"grant_type": "client_credentials"},
                              headers={"Authorization": f"Basic {garbage}"})
        assert garbled.status_code == 401, garbage
        assert garbled.get_json()["error"] == "invalid_client", garbage
        assert garbled.headers["WWW-Authenticate"].startswith("Basic")
    none = client.post(TOKEN, data={"grant_type": "client_credentials"})
    assert none.status_code == 401 and none.get_json()["error"] == "invalid_client"


def test_grant_and_request_errors(client: Any, biz: dict[str, Any]) -> None:
    made = make_client(client, biz["sk"])
    creds = basic(made["client_id"], made["client_secret"])
    cases = [
        ({"data": {"grant_type": "password"}}, "unsupported_grant_type"),
        ({"data": {"grant_type": "authorization_code", "code": "x"}}, "unsupported_grant_type"),
        ({"data": {}}, "invalid_request"),
        ({"data": "grant_type=client_credentials&grant_type=client_credentials",
          "content_type": "application/x-www-form-urlencoded"}, "invalid_request"),
        ({"json": {"grant_type": 1}}, "invalid_request"),
        ({"data": "{not json", "content_type": "application/json"}, "invalid_request"),
        ({"data": {"grant_type": "client_credentials", "scope": "tickets:read\x00"}},
         "invalid_request"),
        ({"json": {"grant_type": "client_credentials", "scope": "\ud800"}}, "invalid_request"),
        ({"data": "grant_type=client_credentials", "content_type": "text/plain"},
         "invalid_request"),
    ]
    for kwargs, error in cases:
        resp = client.post(TOKEN, headers=creds, **kwargs)
        assert resp.status_code == 400, (kwargs, resp.get_json())
        assert resp.get_json()["error"] == error, kwargs
        assert "access_token" not in resp.get_json()
    both = client.post(TOKEN, headers=creds, data={
        "grant_type": "client_credentials", "client_id": made["client_id"],
        "client_secret": made["client_secret"]})
    assert both.status_code == 400 and both.get_json()["error"] == "invalid_request"


def test_scope_beyond_the_client_is_invalid_scope(client: Any, biz: dict[str, Any]) -> None:
    made = make_client(client, biz["sk"], ["tickets:read"])
    for scope in ("tickets:read tickets:write", "keys:write", "nonsense", " "):
        resp = fetch(client, made, scope=scope)
        assert resp.status_code == 400, scope
        assert resp.get_json()["error"] == "invalid_scope", scope
    assert fetch(client, made, scope="tickets:read").get_json()["scope"] == "tickets:read"


def test_wrong_secret_guesses_are_capped_per_address(tmp_path: Path) -> None:
    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'rl.db'}", "PUBLIC_URL": "",
                      "RATE_LIMIT_REQUESTS": 3, "RATE_LIMIT_WINDOW_SECONDS": 60})
    client, biz = app.test_client(), make_business(app)
    made = make_client(client, biz["sk"])
    wrong = {**made, "client_secret": "ocs_guess"}
    for _ in range(3):
        assert fetch(client, wrong).status_code == 401
    assert_limited(fetch(client, wrong))
    assert fetch(client, made).status_code == 200  # the right secret is never refused for them


# ---------- the token in use -----------------------------------------------------------------


def test_scope_enforced_like_a_key(client: Any, biz: dict[str, Any]) -> None:
    made = make_client(client, biz["sk"])
    narrow = token_of(client, made, scope="contacts:read")
    resp = client.get("/api/v1/tickets", headers=auth(narrow))
    assert resp.status_code == 403 and resp.get_json()["error"] == "insufficient_scope"
    assert "tickets:read" in resp.get_json()["message"]
    assert client.get("/api/v1/contacts", headers=auth(narrow)).status_code == 200


def test_a_client_gets_no_more_than_its_creator_holds(client: Any, app: Any,
                                                      biz: dict[str, Any]) -> None:
    narrow_key = client.post("/api/v1/keys", json={"type": "secret",
                                                   "scopes": ["keys:write", "tickets:read"]},
                             headers=auth(biz["sk"])).get_json()["data"]["key"]
    before = clients_in_db(app)
    resp = client.post(CLIENTS, json={"name": "x", "scopes": ["tickets:write"]},
                       headers=auth(narrow_key))
    assert resp.status_code == 403 and resp.get_json()["error"] == "insufficient_scope"
    for bad in ({"name": "x", "scopes": ["tickets:fly"]}, {"name": "x", "scopes": []},
                {"name": "", "scopes": ["tickets:read"]}, {"scopes": ["tickets:read"]},
                {"name": "x", "scopes": "tickets:read"}):
        resp = client.post(CLIENTS, json=bad, headers=auth(biz["sk"]))
        assert resp.status_code == 400 and resp.get_json()["error"] == "validation_error", bad
    assert clients_in_db(app) == before


def test_a_token_is_bound_to_its_mode(client: Any, biz: dict[str, Any]) -> None:
    """A test-mode client (made by a test key) manages test keys only, like that key."""
    made = make_client(client, biz["sk"], ["keys:write"])
    assert made["mode"] == "test"
    token = token_of(client, made)
    live = client.post("/api/v1/keys", json={"type": "secret", "mode": "live"},
                       headers=auth(token))
    assert live.status_code == 403 and live.get_json()["field"] == "mode"
    assert client.post("/api/v1/keys", json={"type": "secret"},
                       headers=auth(token)).status_code == 201


def test_a_visitor_endpoint_refuses_the_token(client: Any, biz: dict[str, Any]) -> None:
    token = token_of(client, make_client(client, biz["sk"]))
    resp = client.get("/api/v1/chat/config", headers=auth(token))
    assert resp.status_code == 401 and resp.get_json()["error"] == "wrong_key_type"


def test_a_tampered_token_is_refused(client: Any, biz: dict[str, Any]) -> None:
    token = token_of(client, make_client(client, biz["sk"]))
    for bad in (token[:-3] + "abc", "oat_", "oat_" + token[8:]):
        resp = client.get("/api/v1/tickets", headers=auth(bad))
        assert resp.status_code == 401 and resp.get_json()["error"] == "invalid_api_key", bad


def test_an_expired_token_is_401(tmp_path: Path) -> None:
    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}", "PUBLIC_URL": "",
                      "OAUTH_TOKEN_SECONDS": 1})
    client, biz = app.test_client(), make_business(app)
    resp = fetch(client, make_client(client, biz["sk"]))
    assert resp.get_json()["expires_in"] == 1
    token = resp.get_json()["access_token"]
    assert client.get("/api/v1/tickets", headers=auth(token)).status_code == 200
    time.sleep(2.1)  # itsdangerous counts whole seconds: older than 1 s
    late = client.get("/api/v1/tickets", headers=auth(token))
    assert late.status_code == 401 and late.get_json()["error"] == "token_expired"


def test_revoking_the_client_stops_its_live_token_on_every_process(
        tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'two.db'}"
    one = create_app({"DATABASE_URL": url, "PUBLIC_URL": ""})
    other = create_app({"DATABASE_URL": url, "PUBLIC_URL": ""})  # a second server process
    biz = make_business(one)
    c1, c2 = one.test_client(), other.test_client()
    made = make_client(c1, biz["sk"])
    token = token_of(c1, made)
    assert c2.get("/api/v1/tickets", headers=auth(token)).status_code == 200
    revoked = c1.delete(f"{CLIENTS}/{made['id']}", headers=auth(biz["sk"]))
    assert revoked.status_code == 200 and revoked.get_json()["data"]["revoked_at"]
    for c in (c1, c2):
        resp = c.get("/api/v1/tickets", headers=auth(token))
        assert resp.status_code == 401 and resp.get_json()["error"] == "token_revoked"
    assert fetch(c2, made).get_json()["error"] == "invalid_client"  # and no new tokens


def test_a_suspended_business_token_stops(client: Any, app: Any, biz: dict[str, Any]) -> None:
    made = make_client(client, biz["sk"])
    token = token_of(client, made)
    with session_scope(app) as s:
        s.get(Business, biz["id"]).suspended = True  # type: ignore[union-attr]
    resp = client.get("/api/v1/tickets", headers=auth(token))
    assert resp.status_code == 403 and resp.get_json()["error"] == "business_suspended"
    assert fetch(client, made).get_json()["error"] == "unauthorized_client"


def test_channel_auth_with_a_token_until_the_client_is_revoked(app: Any,
                                                               biz: dict[str, Any]) -> None:
    made = make_client(app.test_client(), biz["sk"])
    token = token_of(app.test_client(), made)
    with serving(app) as base:
        sock = business_socket(base, app, token, biz["id"])
        started = start_visitor(base, biz["pk"], "feed-for-oauth")
        assert sock.expect("TicketCreated")["data"]["conversation_id"] == \
            started["conversation_id"]
        revoked = app.test_client().delete(f"{CLIENTS}/{made['id']}", headers=auth(biz["sk"]))
        assert revoked.status_code == 200
        assert sock.close_code(timeout=6) == 4009  # as a revoked key's socket is closed


# ---------- tenancy and storage --------------------------------------------------------------


def test_tenancy(client: Any, app: Any, biz: dict[str, Any]) -> None:
    other = make_business(app, "Other")
    mine = make_client(client, biz["sk"])
    theirs_ticket = start(client, other["pk"], "their-visitor")["conversation_id"]
    token = token_of(client, mine)
    assert client.get(f"/api/v1/tickets/{theirs_ticket}",
                      headers=auth(token)).status_code == 404
    listed = client.get("/api/v1/tickets", headers=auth(token)).get_json()["data"]
    assert theirs_ticket not in [t["id"] for t in listed]
    for credential in (other["sk"], agent_token(app, other["id"], role="owner")):
        assert client.delete(f"{CLIENTS}/{mine['id']}",
                             headers=auth(credential)).status_code == 404
        seen = client.get(CLIENTS, headers=auth(credential)).get_json()["data"]
        assert mine["id"] not in [c["id"] for c in seen]
    assert fetch(client, mine).status_code == 200  # untouched


def test_the_secret_is_shown_once_and_stored_as_a_digest(client: Any, app: Any,
                                                         biz: dict[str, Any]) -> None:
    made = make_client(client, biz["sk"])
    assert made["client_secret"].startswith("ocs_") and made["client_id"].startswith("oc_")
    with session_scope(app) as s:
        row = s.get(OAuthClient, made["id"])
        assert row is not None
        stored = [str(getattr(row, c.name)) for c in OAuthClient.__table__.columns]
        assert row.secret_hash == key_digest(made["client_secret"])
    assert not any(made["client_secret"] in value for value in stored)
    listed = client.get(CLIENTS, headers=auth(biz["sk"]))
    assert listed.status_code == 200 and listed.get_json()["meta"]["total"] == 1
    assert made["client_secret"] not in listed.get_data(as_text=True)
    assert set(listed.get_json()["data"][0]) == {"id", "client_id", "name", "mode", "scopes",
                                                 "created_at", "revoked_at"}


def test_a_reply_by_token_speaks_for_the_business(client: Any, biz: dict[str, Any]) -> None:
    ticket = start(client, biz["pk"], "asks-oauth")["conversation_id"]
    token = token_of(client, make_client(client, biz["sk"]), scope="tickets:write")
    resp = client.post(f"/api/v1/tickets/{ticket}/messages", json={"content": "On it."},
                       headers=auth(token))
    assert resp.status_code == 201, resp.get_json()
    by_key = client.post(f"/api/v1/tickets/{ticket}/messages", json={"content": "Done."},
                         headers=auth(biz["sk"])).get_json()["data"]
    assert resp.get_json()["data"]["sender"] == by_key["sender"]
