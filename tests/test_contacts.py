"""The contacts API: search, pagination, update, export and erasure (GDPR)."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import event, select

from server.channels import business_channel, business_channel_data
from server.db import session_scope
from server.models import (
    Base,
    Business,
    ChatSession,
    Contact,
    Conversation,
    Message,
    TicketTag,
    utcnow,
)
from server.security import channel_signature
from server.services.keys import do_create_key
from tests.conftest import auth, make_business, start_visitor
from tests.pusher import PusherTestClient

API = "/api/v1"


def start(client: Any, pk: str, visitor_id: str, **extra: Any) -> dict[str, Any]:
    resp = client.post(f"{API}/chat/sessions", json={"visitor_id": visitor_id, **extra},
                       headers=auth(pk))
    assert resp.status_code == 201, resp.get_data(as_text=True)
    return resp.get_json()["data"]  # type: ignore[no-any-return]


def contact_id(app: Any, business_id: int, visitor_id: str) -> int:
    with session_scope(app) as s:
        return s.scalars(select(Contact.id).where(
            Contact.business_id == business_id, Contact.visitor_id == visitor_id)).one()


def seed_contacts(app: Any, business_id: int, n: int, mode: str = "test") -> list[int]:
    """n contacts, one second apart (the last is the newest); return their ids in order."""
    base = utcnow() - timedelta(days=1)
    with session_scope(app) as s:
        rows = [Contact(business_id=business_id, mode=mode, visitor_id=f"seed-{i:03d}",
                        name=f"Seed {i:03d}", email=f"seed{i:03d}@example.com",
                        created_at=base + timedelta(seconds=i)) for i in range(n)]
        s.add_all(rows)
        s.flush()
        return [r.id for r in rows]


def get_list(client: Any, sk: str, query: str = "") -> Any:
    return client.get(f"{API}/contacts?{query}", headers=auth(sk))


def patch(client: Any, sk: str, cid: int, body: Any) -> Any:
    return client.patch(f"{API}/contacts/{cid}", json=body, headers=auth(sk))


# ---------- list and search -------------------------------------------------


def test_list_is_newest_first_with_conversation_counts(app: Any, client: Any,
                                                       biz: dict[str, Any]) -> None:
    start(client, biz["pk"], "first", name="Ann", email="ann@example.com")
    start(client, biz["pk"], "second")
    older = contact_id(app, biz["id"], "first")
    with session_scope(app) as s:  # a second (earlier, resolved) conversation for Ann
        s.add(Conversation(business_id=biz["id"], mode="test", contact_id=older,
                           status="resolved"))
    body = get_list(client, biz["sk"]).get_json()
    assert [r["visitor_id"] for r in body["data"]] == ["second", "first"]
    assert body["meta"] == {"total": 2, "page": 1, "per_page": 25}
    ann = body["data"][1]
    assert ann == {"id": older, "visitor_id": "first", "name": "Ann",
                   "email": "ann@example.com", "phone": None, "custom_fields": {},
                   "created_at": ann["created_at"], "verified_at": None, "conversations": 2}
    assert ann["created_at"].endswith("Z")
    assert body["data"][0]["conversations"] == 1


@pytest.mark.parametrize("q, expected", [
    ("ann", ["v-ann"]),                  # name, case-insensitive
    ("ANNA@EXAMPLE", ["v-ann"]),         # email, case-insensitive
    ("v-BO", ["v-bob"]),                 # visitor_id
    ("example.com", ["v-bob", "v-ann"]),  # several, newest first
    ("  ann  ", ["v-ann"]),              # trimmed
    ("nobody", []),
    ("%", []),                           # LIKE wildcards are literal
    ("_", ["v-under_score"]),
    ("", ["v-under_score", "v-bob", "v-ann"]),  # empty: no filter
])
def test_search_over_name_email_and_visitor_id(app: Any, client: Any, biz: dict[str, Any],
                                              q: str, expected: list[str]) -> None:
    start(client, biz["pk"], "v-ann", name="Anna Berg", email="anna@example.com")
    start(client, biz["pk"], "v-bob", name="Robert", email="bob@example.com")
    start(client, biz["pk"], "v-under_score")
    resp = client.get(f"{API}/contacts", query_string={"q": q}, headers=auth(biz["sk"]))
    assert resp.status_code == 200
    body = resp.get_json()
    assert [r["visitor_id"] for r in body["data"]] == expected
    assert body["meta"]["total"] == len(expected)


def test_search_text_is_bounded(client: Any, biz: dict[str, Any]) -> None:
    resp = get_list(client, biz["sk"], "q=" + "x" * 201)
    assert resp.status_code == 400
    assert resp.get_json()["field"] == "q"


@pytest.mark.parametrize("query, count, first", [
    ("", 25, 59),                        # default per_page 25, newest first
    ("page=2", 25, 34),
    ("page=3", 10, 9),                   # the last, partial page
    ("page=4", 0, None),                 # beyond the end: empty, total still told
    ("per_page=100", 60, 59),            # the maximum
    ("per_page=1&page=60", 1, 0),        # the very last row
    ("per_page=7&page=9", 4, 3),
])
def test_pagination_edges(app: Any, client: Any, biz: dict[str, Any], query: str, count: int,
                          first: int | None) -> None:
    ids = seed_contacts(app, biz["id"], 60)
    body = get_list(client, biz["sk"], query).get_json()
    assert len(body["data"]) == count
    assert body["meta"]["total"] == 60
    if first is not None:
        assert body["data"][0]["id"] == ids[first]


def test_pages_walk_every_contact_once_in_order(app: Any, client: Any,
                                                biz: dict[str, Any]) -> None:
    ids = seed_contacts(app, biz["id"], 60)
    seen = [r["id"] for page in range(1, 8)
            for r in get_list(client, biz["sk"], f"per_page=9&page={page}").get_json()["data"]]
    assert seen == ids[::-1]


@pytest.mark.parametrize("query, field", [
    ("per_page=0", "per_page"), ("per_page=101", "per_page"), ("per_page=x", "per_page"),
    ("page=0", "page"), ("page=-1", "page"),
])
def test_bad_pagination_is_400_naming_the_field(client: Any, biz: dict[str, Any], query: str,
                                                field: str) -> None:
    resp = get_list(client, biz["sk"], query)
    assert resp.status_code == 400
    assert resp.get_json() == {"error": "validation_error", "message": resp.get_json()["message"],
                               "field": field}


def test_list_stays_in_its_business_and_mode(app: Any, client: Any,
                                             biz: dict[str, Any]) -> None:
    other = make_business(app, "Other")
    start(client, other["pk"], "theirs")
    seed_contacts(app, biz["id"], 2, mode="live")
    start(client, biz["pk"], "ours")
    body = get_list(client, biz["sk"]).get_json()
    assert [r["visitor_id"] for r in body["data"]] == ["ours"]
    assert body["meta"]["total"] == 1


# ---------- get and update --------------------------------------------------


def test_get_one_contact(app: Any, client: Any, biz: dict[str, Any]) -> None:
    start(client, biz["pk"], "v-1", name="Ann", phone="+1 555 0100")
    cid = contact_id(app, biz["id"], "v-1")
    resp = client.get(f"{API}/contacts/{cid}", headers=auth(biz["sk"]))
    assert resp.status_code == 200
    data = resp.get_json()["data"]
    assert (data["id"], data["name"], data["phone"], data["conversations"]) == (
        cid, "Ann", "+1 555 0100", 1)
    missing = client.get(f"{API}/contacts/{cid + 999}", headers=auth(biz["sk"]))
    assert missing.status_code == 404
    assert missing.get_json()["error"] == "not_found"


def test_patch_updates_fields_and_merges_custom_fields(app: Any, client: Any,
                                                       biz: dict[str, Any]) -> None:
    start(client, biz["pk"], "v-1", name="Ann", email="ann@example.com")
    cid = contact_id(app, biz["id"], "v-1")
    first = patch(client, biz["sk"], cid, {"name": " Ann Lee ", "phone": "+44 20 7946 0000",
                                           "custom_fields": {"plan": "pro", "seats": 5,
                                                             "vip": True, "score": 1.5}})
    assert first.status_code == 200, first.get_data(as_text=True)
    assert first.get_json()["data"]["name"] == "Ann Lee"
    second = patch(client, biz["sk"], cid, {"email": None,
                                            "custom_fields": {"seats": None, "vip": False,
                                                              "note": ""}})
    data = second.get_json()["data"]
    assert data["email"] is None and data["name"] == "Ann Lee"  # untouched fields stay
    assert data["custom_fields"] == {"plan": "pro", "vip": False, "score": 1.5, "note": ""}
    with session_scope(app) as s:
        row = s.get(Contact, cid)
        assert row is not None
        assert (row.name, row.email, row.phone) == ("Ann Lee", None, "+44 20 7946 0000")
        assert row.custom_fields == data["custom_fields"]


@pytest.mark.parametrize("body, field", [
    ({"email": "not-an-email"}, "email"),
    ({"email": "a@b"}, "email"),
    ({"email": 42}, "email"),
    ({"name": "x" * 201}, "name"),
    ({"phone": ["+1"]}, "phone"),
    ({"custom_fields": ["plan", "pro"]}, "custom_fields"),
    ({"custom_fields": "plan=pro"}, "custom_fields"),
    ({"custom_fields": {"nested": {"a": 1}}}, "custom_fields"),
    ({"custom_fields": {"list": [1, 2]}}, "custom_fields"),
    ({"custom_fields": {"k" * 65: "v"}}, "custom_fields"),
    ({"custom_fields": {"": "v"}}, "custom_fields"),
    ({"custom_fields": {"long": "v" * 501}}, "custom_fields"),
    ({"custom_fields": {f"k{i}": i for i in range(51)}}, "custom_fields"),
    ({"visitor_id": "new"}, "visitor_id"),          # not writable
    ({"nickname": "Annie"}, "nickname"),            # unknown
])
def test_patch_validation(app: Any, client: Any, biz: dict[str, Any], body: dict[str, Any],
                          field: str) -> None:
    start(client, biz["pk"], "v-1", name="Ann", email="ann@example.com")
    cid = contact_id(app, biz["id"], "v-1")
    resp = patch(client, biz["sk"], cid, body)
    assert resp.status_code == 400
    assert resp.get_json()["error"] == "validation_error"
    assert resp.get_json()["field"] == field
    with session_scope(app) as s:
        row = s.get(Contact, cid)
        assert row is not None
        assert (row.name, row.email, row.custom_fields) == ("Ann", "ann@example.com", {})


def test_patch_rejects_a_non_finite_number(app: Any, client: Any, biz: dict[str, Any]) -> None:
    start(client, biz["pk"], "v-1")
    cid = contact_id(app, biz["id"], "v-1")
    resp = client.patch(f"{API}/contacts/{cid}", data='{"custom_fields": {"x": NaN}}',
                        headers=auth(biz["sk"], **{"Content-Type": "application/json"}))
    assert resp.status_code == 400
    assert resp.get_json()["field"] == "custom_fields"


def test_custom_fields_cap_counts_the_merged_result(app: Any, client: Any,
                                                    biz: dict[str, Any]) -> None:
    start(client, biz["pk"], "v-1")
    cid = contact_id(app, biz["id"], "v-1")
    full = {f"k{i}": i for i in range(50)}
    assert patch(client, biz["sk"], cid, {"custom_fields": full}).status_code == 200
    over = patch(client, biz["sk"], cid, {"custom_fields": {"one_more": 1}})
    assert over.status_code == 400 and over.get_json()["field"] == "custom_fields"
    swap = patch(client, biz["sk"], cid, {"custom_fields": {"k0": None, "one_more": 1}})
    assert swap.status_code == 200
    assert len(swap.get_json()["data"]["custom_fields"]) == 50


def agent_socket(live: str, app: Any, business_id: int, mode: str = "test") -> PusherTestClient:
    """A socket on the business channel, signed the way the agent auth endpoint signs it."""
    key = app.config["REALTIME_APP_KEY"]
    sock = PusherTestClient(f"ws://{live.split('://')[1]}/app/{key}?protocol=7&client=t&version=1")
    channel = business_channel(business_id)
    data = business_channel_data(business_id, mode, None, None)
    sig = channel_signature(app.config["REALTIME_APP_SECRET"], sock.socket_id(), channel, data)
    sock.send("pusher:subscribe", {"channel": channel, "auth": f"{key}:{sig}",
                                   "channel_data": data})
    sock.expect("pusher_internal:subscription_succeeded")
    return sock


def test_patch_emits_contact_updated_to_agents(live: str, app: Any,
                                               biz: dict[str, Any]) -> None:
    started = start_visitor(live, biz["pk"], "v-1", name="Ann")
    cid = contact_id(app, biz["id"], "v-1")
    agents = agent_socket(live, app, biz["id"])
    resp = httpx.patch(f"{live}{API}/contacts/{cid}", json={"name": "Ann Lee"},
                       headers=auth(biz["sk"]))
    assert resp.status_code == 200
    event = agents.expect("ContactUpdated")["data"]
    assert event["contact_id"] == cid
    assert event["conversation_ids"] == [started["conversation_id"]]
    assert event["contact"] == resp.json()["data"]
    agents.close()


# ---------- export ----------------------------------------------------------


def test_export_holds_everything_about_the_contact(app: Any, client: Any,
                                                   biz: dict[str, Any]) -> None:
    sess = start(client, biz["pk"], "v-1", name="Ann", email="ann@example.com")
    token = sess["session_token"]
    conv = sess["conversation_id"]
    url = f"{API}/chat/sessions/{conv}/messages"
    client.post(url, json={"content": "my order #123 is late"}, headers={
        **auth(biz["pk"]), "X-Tickki-Session": token})
    client.post(f"{API}/tickets/{conv}/messages", json={"content": "Looking into it"},
                headers=auth(biz["sk"]))
    cid = contact_id(app, biz["id"], "v-1")
    patch(client, biz["sk"], cid, {"custom_fields": {"plan": "pro"}})
    with session_scope(app) as s:
        s.add_all([TicketTag(conversation_id=conv, tag="shipping"),
                   TicketTag(conversation_id=conv, tag="billing")])
    resp = client.get(f"{API}/contacts/{cid}/export", headers=auth(biz["sk"]))
    assert resp.status_code == 200
    assert resp.headers["Content-Disposition"] == f'attachment; filename="contact-{cid}.json"'
    data = resp.get_json()["data"]
    assert data["contact"]["email"] == "ann@example.com"
    assert data["contact"]["custom_fields"] == {"plan": "pro"}
    [conversation] = data["conversations"]
    assert (conversation["id"], conversation["status"], conversation["tags"]) == (
        conv, "open", ["billing", "shipping"])
    assert conversation["created_at"].endswith("Z")
    assert [(m["direction"], m["content"]) for m in conversation["messages"]] == [
        ("inbound", "my order #123 is late"), ("outbound", "Looking into it")]
    assert [s["id"] for s in data["sessions"]] == [sess["session_id"]]
    assert "token_hash" not in str(data)


# ---------- erasure ---------------------------------------------------------


def visitor_get(live: str, pk: str, started: dict[str, Any]) -> httpx.Response:
    return httpx.get(f"{live}{API}/chat/sessions/{started['conversation_id']}/messages",
                     headers=auth(pk, **{"X-Tickki-Session": started["session_token"]}))


def seed_history(live: str, biz: dict[str, Any], visitor_id: str, words: str,
                 phone: str) -> dict[str, Any]:
    """A visitor with a name, email and phone, two messages each way, a tag and replays."""
    started = start_visitor(live, biz["pk"], visitor_id, name=f"{words} Person",
                            email=f"{visitor_id}@mail.test", phone=phone)
    conv = started["conversation_id"]
    for n in (1, 2):
        resp = httpx.post(f"{live}{API}/chat/sessions/{conv}/messages",
                          json={"content": f"{words} secret {n}"},
                          headers=auth(biz["pk"], **{"X-Tickki-Session": started["session_token"],
                                                     "Idempotency-Key": f"{visitor_id}-in-{n}"}))
        assert resp.status_code == 201
        resp = httpx.post(f"{live}{API}/tickets/{conv}/messages",
                          json={"content": f"{words} answer {n}"},
                          headers=auth(biz["sk"], **{"Idempotency-Key": f"{visitor_id}-out-{n}"}))
        assert resp.status_code == 201
    return started


def rows_mentioning(app: Any, needles: list[str]) -> list[tuple[str, str]]:
    """Every (table, row) of the database whose text contains one of the needles."""
    found = []
    with session_scope(app) as s:
        for table in Base.metadata.sorted_tables:
            for row in s.execute(select(table)):
                text = " ".join(str(v) for v in row)
                found += [(table.name, text) for n in needles if n.lower() in text.lower()]
    return found


def secure_delete_off_by_default(app: Any) -> None:
    """Many SQLite builds leave deleted bytes in free pages; make this one do so too."""
    engine = app.extensions["engine"]

    @event.listens_for(engine, "connect")
    def _off(dbapi_conn, _record):  # type: ignore[no-untyped-def]
        dbapi_conn.execute("PRAGMA secure_delete = OFF")

    engine.dispose()


def test_erasure_removes_the_visitor_everywhere(live: str, app: Any, tmp_path: Path,
                                                biz: dict[str, Any]) -> None:
    secure_delete_off_by_default(app)
    gone = seed_history(live, biz, "erase-me", "Zanzibar", "+1 555 0199")
    kept = seed_history(live, biz, "keep-me", "Timbuktu", "+1 555 0142")
    conv = gone["conversation_id"]
    with session_scope(app) as s:
        s.add(TicketTag(conversation_id=conv, tag="vip"))
    cid = contact_id(app, biz["id"], "erase-me")
    socket = PusherTestClient.for_session(gone)
    socket.subscribe_session(gone, biz["pk"])
    agents = agent_socket(live, app, biz["id"])

    resp = httpx.delete(f"{live}{API}/contacts/{cid}", headers=auth(biz["sk"]))
    assert resp.status_code == 200
    assert resp.json() == {"data": {"id": cid, "deleted": True}}
    assert agents.expect("ContactDeleted")["data"] == {"id": cid, "conversation_ids": [conv]}

    # the visitor's token is dead at once, their open socket closes within the watcher's poll
    denied = visitor_get(live, biz["pk"], gone)
    assert denied.status_code == 401 and denied.json()["error"] == "invalid_session"
    assert socket.close_code(timeout=8) == 4009
    # the agent API has nothing left of them
    for method, path, body in [
            ("GET", f"/contacts/{cid}", None), ("PATCH", f"/contacts/{cid}", {"name": "Back"}),
            ("GET", f"/contacts/{cid}/export", None), ("DELETE", f"/contacts/{cid}", None),
            ("GET", f"/tickets/{conv}", None),
            ("POST", f"/tickets/{conv}/messages", {"content": "hello?"})]:
        answer = httpx.request(method, f"{live}{API}{path}", json=body, headers=auth(biz["sk"]))
        assert answer.status_code == 404, (method, path, answer.text)
    listed = httpx.get(f"{live}{API}/contacts", headers=auth(biz["sk"])).json()["data"]
    assert [r["visitor_id"] for r in listed] == ["keep-me"]
    tickets = httpx.get(f"{live}{API}/tickets?per_page=100", headers=auth(biz["sk"]))
    if tickets.status_code == 200:  # the ticket list is built beside this API
        assert [t["id"] for t in tickets.json()["data"]] == [kept["conversation_id"]]
    with session_scope(app) as s:  # ...and whatever lists tickets finds none of theirs
        assert list(s.scalars(select(Conversation.id).where(
            Conversation.business_id == biz["id"], Conversation.mode == "test"))) == [
                kept["conversation_id"]]
        assert s.scalars(select(TicketTag)).all() == []
        assert {m.conversation_id for m in s.scalars(select(Message))} == {
            kept["conversation_id"]}
        assert all(cs.revoked_at is not None for cs in s.scalars(
            select(ChatSession).where(ChatSession.conversation_id == conv)))

    # no row anywhere holds their name, email, phone, visitor id or message text
    assert rows_mentioning(app, ["Zanzibar", "erase-me", "555 0199"]) == []
    assert rows_mentioning(app, ["Timbuktu secret 2", "keep-me@mail.test"]) != []  # the scan sees
    # ...nor the database file's free pages, once the WAL is checkpointed
    db = sqlite3.connect(tmp_path / "test.db")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    raw = (tmp_path / "test.db").read_bytes()
    assert [word for word in (b"Zanzibar", b"erase-me", b"Timbuktu") if word in raw] == [
        b"Timbuktu"]
    # the other visitor is untouched
    assert len(visitor_get(live, biz["pk"], kept).json()["data"]) == 4
    socket.close()
    agents.close()


def test_erased_visitor_coming_back_starts_fresh(app: Any, client: Any,
                                                 biz: dict[str, Any]) -> None:
    old = start(client, biz["pk"], "v-1", name="Ann")
    client.post(f"{API}/chat/sessions/{old['conversation_id']}/messages",
                json={"content": "hello"},
                headers=auth(biz["pk"], **{"X-Tickki-Session": old["session_token"]}))
    cid = contact_id(app, biz["id"], "v-1")
    assert client.delete(f"{API}/contacts/{cid}", headers=auth(biz["sk"])).status_code == 200
    new = start(client, biz["pk"], "v-1")
    assert new["conversation_id"] != old["conversation_id"]
    assert new["contact"]["name"] is None
    history = client.get(f"{API}/chat/sessions/{new['conversation_id']}/messages",
                         headers=auth(biz["pk"], **{"X-Tickki-Session": new["session_token"]}))
    assert history.get_json()["data"] == []
    assert [r["visitor_id"] for r in get_list(client, biz["sk"]).get_json()["data"]] == ["v-1"]


def erase(client: Any, sk: str, cid: int) -> None:
    resp = client.delete(f"{API}/contacts/{cid}", headers=auth(sk))
    assert resp.status_code == 200, resp.get_data(as_text=True)


def test_a_message_that_raced_an_erasure_is_swept_by_the_next(app: Any, client: Any,
                                                              biz: dict[str, Any]) -> None:
    first = start(client, biz["pk"], "v-1")
    start(client, biz["pk"], "v-2")
    erase(client, biz["sk"], contact_id(app, biz["id"], "v-1"))
    with session_scope(app) as s:  # a send that passed its session check just before
        s.add(Message(conversation_id=first["conversation_id"], direction="inbound",
                      content="late words", sender_role="visitor"))
    erase(client, biz["sk"], contact_id(app, biz["id"], "v-2"))
    assert rows_mentioning(app, ["late words"]) == []


# ---------- tenancy and scopes ----------------------------------------------

ROUTES = [("GET", "/contacts/{id}"), ("PATCH", "/contacts/{id}"),
          ("GET", "/contacts/{id}/export"), ("DELETE", "/contacts/{id}")]


@pytest.mark.parametrize("method, path", ROUTES)
@pytest.mark.parametrize("intruder", ["other business", "same business, live mode"])
def test_other_credentials_see_no_contact(app: Any, client: Any, biz: dict[str, Any],
                                          method: str, path: str, intruder: str) -> None:
    start(client, biz["pk"], "v-1", name="Ann", email="ann@example.com")
    cid = contact_id(app, biz["id"], "v-1")
    if intruder == "other business":
        key = make_business(app, "Other")["sk"]
    else:
        with session_scope(app) as s:
            business = s.get(Business, biz["id"])
            assert business is not None
            key = do_create_key(s, business, "secret", "live")[1]
    resp = client.open(f"{API}{path.format(id=cid)}", method=method,
                       json={"name": "Hijacked"}, headers=auth(key))
    assert resp.status_code == 404
    assert resp.get_json()["error"] == "not_found"
    assert get_list(client, key).get_json()["data"] == []
    assert get_list(client, key, "q=ann").get_json()["meta"]["total"] == 0
    with session_scope(app) as s:
        row = s.get(Contact, cid)
        assert row is not None and row.name == "Ann" and row.mode == "test"


@pytest.mark.parametrize("method, path, scope", [
    ("GET", "/contacts", "contacts:read"),
    ("GET", "/contacts/{id}", "contacts:read"),
    ("GET", "/contacts/{id}/export", "contacts:read"),
    ("PATCH", "/contacts/{id}", "contacts:write"),
    ("DELETE", "/contacts/{id}", "contacts:write"),
])
def test_each_route_needs_its_scope(app: Any, client: Any, biz: dict[str, Any], method: str,
                                    path: str, scope: str) -> None:
    start(client, biz["pk"], "v-1")
    cid = contact_id(app, biz["id"], "v-1")
    with session_scope(app) as s:
        business = s.get(Business, biz["id"])
        assert business is not None
        others = [x for x in ("contacts:read", "contacts:write", "tickets:read") if x != scope]
        narrow = do_create_key(s, business, "secret", "test", scopes=others)[1]
    url = f"{API}{path.format(id=cid)}"
    resp = client.open(url, method=method, json={}, headers=auth(narrow))
    assert resp.status_code == 403
    assert resp.get_json()["error"] == "insufficient_scope"
    wrong = client.open(url, method=method, json={}, headers=auth(biz["pk"]))
    assert wrong.status_code == 401 and wrong.get_json()["error"] == "wrong_key_type"
    with session_scope(app) as s:
        row = s.get(Contact, cid)
        assert row is not None and row.mode == "test"
    assert client.open(url, method=method, json={}, headers=auth(biz["sk"])).status_code == 200


def test_erasure_forgets_tickets_created_through_the_api(app: Any, client: Any,
                                                         biz: dict[str, Any]) -> None:
    created = client.post(f"{API}/tickets", headers=auth(biz["sk"], **{"Idempotency-Key": "t-1"}),
                          json={"subject": "Refund for Quixotic", "message": "Quixotic refund",
                                "customer": {"name": "Quinn", "email": "quinn@mail.test"}})
    assert created.status_code == 201, created.get_data(as_text=True)
    assert rows_mentioning(app, ["quinn@mail.test"]) != []
    [contact] = get_list(client, biz["sk"], "q=quinn").get_json()["data"]
    assert client.delete(f"{API}/contacts/{contact['id']}",
                         headers=auth(biz["sk"])).status_code == 200
    assert rows_mentioning(app, ["quinn", "Quixotic"]) == []
    assert client.get(f"{API}/tickets/{created.get_json()['data']['id']}",
                      headers=auth(biz["sk"])).status_code == 404
