"""The visitor API (Tickki wire format), decoded with the types the Tickki SDK requires."""

from __future__ import annotations

import hashlib
import hmac
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import func, select

from server import create_app
from server.db import session_scope
from server.models import ApiKey, Base, Business, ChatSession, Contact, Conversation, Message
from server.services.keys import do_create_key
from tests.conftest import auth, make_business

CHAT = "/api/v1/chat"
ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?Z$")


def start(client: Any, pk: str, visitor_id: str = "v-1", headers: dict[str, str] | None = None,
          **extra: Any) -> dict[str, Any]:
    resp = client.post(f"{CHAT}/sessions", json={"visitor_id": visitor_id, **extra},
                       headers={**auth(pk), **(headers or {})})
    assert resp.status_code == 201, resp.get_data(as_text=True)
    return resp.get_json()["data"]  # type: ignore[no-any-return]


def url(sess: dict[str, Any], tail: str = "messages") -> str:
    return f"{CHAT}/sessions/{sess['conversation_id']}/{tail}"


def send(client: Any, pk: str, sess: dict[str, Any], content: str) -> dict[str, Any]:
    resp = client.post(url(sess), json={"content": content},
                       headers=auth(pk, sess["session_token"]))
    assert resp.status_code == 201, resp.get_data(as_text=True)
    return resp.get_json()["data"]  # type: ignore[no-any-return]


def history(client: Any, pk: str, sess: dict[str, Any], query: str = "") -> dict[str, Any]:
    resp = client.get(f"{url(sess)}?{query}", headers=auth(pk, sess["session_token"]))
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return resp.get_json()  # type: ignore[no-any-return]


def count(app: Any, model: Any) -> int:
    with session_scope(app) as s:
        return s.scalar(select(func.count()).select_from(model))  # type: ignore[no-any-return]


def set_business(app: Any, business_id: int, **values: Any) -> None:
    with session_scope(app) as s:
        business = s.get(Business, business_id)
        for name, value in values.items():
            setattr(business, name, value)


def assert_chat_message(m: dict[str, Any], direction: str, content: str) -> None:
    assert type(m["id"]) is int
    assert (m["direction"], m["type"], m["content"], m["attachments"]) == (direction, "text",
                                                                            content, [])
    assert ISO_Z.match(m["created_at"]), m["created_at"]
    created = datetime.fromisoformat(m["created_at"].replace("Z", "+00:00"))
    assert abs(datetime.now(timezone.utc) - created) < timedelta(minutes=1)


@pytest.fixture
def sess(client: Any, biz: dict[str, Any]) -> dict[str, Any]:
    return start(client, biz["pk"])


# ---------- config ---------------------------------------------------------------

def test_config_shape_and_etag(app: Any, client: Any, biz: dict[str, Any]) -> None:
    resp = client.get(f"{CHAT}/config", headers=auth(biz["pk"]))
    assert resp.status_code == 200
    data = resp.get_json()["data"]
    assert set(data) == {"business", "branding", "features", "limits", "presence",
                         "identification", "availability"}
    assert data["business"] == {"id": biz["id"], "name": "Acme", "slug": biz["slug"]}
    assert type(data["business"]["id"]) is int
    branding = data["branding"]
    assert set(branding) == {"primary_color", "accent_color", "welcome_message", "logo_url"}
    assert all(isinstance(branding[k], str) for k in ("primary_color", "accent_color",
                                                      "welcome_message"))
    assert branding["logo_url"] is None or isinstance(branding["logo_url"], str)
    assert {k: type(v) for k, v in data["features"].items()} == {"file_uploads": bool,
                                                                 "voice_notes": bool}
    assert data["limits"] == {"max_upload_kb": app.config["MAX_UPLOAD_KB"],
                              "message_max_length": app.config["MESSAGE_MAX_LENGTH"]}
    assert type(data["presence"]["agents_online"]) is int
    assert data["identification"] == {"required_on_start": False}
    # never set hours: always open (tests/test_availability.py has the closed cases)
    assert data["availability"] == {"open": True, "next_open_at": None, "offline_message": ""}

    etag = resp.headers["ETag"]
    assert etag.startswith('"') and etag.endswith('"') and len(etag) > 2
    cached = client.get(f"{CHAT}/config", headers=auth(biz["pk"], **{"If-None-Match": etag}))
    assert cached.status_code == 304 and cached.get_data() == b""
    assert cached.headers["ETag"] == etag

    set_business(app, biz["id"], primary_color="#FF0000")
    fresh = client.get(f"{CHAT}/config", headers=auth(biz["pk"], **{"If-None-Match": etag}))
    assert fresh.status_code == 200
    assert fresh.headers["ETag"] != etag
    assert fresh.get_json()["data"]["branding"]["primary_color"] == "#FF0000"


# ---------- sessions ---------------------------------------------------------------

def test_start_session_shape(app: Any, client: Any, biz: dict[str, Any]) -> None:
    resp = client.post(f"{CHAT}/sessions", json={"visitor_id": "v-1", "name": "Ann",
                                                 "email": "ann@example.com"},
                       headers=auth(biz["pk"]))
    assert resp.status_code == 201
    data = resp.get_json()["data"]
    assert type(data["session_id"]) is int and type(data["conversation_id"]) is int
    assert isinstance(data["session_token"], str) and len(data["session_token"]) >= 32
    assert data["visitor_id"] == "v-1"
    assert data["contact"]["name"] == "Ann" and data["contact"]["email"] == "ann@example.com"
    rt = data["realtime"]
    assert rt["key"] == app.config["REALTIME_APP_KEY"] and rt["key"] != biz["pk"]
    assert isinstance(rt["key"], str) and rt["key"] and not rt["key"].startswith("pk_")
    assert (rt["host"], rt["port"], rt["scheme"]) == ("localhost", 80, "http")
    assert type(rt["port"]) is int
    assert rt["channel"] == f"private-chat.session.{data['session_id']}"
    assert rt["event"] == "MessageCreated"
    parts = urlsplit(rt["auth_endpoint"])
    assert parts.scheme in ("http", "https") and parts.netloc
    assert parts.path == "/api/v1/chat/broadcasting/auth"
    with session_scope(app) as s:
        row = s.get(ChatSession, data["session_id"])
        assert row.conversation_id == data["conversation_id"] and row.business_id == biz["id"]
        assert s.get(Conversation, data["conversation_id"]).contact.visitor_id == "v-1"


def test_same_visitor_resumes_conversation(app: Any, client: Any, biz: dict[str, Any],
                                           sess: dict[str, Any]) -> None:
    again = start(client, biz["pk"])
    assert again["conversation_id"] == sess["conversation_id"]
    assert again["session_id"] != sess["session_id"]
    assert again["session_token"] != sess["session_token"]
    assert again["realtime"]["channel"] == f"private-chat.session.{again['session_id']}"
    assert (count(app, Conversation), count(app, ChatSession), count(app, Contact)) == (1, 2, 1)
    send(client, biz["pk"], again, "from device 2")
    old = history(client, biz["pk"], sess)  # the earlier token still works
    assert [m["content"] for m in old["data"]] == ["from device 2"]


def test_public_url_drives_realtime_block(tmp_path: Path) -> None:
    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}",
                      "PUBLIC_URL": "https://chat.example.com"})
    pk = make_business(app)["pk"]
    rt = start(app.test_client(), pk)["realtime"]
    assert (rt["host"], rt["port"], rt["scheme"]) == ("chat.example.com", 443, "https")
    assert rt["auth_endpoint"] == "https://chat.example.com/api/v1/chat/broadcasting/auth"


def test_secrets_are_stored_hashed(app: Any, client: Any, biz: dict[str, Any],
                                   sess: dict[str, Any]) -> None:
    token = sess["session_token"]
    with session_scope(app) as s:
        rows = s.execute(select(ChatSession.__table__)).all()
        assert rows and not any(token in str(v) for row in rows for v in row)
        keys = s.execute(select(ApiKey.__table__)).all()
        assert len(keys) == 2
        assert not any(k in str(v) for row in keys for v in row for k in (biz["pk"], biz["sk"]))
        assert all(key_hash.startswith("hmac-sha256$")
                   for key_hash in s.scalars(select(ApiKey.key_hash)))


def test_idempotent_session_start_does_not_store_token(app: Any, client: Any,
                                                       biz: dict[str, Any]) -> None:
    data = start(client, biz["pk"], headers={"Idempotency-Key": "start-1"})
    with session_scope(app) as s:
        for table in ("idempotency_records", "chat_sessions"):
            rows = s.execute(select(Base.metadata.tables[table])).all()
            assert not any(data["session_token"] in str(v) for row in rows for v in row)


# ---------- messages -----------------------------------------------------------------

def test_send_message(app: Any, client: Any, biz: dict[str, Any], sess: dict[str, Any]) -> None:
    content = '  <b>hi</b> & "you" <script>x</script>\n'
    m = send(client, biz["pk"], sess, content)
    assert_chat_message(m, "inbound", content)
    with session_scope(app) as s:
        row = s.get(Message, m["id"])
        assert (row.content, row.conversation_id, row.direction) == (content,
                                                                     sess["conversation_id"],
                                                                     "inbound")
    listed = history(client, biz["pk"], sess)["data"]
    assert listed == [m]


def test_history_pagination(app: Any, client: Any, biz: dict[str, Any],
                            sess: dict[str, Any]) -> None:
    sent = [send(client, biz["pk"], sess, f"m{i}")["id"] for i in range(75)]
    default = history(client, biz["pk"], sess)
    assert len(default["data"]) == 30 and isinstance(default["meta"]["next_cursor"], str)
    pages, cursor = [], ""
    for _ in range(4):
        page = history(client, biz["pk"], sess, f"limit=30&cursor={cursor}")
        pages.append([m["id"] for m in page["data"]])
        cursor = page["meta"]["next_cursor"]
        if cursor is None:
            break
    assert [len(p) for p in pages] == [30, 30, 15]
    assert pages[0] == [m["id"] for m in default["data"]]
    flat = [i for p in pages for i in p]
    assert flat == sorted(sent, reverse=True)  # newest first, no overlap, no gap
    assert history(client, biz["pk"], sess, "limit=100")["meta"] == {"next_cursor": None}


def test_agent_reply_reaches_visitor_history(app: Any, client: Any, biz: dict[str, Any],
                                             sess: dict[str, Any]) -> None:
    send(client, biz["pk"], sess, "help?")
    resp = client.post(f"/api/v1/tickets/{sess['conversation_id']}/messages",
                       json={"content": "On it."}, headers=auth(biz["sk"]))
    assert resp.status_code == 201, resp.get_data(as_text=True)
    reply = resp.get_json()["data"]
    assert_chat_message(reply, "outbound", "On it.")
    listed = history(client, biz["pk"], sess)["data"]
    assert [(m["direction"], m["content"]) for m in listed] == [("outbound", "On it."),
                                                                ("inbound", "help?")]
    other = make_business(app, "Other")
    resp = client.post(f"/api/v1/tickets/{sess['conversation_id']}/messages",
                       json={"content": "intruder"}, headers=auth(other["sk"]))
    assert resp.status_code == 404 and resp.get_json()["error"] == "not_found"
    assert count(app, Message) == 2


def test_identify_updates_contact(app: Any, client: Any, biz: dict[str, Any],
                                  sess: dict[str, Any]) -> None:
    resp = client.post(url(sess, "identify"), headers=auth(biz["pk"], sess["session_token"]),
                       json={"name": "Bo", "email": "bo@example.com", "phone": "+1 555 0100"})
    assert resp.status_code == 200
    contact = resp.get_json()["data"]
    assert (contact["name"], contact["email"], contact["phone"]) == ("Bo", "bo@example.com",
                                                                     "+1 555 0100")
    with session_scope(app) as s:
        row = s.scalar(select(Contact))
        assert (row.name, row.email, row.phone) == ("Bo", "bo@example.com", "+1 555 0100")
    # an unverified resume proves only the visitor_id: it sees back what it sent, not what is
    # stored (tests/test_identity.py)
    resumed = start(client, biz["pk"], name="Bo")
    assert resumed["contact"] == {"name": "Bo", "email": None, "phone": None,
                                  "visitor_id": "v-1"}


@pytest.mark.parametrize("tail", ["typing", "heartbeat"])
def test_typing_and_heartbeat(app: Any, client: Any, biz: dict[str, Any], sess: dict[str, Any],
                              tail: str) -> None:
    day_ago = age_session(app, sess, days=1)
    for _ in range(2):  # the second typing is debounced; the answer is the same
        resp = client.post(url(sess, tail), headers=auth(biz["pk"], sess["session_token"]))
        assert resp.status_code == 200 and resp.get_json() == {"ok": True}
    assert last_seen(app, sess) > day_ago  # any use of the session keeps it alive
    assert count(app, Message) == 0


def age_session(app: Any, sess: dict[str, Any], days: int) -> datetime:
    when = datetime.now(timezone.utc) - timedelta(days=days)
    with session_scope(app) as s:
        s.get(ChatSession, sess["session_id"]).last_seen_at = when
    return when


def last_seen(app: Any, sess: dict[str, Any]) -> datetime:
    with session_scope(app) as s:
        return s.get(ChatSession, sess["session_id"]).last_seen_at  # type: ignore[no-any-return]


def test_using_a_session_keeps_it_alive(app: Any, client: Any, biz: dict[str, Any],
                                        sess: dict[str, Any]) -> None:
    idle_days = app.config["SESSION_IDLE_DAYS"]
    aged = age_session(app, sess, days=idle_days - 1)
    send(client, biz["pk"], sess, "still here")
    assert last_seen(app, sess) > aged + timedelta(days=1)


def test_broadcasting_auth_signature(app: Any, client: Any, biz: dict[str, Any],
                                     sess: dict[str, Any]) -> None:
    channel = sess["realtime"]["channel"]
    resp = client.post(f"{CHAT}/broadcasting/auth", headers=auth(biz["pk"], sess["session_token"]),
                       data={"socket_id": "123.456", "channel_name": channel})
    assert resp.status_code == 200
    body = resp.get_json()
    assert set(body) == {"auth"}
    key, _, sig = body["auth"].partition(":")
    assert key == sess["realtime"]["key"] == app.config["REALTIME_APP_KEY"]
    assert re.fullmatch(r"[0-9a-f]{64}", sig)
    expected = hmac.new(app.config["REALTIME_APP_SECRET"].encode(),
                        f"123.456:{channel}".encode(), hashlib.sha256).hexdigest()
    assert sig == expected


# ---------- allow-lists and tenancy ---------------------------------------------------

BOTH = {"origins": ["https://shop.example"], "bundle_ids": ["com.shop.app"]}


@pytest.mark.parametrize("options,headers,allowed", [
    ({"origins": ["https://shop.example"]}, {"Origin": "https://shop.example"}, True),
    ({"origins": ["https://shop.example"]}, {"Origin": "https://evil.example"}, False),
    ({"origins": ["https://shop.example"]}, {"Origin": "https://shop.example.evil.io"}, False),
    ({"origins": ["https://shop.example"]}, {}, False),
    ({"bundle_ids": ["com.acme.app"]}, {"X-Tickki-Bundle-Id": "com.acme.app"}, True),
    ({"bundle_ids": ["com.acme.app"]}, {"X-Tickki-Bundle-Id": "com.evil.app"}, False),
    ({"bundle_ids": ["com.acme.app"]}, {"Origin": "https://shop.example"}, False),
    # a request with an Origin is a browser's: its origin alone decides (found by a probe:
    # any page could send the app's bundle id and use the restricted key)
    (BOTH, {"Origin": "https://evil.test", "X-Tickki-Bundle-Id": "com.shop.app"}, False),
    ({"bundle_ids": ["com.shop.app"]},
     {"Origin": "https://evil.test", "X-Tickki-Bundle-Id": "com.shop.app"}, False),
    (BOTH, {"Sec-Fetch-Site": "same-origin", "X-Tickki-Bundle-Id": "com.shop.app"}, False),
    (BOTH, {"Origin": "https://shop.example", "X-Tickki-Bundle-Id": "com.evil.app"}, True),
    (BOTH, {"X-Tickki-Bundle-Id": "com.shop.app"}, True),
])
def test_allow_lists(app: Any, client: Any, options: dict[str, Any], headers: dict[str, str],
                     allowed: bool) -> None:
    pk = make_business(app, "Shop", **options)["pk"]
    config = client.get(f"{CHAT}/config", headers=auth(pk, **headers))
    started = client.post(f"{CHAT}/sessions", json={"visitor_id": "v"}, headers=auth(pk, **headers))
    if allowed:
        assert (config.status_code, started.status_code) == (200, 201)
    else:
        for resp in (config, started):
            assert resp.status_code == 403
            assert resp.get_json()["error"] == "origin_not_allowed"
        assert count(app, ChatSession) == 0


def test_businesses_do_not_share_visitors(app: Any, client: Any, biz: dict[str, Any],
                                          sess: dict[str, Any]) -> None:
    other = make_business(app, "Other")
    theirs = start(client, other["pk"])
    assert theirs["conversation_id"] != sess["conversation_id"]
    send(client, other["pk"], theirs, "B's secret")
    assert history(client, biz["pk"], sess)["data"] == []
    with session_scope(app) as s:
        assert s.get(Conversation, theirs["conversation_id"]).business_id == other["id"]


def test_live_mode_is_separate(app: Any, client: Any, biz: dict[str, Any],
                               sess: dict[str, Any]) -> None:
    with session_scope(app) as s:
        _key, pk_live = do_create_key(s, s.get(Business, biz["id"]), "publishable", "live")
    assert pk_live.startswith("pk_live_")
    live = start(client, pk_live)
    assert live["conversation_id"] != sess["conversation_id"]
    resp = client.get(url(sess), headers=auth(pk_live, sess["session_token"]))
    assert resp.status_code == 401 and resp.get_json()["error"] == "invalid_session"
    resp = client.get(url(live), headers=auth(biz["pk"], live["session_token"]))
    assert resp.status_code == 401 and resp.get_json()["error"] == "invalid_session"
    with session_scope(app) as s:
        assert sorted(s.scalars(select(Conversation.mode))) == ["live", "test"]


def test_required_identification(app: Any, client: Any, biz: dict[str, Any]) -> None:
    set_business(app, biz["id"], require_identification=True)
    config = client.get(f"{CHAT}/config", headers=auth(biz["pk"])).get_json()["data"]
    assert config["identification"] == {"required_on_start": True}
    resp = client.post(f"{CHAT}/sessions", json={"visitor_id": "anon"}, headers=auth(biz["pk"]))
    assert resp.status_code == 400 and resp.get_json()["error"] == "validation_error"
    assert (count(app, Contact), count(app, ChatSession)) == (0, 0)
    data = start(client, biz["pk"], "known", email="kim@example.com")
    assert data["contact"]["email"] == "kim@example.com"


def test_key_verification_runs_no_argon2(monkeypatch: pytest.MonkeyPatch, client: Any,
                                    biz: dict[str, Any]) -> None:
    import server.security as security
    real, calls = security.verify_secret, []

    def counting(stored_hash: str, plaintext: str) -> bool:
        calls.append(plaintext)
        return real(stored_hash, plaintext)

    monkeypatch.setattr("server.security.verify_secret", counting)
    for _ in range(5):
        assert client.get(f"{CHAT}/config", headers=auth(biz["pk"])).status_code == 200
    wrong = biz["pk"][:-1] + ("1" if biz["pk"].endswith("0") else "0")
    assert client.get(f"{CHAT}/config", headers=auth(wrong)).status_code == 401
    assert calls == []  # keys are keyed digests: argon2 is for passwords


def test_visitor_writing_reopens_a_resolved_ticket_and_clears_resolution(
        app: Any, client: Any, biz: dict[str, Any], sess: dict[str, Any]) -> None:
    ticket = f"/api/v1/tickets/{sess['conversation_id']}"
    resolved = client.patch(ticket, json={"status": "resolved"},
                            headers=auth(biz["sk"])).get_json()["data"]
    assert resolved["status"] == "resolved" and resolved["resolved_at"] is not None
    send(client, biz["pk"], sess, "one more thing")
    again = client.get(ticket, headers=auth(biz["sk"])).get_json()
    assert again["data"]["status"] == "open"
    assert again["data"]["resolved_at"] is None and again["data"]["resolved_by"] is None
