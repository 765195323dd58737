"""The operator CLI: `chatdock agents …`, `chatdock tickets …`, and the relay that carries its
events to the sockets of every server process."""

from __future__ import annotations

import io
import json
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, insert, select, update

from server.channels import conversation_topic
from server.cli import main
from server.db import session_scope
from server.models import Message, RelayEvent, User, utcnow
from server.realtime.hub import Hub
from server.realtime.relay import KEEP_SECONDS, RELAY, RelayReader
from tests.conftest import ServedProcess, auth, start_visitor
from tests.pusher import PusherTestClient
from tests.test_admin import business_socket
from tests.test_scaleout import postgres_url, redis_url, two_workers, worker_pids  # noqa: F401

API = "/api/v1"
PASSWORD = "correct horse battery"
Cli = Callable[..., Any]


@pytest.fixture
def cli(app: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Cli:
    """Run `chatdock ARGS` (server.cli.main) on the app's database; stdin is `stdin`.

    Returns stdout (decoded with --json) when the exit code is `expect` 0, else stderr."""
    monkeypatch.setenv("CHATDOCK_DATABASE_URL", app.config["DATABASE_URL"])

    def run(*argv: str, stdin: str = "", expect: int = 0) -> Any:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        capsys.readouterr()
        try:
            main(list(argv))
            code = 0
        except SystemExit as exit_:
            code = int(exit_.code or 0)
        out, err = capsys.readouterr()
        assert code == expect, (out, err)
        if code:
            return err
        return json.loads(out) if "--json" in argv else out

    return run


def login(client: Any, email: str, password: str = PASSWORD) -> Any:
    return client.post(f"{API}/auth/login",
                       json={"email": email, "password": password, "mode": "test"})


def visitor_message(client: Any, pk: str, visitor_id: str, content: str) -> dict[str, Any]:
    started = client.post(f"{API}/chat/sessions", json={"visitor_id": visitor_id, "name": "Vi"},
                          headers=auth(pk)).get_json()["data"]
    sent = client.post(f"{API}/chat/sessions/{started['conversation_id']}/messages",
                       json={"content": content}, headers=auth(pk, started["session_token"]))
    assert sent.status_code == 201
    return started  # type: ignore[no-any-return]


# ---------- agents --------------------------------------------------------------------------


def test_agents_create_list_and_set_password(cli: Cli, client: Any,
                                             biz: dict[str, Any]) -> None:
    made = cli("agents", "create", "--business", biz["slug"], "--email", "Ann@Acme.test",
               "--name", "Ann", "--password", PASSWORD, "--json")
    assert (made["email"], made["name"], made["role"], made["active"]) == (
        "ann@acme.test", "Ann", "agent", True)
    assert "invite_token" not in made
    assert login(client, "ann@acme.test").status_code == 200

    invited = cli("agents", "create", "--business", biz["slug"], "--email", "bo@acme.test",
                  "--role", "owner", "--json")
    accepted = client.post(f"{API}/auth/accept-invite",  # the server takes the CLI's invitation
                           json={"token": invited["invite_token"], "password": "bo's password!"})
    assert accepted.status_code == 200, accepted.get_data(as_text=True)
    assert accepted.get_json()["data"]["agent"]["role"] == "owner"

    listed = cli("agents", "list", "--business", biz["slug"], "--json")["agents"]
    assert [(a["email"], a["role"], a["online"], a["active"]) for a in listed] == [
        ("owner@acme.test", "owner", False, True), ("ann@acme.test", "agent", False, True),
        ("bo@acme.test", "owner", False, True)]
    text = cli("agents", "list", "--business", biz["slug"])
    assert "ann@acme.test" in text and "Ann" in text and "active" in text

    said = cli("agents", "set-password", "--business", biz["slug"], "ANN@acme.test",
               stdin="a brand new password\n")
    assert said == "Password set for ann@acme.test.\n"
    assert login(client, "ann@acme.test").status_code == 401
    assert login(client, "ann@acme.test", "a brand new password").status_code == 200
    cli("agents", "set-password", "--business", biz["slug"], "ann@acme.test",
        "--password", "third password here")
    assert login(client, "ann@acme.test", "third password here").status_code == 200


@pytest.mark.parametrize("argv,body", [
    (["--email", "not-an-email"], {"email": "not-an-email"}),
    (["--email", "x@acme.test", "--role", "boss"], {"email": "x@acme.test", "role": "boss"}),
    (["--email", "x@acme.test", "--password", "short"],
     {"email": "x@acme.test", "password": "short"}),
    (["--email", "owner@acme.test"], {"email": "owner@acme.test"}),
    (["--email", "x@acme.test", "--name", "n" * 201], {"email": "x@acme.test", "name": "n" * 201}),
])
def test_agent_validation_is_the_apis(cli: Cli, client: Any, biz: dict[str, Any],
                                      argv: list[str], body: dict[str, Any]) -> None:
    api = client.post(f"{API}/agents", json=body, headers=auth(biz["sk"]))
    assert api.status_code == 400
    err = cli("agents", "create", "--business", biz["slug"], *argv, expect=2)
    assert err == f"chatdock: {api.get_json()['message']}\n"


def test_set_password_rules_and_unknown_names(cli: Cli, biz: dict[str, Any]) -> None:
    slug = biz["slug"]
    assert cli("agents", "set-password", "--business", slug, "owner@acme.test",
               stdin="too short\n", expect=2) == (
        "chatdock: password must be 10 to 1000 characters.\n")
    assert cli("agents", "set-password", "--business", slug, "nobody@acme.test",
               "--password", PASSWORD, expect=2) == (
        "chatdock: No agent nobody@acme.test in this business.\n")
    assert cli("agents", "list", "--business", "nope", expect=2) == (
        "chatdock: No business with slug 'nope'.\n")
    assert cli("agents", "deactivate", "--business", slug, "owner@acme.test", expect=2) == (
        "chatdock: This is the business's last active owner; add another owner first.\n")


def test_a_deactivated_agent_is_locked_out(cli: Cli, client: Any, app: Any,
                                           biz: dict[str, Any]) -> None:
    slug = biz["slug"]
    ann = cli("agents", "create", "--business", slug, "--email", "ann@acme.test",
              "--password", PASSWORD, "--json")
    invited = cli("agents", "create", "--business", slug, "--email", "inv@acme.test", "--json")
    token = login(client, "ann@acme.test").get_json()["data"]["token"]
    assert client.post(f"{API}/agents/heartbeat", headers=auth(token)).status_code == 200
    config = client.get(f"{API}/chat/config", headers=auth(biz["pk"])).get_json()["data"]
    assert config["presence"]["agents_online"] == 1
    started = visitor_message(client, biz["pk"], "v1", "hello")

    done = cli("agents", "deactivate", "--business", slug, "ann@acme.test", "--json")
    assert done["active"] is False and done["online"] is False and done["deactivated_at"]
    cli("agents", "deactivate", "--business", slug, "inv@acme.test")

    refused = client.get(f"{API}/tickets", headers=auth(token))  # the token from before
    assert refused.status_code == 401
    assert refused.get_json() == {"error": "invalid_api_key",
                                  "message": "The agent token is not valid."}
    wrong = login(client, "ann@acme.test", "not the password")
    right = login(client, "ann@acme.test")
    assert right.status_code == wrong.status_code == 401  # no hint it was the right password
    assert right.get_json() == wrong.get_json()
    config = client.get(f"{API}/chat/config", headers=auth(biz["pk"])).get_json()["data"]
    assert config["presence"]["agents_online"] == 0
    listed = client.get(f"{API}/agents", headers=auth(biz["sk"])).get_json()["data"]
    assert {a["email"]: a["active"] for a in listed} == {
        "owner@acme.test": True, "ann@acme.test": False, "inv@acme.test": False}
    assign = client.patch(f"{API}/tickets/{started['conversation_id']}",
                          json={"assigned_to": ann["id"]}, headers=auth(biz["sk"]))
    assert assign.status_code == 400
    assert assign.get_json()["message"] == "assigned_to is a deactivated agent."
    accept = client.post(f"{API}/auth/accept-invite",
                         json={"token": invited["invite_token"], "password": PASSWORD})
    assert accept.status_code == 400 and accept.get_json()["error"] == "invalid_invite"
    assert cli("tickets", "reply", str(started["conversation_id"]), "--as", "ann@acme.test",
               "hi", expect=2) == "chatdock: ann@acme.test is deactivated.\n"
    again = cli("agents", "deactivate", "--business", slug, "ann@acme.test", "--json")
    assert again["deactivated_at"] == done["deactivated_at"]  # once


def test_deactivation_closes_the_agents_sockets(cli: Cli, live: str, app: Any,
                                                biz: dict[str, Any]) -> None:
    cli("agents", "create", "--business", biz["slug"], "--email", "ann@acme.test",
        "--password", PASSWORD)
    token = httpx.post(f"{live}{API}/auth/login", json={
        "email": "ann@acme.test", "password": PASSWORD, "mode": "test"}).json()["data"]["token"]
    started = start_visitor(live, biz["pk"], "watching")
    visitor = PusherTestClient.for_session(started)
    visitor.subscribe_session(started, biz["pk"])
    agent = business_socket(live, app, token, biz["id"])
    owner = business_socket(live, app, biz["sk"], biz["id"])  # a key, not this agent
    deadline = time.monotonic() + 6
    while visitor.expect("PresenceUpdated")["data"]["agents_online"] != 1:
        assert time.monotonic() < deadline
    cli("agents", "deactivate", "--business", biz["slug"], "ann@acme.test")
    assert agent.close_code(timeout=6) == 4009
    assert visitor.expect("PresenceUpdated", timeout=6)["data"] == {"agents_online": 0}
    assert owner.connected and visitor.connected
    for sock in (visitor, agent, owner):
        sock.close()


# ---------- tickets -------------------------------------------------------------------------


def test_tickets_list_and_show(cli: Cli, client: Any, biz: dict[str, Any]) -> None:
    first = visitor_message(client, biz["pk"], "v1", "my parcel never came")
    second = visitor_message(client, biz["pk"], "v2", "how do refunds work?")
    slug = biz["slug"]
    listed = cli("tickets", "list", "--business", slug, "--mode", "test", "--json")
    api = client.get(f"{API}/tickets?sort=updated_desc", headers=auth(biz["sk"])).get_json()
    assert listed["tickets"] == api["data"]
    assert [t["id"] for t in listed["tickets"]] == [second["conversation_id"],
                                                    first["conversation_id"]]
    assert listed["meta"]["total"] == 2
    text = cli("tickets", "list", "--business", slug, "--mode", "test")
    assert text.splitlines()[0] == "2 ticket(s) in test mode, latest activity first:"
    assert "how do refunds work?" in text.splitlines()[1] and "(1 new)" in text
    found = cli("tickets", "list", "--business", slug, "--mode", "test", "--q", "PARCEL",
                "--assigned-to", "unassigned", "--status", "open", "--json")["tickets"]
    assert [t["id"] for t in found] == [first["conversation_id"]]
    assert cli("tickets", "list", "--business", slug, "--mode", "test", "--limit", "1",
               "--json")["meta"]["next_cursor"]
    assert cli("tickets", "list", "--business", slug).startswith("No tickets in live mode")

    cli("tickets", "reply", str(first["conversation_id"]), "--as", "owner@acme.test",
        "It left our depot today.")
    shown = cli("tickets", "show", str(first["conversation_id"]), "--json")
    assert shown["mode"] == "test" and shown["unread_count"] == 0
    assert [(m["sender"]["role"], m["content"]) for m in shown["messages"]] == [
        ("visitor", "my parcel never came"), ("agent", "It left our depot today.")]
    text = cli("tickets", "show", str(first["conversation_id"]))
    assert text.startswith(f"Ticket {first['conversation_id']} · open · widget · test mode")
    assert "visitor Vi: my parcel never came" in text
    assert "agent owner@acme.test: It left our depot today." in text
    assert cli("tickets", "show", "999999", expect=2) == "chatdock: No such ticket.\n"


@pytest.mark.parametrize("argv,query", [
    (["--status", "closed"], "status=closed"),
    (["--assigned-to", "ann"], "assigned_to=ann"),
    (["--q", "x" * 201], "q=" + "x" * 201),
    (["--mode", "prod"], None),
])
def test_ticket_filters_are_checked_as_the_api_does(cli: Cli, client: Any, biz: dict[str, Any],
                                                    argv: list[str], query: str | None) -> None:
    err = cli("tickets", "list", "--business", biz["slug"], *argv, expect=2)
    if query is None:  # the API's mode check is login's
        api = client.post(f"{API}/auth/login", json={"email": "a@b.co", "password": "x",
                                                     "mode": "prod"})
    else:
        api = client.get(f"{API}/tickets?{query}", headers=auth(biz["sk"]))
    assert api.status_code == 400
    assert err == f"chatdock: {api.get_json()['message']}\n"


def test_reply_is_an_agent_message_with_the_apis_checks(cli: Cli, client: Any, app: Any,
                                                        biz: dict[str, Any]) -> None:
    started = visitor_message(client, biz["pk"], "v1", "hello?")
    ticket = str(started["conversation_id"])
    cli("agents", "create", "--business", biz["slug"], "--email", "ann@acme.test",
        "--name", "Ann")
    sent = cli("tickets", "reply", ticket, "--as", "ann@acme.test", "--json",
               stdin="Hello!\nHow can I help?\n")
    assert sent["content"] == "Hello!\nHow can I help?"
    assert sent["sender"] == {"role": "agent", "name": "Ann"}
    assert sent["direction"] == "outbound"
    read = client.get(f"{API}/tickets/{ticket}", headers=auth(biz["sk"])).get_json()["data"]
    with session_scope(app) as s:
        ann_id = s.scalar(select(User.id).where(User.email == "ann@acme.test"))
    assert read["messages"][-1]["sender"] == {"role": "agent", "name": "Ann", "user_id": ann_id}
    api = client.post(f"{API}/tickets/{ticket}/messages", json={"content": "  "},
                      headers=auth(biz["sk"]))
    assert cli("tickets", "reply", ticket, "--as", "ann@acme.test", "  ", expect=2) == (
        f"chatdock: {api.get_json()['message']}\n")
    assert cli("tickets", "reply", ticket, "--as", "nobody@acme.test", "hi", expect=2) == (
        "chatdock: No agent nobody@acme.test in this business.\n")
    with session_scope(app) as s:  # the refused replies wrote nothing, not even a relay row
        assert s.scalar(select(func.count()).select_from(Message)) == 2
        relayed = s.execute(select(RelayEvent.topics, RelayEvent.event)).all()
    assert [tuple(r) for r in relayed] == [
        ([conversation_topic(started["conversation_id"]), f"business.{biz['id']}.test"],
         "MessageCreated")]


# ---------- the relay -----------------------------------------------------------------------


def test_a_cli_reply_reaches_sockets_in_this_process(cli: Cli, live: str, app: Any,
                                                     biz: dict[str, Any]) -> None:
    started = start_visitor(live, biz["pk"], "in-process")
    visitor = PusherTestClient.for_session(started)
    visitor.subscribe_session(started, biz["pk"])
    agent = business_socket(live, app, biz["sk"], biz["id"])
    time.sleep(1.2)  # the watcher (started by the first socket) has read where the relay ends
    sent = cli("tickets", "reply", str(started["conversation_id"]), "--as", "owner@acme.test",
               "answered from a terminal", "--json")
    assert visitor.expect("MessageCreated", timeout=5)["data"] == sent
    assert agent.expect("MessageCreated", timeout=5)["data"] == sent
    visitor.close()
    agent.close()


def test_relay_rows_committed_out_of_order_are_delivered(live: str, app: Any,
                                                         biz: dict[str, Any]) -> None:
    started = start_visitor(live, biz["pk"], "gaps")
    visitor = PusherTestClient.for_session(started)
    visitor.subscribe_session(started, biz["pk"])
    time.sleep(1.2)
    topic = [conversation_topic(started["conversation_id"])]
    with session_scope(app) as s:  # id 3 commits first (PostgreSQL sequences allow this)
        s.execute(insert(RELAY), [{"id": 3, "topics": topic, "event": "Third", "data": "{}"}])
    assert visitor.expect("Third", timeout=5)["event"] == "Third"
    with session_scope(app) as s:  # then ids 1 and 2, below what was delivered
        s.execute(insert(RELAY), [{"id": i, "topics": topic, "event": e, "data": '{"n": 1}'}
                                  for i, e in ((1, "First"), (2, "Second"))])
    assert visitor.expect("First", timeout=5)["data"] == {"n": 1}
    assert visitor.expect("Second", timeout=5)["event"] == "Second"
    visitor.close()


def test_reader_starts_at_the_end_and_prunes_old_rows(app: Any) -> None:
    def add(event: str) -> None:
        with session_scope(app) as s:
            s.add(RelayEvent(topics=["nobody"], event=event, data="{}"))

    add("before-start")
    reader = RelayReader(Hub())
    with session_scope(app) as s:
        assert reader.poll(s) == 0  # the start: what was there is for sockets long gone
    add("after")
    add("after")
    with session_scope(app) as s:
        assert reader.poll(s) == 2
        assert reader.poll(s) == 0
        s.execute(update(RelayEvent).where(RelayEvent.event == "before-start").values(
            created_at=utcnow() - timedelta(seconds=KEEP_SECONDS + 1)))
    reader._pruned_at = 0.0  # a minute has passed
    with session_scope(app) as s:
        reader.prune(s)
    with session_scope(app) as s:
        assert s.scalars(select(RelayEvent.event)).all() == ["after", "after"]


def test_served_cli_reply_reaches_the_visitors_socket(tmp_path: Path) -> None:
    server = ServedProcess(tmp_path)
    try:
        started = start_visitor(server.base, server.pk, "terminal-visitor")
        visitor = PusherTestClient.for_session(started)
        visitor.subscribe_session(started, server.pk)
        ticket = str(started["conversation_id"])
        server.cli("tickets", "reply", ticket, "--as", "owner@demo.invalid",
                   "Hi, this is a person at a terminal.")
        got = visitor.expect("MessageCreated", timeout=5)["data"]
        assert (got["content"], got["sender"]["role"]) == (
            "Hi, this is a person at a terminal.", "agent")
        visitor.close()
    finally:
        server.stop()


def test_relay_reaches_both_workers_on_postgres_and_redis(
        tmp_path: Path, postgres_url: str, redis_url: str) -> None:  # noqa: F811
    server = two_workers(tmp_path, postgres_url, redis_url)
    sockets = []
    try:
        started = start_visitor(server.base, server.pk, "one-visitor-many-tabs")
        for _ in range(16):  # one visitor, many tabs: spread over both workers
            sock = PusherTestClient.for_session(started)
            sock.subscribe_session(started, server.pk)
            sockets.append(sock)
        assert len(worker_pids(server.port)) == 2
        server.cli("tickets", "reply", str(started["conversation_id"]), "--as",
                   "owner@demo.invalid", "to every tab")
        for sock in sockets:
            assert sock.expect("MessageCreated", timeout=5)["data"]["content"] == "to every tab"
    finally:
        for sock in sockets:
            sock.close()
        server.stop()


def test_webhooks_list_shows_the_endpoints_never_their_secrets(cli: Cli, client: Any, app: Any,
                                                              biz: dict[str, Any]) -> None:
    app.config["WEBHOOK_ALLOW_PRIVATE"] = True
    made = [client.post(f"{API}/webhooks", json={"url": url, "events": events},
                        headers=auth(biz["sk"])).get_json()["data"]
            for url, events in (("http://127.0.0.1:9/a", ["*"]),
                                ("http://127.0.0.1:9/b", ["message.created", "contact.updated"]))]
    assert client.patch(f"{API}/webhooks/{made[1]['id']}", json={"enabled": False},
                        headers=auth(biz["sk"])).status_code == 200
    slug = biz["slug"]
    listed = cli("webhooks", "list", "--business", slug, "--mode", "test", "--json")
    api = client.get(f"{API}/webhooks", headers=auth(biz["sk"])).get_json()["data"]
    assert listed == {"webhooks": api, "mode": "test"} and len(api) == 2
    text = cli("webhooks", "list", "--business", slug, "--mode", "test")
    lines = text.splitlines()
    assert lines[0] == "2 webhook endpoint(s) in test mode:"
    assert "enabled" in lines[1] and lines[1].rstrip().endswith("http://127.0.0.1:9/a")
    assert "disabled 20" in lines[2] and "message.created,contact.updated" in lines[2]
    assert not any(m["secret"] in text for m in made)
    assert cli("webhooks", "list", "--business", slug) == "No webhook endpoints in live mode.\n"
    assert cli("webhooks", "list", "--business", slug, "--mode", "prod",
               expect=2) == "chatdock: mode must be test or live.\n"
