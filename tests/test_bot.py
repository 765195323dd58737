"""The answer bot over a real socket: typing then an answer with sources, the handoff (asked
for, or nothing scores), a human taking over, inactivity, a kill -9 between the visitor's
message and the answer, the settings API, and the answerers (LLM: a local stand-in)."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from app_flet.headless.agent import AgentClient
from server.db import session_scope
from server.models import BotJob, Message, WebhookEvent
from server.services import knowledge
from server.services.answerers import Extractive, OpenAICompatible, first_sentences
from server.services.bot import wants_human
from tests.conftest import ServedProcess, auth, make_business, serving, start_visitor
from tests.pusher import PusherTestClient
from tests.test_admin import business_socket, visitor_send
from tests.test_knowledge import kb_app  # noqa: F401  (a fixture: SQLite, PostgreSQL)
from tests.test_scaleout import postgres_url, redis_url, two_workers  # noqa: F401  (fixtures)
from tests.test_webhooks import patched_env, process_tree

BOT = "/api/v1/bot"


def put_bot(client: Any, sk: str, **changes: Any) -> dict[str, Any]:
    resp = client.put(BOT, json=changes, headers=auth(sk))
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()["data"]  # type: ignore[no-any-return]


def fast(app: Any, **more: Any) -> None:
    """The worker polls often (jobs are woken anyway); the sweep runs every 0.1 s."""
    app.config.update(WEBHOOK_POLL_SECONDS=0.05, BOT_SWEEP_SECONDS=0.1, **more)


def visitor_socket(base: str, pk: str, visitor_id: str) -> tuple[dict[str, Any],
                                                                  PusherTestClient]:
    started = start_visitor(base, pk, visitor_id)
    sock = PusherTestClient.for_session(started)
    sock.subscribe_session(started, pk)
    return started, sock


def bot_messages(app: Any, conversation_id: int) -> list[str]:
    with session_scope(app) as s:
        return list(s.scalars(select(Message.content).where(
            Message.conversation_id == conversation_id, Message.sender_role == "bot")
            .order_by(Message.id)))


def ticket(base: str, sk: str, conversation_id: int) -> dict[str, Any]:
    resp = httpx.get(f"{base}/api/v1/tickets/{conversation_id}", headers=auth(sk))
    assert resp.status_code == 200, resp.text
    return resp.json()["data"]  # type: ignore[no-any-return]


# ---------- settings ------------------------------------------------------------------------


def test_the_settings_start_off_with_an_id_and_change_partially(
        client: Any, biz: dict[str, Any]) -> None:
    got = client.get(BOT, headers=auth(biz["sk"])).get_json()["data"]
    assert got["enabled"] is False and isinstance(got["id"], int)
    assert got["public_api"] == {"enabled": False} and got["collection_ids"] == []
    changed = put_bot(client, biz["sk"], enabled=True, name="Robo", min_score=0.5,
                      handoff_keywords=["Human", "talk to a person"], inactivity_minutes=5,
                      public_api={"enabled": True})
    assert changed["id"] == got["id"] and changed["name"] == "Robo"
    assert changed["handoff_keywords"] == ["human", "talk to a person"]
    assert (changed["min_score"], changed["inactivity_minutes"]) == (0.5, 5)
    assert changed["public_api"] == {"enabled": True}
    assert client.get(BOT, headers=auth(biz["sk"])).get_json()["data"] == changed


@pytest.mark.parametrize("body,field", [
    ({"enabled": "yes"}, "enabled"), ({"min_score": 1.5}, "min_score"),
    ({"min_score": -0.1}, "min_score"), ({"min_score": True}, "min_score"),
    ({"inactivity_minutes": 0}, "inactivity_minutes"),
    ({"inactivity_minutes": 10**6}, "inactivity_minutes"),
    ({"inactivity_minutes": 2.5}, "inactivity_minutes"),
    ({"handoff_keywords": "human"}, "handoff_keywords"),
    ({"handoff_keywords": ["x" * 51]}, "handoff_keywords"),
    ({"handoff_keywords": [""]}, "handoff_keywords"),
    ({"handoff_keywords": ["a"] * 31}, "handoff_keywords"),
    ({"collection_ids": [999]}, "collection_ids"), ({"collection_ids": ["1"]}, "collection_ids"),
    ({"name": ""}, "name"), ({"handoff_message": "  "}, "handoff_message"),
    ({"avatar_url": "javascript:alert(1)"}, "avatar_url"),
    ({"public_api": True}, "public_api"), ({"colour": "red"}, "colour")])
def test_bad_settings_are_400_naming_the_field_and_change_nothing(
        client: Any, biz: dict[str, Any], body: dict[str, Any], field: str) -> None:
    before = client.get(BOT, headers=auth(biz["sk"])).get_json()["data"]
    resp = client.put(BOT, json={"enabled": True, **body}, headers=auth(biz["sk"]))
    assert resp.status_code == 400, resp.get_json()
    assert resp.get_json()["error"] == "validation_error"
    assert resp.get_json()["field"] == field
    assert client.get(BOT, headers=auth(biz["sk"])).get_json()["data"] == before


def test_writing_the_settings_needs_bot_write(client: Any, biz: dict[str, Any],
                                              app: Any) -> None:
    from tests.conftest import agent_token
    resp = client.put(BOT, json={"enabled": True}, headers=auth(agent_token(app, biz["id"])))
    assert resp.status_code == 403 and "bot:write" in resp.get_json()["message"]
    owner = agent_token(app, biz["id"], role="owner")
    assert client.put(BOT, json={"enabled": True}, headers=auth(owner)).status_code == 200


def test_the_handoff_keywords_match_whole_words_in_any_case() -> None:
    keywords = ["human", "talk to a person"]
    assert wants_human("Can I speak to a HUMAN please?", keywords)
    assert wants_human("I want to talk  to a person!", keywords)
    assert not wants_human("Humane treatment of returns?", keywords)
    assert not wants_human("talk to a personal trainer", keywords)


# ---------- the conversation: handoff, humans taking over, inactivity ---------------------


def test_with_the_bot_off_a_visitor_message_gets_nothing(app: Any, client: Any,
                                                        biz: dict[str, Any]) -> None:
    fast(app)
    with serving(app) as base:
        started, sock = visitor_socket(base, biz["pk"], "off-visitor")
        assert ticket(base, biz["sk"], started["conversation_id"])["status"] == "open"
        visitor_send(base, biz["pk"], started, "talk to a human")
        sock.expect("MessageCreated")  # the visitor's own, echoed
        assert sock.quiet(1.0)
    with session_scope(app) as s:
        assert s.scalar(select(func.count()).select_from(BotJob)) == 0


def test_asking_for_a_human_hands_off_and_the_business_hears_it(
        app: Any, client: Any, biz: dict[str, Any]) -> None:
    fast(app, WEBHOOK_ALLOW_PRIVATE=True)
    settings = put_bot(client, biz["sk"], enabled=True, name="Robo",
                       handoff_message="Getting you a person.")
    hook = client.post("/api/v1/webhooks", json={"url": "http://127.0.0.1:9/hooks",
                                                 "events": ["conversation.handoff"]},
                       headers=auth(biz["sk"]))
    assert hook.status_code == 201, hook.get_json()
    with serving(app) as base:
        team = business_socket(base, app, biz["sk"], biz["id"])
        started, sock = visitor_socket(base, biz["pk"], "handoff-visitor")
        conversation_id = started["conversation_id"]
        held = ticket(base, biz["sk"], conversation_id)
        assert (held["status"], held["bot_active"]) == ("pending", True)
        headless = AgentClient(base, secret_key=biz["sk"]).list_tickets(status="pending")
        assert [t.bot_active for t in headless.tickets] == [True]  # the inbox can tell
        visitor_send(base, biz["pk"], started, "Can I talk to a person?")
        typing = sock.expect("TypingStarted")["data"]
        assert typing["sender"] == {"role": "bot", "name": "Robo"}
        answer = sock.expect("MessageCreated")["data"]
        while answer["sender"]["role"] == "visitor":
            answer = sock.expect("MessageCreated")["data"]
        assert answer["content"] == settings["handoff_message"] == "Getting you a person."
        assert answer["sender"] == {"role": "bot", "name": "Robo"} and "sources" not in answer
        assert sock.expect("ConversationUpdated")["data"]["status"] == "open"
        updated = team.expect("ConversationUpdated")["data"]
        assert (updated["id"], updated["status"], updated["assigned_to"]) == (
            conversation_id, "open", None)
        unassigned = httpx.get(f"{base}/api/v1/tickets?assigned_to=unassigned&status=open",
                               headers=auth(biz["sk"])).json()["data"]
        assert conversation_id in [t["id"] for t in unassigned]
        assert [t["bot_active"] for t in unassigned if t["id"] == conversation_id] == [False]
        # handed off: the next message is the team's, the bot stays silent
        visitor_send(base, biz["pk"], started, "hello?")
        assert sock.expect("MessageCreated")["data"]["sender"]["role"] == "visitor"
        assert sock.quiet(1.0)
    with session_scope(app) as s:
        events = [e.payload for e in s.scalars(select(WebhookEvent).where(
            WebhookEvent.type == "conversation.handoff"))]
    assert [(e["id"], e["reason"], e["message_id"]) for e in events] == [
        (conversation_id, "asked", answer["id"])]
    assert bot_messages(app, conversation_id) == ["Getting you a person."]


@pytest.mark.parametrize("take", ["reply", "assign"])
def test_an_agent_reply_or_assignment_takes_the_conversation_from_the_bot(
        app: Any, client: Any, biz: dict[str, Any], take: str) -> None:
    fast(app)
    put_bot(client, biz["sk"], enabled=True)
    with serving(app) as base:
        started, sock = visitor_socket(base, biz["pk"], f"taken-{take}")
        conversation_id = started["conversation_id"]
        if take == "reply":
            resp = httpx.post(f"{base}/api/v1/tickets/{conversation_id}/messages",
                              json={"content": "I'm here."}, headers=auth(biz["sk"]))
        else:
            resp = httpx.patch(f"{base}/api/v1/tickets/{conversation_id}",
                               json={"assigned_to": biz["owner_id"]}, headers=auth(biz["sk"]))
        assert resp.status_code in (200, 201), resp.text
        visitor_send(base, biz["pk"], started, "I need a human")
        while (frame := sock.recv(1.0)) is not None:
            assert frame["event"] != "TypingStarted", frame
            if frame["event"] == "MessageCreated":
                assert frame["data"]["sender"]["role"] != "bot", frame
    assert bot_messages(app, conversation_id) == []


def test_a_quiet_bot_conversation_is_resolved_with_a_system_message(
        app: Any, client: Any, biz: dict[str, Any]) -> None:
    fast(app, BOT_MINUTE_SECONDS=0.5)  # inactivity_minutes=1 -> half a second
    put_bot(client, biz["sk"], enabled=True, inactivity_minutes=1)
    with serving(app) as base:
        started, sock = visitor_socket(base, biz["pk"], "quiet-visitor")
        conversation_id = started["conversation_id"]
        closing = sock.expect("MessageCreated", timeout=5)["data"]
        assert closing["sender"]["role"] == "system" and "1 minutes" in closing["content"]
        assert sock.expect("ConversationUpdated")["data"]["status"] == "resolved"
        assert sock.quiet(1.0)  # once
        got = ticket(base, biz["sk"], conversation_id)
        assert (got["status"], got["resolved_by"]) == ("resolved", "bot")
    with session_scope(app) as s:
        assert s.scalar(select(func.count()).select_from(Message).where(
            Message.sender_role == "system")) == 1


def test_turning_the_bot_off_gives_its_conversations_to_the_team(
        app: Any, client: Any, biz: dict[str, Any]) -> None:
    put_bot(client, biz["sk"], enabled=True)
    started = client.post("/api/v1/chat/sessions", json={"visitor_id": "v-off"},
                          headers=auth(biz["pk"])).get_json()["data"]
    conversation_id = started["conversation_id"]
    read = client.get(f"/api/v1/tickets/{conversation_id}", headers=auth(biz["sk"]))
    assert read.get_json()["data"]["status"] == "pending"
    put_bot(client, biz["sk"], enabled=False)
    read = client.get(f"/api/v1/tickets/{conversation_id}", headers=auth(biz["sk"]))
    assert read.get_json()["data"]["status"] == "open"


# ---------- answerers ---------------------------------------------------------------------


class FakePassage:
    def __init__(self, document_id: int, title: str, text: str) -> None:
        self.document_id, self.title, self.text = document_id, title, text


PASSAGES = [FakePassage(7, "Returns", "You can return any item within 30 days. Bring the "
                                      "receipt. Refunds take five days."),
            FakePassage(8, "Shipping", "We ship worldwide.")]


def test_the_extractive_answer_is_the_best_passages_first_sentences_with_its_title() -> None:
    answer = Extractive().answer("how do returns work", PASSAGES)
    assert answer.text == ("You can return any item within 30 days. Bring the receipt. "
                           "Refunds take five days. — Returns")
    assert [p.document_id for p in answer.sources] == [7]
    long = first_sentences("One. " + "word " * 200)
    assert long.startswith("One.") and len(long) <= 400


@contextmanager
def llm_stand_in(answer: Callable[[dict[str, Any], dict[str, str]], tuple[int, Any]]
                 ) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A local stand-in for an OpenAI-compatible API: records each request, answers with
    answer(body, headers) -> (status, JSON body)."""
    seen: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            seen.append({"path": self.path, "body": body, "headers": dict(self.headers)})
            status, reply = answer(body, dict(self.headers))
            raw = json.dumps(reply).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)
            except OSError:  # the client gave up (a timeout test)
                pass

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", seen
    finally:
        server.shutdown()
        server.server_close()


def completion(text: str) -> dict[str, Any]:
    return {"id": "chatcmpl-1", "object": "chat.completion",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                         "finish_reason": "stop"}]}


def test_the_llm_answerer_grounds_its_request_on_the_passages() -> None:
    with llm_stand_in(lambda body, headers: (200, completion("Within 30 days."))) as (url, seen):
        answer = OpenAICompatible(url, "tiny-model", "sk-test", timeout=5).answer(
            "How long do I have to return?", PASSAGES)
    assert answer.text == "Within 30 days."
    assert [p.document_id for p in answer.sources] == [7, 8]
    request = seen[0]
    assert request["path"] == "/v1/chat/completions"
    assert request["headers"]["Authorization"] == "Bearer sk-test"
    assert request["body"]["model"] == "tiny-model"
    system, user = request["body"]["messages"]
    assert system["role"] == "system" and "You can return any item" in system["content"]
    assert "Returns" in system["content"] and "We ship worldwide." in system["content"]
    assert user == {"role": "user", "content": "How long do I have to return?"}


@pytest.mark.parametrize("behaviour", ["hang", "500", "garbage"])
def test_the_llm_answerer_falls_back_to_extractive(behaviour: str) -> None:
    def answer(body: dict[str, Any], headers: dict[str, str]) -> tuple[int, Any]:
        if behaviour == "hang":
            time.sleep(3)
            return 200, completion("too late")
        return (500, {"error": "down"}) if behaviour == "500" else (200, {"choices": []})

    with llm_stand_in(answer) as (url, seen):
        started = time.monotonic()
        got = OpenAICompatible(url, "m", timeout=0.5).answer("returns?", PASSAGES)
        took = time.monotonic() - started
    assert got.text.endswith("— Returns") and len(seen) == 1
    assert took < 2.5


# ---------- answers from the knowledge ----------------------------------------------------

RETURNS = ("You can return any item within 30 days of delivery. Bring the receipt or the "
           "order number. Refunds reach your card within five working days.")
# other articles of a small help centre (the inbox and headless knowledge tests list them)
FILLER = {"Shipping": "We ship to 40 countries by courier.",
          "Opening hours": "The shop opens at nine on weekdays.",
          "Gift wrapping": "Gift wrapping costs two euros.",
          "Accounts": "Reset your password from the sign-in page."}


def add_knowledge(app: Any, business_id: int, documents: dict[str, str],
                  name: str = "Help centre") -> tuple[int, dict[str, int]]:
    """A collection holding these documents (title -> text): its id, the documents' ids."""
    with session_scope(app) as s:
        collection = knowledge.do_create_collection(s, business_id,
                                                    knowledge.CollectionFields(name))
        ids = {title: knowledge.do_add_document(
            s, business_id, collection["id"],
            knowledge.check_json_document({"title": title, "text": text}))["id"]
            for title, text in documents.items()}
    return collection["id"], ids


def bot_answer(sock: PusherTestClient, timeout: float = 5.0) -> dict[str, Any]:
    """The next MessageCreated from the bot (the visitor's own echo skipped)."""
    deadline = time.monotonic() + timeout
    while True:
        got = sock.expect("MessageCreated", timeout=max(deadline - time.monotonic(), 0.01))
        if got["data"]["sender"]["role"] == "bot":
            return got["data"]  # type: ignore[no-any-return]


def test_a_question_gets_typing_then_the_answer_with_its_sources(
        kb_app: Any) -> None:  # noqa: F811
    app, client = kb_app, kb_app.test_client()  # on SQLite and on PostgreSQL
    biz = make_business(app)
    fast(app)
    collection_id, docs = add_knowledge(app, biz["id"], {
        "Returns and refunds": RETURNS})
    put_bot(client, biz["sk"], enabled=True, name="Robo", collection_ids=[collection_id])
    with serving(app) as base:
        team = business_socket(base, app, biz["sk"], biz["id"])
        started, sock = visitor_socket(base, biz["pk"], "asking-visitor")
        visitor_send(base, biz["pk"], started, "How many days do I have to return an item?")
        echo = sock.expect("MessageCreated")["data"]
        typing = sock.expect("TypingStarted")
        assert typing["data"]["sender"] == {"role": "bot", "name": "Robo"}
        answer = bot_answer(sock)
        assert answer["sender"] == {"role": "bot", "name": "Robo"}
        assert answer["direction"] == "outbound" and answer["type"] == "text"
        assert answer["content"].startswith("You can return any item within 30 days")
        assert answer["content"].endswith("— Returns and refunds")
        assert answer["sources"] == [{"document_id": docs["Returns and refunds"],
                                      "title": "Returns and refunds"}]
        assert sock.frames.index(typing) < len(sock.frames) - 1  # typing came first
        while (frame := team.expect("MessageCreated"))["data"]["id"] != answer["id"]:
            pass
        assert frame["data"]["sources"] == answer["sources"]
        history = httpx.get(f"{base}/api/v1/chat/sessions/{started['conversation_id']}/messages",
                            headers=auth(biz["pk"], started["session_token"])).json()["data"]
        assert [m["id"] for m in history] == [answer["id"], echo["id"]]
        assert history[0]["sources"] == answer["sources"] and "sources" not in history[1]
        pending = httpx.get(f"{base}/api/v1/tickets?status=pending",
                            headers=auth(biz["sk"])).json()["data"]
        # still the bot's; and the bot reading nothing, the visitor's message is unread
        assert [(t["id"], t["unread_count"]) for t in pending] == [
            (started["conversation_id"], 1)]
        metrics = httpx.get(f"{base}/metrics").text
    assert 'chatdock_bot_answers_total{outcome="answered"} 1.0' in metrics


def test_a_one_document_collection_answers_at_the_default_min_score(
        kb_app: Any) -> None:  # noqa: F811
    app, client = kb_app, kb_app.test_client()  # on SQLite and on PostgreSQL
    biz = make_business(app)
    fast(app)
    collection_id, docs = add_knowledge(app, biz["id"], {"Returns": RETURNS})
    put_bot(client, biz["sk"], enabled=True, collection_ids=[collection_id],
            handoff_message="A person it is.")  # min_score: the default 0.1
    with serving(app) as base:
        started, sock = visitor_socket(base, biz["pk"], "one-document")
        visitor_send(base, biz["pk"], started, "How many days do I have to return an item?")
        answer = bot_answer(sock)
        assert answer["content"].startswith("You can return any item within 30 days")
        assert answer["sources"] == [{"document_id": docs["Returns"], "title": "Returns"}]
        # a question sharing two of its seven words with it: too little of it is answered
        visitor_send(base, biz["pk"], started,
                     "Can I print a receipt for my bicycle helmet order at the winter market?")
        assert bot_answer(sock)["content"] == "A person it is."
        assert sock.expect("ConversationUpdated")["data"]["status"] == "open"


def test_a_new_conversation_starts_with_the_welcome_message_once(
        app: Any, client: Any, biz: dict[str, Any]) -> None:
    put_bot(client, biz["sk"], enabled=True, name="Robo", welcome_message="Hi! Ask me anything.")
    with serving(app) as base:
        started = start_visitor(base, biz["pk"], "welcomed")
        again = start_visitor(base, biz["pk"], "welcomed")  # resumed: no second welcome
        history = httpx.get(
            f"{base}/api/v1/chat/sessions/{again['conversation_id']}/messages",
            headers=auth(biz["pk"], again["session_token"])).json()["data"]
    assert again["conversation_id"] == started["conversation_id"]
    assert [(m["content"], m["direction"], m["sender"]) for m in history] == [
        ("Hi! Ask me anything.", "outbound", {"role": "bot", "name": "Robo"})]
    put_bot(client, biz["sk"], welcome_message="")
    quiet = client.post("/api/v1/chat/sessions", json={"visitor_id": "not-welcomed"},
                        headers=auth(biz["pk"])).get_json()["data"]
    assert bot_messages(app, quiet["conversation_id"]) == []


def test_outside_hours_the_bot_says_the_offline_message_once_per_conversation(
        kb_app: Any) -> None:  # noqa: F811
    app, client = kb_app, kb_app.test_client()  # on SQLite and on PostgreSQL
    biz = make_business(app)
    fast(app)
    add_knowledge(app, biz["id"], {"Returns": RETURNS})
    put_bot(client, biz["sk"], enabled=True, handoff_keywords=["human"])
    closed = client.put("/api/v1/availability", json={"hours": {}, "offline_message":
                        "We are closed; we reply from 9 on weekdays."}, headers=auth(biz["sk"]))
    assert closed.status_code == 200, closed.get_json()  # no hours at all: always closed
    with serving(app) as base:
        started, sock = visitor_socket(base, biz["pk"], "after-hours")
        for question in ("How many days do I have to return an item?", "Can I return an item?",
                         "a human please"):
            visitor_send(base, biz["pk"], started, question)
            bot_answer(sock)
        deadline = time.monotonic() + 3
        while len(bot_messages(app, started["conversation_id"])) < 4 and \
                time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)  # a second offline message would be here by now
        said = bot_messages(app, started["conversation_id"])
        other, other_sock = visitor_socket(base, biz["pk"], "after-hours-2")
        visitor_send(base, biz["pk"], other, "Can I return an item?")
        bot_answer(other_sock)
        assert bot_answer(other_sock)["content"].startswith("We are closed")
    assert said[1] == "We are closed; we reply from 9 on weekdays."
    assert said[0].startswith("You can return") and said[2].startswith("You can return")
    assert len(said) == 4 and said.count(said[1]) == 1  # the handoff: no second notice


def test_nothing_scoring_min_score_hands_off(app: Any, client: Any,
                                             biz: dict[str, Any]) -> None:
    fast(app)
    add_knowledge(app, biz["id"], {"Returns": RETURNS})
    put_bot(client, biz["sk"], enabled=True, min_score=0.99, handoff_message="A person it is.")
    with serving(app) as base:
        started, sock = visitor_socket(base, biz["pk"], "unanswered")
        visitor_send(base, biz["pk"], started, "Do you sell gift cards for bicycles?")
        answer = bot_answer(sock)
        assert answer["content"] == "A person it is." and "sources" not in answer
        assert sock.expect("ConversationUpdated")["data"]["status"] == "open"
        metrics = httpx.get(f"{base}/metrics").text
    assert 'chatdock_bot_answers_total{outcome="handoff"} 1.0' in metrics
    with session_scope(app) as s:
        assert s.scalar(select(BotJob.outcome)) == "handoff"


def test_the_llm_answerer_answers_over_the_socket_and_a_hanging_one_falls_back(
        app: Any, client: Any, biz: dict[str, Any]) -> None:
    def answer(body: dict[str, Any], headers: dict[str, str]) -> tuple[int, Any]:
        if "hang" in body["messages"][-1]["content"]:
            time.sleep(3)
        return 200, completion("Thirty days, with the receipt.")

    add_knowledge(app, biz["id"], {"Returns": RETURNS})
    put_bot(client, biz["sk"], enabled=True)
    with llm_stand_in(answer) as (url, seen):
        fast(app, BOT_LLM_URL=url, BOT_LLM_MODEL="stand-in", BOT_LLM_TIMEOUT_SECONDS=0.5)
        with serving(app) as base:
            started, sock = visitor_socket(base, biz["pk"], "llm-visitor")
            visitor_send(base, biz["pk"], started, "Can I return an item?")
            assert bot_answer(sock)["content"] == "Thirty days, with the receipt."
            visitor_send(base, biz["pk"], started, "hang: can I return an item?")
            late = bot_answer(sock, timeout=5)
    assert late["content"].endswith("— Returns") and late["sources"][0]["title"] == "Returns"
    assert [r["body"]["model"] for r in seen] == ["stand-in", "stand-in"]


def served_help_centre(base: str, sk: str) -> None:
    """Over HTTP: a collection with the returns document, and the bot on."""
    collection = httpx.post(f"{base}/api/v1/knowledge/collections", json={"name": "Help"},
                            headers=auth(sk))
    assert collection.status_code == 201, collection.text
    documents = f"{base}/api/v1/knowledge/collections/{collection.json()['data']['id']}/documents"
    added = httpx.post(documents, json={"title": "Returns", "text": RETURNS}, headers=auth(sk))
    assert added.status_code == 201, added.text
    assert httpx.put(f"{base}{BOT}", json={"enabled": True},
                     headers=auth(sk)).status_code == 200


def test_two_workers_on_postgres_answer_each_question_once(
        tmp_path: Path, postgres_url: str, redis_url: str) -> None:  # noqa: F811
    with patched_env({"CHATDOCK_WEBHOOK_POLL_SECONDS": "0.02"}):  # both claim, all the time
        server = two_workers(tmp_path, postgres_url, redis_url)
    try:
        served_help_centre(server.base, server.sk)
        visitors = [start_visitor(server.base, server.pk, f"pg-{i}") for i in range(6)]
        for n in range(3):
            for started in visitors:
                visitor_send(server.base, server.pk, started, f"Can I return item {n}?")
        threads: dict[int, list[dict[str, Any]]] = {}
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            threads = {v["conversation_id"]: httpx.get(
                f"{server.base}/api/v1/tickets/{v['conversation_id']}/messages?limit=100",
                headers=auth(server.sk)).json()["data"] for v in visitors}
            if all(sum(m["sender"]["role"] == "bot" for m in t) >= 3 for t in threads.values()):
                break
            time.sleep(0.2)
        time.sleep(1.0)  # a duplicate would be here by now
        threads = {cid: httpx.get(f"{server.base}/api/v1/tickets/{cid}/messages?limit=100",
                                  headers=auth(server.sk)).json()["data"] for cid in threads}
    finally:
        server.stop()
    for messages in threads.values():
        roles = [m["sender"]["role"] for m in messages]
        assert roles.count("bot") == 3 and roles.count("visitor") == 3, roles
        assert all("— Returns" in m["content"] for m in messages if m["sender"]["role"] == "bot")


def test_a_server_killed_before_the_answer_answers_once_after_restart(
        tmp_path: Path) -> None:
    def slow(body: dict[str, Any], headers: dict[str, str]) -> tuple[int, Any]:
        time.sleep(30)  # the first server dies while it waits for this
        return 200, completion("never")

    with llm_stand_in(slow) as (url, _seen):
        first = ServedProcess(tmp_path, env={
            "CHATDOCK_BOT_LLM_URL": url, "CHATDOCK_BOT_LLM_MODEL": "slow",
            "CHATDOCK_BOT_LLM_TIMEOUT_SECONDS": "60", "CHATDOCK_BOT_LEASE_SECONDS": "2",
            "CHATDOCK_WEBHOOK_POLL_SECONDS": "0.1"})
        pk, sk = first.pk, first.sk
        served_help_centre(first.base, sk)
        started, sock = visitor_socket(first.base, pk, "killed-visitor")
        visitor_send(first.base, pk, started, "Can I return an item?")
        sock.expect("TypingStarted")  # claimed: the job is leased, the answer is on its way
        for pid in process_tree(first.proc.pid):
            os.kill(pid, signal.SIGKILL)
        first.proc.wait(timeout=10)
        sock.close()
        second = ServedProcess(tmp_path, env={"CHATDOCK_WEBHOOK_POLL_SECONDS": "0.1"})
        try:
            again = start_visitor(second.base, pk, "killed-visitor")  # resumes it
            assert again["conversation_id"] == started["conversation_id"]
            sock = PusherTestClient.for_session(again)
            sock.subscribe_session(again, pk)
            history_url = (f"{second.base}/api/v1/chat/sessions/{again['conversation_id']}"
                           "/messages")
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                history = httpx.get(history_url, headers=auth(pk, again["session_token"]))
                if any(m["sender"]["role"] == "bot" for m in history.json()["data"]):
                    break
                time.sleep(0.2)
            time.sleep(1.5)  # a second answer would be here by now
            history = httpx.get(history_url, headers=auth(pk, again["session_token"]))
        finally:
            second.stop()
    answers = [m for m in history.json()["data"] if m["sender"]["role"] == "bot"]
    assert len(answers) == 1, history.json()
    assert answers[0]["content"].endswith("— Returns")  # extractive: no LLM after restart


def test_erasing_a_contact_with_a_pending_bot_job_erases_the_job_too(
        client: Any, app: Any, biz: dict[str, Any]) -> None:
    put_bot(client, biz["sk"], enabled=True)  # no server, no worker: the job stays pending
    started = client.post("/api/v1/chat/sessions", json={"visitor_id": "erase-me"},
                          headers=auth(biz["pk"])).get_json()["data"]
    sent = client.post(f"/api/v1/chat/sessions/{started['conversation_id']}/messages",
                       json={"content": "talk to a human"},
                       headers=auth(biz["pk"], started["session_token"]))
    assert sent.status_code == 201
    with session_scope(app) as s:
        assert s.scalar(select(func.count()).select_from(BotJob)) == 1
    customer = client.get(f"/api/v1/tickets/{started['conversation_id']}",
                          headers=auth(biz["sk"])).get_json()["data"]["customer"]
    erased = client.delete(f"/api/v1/contacts/{customer['id']}", headers=auth(biz["sk"]))
    assert erased.status_code == 200, erased.get_json()
    with session_scope(app) as s:
        assert s.scalar(select(func.count()).select_from(BotJob)) == 0


def test_the_preview_ranks_passages_and_answers_without_sending_anything(
        kb_app: Any) -> None:  # noqa: F811
    app, client = kb_app, kb_app.test_client()  # on SQLite and on PostgreSQL
    biz = make_business(app)
    collection_id, docs = add_knowledge(app, biz["id"], {"Returns and refunds": RETURNS})
    put_bot(client, biz["sk"], name="Robo", collection_ids=[collection_id], min_score=0.05)
    from tests.conftest import agent_token
    agent = agent_token(app, biz["id"])  # tickets:read is enough: the bot may even be off

    def preview(question: Any) -> Any:
        return client.post(f"{BOT}/preview", json={"question": question}, headers=auth(agent))

    got = preview("How many days do I have to return an item?").get_json()["data"]
    assert got["passages"][0]["document_id"] == docs["Returns and refunds"]
    assert got["passages"][0]["score"] >= got["passages"][-1]["score"]
    assert "**return**" in got["passages"][0]["snippet"].lower()
    assert got["answer"].startswith("You can return any item within 30 days")
    assert got["answer"].endswith("— Returns and refunds") and got["handoff"] is None
    assert got["sources"] == [{"document_id": docs["Returns and refunds"],
                               "title": "Returns and refunds"}]
    asked = preview("Can I talk to a PERSON about returns?").get_json()["data"]
    assert asked["handoff"] == "asked" and asked["sources"] == []
    assert asked["answer"].startswith("Let me get a person") and asked["passages"]
    put_bot(client, biz["sk"], min_score=0.99)  # a passage holds "return", not "spaceship"
    assert preview("Can I return a spaceship?").get_json()["data"]["handoff"] == "no_answer"
    for bad in ("", "   ", None, 5, "x" * 5001):
        resp = preview(bad)
        assert resp.status_code == 400, bad
        assert resp.get_json()["field"] == "question"
    with session_scope(app) as s:  # nothing was sent or stored
        assert s.scalar(select(func.count()).select_from(Message)) == 0
        assert s.scalar(select(func.count()).select_from(BotJob)) == 0
        assert s.scalar(select(func.count()).select_from(WebhookEvent)) == 0
