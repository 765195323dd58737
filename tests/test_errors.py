"""Every error row: status, exact {"error", "message"[, "field"]} body, no side effects."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from sqlalchemy import func, select

from server.db import session_scope
from server.models import Business, ChatSession, Contact, Conversation, IdempotencyRecord, Message
from server.services.keys import do_create_key, do_revoke_key
from tests.conftest import auth, make_business

CHAT = "/api/v1/chat"


def counts(app: Any) -> dict[str, int]:
    with session_scope(app) as s:
        return {m.__tablename__: s.scalar(select(func.count()).select_from(m))
                for m in (Message, ChatSession, Conversation, Contact, IdempotencyRecord)}


def assert_error(resp: Any, status: int, code: str, field: str | None = None) -> dict[str, Any]:
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.mimetype == "application/json"
    body = resp.get_json()
    assert set(body) == ({"error", "message", "field"} if field else {"error", "message"}), body
    assert body["error"] == code
    assert isinstance(body["message"], str) and body["message"].strip()
    if field:
        assert body["field"] == field
    return body  # type: ignore[no-any-return]


def start(client: Any, pk: str, visitor_id: str = "v-1", **extra: Any) -> dict[str, Any]:
    resp = client.post(f"{CHAT}/sessions", json={"visitor_id": visitor_id, **extra},
                       headers=auth(pk))
    assert resp.status_code == 201, resp.get_data(as_text=True)
    return resp.get_json()["data"]  # type: ignore[no-any-return]


def msgs_url(sess: dict[str, Any]) -> str:
    return f"{CHAT}/sessions/{sess['conversation_id']}/messages"


@pytest.fixture
def sess(client: Any, biz: dict[str, Any]) -> dict[str, Any]:
    return start(client, biz["pk"])


# ---------- routing ---------------------------------------------------------

@pytest.mark.parametrize("method,path,status,code", [
    ("get", "/no/such/page", 404, "not_found"),
    ("post", f"{CHAT}/nothing-here", 404, "not_found"),
    ("get", f"{CHAT}/broadcasting/auth", 405, "method_not_allowed"),
    ("delete", f"{CHAT}/config", 405, "method_not_allowed"),
])
def test_routing_errors_are_json(client: Any, biz: dict[str, Any], method: str, path: str,
                                 status: int, code: str) -> None:
    resp = getattr(client, method)(path, headers=auth(biz["pk"]))
    assert_error(resp, status, code)
    assert "<html" not in resp.get_data(as_text=True).lower()
    if status == 405:
        assert resp.headers.get("Allow")


# ---------- keys --------------------------------------------------------------

@pytest.mark.parametrize("header,code", [
    (None, "missing_api_key"),
    ("Bearer ", "missing_api_key"),
    ("Basic dXNlcjpwYXNz", "missing_api_key"),
    ("Bearer garbage", "invalid_api_key"),
    ("Bearer pk_test_" + "A" * 34, "invalid_api_key"),  # well-formed, unknown
    ("WRONG_SECRET", "invalid_api_key"),  # right lookup prefix, wrong secret part
])
def test_bad_api_key(app: Any, client: Any, biz: dict[str, Any], header: str | None,
                     code: str) -> None:
    if header == "WRONG_SECRET":
        header = "Bearer " + biz["pk"][:-4] + ("zzzz" if not biz["pk"].endswith("zzzz") else "yyyy")
    before = counts(app)
    headers = {"Authorization": header} if header else {}
    assert_error(client.get(f"{CHAT}/config", headers=headers), 401, code)
    resp = client.post(f"{CHAT}/sessions", json={"visitor_id": "v"}, headers=headers)
    assert_error(resp, 401, code)
    assert counts(app) == before


def test_revoked_key_is_rejected_immediately(app: Any, client: Any, biz: dict[str, Any],
                                             sess: dict[str, Any]) -> None:
    assert client.get(f"{CHAT}/config", headers=auth(biz["pk"])).status_code == 200  # cache warm
    with session_scope(app) as s:
        do_revoke_key(s, biz["pk_id"])
    before = counts(app)
    assert_error(client.get(f"{CHAT}/config", headers=auth(biz["pk"])), 401, "invalid_api_key")
    assert_error(client.post(f"{CHAT}/sessions", json={"visitor_id": "v-2"},
                             headers=auth(biz["pk"])), 401, "invalid_api_key")
    resp = client.post(msgs_url(sess), json={"content": "hi"},
                       headers=auth(biz["pk"], sess["session_token"]))
    assert_error(resp, 401, "invalid_api_key")
    assert counts(app) == before


def test_secret_key_on_visitor_endpoints(app: Any, client: Any, biz: dict[str, Any],
                                         sess: dict[str, Any]) -> None:
    before = counts(app)
    assert_error(client.get(f"{CHAT}/config", headers=auth(biz["sk"])), 401, "wrong_key_type")
    assert_error(client.post(f"{CHAT}/sessions", json={"visitor_id": "v-9"},
                             headers=auth(biz["sk"])), 401, "wrong_key_type")
    resp = client.post(msgs_url(sess), json={"content": "hi"},
                       headers=auth(biz["sk"], sess["session_token"]))
    assert_error(resp, 401, "wrong_key_type")
    assert counts(app) == before


def test_publishable_key_on_agent_endpoint(app: Any, client: Any, biz: dict[str, Any],
                                           sess: dict[str, Any]) -> None:
    before = counts(app)
    resp = client.post(f"/api/v1/tickets/{sess['conversation_id']}/messages",
                       json={"content": "agent?"}, headers=auth(biz["pk"]))
    assert_error(resp, 401, "wrong_key_type")
    assert counts(app) == before


def _read_only_sk(app: Any, biz: dict[str, Any]) -> str:
    with session_scope(app) as s:
        _key, text = do_create_key(s, s.get(Business, biz["id"]), "secret", "test",
                                   scopes=["tickets:read"])
    return text


def test_secret_key_without_scope(app: Any, client: Any, biz: dict[str, Any],
                                  sess: dict[str, Any]) -> None:
    sk = _read_only_sk(app, biz)
    before = counts(app)
    resp = client.post(f"/api/v1/tickets/{sess['conversation_id']}/messages",
                       json={"content": "agent reply"}, headers=auth(sk))
    assert resp.status_code == 403 and resp.get_json()["error"] == "insufficient_scope"
    assert isinstance(resp.get_json()["message"], str)
    assert counts(app) == before


def test_insufficient_scope_body_has_no_field(app: Any, client: Any, biz: dict[str, Any],
                                             sess: dict[str, Any]) -> None:
    resp = client.post(f"/api/v1/tickets/{sess['conversation_id']}/messages",
                       json={"content": "x"}, headers=auth(_read_only_sk(app, biz)))
    assert_error(resp, 403, "insufficient_scope")


# ---------- session tokens ----------------------------------------------------

SESSION_CALLS = [("post", "messages", {"content": "hi"}), ("get", "messages", None),
                 ("post", "identify", {"name": "Ann"}), ("post", "typing", None),
                 ("post", "heartbeat", None)]


@pytest.mark.parametrize("method,tail,body", SESSION_CALLS)
@pytest.mark.parametrize("token,code", [(None, "missing_session_token"),
                                        ("cst_bogus-token", "invalid_session")])
def test_session_token_required(app: Any, client: Any, biz: dict[str, Any], sess: dict[str, Any],
                                method: str, tail: str, body: Any, token: str | None,
                                code: str) -> None:
    before = counts(app)
    resp = getattr(client, method)(f"{CHAT}/sessions/{sess['conversation_id']}/{tail}",
                                   json=body, headers=auth(biz["pk"], token))
    assert_error(resp, 401, code)
    assert counts(app) == before


@pytest.mark.parametrize("token,code", [(None, "missing_session_token"),
                                        ("cst_bogus-token", "invalid_session")])
def test_channel_auth_needs_session(client: Any, biz: dict[str, Any], sess: dict[str, Any],
                                    token: str | None, code: str) -> None:
    resp = client.post(f"{CHAT}/broadcasting/auth", headers=auth(biz["pk"], token),
                       data={"socket_id": "1.2", "channel_name": sess["realtime"]["channel"]})
    assert_error(resp, 401, code)


def test_token_of_another_business(app: Any, client: Any, biz: dict[str, Any],
                                   sess: dict[str, Any]) -> None:
    other = make_business(app, "Other")
    start(client, other["pk"], "v-1")
    before = counts(app)
    resp = client.post(msgs_url(sess), json={"content": "hi"},
                       headers=auth(other["pk"], sess["session_token"]))
    assert_error(resp, 401, "invalid_session")
    assert counts(app) == before


def test_token_on_another_conversation(app: Any, client: Any, biz: dict[str, Any],
                                       sess: dict[str, Any]) -> None:
    other = start(client, biz["pk"], "v-other")
    assert other["conversation_id"] != sess["conversation_id"]
    before = counts(app)
    for method, body in (("post", {"content": "sneaky"}), ("get", None)):
        resp = getattr(client, method)(msgs_url(other), json=body,
                                       headers=auth(biz["pk"], sess["session_token"]))
        assert_error(resp, 404, "not_found")
    assert counts(app) == before


# ---------- bodies and validation -----------------------------------------------

@pytest.mark.parametrize("raw", ["{not json", "[1, 2]", '"text"', "\xff\xfe"])
@pytest.mark.parametrize("target", ["sessions", "messages"])
def test_body_must_be_a_json_object(app: Any, client: Any, biz: dict[str, Any],
                                    sess: dict[str, Any], raw: str, target: str) -> None:
    url, headers = ((f"{CHAT}/sessions", auth(biz["pk"])) if target == "sessions"
                    else (msgs_url(sess), auth(biz["pk"], sess["session_token"])))
    before = counts(app)
    data = raw.encode("latin-1")
    resp = client.post(url, data=data, headers=headers, content_type="application/json")
    assert_error(resp, 400, "invalid_json")
    assert counts(app) == before


@pytest.mark.parametrize("tail,body,field", [
    ("start", {}, "visitor_id"),
    ("start", {"visitor_id": "   "}, "visitor_id"),
    ("start", {"visitor_id": 42}, "visitor_id"),
    ("start", {"visitor_id": "v-x", "email": "not-an-email"}, "email"),
    ("messages", {}, "content"),
    ("messages", {"content": 5}, "content"),
    ("messages", {"content": ["hi"]}, "content"),
    ("messages", {"content": ""}, "content"),
    ("messages", {"content": " \n\t "}, "content"),
    ("identify", {"email": "nope"}, "email"),
    ("identify", {"email": "a@b"}, "email"),
    ("identify", {"name": 7}, "name"),
])
def test_validation_errors(app: Any, client: Any, biz: dict[str, Any], sess: dict[str, Any],
                           tail: str, body: dict[str, Any], field: str) -> None:
    before = counts(app)
    if tail == "start":
        resp = client.post(f"{CHAT}/sessions", json=body, headers=auth(biz["pk"]))
    else:
        resp = client.post(f"{CHAT}/sessions/{sess['conversation_id']}/{tail}", json=body,
                           headers=auth(biz["pk"], sess["session_token"]))
    assert_error(resp, 400, "validation_error", field)
    assert counts(app) == before
    with session_scope(app) as s:
        assert s.scalar(select(Contact.email)) is None


def test_content_length_limit(app: Any, client: Any, biz: dict[str, Any],
                              sess: dict[str, Any]) -> None:
    limit = app.config["MESSAGE_MAX_LENGTH"]
    headers = auth(biz["pk"], sess["session_token"])
    before = counts(app)
    assert_error(client.post(msgs_url(sess), json={"content": "x" * (limit + 1)}, headers=headers),
                 400, "validation_error", "content")
    assert counts(app) == before
    resp = client.post(msgs_url(sess), json={"content": "y" * limit}, headers=headers)
    assert resp.status_code == 201
    assert len(resp.get_json()["data"]["content"]) == limit
    assert counts(app)["messages"] == before["messages"] + 1


@pytest.mark.parametrize("query,field", [
    ("limit=0", "limit"), ("limit=101", "limit"), ("limit=abc", "limit"), ("limit=-1", "limit"),
    ("limit=2.5", "limit"), ("cursor=!!!", "cursor"), ("cursor=bm90LWEtY3Vyc29y", "cursor"),
    ("cursor=%FF%FE", "cursor"),
])
def test_history_query_errors(client: Any, biz: dict[str, Any], sess: dict[str, Any],
                              query: str, field: str) -> None:
    resp = client.get(f"{msgs_url(sess)}?{query}", headers=auth(biz["pk"], sess["session_token"]))
    assert_error(resp, 400, "validation_error", field)


def test_json_body_over_max_json_bytes(app: Any, client: Any, biz: dict[str, Any],
                                       sess: dict[str, Any]) -> None:
    size = app.config["MAX_JSON_BYTES"]
    assert size < app.config["MAX_CONTENT_LENGTH"]
    raw = json.dumps({"content": "x" * size}).encode()
    before = counts(app)
    resp = client.post(msgs_url(sess), data=raw, content_type="application/json",
                       headers=auth(biz["pk"], sess["session_token"]))
    assert_error(resp, 413, "payload_too_large")
    assert counts(app) == before


def test_body_over_max_content_length(app: Any, client: Any, biz: dict[str, Any],
                                      sess: dict[str, Any]) -> None:
    raw = json.dumps({"content": "x" * app.config["MAX_CONTENT_LENGTH"]}).encode()
    before = counts(app)
    resp = client.post(msgs_url(sess), data=raw, content_type="application/json",
                       headers=auth(biz["pk"], sess["session_token"]))
    assert_error(resp, 413, "payload_too_large")
    assert "<html" not in resp.get_data(as_text=True).lower()
    assert counts(app) == before


# ---------- channel auth ----------------------------------------------------------

@pytest.mark.parametrize("socket_id", [
    "", "abc", "123", "1.2.3", "12.ab", ".5", "1 .2",
    "123.456\n",
])
def test_channel_auth_bad_socket_id(client: Any, biz: dict[str, Any], sess: dict[str, Any],
                                    socket_id: str) -> None:
    resp = client.post(f"{CHAT}/broadcasting/auth", headers=auth(biz["pk"], sess["session_token"]),
                       data={"socket_id": socket_id, "channel_name": sess["realtime"]["channel"]})
    assert_error(resp, 400, "validation_error", "socket_id")


def test_channel_auth_other_channels(client: Any, biz: dict[str, Any],
                                     sess: dict[str, Any]) -> None:
    other = start(client, biz["pk"], "v-2")
    headers = auth(biz["pk"], sess["session_token"])
    for channel in (other["realtime"]["channel"], f"private-business.{biz['id']}",
                    f"presence-chat.session.{sess['session_id']}"):
        resp = client.post(f"{CHAT}/broadcasting/auth", headers=headers,
                           data={"socket_id": "1.2", "channel_name": channel})
        assert_error(resp, 403, "forbidden")
    resp = client.post(f"{CHAT}/broadcasting/auth", headers=headers, data={"socket_id": "1.2"})
    assert_error(resp, 400, "validation_error", "channel_name")


# ---------- unexpected errors ---------------------------------------------------------

def test_unexpected_exception_is_a_generic_500(monkeypatch: pytest.MonkeyPatch, client: Any,
                                               biz: dict[str, Any], sess: dict[str, Any]) -> None:
    def boom(*_a: Any, **_k: Any) -> Any:
        raise RuntimeError("secret detail")

    monkeypatch.setattr("server.services.chat.list_history", boom)
    resp = client.get(msgs_url(sess), headers=auth(biz["pk"], sess["session_token"]))
    assert_error(resp, 500, "internal_error")
    text = resp.get_data(as_text=True)
    assert "secret detail" not in text and "Traceback" not in text and "RuntimeError" not in text


# ---------- idempotency -----------------------------------------------------------------

def test_idempotent_retry_replays_without_duplicate(app: Any, client: Any, biz: dict[str, Any],
                                                    sess: dict[str, Any]) -> None:
    headers = auth(biz["pk"], sess["session_token"], **{"Idempotency-Key": "retry-1"})
    first = client.post(msgs_url(sess), json={"content": "once"}, headers=headers)
    second = client.post(msgs_url(sess), json={"content": "once"}, headers=headers)
    assert first.status_code == second.status_code == 201
    assert second.get_json() == first.get_json()
    assert second.headers.get("Idempotent-Replayed") == "true"
    assert "Idempotent-Replayed" not in first.headers
    with session_scope(app) as s:
        assert s.scalars(select(Message.content)).all() == ["once"]
    before = counts(app)
    conflict = client.post(msgs_url(sess), json={"content": "twice"}, headers=headers)
    assert_error(conflict, 422, "idempotency_conflict")
    assert counts(app) == before


# ---------- found while building the agent API ---------------------------------------

@pytest.mark.parametrize("path", [
    "/api/v1/tickets/9223372036854775808", "/api/v1/contacts/99999999999999999999",
    "/api/v1/keys/9223372036854775808"])
def test_ids_beyond_a_row_id_are_404_not_500(client: Any, biz: dict[str, Any],
                                              path: str) -> None:
    method = "DELETE" if "/keys/" in path else "GET"
    resp = client.open(path, method=method, headers=auth(biz["sk"]))
    assert_error(resp, 404, "not_found")


def test_non_ascii_digits_are_a_validation_error(client: Any, biz: dict[str, Any],
                                                 sess: dict[str, Any]) -> None:
    resp = client.get(f"/api/v1/chat/sessions/{sess['conversation_id']}/messages?limit=²",
                      headers=auth(biz["pk"], sess["session_token"]))
    assert_error(resp, 400, "validation_error", field="limit")
    resp = client.get("/api/v1/tickets?per_page=²", headers=auth(biz["sk"]))
    assert_error(resp, 400, "validation_error", field="per_page")


# ---------- found while restructuring ------------------------------------------------------

# "m" and thirty 9s: a history cursor's shape with an id no row can have (above 2**63 - 1)
HUGE_CURSOR = base64.urlsafe_b64encode(b"m" + b"9" * 30).decode().rstrip("=")


@pytest.mark.parametrize("endpoint", ["history", "tickets"])
def test_a_cursor_beyond_any_row_id_is_a_validation_error(client: Any, biz: dict[str, Any],
                                                          sess: dict[str, Any],
                                                          endpoint: str) -> None:
    if endpoint == "history":
        resp = client.get(f"{msgs_url(sess)}?cursor={HUGE_CURSOR}",
                          headers=auth(biz["pk"], sess["session_token"]))
    else:
        resp = client.get(f"/api/v1/tickets?cursor={HUGE_CURSOR}", headers=auth(biz["sk"]))
    assert_error(resp, 400, "validation_error", field="cursor")


@pytest.mark.parametrize(("method", "path"), [
    ("PATCH", "/api/v1/tickets/9223372036854775808"),
    ("PATCH", "/api/v1/contacts/9223372036854775808"),
    ("DELETE", "/api/v1/contacts/99999999999999999999"),
    ("GET", "/api/v1/chat/sessions/9223372036854775808/messages")])
def test_ids_beyond_a_row_id_are_404_for_every_method(client: Any, biz: dict[str, Any],
                                                      method: str, path: str) -> None:
    """Found by schemathesis: the second method of a path answered 405 method_not_allowed."""
    credential = auth(biz["pk"], "cst_x") if "/chat/" in path else auth(biz["sk"])
    resp = client.open(path, method=method, headers=credential, json={})
    assert_error(resp, 404, "not_found")


def test_the_row_id_regex_matches_exactly_0_to_the_largest_id() -> None:
    import re

    from server.app import digits_at_most
    from server.models import MAX_ROW_ID

    for top in (0, 9, 10, 100, 305, 1000):
        regex = re.compile(digits_at_most(top))
        assert [n for n in range(3000) if regex.fullmatch(str(n))] == list(range(top + 1))
    for top in (MAX_ROW_ID, 2**63 - 1):
        regex = re.compile(digits_at_most(top))
        assert all(regex.fullmatch(str(n)) for n in (top, top - 1, top // 10, 10 ** (len(
            str(top)) - 1), 7))
        assert not any(regex.fullmatch(str(n)) for n in (top + 1, top + 10**5, top * 10,
                                                          10 ** len(str(top))))


# ---------- found while fuzzing the OpenAPI document ----------------------------------

# JSON may spell NUL and lone UTF-16 surrogates as \u escapes: no database stores them
# (UTF-8 cannot encode a lone surrogate; PostgreSQL refuses NUL in text). They were 500s.
UNSTORABLE = [r"a\u0000b", r"\ud800", r"x\udfff"]


@pytest.mark.parametrize("escape", UNSTORABLE)
def test_unstorable_text_in_a_json_body_is_a_400_naming_the_field(
        client: Any, biz: dict[str, Any], sess: dict[str, Any], escape: str) -> None:
    def post(path: str, raw: str, headers: dict[str, str]) -> Any:
        return client.post(path, data=raw.encode(), headers={
            **headers, "Content-Type": "application/json"})

    visitor = auth(biz["pk"], sess["session_token"])
    conversation = f"/api/v1/chat/sessions/{sess['conversation_id']}"
    for path, raw, headers, field in [
            ("/api/v1/chat/sessions", f'{{"visitor_id": "{escape}"}}', auth(biz["pk"]),
             "visitor_id"),
            (f"{conversation}/messages", f'{{"content": "{escape}"}}', visitor, "content"),
            (f"{conversation}/identify", f'{{"name": "{escape}"}}', visitor, "name"),
            ("/api/v1/tickets", f'{{"customer": {{"email": "a{escape}@b.co"}}, "message": "m"}}',
             auth(biz["sk"]), "customer.email"),
            ("/api/v1/auth/login", f'{{"email": "a@b.co", "password": "{escape}"}}', {},
             "password"),
            ("/api/v1/chat/sessions", f'{{"visitor_id": "v", "{escape}": 1}}', auth(biz["pk"]),
             "body")]:
        assert_error(post(path, raw, headers), 400, "validation_error", field=field)
    with session_scope(client.application) as s:
        assert s.scalar(select(func.count()).select_from(Message)) == 0


def test_a_surrogate_pair_is_one_character_and_stored(client: Any, biz: dict[str, Any]) -> None:
    resp = client.post("/api/v1/chat/sessions", headers={**auth(biz["pk"]),
                                                          "Content-Type": "application/json"},
                       data=rb'{"visitor_id": "\ud83d\ude00"}')
    assert resp.status_code == 201 and resp.get_json()["data"]["visitor_id"] == "\U0001f600"


@pytest.mark.parametrize("query", ["q=a%00b", "tag=%00", "status=open&q=%ED%A0%80"])
def test_nul_in_a_query_string_is_a_400_naming_the_parameter(client: Any, biz: dict[str, Any],
                                                             query: str) -> None:
    resp = client.get(f"/api/v1/tickets?{query}", headers=auth(biz["sk"]))
    name = query.rsplit("=", 1)[0].rsplit("&", 1)[-1]
    if "%ED" in query:  # invalid UTF-8 is decoded to U+FFFD, which is storable
        assert resp.status_code == 200
    else:
        assert_error(resp, 400, "validation_error", field=name)
    assert_error(client.get("/api/v1/contacts?q=%00", headers=auth(biz["sk"])), 400,
                 "validation_error", field="q")


@pytest.mark.parametrize("raw", [b"[" * 100_000, b'{"a":' * 50_000 + b"1" + b"}" * 50_000])
def test_json_nested_too_deeply_is_a_400_not_a_500(client: Any, biz: dict[str, Any],
                                                   raw: bytes) -> None:
    resp = client.post("/api/v1/chat/sessions", data=raw,
                       headers={**auth(biz["pk"]), "Content-Type": "application/json"})
    assert_error(resp, 400, "invalid_json")
