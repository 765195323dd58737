"""The TALKR-compatible wire endpoint: TALKR's chatbot API spoken by chatdock's bot, its
answers from the knowledge base, agents' replies on the next call, TALKR's errors, and
TALKR's reference clients (tests/data/talkr) run unmodified against a served chatdock."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from server import create_app, migrate
from server.db import make_engine, session_scope
from server.models import BotJob, Conversation, Message, TalkrSession, utcnow
from server.services import knowledge
from tests.conftest import agent_token, auth, make_business
from tests.test_scaleout import postgres_url  # noqa: F401  (a fixture: a fresh database)

SEED = Path(__file__).resolve().parent / "data" / "talkr"
WEB = {"X-Talkr-Query": "1"}
WELCOME = "Hello, I am Ava. Ask me anything about your account."
HELP_CENTRE = {  # a small help centre: bm25 needs other documents to weigh the words against
    "Account help": "To reset your password, open Settings, choose Security and press Reset "
                    "password. We email you a link that works for one hour.",
    "Shipping": "Orders ship within two working days. Tracking numbers are emailed when the "
                "parcel leaves our warehouse.",
    "Returns": "You can return an item within 30 days. Print the return label from your order "
               "page and drop the parcel at any post office.",
    "Invoices": "Invoices are in the Billing section of your account. Each invoice can be "
                "downloaded as a PDF."}
QUESTION = "how do I reset my password?"
HANDOFF = "Let me get a person for you."


def enable_bot(client: Any, sk: str, **changes: Any) -> dict[str, Any]:
    body = {"enabled": True, "name": "Ava", "welcome_message": WELCOME,
            "handoff_message": HANDOFF, "public_api": {"enabled": True}, **changes}
    resp = client.put("/api/v1/bot", json=body, headers=auth(sk))
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()["data"]  # type: ignore[no-any-return]


def add_help_centre(app: Any, business_id: int) -> None:
    with session_scope(app) as session:
        collection = knowledge.do_create_collection(
            session, business_id, knowledge.CollectionFields(name="Help centre"))
        for title, text in HELP_CENTRE.items():
            knowledge.do_add_document(session, business_id, collection["id"],
                                      knowledge.check_json_document({"title": title,
                                                                     "text": text}))


@pytest.fixture
def bot(app: Any, client: Any, biz: dict[str, Any]) -> dict[str, Any]:
    """Acme's bot, public API on, with a knowledge base that answers the password question."""
    add_help_centre(app, biz["id"])
    settings = enable_bot(client, biz["sk"])
    path = f"/api/v1/talkr/{biz['slug']}/{settings['id']}"
    return {**biz, "bot_id": settings["id"], "web": f"{path}/web",
            "telephony": f"{path}/telephony"}


def start(client: Any, url: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
    resp = client.post(url, json={}, headers=WEB if headers is None else headers)
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()  # type: ignore[no-any-return]


def say(client: Any, url: str, previous: dict[str, Any], text: str,
        headers: dict[str, str] | None = None) -> dict[str, Any]:
    body = {"message": text, "session": previous["session"],
            "tracking": previous["data"]["responses"][0]["tracking"],
            "variables": {"userresponse": text}}
    resp = client.post(url, json=body, headers=WEB if headers is None else headers)
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()  # type: ignore[no-any-return]


def conversation_of(app: Any, answer: dict[str, Any]) -> Conversation:
    from server.security import token_digest
    with session_scope(app) as session:
        found = session.scalar(select(TalkrSession).where(
            TalkrSession.token_hash == token_digest(answer["session"])))
        assert found is not None
        conversation = session.get(Conversation, found.conversation_id)
        assert conversation is not None
        session.expunge(conversation)
        return conversation


def ticket_messages(client: Any, sk: str, ticket_id: int) -> list[dict[str, Any]]:
    resp = client.get(f"/api/v1/tickets/{ticket_id}", headers=auth(sk))
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()["data"]["messages"]  # type: ignore[no-any-return]


# --- the conversation ------------------------------------------------------------------------

def test_the_first_call_answers_the_welcome_a_session_and_a_tracking(
        app: Any, client: Any, bot: dict[str, Any]) -> None:
    answer = start(client, bot["web"])
    assert answer["code"] == 200 and answer["name"] == "Ava"
    assert answer["session"].startswith("tks_") and len(answer["session"]) > 40
    assert answer["language"] == {"name": "English", "slug": "en"}
    assert answer["variables"] == {"bot_answer": WELCOME}
    data = answer["data"]
    assert data["messages"] == [{"type": "text", "content": WELCOME}]
    assert data["responses"][0]["type"] == "custom"
    assert data["responses"][0]["content"] == WELCOME
    assert isinstance(data["responses"][0]["tracking"], str)
    assert isinstance(data["object_id"], int) and data["has_background_text"] == 0
    assert answer["background_content"] == ""
    assert "speech_synthesis" not in data  # telephony only
    # agents see the conversation: channel talkr, the bot's, in the key's mode, welcome shown
    conversation = conversation_of(app, answer)
    assert (conversation.channel, conversation.status, conversation.mode) == \
        ("talkr", "pending", "test")
    listed = client.get("/api/v1/tickets?channel=talkr", headers=auth(bot["sk"])).get_json()
    assert [t["id"] for t in listed["data"]] == [conversation.id]
    shown = ticket_messages(client, bot["sk"], conversation.id)
    assert [(m["content"], m["sender"]["role"]) for m in shown] == [(WELCOME, "bot")]


def test_each_first_call_is_a_conversation_and_a_contact_of_its_own(
        app: Any, client: Any, bot: dict[str, Any]) -> None:
    one, two = start(client, bot["web"]), start(client, bot["web"])
    assert one["session"] != two["session"]
    first, second = conversation_of(app, one), conversation_of(app, two)
    assert first.id != second.id and first.contact_id != second.contact_id


def test_a_message_is_answered_from_the_knowledge_base_in_the_response(
        app: Any, client: Any, bot: dict[str, Any]) -> None:
    first = start(client, bot["web"])
    answer = say(client, bot["web"], first, QUESTION)
    reply = answer["variables"]["bot_answer"]
    assert "Settings" in reply and "Security" in reply and "Account help" in reply
    assert answer["data"]["messages"] == [{"type": "text", "content": reply}]
    assert answer["data"]["responses"][0]["content"] == reply
    assert answer["session"] == first["session"]
    assert answer["data"]["responses"][0]["tracking"] != first["data"]["responses"][0]["tracking"]
    # both sides are messages of the conversation (agents read them in the inbox), answered once
    conversation = conversation_of(app, answer)
    shown = ticket_messages(client, bot["sk"], conversation.id)
    assert [(m["content"], m["sender"]["role"]) for m in shown] == \
        [(WELCOME, "bot"), (QUESTION, "visitor"), (reply, "bot")]
    assert shown[-1]["sources"] == [{"document_id": shown[-1]["sources"][0]["document_id"],
                                     "title": "Account help"}]
    with session_scope(app) as session:
        jobs = session.execute(select(BotJob.status, BotJob.outcome, BotJob.answer_message_id)
                               .where(BotJob.conversation_id == conversation.id)).all()
    assert [(j.status, j.outcome, j.answer_message_id) for j in jobs] == \
        [("done", "answered", shown[-1]["id"])]  # the outbox worker has nothing left to say


def test_variables_userresponse_alone_carries_the_text(client: Any, bot: dict[str, Any]) -> None:
    first = start(client, bot["web"])
    resp = client.post(bot["web"], headers=WEB, json={
        "session": first["session"], "tracking": first["data"]["responses"][0]["tracking"],
        "variables": {"userresponse": QUESTION}})
    assert resp.status_code == 200
    assert "Settings" in resp.get_json()["variables"]["bot_answer"]


def test_asking_for_a_human_hands_off_and_agent_replies_come_on_the_next_call(
        app: Any, client: Any, bot: dict[str, Any]) -> None:
    first = start(client, bot["web"])
    handed = say(client, bot["web"], first, "I want to talk to a human please")
    assert handed["variables"]["bot_answer"] == HANDOFF
    assert handed["data"]["messages"] == [{"type": "text", "content": HANDOFF}]
    conversation = conversation_of(app, handed)
    assert conversation.status == "open" and not conversation.bot_active
    # an agent answers in the inbox; the caller's next call carries it, and the bot is silent
    reply = client.post(f"/api/v1/tickets/{conversation.id}/messages",
                        json={"content": "Hi, Sam here. What can I do?"}, headers=auth(bot["sk"]))
    assert reply.status_code == 201
    nxt = say(client, bot["web"], handed, "My invoice is wrong")
    assert nxt["variables"]["bot_answer"] == ""
    assert nxt["data"]["messages"] == [{"type": "text", "content": "Hi, Sam here. What can I do?"}]
    # each reply is returned once
    again = say(client, bot["web"], nxt, "Hello?")
    assert again["data"]["messages"] == []
    shown = ticket_messages(client, bot["sk"], conversation.id)
    assert [m["sender"]["role"] for m in shown] == \
        ["bot", "visitor", "bot", "agent", "visitor", "visitor"]


def test_an_agent_reply_takes_the_conversation_from_the_bot(
        app: Any, client: Any, bot: dict[str, Any]) -> None:
    first = start(client, bot["web"])
    conversation = conversation_of(app, first)
    client.post(f"/api/v1/tickets/{conversation.id}/messages", json={"content": "Sam here."},
                headers=auth(bot["sk"]))
    answer = say(client, bot["web"], first, QUESTION)
    assert answer["variables"]["bot_answer"] == ""
    assert answer["data"]["messages"] == [{"type": "text", "content": "Sam here."}]


def test_notes_never_reach_the_caller(app: Any, client: Any, bot: dict[str, Any]) -> None:
    first = start(client, bot["web"])
    conversation = conversation_of(app, first)
    note = client.post(f"/api/v1/tickets/{conversation.id}/notes",
                       json={"content": "VIP customer"},
                       headers=auth(agent_token(app, bot["id"])))
    assert note.status_code == 201, note.get_json()
    answer = say(client, bot["web"], first, QUESTION)
    assert "VIP customer" not in json.dumps(answer)


def test_telephony_adds_the_voice_fields_and_needs_no_web_header(
        client: Any, bot: dict[str, Any]) -> None:
    first = start(client, bot["telephony"], headers={})
    data = first["data"]
    assert data["speech_synthesis"] == {"text": WELCOME, "language": "en-US"}
    assert data["speech_recognizer"] == {"language": "en-US", "timeout": 5}
    assert data["hangup_no_response"] == 1 and data["retries"] == 2
    answer = say(client, bot["telephony"], first, QUESTION, headers={})
    assert "Settings" in answer["data"]["speech_synthesis"]["text"]
    assert answer["data"]["speech_synthesis"]["text"] == answer["variables"]["bot_answer"]


def test_the_conversation_is_in_the_mode_of_the_key_that_enabled_the_api(
        app: Any, client: Any, biz: dict[str, Any]) -> None:
    from server.models import Business
    from server.services.keys import do_create_key
    with session_scope(app) as session:
        business = session.get(Business, biz["id"])
        _, live_sk = do_create_key(session, business, "secret", "live")
    settings = enable_bot(client, live_sk)
    answer = start(client, f"/api/v1/talkr/{biz['slug']}/{settings['id']}/web")
    assert conversation_of(app, answer).mode == "live"
    live = client.get("/api/v1/tickets?channel=talkr", headers=auth(live_sk)).get_json()["data"]
    test = client.get("/api/v1/tickets?channel=talkr", headers=auth(biz["sk"])).get_json()["data"]
    assert len(live) == 1 and test == []


def test_the_conversation_on_postgresql(postgres_url: str) -> None:  # noqa: F811
    engine = make_engine(postgres_url)
    migrate.upgrade(engine)
    engine.dispose()
    app = create_app({"DATABASE_URL": postgres_url, "PUBLIC_URL": ""})
    try:
        client = app.test_client()
        biz = make_business(app)
        add_help_centre(app, biz["id"])
        url = f"/api/v1/talkr/{biz['slug']}/{enable_bot(client, biz['sk'])['id']}/web"
        first = start(client, url)
        answer = say(client, url, first, QUESTION)
        assert "Settings" in answer["variables"]["bot_answer"]
        handed = say(client, url, answer, "Can I talk to a human?")
        assert handed["variables"]["bot_answer"] == HANDOFF
        ticket = conversation_of(app, handed).id
        client.post(f"/api/v1/tickets/{ticket}/messages", json={"content": "Sam here."},
                    headers=auth(biz["sk"]))
        assert say(client, url, handed, "Hi Sam")["data"]["messages"] == [
            {"type": "text", "content": "Sam here."}]
        # text no PostgreSQL column can hold is refused before the database (400, not 500)
        nul = {"session": first["session"], "tracking": "t", "message": "a\x00b"}
        assert client.post(url, json=nul, headers=WEB).status_code == 400
        assert client.post(url.replace(biz["slug"], biz["slug"] + "%00"), json={},
                           headers=WEB).status_code == 404
    finally:
        app.extensions["engine"].dispose()


# --- errors ----------------------------------------------------------------------------------

def message_count(app: Any) -> int:
    with session_scope(app) as session:
        return len(session.scalars(select(Message.id)).all())


@pytest.mark.parametrize("body,field", [
    ({"message": QUESTION, "tracking": "msg_1"}, "session"),
    ({"message": QUESTION, "session": "{s}"}, "tracking"),
    ({"session": "{s}", "tracking": "msg_1"}, "message"),
    ({"session": "{s}", "tracking": "msg_1", "message": "   "}, "message"),
    ({"session": "{s}", "tracking": "msg_1", "variables": "hi"}, "variables"),
    ({"session": 7, "tracking": "msg_1", "message": QUESTION}, "session"),
])
def test_a_missing_or_bad_field_is_400_naming_it(app: Any, client: Any, bot: dict[str, Any],
                                                 body: dict[str, Any], field: str) -> None:
    first = start(client, bot["web"])
    body = {k: first["session"] if v == "{s}" else v for k, v in body.items()}
    before = message_count(app)
    resp = client.post(bot["web"], json=body, headers=WEB)
    assert resp.status_code == 400
    error = resp.get_json()
    assert error == {"code": 400, "error": "validation_error", "message": error["message"],
                     "field": field}
    assert message_count(app) == before  # nothing stored


def test_the_web_channel_needs_x_talkr_query(app: Any, client: Any, bot: dict[str, Any]) -> None:
    for headers in ({}, {"X-Talkr-Query": "0"}):
        resp = client.post(bot["web"], json={}, headers=headers)
        assert resp.status_code == 400
        assert resp.get_json()["field"] == "X-Talkr-Query"
        assert resp.get_json()["code"] == 400
    assert message_count(app) == 0


def test_an_unknown_or_disabled_bot_is_404(app: Any, client: Any, bot: dict[str, Any]) -> None:
    other = make_business(app, "Other")
    unknown = [f"/api/v1/talkr/{bot['slug']}/{bot['bot_id'] + 99}/web",
               f"/api/v1/talkr/nobody/{bot['bot_id']}/web",
               f"/api/v1/talkr/{other['slug']}/{bot['bot_id']}/web",  # another business's id
               f"/api/v1/talkr/{bot['slug']}%00/{bot['bot_id']}/web",
               f"/api/v1/talkr/{bot['slug']}/{bot['bot_id']}/sms"]
    for url in unknown:
        resp = client.post(url, json={}, headers=WEB)
        assert resp.status_code == 404, url
        assert resp.get_json()["error"] == "not_found"
    for off in ({"public_api": {"enabled": False}}, {"enabled": False}):
        enable_bot(client, bot["sk"], **off)
        resp = client.post(bot["web"], json={}, headers=WEB)
        assert resp.status_code == 404
        assert resp.get_json() == {"code": 404, "error": "not_found",
                                   "message": resp.get_json()["message"]}
    assert message_count(app) == 0


def test_a_forged_or_foreign_session_is_400_invalid_session(
        app: Any, client: Any, bot: dict[str, Any]) -> None:
    phone = start(client, bot["telephony"], headers={})
    for session_value in ("tks_forged", phone["session"]):  # telephony's is not web's
        resp = client.post(bot["web"], headers=WEB, json={
            "session": session_value, "tracking": "msg_1", "message": QUESTION})
        assert resp.status_code == 400
        assert resp.get_json()["error"] == "invalid_session"
        assert resp.get_json()["code"] == 400


def test_an_expired_session_is_400_invalid_session(app: Any, client: Any,
                                                   bot: dict[str, Any]) -> None:
    first = start(client, bot["web"])
    with session_scope(app) as session:
        session.execute(update(TalkrSession).values(
            last_seen_at=utcnow() - timedelta(minutes=61)))
    before = message_count(app)
    resp = client.post(bot["web"], headers=WEB, json={
        "session": first["session"], "tracking": "msg_1", "message": QUESTION})
    assert resp.status_code == 400 and resp.get_json()["error"] == "invalid_session"
    assert message_count(app) == before


def test_an_erased_contact_s_session_is_gone(app: Any, client: Any,
                                             bot: dict[str, Any]) -> None:
    first = start(client, bot["web"])
    contact_id = conversation_of(app, first).contact_id
    assert client.delete(f"/api/v1/contacts/{contact_id}",
                         headers=auth(bot["sk"])).status_code in (200, 204)
    resp = client.post(bot["web"], headers=WEB, json={
        "session": first["session"], "tracking": "msg_1", "message": QUESTION})
    assert resp.status_code == 400 and resp.get_json()["error"] == "invalid_session"


def test_each_address_is_rate_limited(tmp_path: Path, migrated_db: Path) -> None:
    shutil.copyfile(migrated_db, tmp_path / "limited.db")
    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'limited.db'}",
                      "RATE_LIMIT_REQUESTS": 2})
    client = app.test_client()
    biz = make_business(app)
    settings = enable_bot(client, biz["sk"])
    url = f"/api/v1/talkr/{biz['slug']}/{settings['id']}/web"
    assert [client.post(url, json={}, headers=WEB).status_code for _ in range(2)] == [200, 200]
    refused = client.post(url, json={}, headers=WEB)
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    assert refused.get_json()["code"] == 429 and refused.get_json()["error"] == "rate_limited"
    other = client.post(url, json={}, headers=WEB, environ_base={"REMOTE_ADDR": "10.0.0.9"})
    assert other.status_code == 200  # per address


def test_a_browser_may_call_the_web_channel(client: Any, bot: dict[str, Any]) -> None:
    preflight = client.options(bot["web"], headers={
        "Origin": "https://shop.example", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type, x-talkr-query"})
    assert preflight.status_code == 204
    assert "X-Talkr-Query" in preflight.headers["Access-Control-Allow-Headers"]
    resp = client.post(bot["web"], json={}, headers={**WEB, "Origin": "https://shop.example"})
    assert resp.headers["Access-Control-Allow-Origin"] == "https://shop.example"


# --- TALKR's reference clients, unmodified, against a served chatdock -------------------------

@pytest.fixture
def endpoint(live: str, bot: dict[str, Any]) -> str:
    return live + bot["web"]


def run(args: list[str], endpoint: str, **env: str) -> str:
    out = subprocess.run(args, capture_output=True, text=True, timeout=60, check=True,
                         env={**os.environ, "TALKR_API_ENDPOINT": endpoint, **env})
    return out.stdout


def test_the_curl_pair(endpoint: str) -> None:
    first = json.loads(run(["sh", str(SEED / "curl_first_call.sh")], endpoint))
    assert first["data"]["messages"][0]["content"] == WELCOME
    second = json.loads(run(["sh", str(SEED / "curl_second_call.sh")], endpoint,
                            TALKR_SESSION=first["session"],
                            TALKR_TRACKING=first["data"]["responses"][0]["tracking"]))
    assert "Settings" in second["variables"]["bot_answer"]
    assert second["data"]["messages"][-1]["content"] == second["variables"]["bot_answer"]


def test_the_python_requests_client(endpoint: str, live: str, bot: dict[str, Any]) -> None:
    out = run([sys.executable, str(SEED / "client.py")], endpoint).splitlines()
    assert out[0] == f"Bot: {WELCOME}"
    assert out[1].startswith("Bot: ") and "Settings" in out[1]
    assert out[2] == "Message: " + out[1].removeprefix("Bot: ")
    # the served app's outbox worker is running: it must not answer the question again
    time.sleep(1.5)  # past WEBHOOK_POLL_SECONDS, the worker's longest sleep
    listed = httpx.get(f"{live}/api/v1/tickets?channel=talkr", headers=auth(bot["sk"])).json()
    ticket = httpx.get(f"{live}/api/v1/tickets/{listed['data'][0]['id']}",
                       headers=auth(bot["sk"])).json()["data"]
    assert [m["sender"]["role"] for m in ticket["messages"]] == ["bot", "visitor", "bot"]


def test_the_javascript_fetch_client(endpoint: str) -> None:
    if shutil.which("node") is None:
        pytest.fail("node (18 or later: fetch) is needed; .ci/run installs it")
    out = run(["node", str(SEED / "client.mjs")], endpoint).splitlines()
    assert out[0] == f"Bot: {WELCOME}"
    assert "Settings" in out[1] and out[2] == "Message: " + out[1].removeprefix("Bot: ")
