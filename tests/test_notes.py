"""Private notes: an agent's, on the ticket and the business channel, never a visitor's."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from server.db import session_scope
from server.models import Business, Conversation, Message
from server.services.keys import do_create_key
from tests.conftest import agent_token, auth, make_business, start_visitor
from tests.pusher import PusherTestClient
from tests.test_admin import business_socket
from tests.test_tickets import add_agent as add_user

TICKETS = "/api/v1/tickets"
CHAT = "/api/v1/chat"


def add_agent(app: Any, business_id: int, name: str = "Nia") -> tuple[int, str]:
    """An agent of the business and a token for it."""
    user_id = add_user(app, business_id, name)
    return user_id, agent_token(app, business_id, user_id=user_id)


def note(client: Any, credential: str, ticket_id: int, content: Any = "Refund approved by Sam",
         **headers: str) -> Any:
    return client.post(f"{TICKETS}/{ticket_id}/notes", json={"content": content},
                       headers=auth(credential, **headers))


def ticket_row(app: Any, ticket_id: int) -> tuple[Any, ...]:
    with session_scope(app) as s:
        c = s.get(Conversation, ticket_id)
        return c.status, c.unread_count, c.last_message_preview, c.updated_at, c.assigned_to


def notes_stored(app: Any) -> int:
    with session_scope(app) as s:
        return int(s.scalar(select(func.count()).select_from(Message)
                            .where(Message.type == "note")) or 0)


@pytest.fixture
def chat(app: Any, client: Any, biz: dict[str, Any]) -> dict[str, Any]:
    """A widget conversation with one unread visitor message."""
    started = client.post(f"{CHAT}/sessions", json={"visitor_id": "v-notes"},
                          headers=auth(biz["pk"])).get_json()["data"]
    sent = client.post(f"{CHAT}/sessions/{started['conversation_id']}/messages",
                       json={"content": "Where is my refund?"},
                       headers=auth(biz["pk"], started["session_token"]))
    assert sent.status_code == 201
    return {**started, "first": sent.get_json()["data"]}


def test_an_agent_note_is_stored_and_leaves_the_ticket_as_it_was(
        app: Any, client: Any, biz: dict[str, Any], chat: dict[str, Any]) -> None:
    ticket = chat["conversation_id"]
    user_id, token = add_agent(app, biz["id"])
    before = ticket_row(app, ticket)
    resp = note(client, token, ticket)
    assert resp.status_code == 201, resp.get_json()
    data = resp.get_json()["data"]
    assert data == {"id": data["id"], "conversation_id": ticket, "direction": "outbound",
                    "type": "note", "content": "Refund approved by Sam",
                    "created_at": data["created_at"], "attachments": [],
                    "sender": {"role": "agent", "name": "Nia"}}
    with session_scope(app) as s:
        assert s.get(Message, data["id"]).sender_user_id == user_id
    assert ticket_row(app, ticket) == before  # status, unread_count 1, preview, updated_at
    assert before[1] == 1 and before[2] == "Where is my refund?"
    reply = client.post(f"{TICKETS}/{ticket}/messages", json={"content": "Refunded!"},
                        headers=auth(token))
    detail = client.get(f"{TICKETS}/{ticket}", headers=auth(biz["sk"])).get_json()["data"]
    assert [(m["id"], m["type"]) for m in detail["messages"]] == [
        (chat["first"]["id"], "text"), (data["id"], "note"),
        (reply.get_json()["data"]["id"], "text")]
    assert detail["messages"][1]["sender"] == {"role": "agent", "name": "Nia",
                                               "user_id": user_id}


def test_a_secret_key_may_not_write_notes(app: Any, client: Any, biz: dict[str, Any],
                                          chat: dict[str, Any]) -> None:
    resp = note(client, biz["sk"], chat["conversation_id"])
    assert resp.status_code == 403
    assert resp.get_json() == {"error": "forbidden",
                               "message": "Notes are written by agents; log in as one."}
    assert notes_stored(app) == 0


@pytest.mark.parametrize("content", ["", "   ", None, 42, ["x"], "x" * 8001])
def test_bad_notes_are_refused_and_store_nothing(app: Any, client: Any, biz: dict[str, Any],
                                                 chat: dict[str, Any], content: Any) -> None:
    _, token = add_agent(app, biz["id"])
    resp = note(client, token, chat["conversation_id"], content)
    assert resp.status_code == 400
    assert resp.get_json()["error"] == "validation_error"
    assert resp.get_json()["field"] == "content"
    assert notes_stored(app) == 0


def test_notes_on_another_business_or_mode_are_not_found(
        app: Any, client: Any, biz: dict[str, Any], chat: dict[str, Any]) -> None:
    other = make_business(app, "Other")
    _, theirs = add_agent(app, other["id"], "Oz")
    live = agent_token(app, biz["id"], mode="live")
    for token, ticket in ((theirs, chat["conversation_id"]), (live, chat["conversation_id"]),
                          (add_agent(app, biz["id"], "Al")[1], 999_999)):
        resp = note(client, token, ticket)
        assert resp.status_code == 404 and resp.get_json()["error"] == "not_found"
    assert notes_stored(app) == 0


def test_a_note_with_an_idempotency_key_is_written_once(
        app: Any, client: Any, biz: dict[str, Any], chat: dict[str, Any]) -> None:
    _, token = add_agent(app, biz["id"])
    first = note(client, token, chat["conversation_id"], **{"Idempotency-Key": "n-1"})
    again = note(client, token, chat["conversation_id"], **{"Idempotency-Key": "n-1"})
    assert first.status_code == again.status_code == 201
    assert again.get_json() == first.get_json()
    assert again.headers["Idempotent-Replayed"] == "true"
    other = note(client, token, chat["conversation_id"], "another text",
                 **{"Idempotency-Key": "n-1"})
    assert other.status_code == 422 and other.get_json()["error"] == "idempotency_conflict"
    assert notes_stored(app) == 1


def test_the_visitor_history_never_holds_a_note(app: Any, client: Any, biz: dict[str, Any],
                                                chat: dict[str, Any]) -> None:
    _, token = add_agent(app, biz["id"])
    ticket = chat["conversation_id"]
    for text in ("note one", "note two"):
        assert note(client, token, ticket, text).status_code == 201
    reply = client.post(f"{TICKETS}/{ticket}/messages", json={"content": "Hello!"},
                        headers=auth(token)).get_json()["data"]
    assert note(client, token, ticket, "note three").status_code == 201
    headers = auth(biz["pk"], chat["session_token"])
    page = client.get(f"{CHAT}/sessions/{ticket}/messages", headers=headers).get_json()
    assert [m["id"] for m in page["data"]] == [reply["id"], chat["first"]["id"]]
    # page by page too: a cursor never lands the visitor on a note
    seen, cursor = [], ""
    while True:
        page = client.get(f"{CHAT}/sessions/{ticket}/messages?limit=1&cursor={cursor}",
                          headers=headers).get_json()
        seen += page["data"]
        cursor = page["meta"]["next_cursor"]
        if not cursor:
            break
    assert [m["id"] for m in seen] == [reply["id"], chat["first"]["id"]]
    assert notes_stored(app) == 3


def test_the_feed_and_the_contact_export_include_notes(
        app: Any, client: Any, biz: dict[str, Any], chat: dict[str, Any]) -> None:
    _, token = add_agent(app, biz["id"])
    made = note(client, token, chat["conversation_id"]).get_json()["data"]
    feed = client.get("/api/v1/messages?after_id=0", headers=auth(token)).get_json()
    assert [(m["id"], m["type"]) for m in feed["data"]] == [(chat["first"]["id"], "text"),
                                                            (made["id"], "note")]
    contact = client.get("/api/v1/contacts", headers=auth(biz["sk"])).get_json()["data"][0]
    export = client.get(f"/api/v1/contacts/{contact['id']}/export",
                        headers=auth(biz["sk"])).get_json()["data"]
    assert [m["type"] for m in export["conversations"][0]["messages"]] == ["text", "note"]


def test_a_note_reaches_the_business_socket_and_never_the_visitors(
        live: str, app: Any, biz: dict[str, Any]) -> None:
    """On real sockets: the note is on private-business.<id>; the visitor's channel (two
    devices) gets the reply written after it, and nothing before."""
    _, token = add_agent(app, biz["id"])
    phone = start_visitor(live, biz["pk"], "v-socket")
    laptop = start_visitor(live, biz["pk"], "v-socket")
    visitors = [PusherTestClient.for_session(s) for s in (phone, laptop)]
    for sock, started in zip(visitors, (phone, laptop), strict=True):
        sock.subscribe_session(started, biz["pk"])
    team = business_socket(live, app, token, biz["id"])
    ticket = phone["conversation_id"]
    made = httpx.post(f"{live}{TICKETS}/{ticket}/notes", json={"content": "VIP, be quick"},
                      headers=auth(token))
    assert made.status_code == 201
    got = team.expect("MessageCreated")
    assert got["data"] == made.json()["data"] and got["data"]["type"] == "note"
    reply = httpx.post(f"{live}{TICKETS}/{ticket}/messages", json={"content": "Hi there"},
                       headers=auth(token)).json()["data"]
    assert team.expect("MessageCreated")["data"]["id"] == reply["id"]
    for sock in visitors:
        frames = [sock.expect("MessageCreated")]
        assert frames[0]["data"]["id"] == reply["id"]  # the first after the note: the reply
        assert sock.quiet(0.5)
        assert all(f["data"].get("type") != "note" and "VIP" not in str(f.get("data"))
                   for f in sock.frames)
        sock.close()
    team.close()


def test_a_live_mode_note_stays_in_live(app: Any, client: Any, biz: dict[str, Any]) -> None:
    with session_scope(app) as s:
        _, live_pk = do_create_key(s, s.get(Business, biz["id"]), "publishable", "live")
    started = client.post(f"{CHAT}/sessions", json={"visitor_id": "v-live"},
                          headers=auth(live_pk)).get_json()["data"]
    user_id, _ = add_agent(app, biz["id"])
    live = agent_token(app, biz["id"], user_id=user_id, mode="live")
    assert note(client, live, started["conversation_id"]).status_code == 201
    test_feed = client.get("/api/v1/messages?after_id=0", headers=auth(biz["sk"])).get_json()
    assert test_feed["data"] == []
    live_feed = client.get("/api/v1/messages?after_id=0", headers=auth(live)).get_json()
    assert [m["type"] for m in live_feed["data"]] == ["note"]


def test_ticket_search_finds_a_note(app: Any, client: Any, biz: dict[str, Any],
                                    chat: dict[str, Any]) -> None:
    _, token = add_agent(app, biz["id"])
    search = {"q": "chargeback"}
    assert client.get(TICKETS, query_string=search, headers=auth(token)).get_json()["data"] == []
    note(client, token, chat["conversation_id"], "Watch out: chargeback last year")
    found = client.get(TICKETS, query_string=search, headers=auth(token)).get_json()["data"]
    assert [t["id"] for t in found] == [chat["conversation_id"]]
