"""Visitor online state: set on a session start or heartbeat (VisitorOnline only on the
change), cleared by every process's watcher when the sessions go silent (VisitorOffline,
once, whichever process sweeps)."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from server import create_app
from server.config import load_config
from server.db import pending_events, session_scope
from server.models import ChatSession, Conversation, utcnow
from server.services.chat import do_sweep_offline
from tests.conftest import agent_token, auth, db_upgrade, make_business, start_visitor
from tests.test_admin import business_socket
from tests.test_scaleout import postgres_url  # noqa: F401  (a fixture: a fresh database)

CHAT = "/api/v1/chat"


def heartbeat(base: str, pk: str, started: dict[str, Any]) -> None:
    resp = httpx.post(f"{base}{CHAT}/sessions/{started['conversation_id']}/heartbeat",
                      headers=auth(pk, started["session_token"]))
    assert resp.status_code == 200 and resp.json() == {"ok": True}


def online(app: Any, conversation_id: int) -> bool:
    with session_scope(app) as s:
        return bool(s.get(Conversation, conversation_id).visitor_online)  # type: ignore


def silence(app: Any, conversation_id: int, seconds: int = 3600) -> None:
    """Every session of the conversation last seen long ago."""
    with session_scope(app) as s:
        s.execute(update(ChatSession).where(ChatSession.conversation_id == conversation_id)
                  .values(last_seen_at=utcnow() - timedelta(seconds=seconds)))


def visitor_events(sock: Any, timeout: float) -> list[tuple[str, dict[str, Any]]]:
    """The VisitorOnline / VisitorOffline frames that arrive within timeout."""
    deadline = time.monotonic() + timeout
    got = []
    while (left := deadline - time.monotonic()) > 0:
        frame = sock.recv(left)
        if frame is not None and frame["event"] in ("VisitorOnline", "VisitorOffline"):
            got.append((frame["event"], frame["data"]))
    return got


def test_the_default_is_90_seconds_and_the_environment_overrides_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CHATDOCK_VISITOR_ONLINE_SECONDS", raising=False)
    assert load_config()["VISITOR_ONLINE_SECONDS"] == 90  # config.toml and the default agree
    monkeypatch.setenv("CHATDOCK_VISITOR_ONLINE_SECONDS", "45")
    assert load_config()["VISITOR_ONLINE_SECONDS"] == 45


def test_online_is_announced_on_the_change_only_and_offline_once(live: str, app: Any,
                                                                  biz: dict[str, Any]) -> None:
    """On real sockets, the watcher running as in a worker: a start is VisitorOnline, more
    heartbeats are not; silence past VISITOR_ONLINE_SECONDS is one VisitorOffline; the next
    heartbeat is VisitorOnline again."""
    app.config["VISITOR_ONLINE_SECONDS"] = 3
    token = agent_token(app, biz["id"])
    team = business_socket(live, app, token, biz["id"])
    started = start_visitor(live, biz["pk"], "v-online")
    conversation = started["conversation_id"]
    assert team.expect("TicketCreated")["data"]["conversation_id"] == conversation
    assert team.expect("VisitorOnline")["data"] == {"conversation_id": conversation,
                                                    "session_id": started["session_id"]}
    ticket = httpx.get(f"{live}/api/v1/tickets/{conversation}", headers=auth(token)).json()
    assert ticket["data"]["visitor_online"] is True
    for _ in range(3):  # every heartbeat keeps it online; none is news
        heartbeat(live, biz["pk"], started)
    assert visitor_events(team, 1.0) == []
    # silent from now on: one VisitorOffline within the window and a watcher poll or two
    assert visitor_events(team, 3 + 2 * 2 + 1.5) == [("VisitorOffline",
                                                      {"conversation_id": conversation})]
    assert online(app, conversation) is False
    listed = httpx.get(f"{live}/api/v1/tickets", headers=auth(token)).json()["data"]
    assert [t["visitor_online"] for t in listed] == [False]
    heartbeat(live, biz["pk"], started)
    assert team.expect("VisitorOnline")["data"]["conversation_id"] == conversation
    assert online(app, conversation) is True
    team.close()


def test_one_device_seen_keeps_the_visitor_online(live: str, app: Any,
                                                  biz: dict[str, Any]) -> None:
    app.config["VISITOR_ONLINE_SECONDS"] = 2
    team = business_socket(live, app, agent_token(app, biz["id"]), biz["id"])
    phone = start_visitor(live, biz["pk"], "two-devices")
    laptop = start_visitor(live, biz["pk"], "two-devices")
    assert phone["conversation_id"] == laptop["conversation_id"]
    # the laptop's start found the visitor already online: one VisitorOnline for both
    assert [e for e, _ in visitor_events(team, 0.5)] == ["VisitorOnline"]
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:  # the phone is silent; the laptop beats every 0.5 s
        heartbeat(live, biz["pk"], laptop)
        assert visitor_events(team, 0.5) == []
    assert online(app, phone["conversation_id"]) is True
    team.close()


def test_a_business_hears_only_its_own_visitors(live: str, app: Any,
                                                biz: dict[str, Any]) -> None:
    other = make_business(app, "Other")
    team = business_socket(live, app, agent_token(app, biz["id"]), biz["id"])
    start_visitor(live, other["pk"], "theirs")
    ours = start_visitor(live, biz["pk"], "ours")
    got = visitor_events(team, 1.0)
    assert got == [("VisitorOnline", {"conversation_id": ours["conversation_id"],
                                      "session_id": ours["session_id"]})]
    team.close()


def test_a_refused_heartbeat_changes_nothing(client: Any, app: Any,
                                             biz: dict[str, Any]) -> None:
    started = client.post(f"{CHAT}/sessions", json={"visitor_id": "v"},
                          headers=auth(biz["pk"])).get_json()["data"]
    conversation = started["conversation_id"]
    with session_scope(app) as s:
        assert do_sweep_offline(s, 90) == 0  # just seen: stays online
    silence(app, conversation)
    with session_scope(app) as s:
        assert do_sweep_offline(s, 90) == 1
    resp = client.post(f"{CHAT}/sessions/{conversation}/heartbeat",
                       headers=auth(biz["pk"], "cst_" + "x" * 43))
    assert resp.status_code == 401
    assert online(app, conversation) is False


def test_two_processes_sweeping_at_once_announce_each_visitor_once(
        postgres_url: str) -> None:  # noqa: F811
    """On PostgreSQL (where workers really overlap): while one sweep's transaction holds the
    row, a second waits, then finds it already offline: one VisitorOffline in all."""
    db_upgrade(postgres_url)
    app = create_app({"DATABASE_URL": postgres_url, "PUBLIC_URL": ""})
    biz = make_business(app)
    started = app.test_client().post(f"{CHAT}/sessions", json={"visitor_id": "v"},
                                     headers=auth(biz["pk"])).get_json()["data"]
    conversation = started["conversation_id"]
    silence(app, conversation)
    factory = app.extensions["db"]
    first, second = factory(), factory()
    counts: dict[str, int] = {}

    def sweep_second() -> None:
        counts["second"] = do_sweep_offline(second, 90)
        counts["second_events"] = len(pending_events(second))
        second.commit()

    try:
        counts["first"] = do_sweep_offline(first, 90)  # holds the row until it commits
        waiter = threading.Thread(target=sweep_second)
        waiter.start()
        time.sleep(0.5)
        assert waiter.is_alive()  # blocked on the row the first sweep changed
        assert pending_events(first) == [([f"business.{biz['id']}.test"], "VisitorOffline",
                                          {"conversation_id": conversation})]
        first.commit()
        waiter.join(timeout=10)
    finally:
        first.close()
        second.close()
    assert counts == {"first": 1, "second": 0, "second_events": 0}
    assert online(app, conversation) is False
    app.extensions["engine"].dispose()
