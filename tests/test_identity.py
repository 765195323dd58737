"""Conversation takeover by visitor_id, and identity verification (PUT /api/v1/identity).

Found by a black-box probe: anyone with a business's publishable key who knew a visitor id
resumed that conversation with the contact's email and phone in the answer, and a ticket
opened through the agent API ("email:<address>") was resumed knowing only the address.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import re
import time
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from app_flet.headless import AuthError, ChatClient
from app_flet.headless.aio import AsyncChatClient
from server.db import session_scope
from server.models import ChatSession, Contact
from server.services.keys import do_create_key, find_business
from tests.conftest import ROOT, agent_token, auth, start_visitor
from tests.pusher import PusherTestClient

CHAT = "/api/v1/chat"


def post_start(client: Any, pk: str, visitor_id: str, **extra: Any) -> Any:
    return client.post(f"{CHAT}/sessions", json={"visitor_id": visitor_id, **extra},
                       headers=auth(pk))


def started(client: Any, pk: str, visitor_id: str, **extra: Any) -> dict[str, Any]:
    resp = post_start(client, pk, visitor_id, **extra)
    assert resp.status_code == 201, resp.get_data(as_text=True)
    return resp.get_json()["data"]  # type: ignore[no-any-return]


def refused(resp: Any, status: int, code: str, field: str | None = None) -> None:
    assert resp.status_code == status, resp.get_data(as_text=True)
    body = resp.get_json()
    assert body["error"] == code, body
    if field is not None:
        assert body["field"] == field, body


def put_identity(client: Any, credential: str, expect: int = 200, **body: Any) -> Any:
    resp = client.put("/api/v1/identity", json=body, headers=auth(credential))
    assert resp.status_code == expect, resp.get_data(as_text=True)
    return resp.get_json()["data"] if expect == 200 else resp.get_json()


def proof(secret: str, visitor_id: str, ts: int | None = None) -> dict[str, Any]:
    """What the business's server computes (the README's snippet)."""
    ts = int(time.time()) if ts is None else ts
    digest = hmac.new(secret.encode(), f"{visitor_id}:{ts}".encode(), hashlib.sha256)
    return {"identity_hash": digest.hexdigest(), "identity_ts": ts}


def history(client: Any, pk: str, sess: dict[str, Any]) -> Any:
    return client.get(f"{CHAT}/sessions/{sess['conversation_id']}/messages",
                      headers=auth(pk, sess["session_token"]))


@pytest.fixture
def secret(client: Any, biz: dict[str, Any]) -> str:
    return put_identity(client, biz["sk"])["secret"]  # type: ignore[no-any-return]


# ---------- takeover by a known visitor_id --------------------------------------------------

def test_resume_by_visitor_id_does_not_echo_stored_email_or_phone(
        client: Any, biz: dict[str, Any]) -> None:
    pk = biz["pk"]
    own = started(client, pk, "v-ann", name="Ann", email="ann@example.com", phone="+1 555 0100")
    assert own["contact"]["email"] == "ann@example.com"  # what it sent comes back
    taken = started(client, pk, "v-ann")
    assert taken["contact"] == {"name": None, "email": None, "phone": None,
                                "visitor_id": "v-ann"}
    assert taken["verified"] is False
    # identify answers what it sent too, not what is stored
    resp = client.post(f"{CHAT}/sessions/{taken['conversation_id']}/identify", json={},
                       headers=auth(pk, taken["session_token"]))
    assert resp.status_code == 200
    assert resp.get_json()["data"] == taken["contact"]
    resp = client.post(f"{CHAT}/sessions/{taken['conversation_id']}/identify",
                       json={"name": "Eve"}, headers=auth(pk, taken["session_token"]))
    assert resp.get_json()["data"] == {"name": "Eve", "email": None, "phone": None,
                                       "visitor_id": "v-ann"}
    # nothing stored was lost: the agents still see the contact in full
    contact = client.get("/api/v1/contacts", headers=auth(biz["sk"])).get_json()["data"][0]
    assert (contact["email"], contact["phone"]) == ("ann@example.com", "+1 555 0100")


@pytest.mark.parametrize("visitor_id", ["email:ann@example.com", "EMAIL:ann@example.com",
                                        "  email:ann@example.com", "erased:0123abcd", "Erased:x"])
def test_ids_the_server_makes_cannot_be_claimed(app: Any, client: Any, biz: dict[str, Any],
                                                visitor_id: str) -> None:
    resp = client.post("/api/v1/tickets", headers=auth(biz["sk"]), json={
        "customer": {"email": "ann@example.com", "name": "Ann"}, "message": "My order?"})
    assert resp.status_code == 201
    refused(post_start(client, biz["pk"], visitor_id), 400, "validation_error", "visitor_id")
    with session_scope(app) as s:
        assert s.scalar(select(func.count()).select_from(ChatSession)) == 0


def test_visitor_ids_merely_containing_a_reserved_word_still_work(
        client: Any, biz: dict[str, Any]) -> None:
    for visitor_id in ("emailer", "v-email:1", "erasedx"):
        assert started(client, biz["pk"], visitor_id)["visitor_id"] == visitor_id


# ---------- PUT / GET /identity -------------------------------------------------------------

def test_secret_is_shown_once(app: Any, client: Any, biz: dict[str, Any],
                              caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    resp = client.put("/api/v1/identity", json={}, headers=auth(biz["sk"]))
    assert resp.status_code == 200 and resp.headers["Cache-Control"] == "no-store"
    made = resp.get_json()["data"]
    secret = made["secret"]
    assert secret.startswith("idv_") and len(secret) >= 40
    assert (made["mode"], made["enabled"], made["required"]) == ("test", True, False)
    shown = client.get("/api/v1/identity", headers=auth(biz["sk"])).get_json()["data"]
    assert "secret" not in shown and shown["enabled"] is True
    changed = put_identity(client, biz["sk"], required=True)
    assert "secret" not in changed and changed["required"] is True
    rotated = put_identity(client, biz["sk"], rotate_secret=True)
    assert rotated["secret"] != secret and rotated["required"] is True
    assert secret not in caplog.text and rotated["secret"] not in caplog.text


def test_identity_settings_need_keys_write(app: Any, client: Any, biz: dict[str, Any]) -> None:
    before = client.get("/api/v1/identity", headers=auth(biz["sk"])).get_json()["data"]
    assert before == {"mode": "test", "enabled": False, "required": False, "created_at": None,
                      "updated_at": None}
    agent = agent_token(app, biz["id"], role="agent")
    refused(client.put("/api/v1/identity", json={}, headers=auth(agent)), 403,
            "insufficient_scope")
    refused(client.put("/api/v1/identity", json={}, headers=auth(biz["pk"])), 401,
            "wrong_key_type")
    owner = agent_token(app, biz["id"], role="owner")
    assert "secret" in put_identity(client, owner)


@pytest.mark.parametrize(("body", "field"), [({"required": "yes"}, "required"),
                                             ({"rotate_secret": 1}, "rotate_secret"),
                                             ({"secret": "mine"}, "secret")])
def test_identity_settings_are_validated(client: Any, biz: dict[str, Any],
                                         body: dict[str, Any], field: str) -> None:
    refused(client.put("/api/v1/identity", json=body, headers=auth(biz["sk"])), 400,
            "validation_error", field)


def test_test_and_live_have_separate_secrets(app: Any, client: Any, biz: dict[str, Any],
                                             secret: str) -> None:
    with session_scope(app) as s:
        _, live_pk = do_create_key(s, find_business(s, biz["slug"]), "publishable", "live")
    put_identity(client, biz["sk"], required=True)  # a test key sets test mode's only
    assert started(client, live_pk, "v-1")["verified"] is False
    refused(post_start(client, biz["pk"], "v-1"), 401, "identity_required")


# ---------- verified starts -----------------------------------------------------------------

def test_verified_start_marks_the_contact_and_sees_it_stored(
        app: Any, client: Any, biz: dict[str, Any], secret: str) -> None:
    first = started(client, biz["pk"], "user-42", email="ann@example.com", phone="+1 5",
                    **proof(secret, "user-42"))
    assert first["verified"] is True
    again = started(client, biz["pk"], "user-42", **proof(secret, "user-42"))
    assert again["conversation_id"] == first["conversation_id"]
    assert again["contact"] == {"name": None, "email": "ann@example.com", "phone": "+1 5",
                                "visitor_id": "user-42"}
    resp = client.post(f"{CHAT}/sessions/{again['conversation_id']}/identify", json={},
                       headers=auth(biz["pk"], again["session_token"]))
    assert resp.get_json()["data"]["email"] == "ann@example.com"
    with session_scope(app) as s:
        assert s.scalar(select(Contact.verified_at)) is not None
    contact = client.get("/api/v1/contacts", headers=auth(biz["sk"])).get_json()["data"][0]
    assert contact["verified_at"].endswith("Z")  # agents see who is verified


def test_identity_ts_may_come_as_a_string(client: Any, biz: dict[str, Any],
                                          secret: str) -> None:
    """The widget passes data-identity-ts, an HTML attribute: a string of digits."""
    sent = proof(secret, "user-7")
    sent["identity_ts"] = str(sent["identity_ts"])
    assert started(client, biz["pk"], "user-7", **sent)["verified"] is True


def test_required_refuses_unverified_starts(client: Any, biz: dict[str, Any],
                                            secret: str) -> None:
    put_identity(client, biz["sk"], required=True)
    refused(post_start(client, biz["pk"], "anonymous-1"), 401, "identity_required")
    assert started(client, biz["pk"], "user-1", **proof(secret, "user-1"))["verified"] is True


@pytest.mark.parametrize("required", [False, True])
def test_bad_hash_is_refused(client: Any, biz: dict[str, Any], secret: str,
                             required: bool) -> None:
    put_identity(client, biz["sk"], required=required)
    other = proof(secret, "user-2")  # a real hash, for another visitor
    refused(post_start(client, biz["pk"], "user-1", **other), 401, "invalid_identity",
            "identity_hash")
    wrong_key = proof("not-the-secret", "user-1")
    refused(post_start(client, biz["pk"], "user-1", **wrong_key), 401, "invalid_identity")
    garbage = {**proof(secret, "user-1"), "identity_hash": "zz\u00e9" * 30}
    refused(post_start(client, biz["pk"], "user-1", **garbage), 401, "invalid_identity")


def test_rotation_refuses_hashes_of_the_old_secret(client: Any, biz: dict[str, Any],
                                                   secret: str) -> None:
    put_identity(client, biz["sk"], rotate_secret=True)
    refused(post_start(client, biz["pk"], "user-1", **proof(secret, "user-1")), 401,
            "invalid_identity")


@pytest.mark.parametrize("age", [660, -660, 10**6])
def test_expired_or_future_timestamps_are_refused(client: Any, biz: dict[str, Any],
                                                  secret: str, age: int) -> None:
    stale = proof(secret, "user-1", int(time.time()) - age)
    refused(post_start(client, biz["pk"], "user-1", **stale), 401, "invalid_identity",
            "identity_ts")
    fresh = proof(secret, "user-1", int(time.time()) - 500)
    assert started(client, biz["pk"], "user-1", **fresh)["verified"] is True


def test_a_hash_without_a_secret_is_refused(client: Any, biz: dict[str, Any]) -> None:
    refused(post_start(client, biz["pk"], "user-1", **proof("guess", "user-1")), 401,
            "invalid_identity", "identity_hash")


@pytest.mark.parametrize(("extra", "field"), [
    ({"identity_hash": "ab"}, "identity_ts"), ({"identity_ts": 1}, "identity_hash"),
    ({"identity_hash": "ab", "identity_ts": "soon"}, "identity_ts"),
    ({"identity_hash": "ab", "identity_ts": True}, "identity_ts"),
    ({"identity_hash": "ab", "identity_ts": -5}, "identity_ts"),
    ({"identity_hash": 12, "identity_ts": 1}, "identity_hash")])
def test_proof_fields_are_validated(client: Any, biz: dict[str, Any], extra: dict[str, Any],
                                    field: str) -> None:
    refused(post_start(client, biz["pk"], "user-1", **extra), 400, "validation_error", field)


# ---------- resume rules --------------------------------------------------------------------

def test_only_verified_starts_resume_a_verified_contact(
        client: Any, biz: dict[str, Any], secret: str) -> None:
    """Not required business-wide, still: once verified, the visitor_id alone is not enough
    (Intercom's rule: a user_id seen with a valid hash needs one from then on)."""
    pk = biz["pk"]
    squatter = started(client, pk, "user-9")  # someone who learnt the id, before the user
    assert history(client, pk, squatter).status_code == 200
    own = started(client, pk, "user-9", email="ann@example.com", **proof(secret, "user-9"))
    assert own["conversation_id"] == squatter["conversation_id"]
    # the unverified session that came first is shut out (its socket closes with 4009)
    refused(history(client, pk, squatter), 401, "invalid_session")
    refused(post_start(client, pk, "user-9"), 401, "identity_required")
    refused(post_start(client, pk, "user-9", email="eve@example.com"), 401, "identity_required")
    assert history(client, pk, own).status_code == 200
    contacts = client.get("/api/v1/contacts", headers=auth(biz["sk"])).get_json()["data"]
    assert contacts[0]["email"] == "ann@example.com"  # the refused start changed nothing


def test_unverified_contacts_still_resume_by_visitor_id(client: Any, biz: dict[str, Any],
                                                        secret: str) -> None:
    """The Tickki SDK's resume-by-id keeps working for anonymous visitors."""
    first = started(client, biz["pk"], "anon-1")
    again = started(client, biz["pk"], "anon-1")
    assert again["conversation_id"] == first["conversation_id"]
    assert history(client, biz["pk"], first).status_code == 200  # both devices stay


# ---------- the headless client -------------------------------------------------------------

def test_headless_client_sends_the_proof(app: Any, biz: dict[str, Any], secret: str) -> None:
    transport = httpx.WSGITransport(app=app)
    with ChatClient(biz["pk"], "http://testserver", transport=transport) as chat:
        session = chat.start_session("user-5", email="ann@example.com",
                                     **proof(secret, "user-5"))
        assert session.details.verified is True
        assert session.contact.email == "ann@example.com"
        with pytest.raises(AuthError) as refusal:
            chat.start_session("user-5")
        assert refusal.value.code == "identity_required" and refusal.value.is_auth_error


def test_async_client_sends_the_proof(app: Any, biz: dict[str, Any], secret: str) -> None:
    async def start() -> bool:
        transport = httpx.WSGITransport(app=app)
        async with AsyncChatClient(biz["pk"], "http://testserver", transport=transport) as chat:
            session = await chat.start_session("user-6", **proof(secret, "user-6"))
            return session.sync.details.verified

    assert asyncio.run(start()) is True


def test_the_readme_snippet_makes_hashes_the_server_accepts(client: Any, biz: dict[str, Any],
                                                           secret: str) -> None:
    section = (ROOT / "README.md").read_text(encoding="utf-8").split(
        "### Identity verification", 1)[1].split("\n## ", 1)[0]
    namespace: dict[str, Any] = {}
    exec(re.search(r"```python\n(.*?)```", section, flags=re.S).group(1), namespace)  # type: ignore[union-attr]
    made = namespace["chatdock_identity"](secret, "user-8432")
    assert started(client, biz["pk"], "user-8432", **made)["verified"] is True


def test_verifying_closes_the_sockets_of_unverified_sessions(live: str, app: Any,
                                                             biz: dict[str, Any]) -> None:
    """Whoever resumed a visitor by id alone loses the live channel too (4009), not only the
    HTTP token, the moment the real user starts verified."""
    secret = httpx.put(f"{live}/api/v1/identity", json={},
                       headers=auth(biz["sk"])).json()["data"]["secret"]
    squatter = start_visitor(live, biz["pk"], "user-31")
    socket = PusherTestClient.for_session(squatter)
    socket.subscribe_session(squatter, biz["pk"])
    try:
        start_visitor(live, biz["pk"], "user-31", **proof(secret, "user-31"))
        assert socket.close_code(timeout=6) == 4009
    finally:
        socket.close()
