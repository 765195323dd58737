"""The Pusher-protocol socket, against the app on a real socket (werkzeug, threads)."""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx
import pytest

from server import create_app
from server.db import session_scope
from server.security import channel_signature
from server.services.keys import do_revoke_key
from tests.conftest import auth, make_business, serving, start_visitor
from tests.pusher import PusherTestClient


def ws_url(base: str, key: str, query: str = "?protocol=7&client=js&version=8.6.0") -> str:
    return base.replace("http://", "ws://") + f"/app/{key}{query}"


def agent_reply(base: str, sk: str, conversation_id: int, content: str) -> httpx.Response:
    return httpx.post(f"{base}/api/v1/tickets/{conversation_id}/messages",
                      json={"content": content}, headers=auth(sk))


def visitor_send(base: str, pk: str, started: dict[str, Any], content: str) -> httpx.Response:
    return httpx.post(f"{base}/api/v1/chat/sessions/{started['conversation_id']}/messages",
                      json={"content": content},
                      headers=auth(pk, started["session_token"]))


@pytest.fixture
def subscribed(live: str, biz: dict[str, Any]) -> Any:
    started = start_visitor(live, biz["pk"])
    client = PusherTestClient.for_session(started)
    client.subscribe_session(started, biz["pk"])
    yield started, client
    client.close()


def test_handshake_is_what_pusher_clients_expect(live: str, app: Any) -> None:
    client = PusherTestClient(ws_url(live, app.config["REALTIME_APP_KEY"]))
    frame = client.expect("pusher:connection_established")
    assert isinstance(frame["data_raw"], str)  # data is a JSON *string*
    assert frame["data"]["activity_timeout"] == app.config["ACTIVITY_TIMEOUT"]
    major, _, minor = frame["data"]["socket_id"].partition(".")
    assert major.isdigit() and minor.isdigit()
    client.send("pusher:ping", {})
    assert client.expect("pusher:pong")["event"] == "pusher:pong"
    client.close()


@pytest.mark.parametrize("query,code", [
    ("", 4008), ("?protocol=abc", 4006), ("?protocol=3", 4007)])
def test_protocol_parameter_is_checked(live: str, app: Any, query: str, code: int) -> None:
    client = PusherTestClient(ws_url(live, app.config["REALTIME_APP_KEY"], query))
    assert client.expect("pusher:error")["data"]["code"] == code
    assert client.close_code() == code


def test_unknown_app_key_gets_4001(live: str) -> None:
    client = PusherTestClient(ws_url(live, "not-our-key"))
    assert client.expect("pusher:error")["data"]["code"] == 4001
    assert client.close_code() == 4001


def test_agent_reply_and_visitor_echo_arrive_after_commit(live: str, biz: dict[str, Any],
                                                          subscribed: Any) -> None:
    started, client = subscribed
    sent = visitor_send(live, biz["pk"], started, "hello from the visitor")
    assert sent.status_code == 201
    echo = client.expect("MessageCreated")
    assert echo["channel"] == started["realtime"]["channel"]
    assert echo["data"] == sent.json()["data"]
    assert isinstance(echo["data_raw"], str)
    reply = agent_reply(live, biz["sk"], started["conversation_id"], "hi, agent here")
    got = client.expect("MessageCreated")
    assert got["data"]["id"] == reply.json()["data"]["id"]
    assert got["data"]["direction"] == "outbound"
    # what the socket said is what the history says: it was committed first
    history = httpx.get(f"{live}/api/v1/chat/sessions/{started['conversation_id']}/messages",
                        headers=auth(biz["pk"], started["session_token"])).json()
    assert [m["id"] for m in history["data"]] == [got["data"]["id"], echo["data"]["id"]]


def test_rejected_write_publishes_nothing(live: str, biz: dict[str, Any],
                                          subscribed: Any) -> None:
    started, client = subscribed
    assert visitor_send(live, biz["pk"], started, "").status_code == 400
    assert client.quiet(0.5)


def test_every_device_of_the_visitor_gets_the_event(live: str, biz: dict[str, Any]) -> None:
    phone = start_visitor(live, biz["pk"], "same-visitor")
    laptop = start_visitor(live, biz["pk"], "same-visitor")
    assert phone["conversation_id"] == laptop["conversation_id"]
    clients = [PusherTestClient.for_session(s) for s in (phone, laptop)]
    for client, started in zip(clients, (phone, laptop), strict=True):
        client.subscribe_session(started, biz["pk"])
    reply = agent_reply(live, biz["sk"], phone["conversation_id"], "to both")
    for client in clients:
        assert client.expect("MessageCreated")["data"]["id"] == reply.json()["data"]["id"]
        client.close()


def test_bad_signature_is_a_channel_scoped_subscription_error(live: str, biz: dict[str, Any],
                                                              app: Any) -> None:
    started = start_visitor(live, biz["pk"])
    client = PusherTestClient.for_session(started)
    client.socket_id()
    channel = started["realtime"]["channel"]
    client.send("pusher:subscribe", {"channel": channel,
                                     "auth": f"{app.config['REALTIME_APP_KEY']}:{'0' * 64}"})
    err = client.expect("pusher:subscription_error")
    assert err["channel"] == channel and err["data"]["status"] == 401
    agent_reply(live, biz["sk"], started["conversation_id"], "not for you")
    assert client.quiet(0.5)
    assert client.connected  # the connection itself stays up
    client.close()


def test_auth_endpoint_refuses_another_sessions_channel(live: str, biz: dict[str, Any]) -> None:
    mine = start_visitor(live, biz["pk"], "mine")
    theirs = start_visitor(live, biz["pk"], "theirs")
    client = PusherTestClient.for_session(mine)
    resp = httpx.post(mine["realtime"]["auth_endpoint"],
                      data={"socket_id": client.socket_id(),
                            "channel_name": theirs["realtime"]["channel"]},
                      headers=auth(biz["pk"], mine["session_token"]))
    assert resp.status_code == 403 and resp.json()["error"] == "forbidden"
    client.close()


def test_other_business_cannot_reach_a_channel(live: str, app: Any, biz: dict[str, Any]) -> None:
    other = make_business(app, "Other")
    victim = start_visitor(live, biz["pk"], "victim")
    attacker = start_visitor(live, other["pk"], "attacker")
    client = PusherTestClient.for_session(attacker)
    resp = httpx.post(attacker["realtime"]["auth_endpoint"],
                      data={"socket_id": client.socket_id(),
                            "channel_name": victim["realtime"]["channel"]},
                      headers=auth(other["pk"], attacker["session_token"]))
    assert resp.status_code == 403
    # and business B's secret key cannot write into business A's conversation
    assert agent_reply(live, other["sk"], victim["conversation_id"], "x").status_code == 404
    client.close()


def test_unsubscribe_stops_delivery(live: str, biz: dict[str, Any], subscribed: Any) -> None:
    started, client = subscribed
    client.send("pusher:unsubscribe", {"channel": started["realtime"]["channel"]})
    client.send("pusher:ping", {})
    client.expect("pusher:pong")  # the unsubscribe was handled before this
    agent_reply(live, biz["sk"], started["conversation_id"], "gone")
    assert client.quiet(0.5)


def test_client_events_need_a_joined_private_channel(live: str, biz: dict[str, Any]) -> None:
    phone = start_visitor(live, biz["pk"], "v")
    laptop = start_visitor(live, biz["pk"], "v")
    a, b = PusherTestClient.for_session(phone), PusherTestClient.for_session(laptop)
    a.subscribe_session(phone, biz["pk"])
    b.socket_id()
    # b joined nothing: rejected with 4301
    b.send("client-typing", {"x": 1}, channel=phone["realtime"]["channel"])
    assert b.expect("pusher:error")["data"]["code"] == 4301
    # a's own client event is not echoed back to a
    a.send("client-typing", {"x": 1}, channel=phone["realtime"]["channel"])
    assert a.quiet(0.5)
    a.close()
    b.close()


def test_silent_client_is_pinged_then_closed_4201(tmp_path: Any) -> None:
    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'p.db'}",
                      "ACTIVITY_TIMEOUT": 1, "PONG_GRACE": 1})
    with serving(app) as base:
        url = ws_url(base, app.config["REALTIME_APP_KEY"])
        talker = PusherTestClient(url)
        talker.socket_id()
        silent = PusherTestClient(url)
        silent.socket_id()
        silent.expect("pusher:ping", timeout=3)
        for _ in range(6):  # any frame counts as activity (Tickki never answers pings)
            talker.send("pusher:ping", {})
            time.sleep(0.5)
        assert silent.close_code(timeout=3) == 4201
        assert talker.connected
        talker.close()


def test_the_watcher_runs_with_the_server_not_with_a_socket(app: Any) -> None:
    def watchers() -> list[Any]:
        return [t for t in threading.enumerate() if t.name == "revocation-watcher" and t.is_alive()]

    before = len(watchers())
    with serving(app):
        # started with the server (as serve.Worker starts it after the fork), before any socket
        assert len(watchers()) == before + 1
    assert len(watchers()) == before  # and stopped with it: a test app stops polling


def test_revoking_the_key_closes_open_sockets(live: str, app: Any, biz: dict[str, Any],
                                              subscribed: Any) -> None:
    _started, client = subscribed
    with session_scope(app) as session:
        do_revoke_key(session, biz["pk_id"])
    assert client.close_code(timeout=6) == 4009


def test_subscribe_for_a_revoked_session_is_refused(live: str, app: Any,
                                                    biz: dict[str, Any]) -> None:
    started = start_visitor(live, biz["pk"])
    client = PusherTestClient.for_session(started)
    socket_id = client.socket_id()
    channel = started["realtime"]["channel"]
    with session_scope(app) as session:
        do_revoke_key(session, biz["pk_id"])
    auth = app.config["REALTIME_APP_KEY"] + ":" + channel_signature(
        app.config["REALTIME_APP_SECRET"], socket_id, channel)
    client.send("pusher:subscribe", {"channel": channel, "auth": auth})
    assert client.expect("pusher:subscription_error")["data"]["status"] == 403
    client.close()


def test_a_replay_publishes_the_events_a_dead_worker_never_sent(
        live: str, app: Any, biz: dict[str, Any], subscribed: Any,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Found by bench.chaos: a worker killed after its commit, before publishing, left the
    message stored (the same-key retry is answered from the record) but never pushed."""
    started, client = subscribed
    key = {"Idempotency-Key": "dies-before-publishing"}
    url = f"{live}/api/v1/chat/sessions/{started['conversation_id']}/messages"
    headers = auth(biz["pk"], started["session_token"], **key)
    with monkeypatch.context() as crash:  # the commit happens, the publish never does
        crash.setattr(app.extensions["broker"], "publish", lambda *event: None)
        first = httpx.post(url, json={"content": "sent once"}, headers=headers)
    assert first.status_code == 201, first.text
    assert client.quiet(0.5)  # the event was lost with the worker
    again = httpx.post(url, json={"content": "sent once"}, headers=headers)
    assert again.headers["Idempotent-Replayed"] == "true"
    echoed = client.expect("MessageCreated")["data"]
    assert echoed["id"] == first.json()["data"]["id"] and echoed["content"] == "sent once"
