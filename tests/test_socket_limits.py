"""Socket limits (message size, public channels, channels per socket, subscribe rate, deep JSON,
the close a slow socket gets), each against the app on a real socket."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, CloseConnection, Request, TextMessage

from server import create_app
from server.security import channel_signature
from tests.conftest import ServedProcess, auth, make_business, serving, start_visitor
from tests.pusher import PusherTestClient
from tests.test_served import PusherJs

URL_QUERY = "?protocol=7&client=js&version=8.6.0"


@pytest.fixture
def limited(tmp_path: Path, migrated_db: Path) -> Callable[..., Any]:
    """An app with these settings (the migrated test database, like the `app` fixture)."""
    def make(**config: Any) -> Any:
        shutil.copyfile(migrated_db, tmp_path / "limits.db")
        return create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'limits.db'}",
                           "PUBLIC_URL": "", **config})
    return make


def connect(base: str, app: Any) -> PusherTestClient:
    """A Pusher client past its handshake."""
    client = PusherTestClient(base.replace("http://", "ws://")
                              + f"/app/{app.config['REALTIME_APP_KEY']}{URL_QUERY}")
    client.socket_id()
    return client


@pytest.fixture
def pusher(live: str, app: Any) -> Iterator[PusherTestClient]:
    client = connect(live, app)
    yield client
    client.close()


def subscribe_business(client: PusherTestClient, app: Any, business_id: int) -> dict[str, Any]:
    """Subscribe to a business channel with a correctly signed channel_data; the answer."""
    channel = f"private-business.{business_id}"
    channel_data = json.dumps({"business_id": business_id, "mode": "test", "key_id": None,
                               "user_id": None}, separators=(",", ":"))
    signature = channel_signature(app.config["REALTIME_APP_SECRET"], client.socket_id(),
                                  channel, channel_data)
    client.send("pusher:subscribe", {"channel": channel, "channel_data": channel_data,
                                     "auth": f"{app.config['REALTIME_APP_KEY']}:{signature}"})
    while True:
        frame = client.recv()
        if frame is None:
            raise AssertionError(f"no answer to the subscribe: {client.frames}")
        if frame.get("channel") == channel and frame["event"] in (
                "pusher_internal:subscription_succeeded", "pusher:subscription_error"):
            return frame


def kernel_buffers() -> int:
    """The most a TCP connection's receive and send buffers can hold here (Linux)."""
    most = [int(Path(f"/proc/sys/net/ipv4/{name}").read_text().split()[-1])
            for name in ("tcp_rmem", "tcp_wmem")]
    return sum(most)


def still_open(client: PusherTestClient) -> bool:
    client.send("pusher:ping", {})
    return client.expect("pusher:pong")["event"] == "pusher:pong"


class RawSocket:
    """A websocket client at the byte level (wsproto): writes what a test likes, reads all."""

    def __init__(self, base: str, key: str, receive_buffer: int | None = None) -> None:
        url = urlsplit(base)
        self.sock = socket.socket()
        if receive_buffer:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        self.sock.connect((url.hostname, url.port))
        self.sock.settimeout(10)
        self.ws = WSConnection(ConnectionType.CLIENT)
        self.sock.sendall(self.ws.send(Request(
            host=url.netloc, target=f"/app/{key}{URL_QUERY}")))
        self.texts: list[dict[str, Any]] = []
        self.close_code: int | None = None
        while not any(isinstance(e, AcceptConnection) for e in self._read()):
            pass
        while not any(t.get("event") == "pusher:connection_established" for t in self.texts):
            self._read()

    def _read(self) -> list[Any]:
        data = self.sock.recv(65536)
        self.ws.receive_data(data or None)
        events = list(self.ws.events())
        for event in events:
            if isinstance(event, TextMessage):  # whole frames: ours are small or not checked
                try:
                    self.texts.append(json.loads(event.data))
                except ValueError:
                    pass
            elif isinstance(event, CloseConnection):
                self.close_code = event.code
        if not data:
            raise EOFError
        return events

    def until_close(self) -> int | None:
        """Read until the server's close frame or the end of the stream; the close code."""
        try:
            while self.close_code is None:
                self._read()
        except (EOFError, OSError):  # the end, or a reset after it
            pass
        return self.close_code

    def stream(self, announced: int, limit: int) -> int:
        """Announce one text frame of `announced` bytes and write it in 1 MiB pieces, at most
        `limit` bytes, until the server stops taking them; the bytes written."""
        # masked with a zero key: the payload goes as is
        self.sock.sendall(bytes([0x81, 0x80 | 127]) + announced.to_bytes(8, "big") + bytes(4))
        written, piece = 0, b"x" * (1 << 20)
        try:
            while written < limit:
                self.sock.sendall(piece)
                written += len(piece)
        except OSError:  # the server cut the connection
            pass
        return written

    def errors(self) -> list[Any]:
        return [json.loads(t["data"]).get("code") for t in self.texts
                if t.get("event") == "pusher:error"]


# --- (a) message size ------------------------------------------------------------------------

def test_a_message_over_the_limit_closes_4301(pusher: PusherTestClient, app: Any) -> None:
    limit = app.config["WS_MAX_FRAME_BYTES"]
    ping = '{"event":"pusher:ping","data":{}}'
    pusher.ws.send(ping + " " * (limit - len(ping)))  # at the limit: read
    assert pusher.expect("pusher:pong")["event"] == "pusher:pong"
    over = json.dumps({"event": "pusher:ping", "data": "é" * (limit // 2)}, ensure_ascii=False)
    assert len(over) < limit < len(over.encode())  # UTF-8 bytes count, not characters
    pusher.ws.send(over)
    error = pusher.expect("pusher:error")["data"]
    assert error["code"] == 4301 and str(limit) in error["message"]
    assert pusher.close_code() == 4301


def test_a_huge_message_is_refused_before_it_is_all_sent(live: str, app: Any) -> None:
    raw = RawSocket(live, app.config["REALTIME_APP_KEY"])
    raw.stream(64 << 20, 1 << 20)  # at most 1 MiB of an announced 64 MiB
    assert raw.until_close() == 4301  # the server did not wait for the rest
    assert raw.errors() == [4301]


def test_served_stops_reading_a_huge_message(served: ServedProcess) -> None:
    """Under gevent too (one worker): the worker neither holds nor keeps reading the rest."""
    key = start_visitor(served.base, served.pk, "huge-message")["realtime"]["key"]
    raw = RawSocket(served.base, key)
    # written before the cut: no more than the kernel's socket buffers take
    assert raw.stream(1 << 30, 256 << 20) <= kernel_buffers() + (1 << 20)
    assert raw.until_close() == 4301


# --- (b) public channels ---------------------------------------------------------------------

def test_public_channels_are_refused(pusher: PusherTestClient, app: Any) -> None:
    pusher.send("pusher:subscribe", {"channel": "lobby"})
    refused = pusher.expect("pusher:subscription_error")
    assert refused["channel"] == "lobby" and refused["data"]["status"] == 403
    assert "lobby" not in app.extensions["hub"].channels_by_topic()
    assert still_open(pusher)


def test_pusher_js_reports_a_refused_public_channel(live: str, biz: dict[str, Any]) -> None:
    started = start_visitor(live, biz["pk"])
    js = PusherJs({"realtime": started["realtime"], "channel": "lobby", "pk": biz["pk"],
                   "session_token": started["session_token"], "seconds": 8})
    try:
        assert js.until("subscription_error")["status"] == 403
        assert not any(line["type"] == "subscribed" for line in js.lines)
    finally:
        js.stop()


# --- (c) channels per socket, subscribe rate -------------------------------------------------

def test_channels_per_socket_are_bounded(limited: Callable[..., Any]) -> None:
    app = limited(WS_MAX_CHANNELS=2, WS_SUBSCRIBES_PER_SECOND=10**9)
    with serving(app) as base:
        client = connect(base, app)
        assert subscribe_business(client, app, 1)["event"].endswith("subscription_succeeded")
        assert subscribe_business(client, app, 2)["event"].endswith("subscription_succeeded")
        third = subscribe_business(client, app, 3)
        assert third["event"] == "pusher:subscription_error"
        assert third["data"]["status"] == 403 and third["data"]["type"] == "LimitReached"
        # held channels can be subscribed again; leaving one makes room
        assert subscribe_business(client, app, 1)["event"].endswith("subscription_succeeded")
        client.send("pusher:unsubscribe", {"channel": "private-business.2"})
        assert subscribe_business(client, app, 3)["event"].endswith("subscription_succeeded")
        assert set(next(iter(app.extensions["hub"].connections)).channels) == {
            "private-business.1", "private-business.3"}
        client.close()


def test_subscribes_past_the_rate_are_refused_429(limited: Callable[..., Any]) -> None:
    # a burst of WS_MAX_CHANNELS, then (here) one subscribe every 1,000 s
    app = limited(WS_MAX_CHANNELS=3, WS_SUBSCRIBES_PER_SECOND=0.001)
    with serving(app) as base:
        client = connect(base, app)
        client.send("pusher:subscribe", {"channel": "lobby"})  # refused attempts count too
        client.expect("pusher:subscription_error")
        for business_id in (1, 2):
            assert subscribe_business(client, app, business_id)["event"].endswith("succeeded")
        refused = subscribe_business(client, app, 3)
        assert refused["event"] == "pusher:subscription_error"
        assert refused["data"]["status"] == 429 and refused["data"]["type"] == "LimitReached"
        assert still_open(client)
        client.close()


# --- (d) deep JSON ---------------------------------------------------------------------------

@pytest.mark.parametrize("depth", [1000, 5000])
@pytest.mark.parametrize("where", ["frame", "data string"])
def test_deeply_nested_json_is_an_error_not_a_crash(pusher: PusherTestClient, depth: int,
                                                    where: str) -> None:
    nested = "[" * depth + "]" * depth
    if where == "frame":
        pusher.ws.send('{"event":"pusher:subscribe","data":' + nested + "}")
    else:
        pusher.ws.send(json.dumps({"event": "pusher:subscribe", "data": nested}))
    error = pusher.expect("pusher:error")["data"]
    assert error == {"code": None, "message": "Invalid message format"}
    assert still_open(pusher)


# --- (e) the close a slow socket gets --------------------------------------------------------

def test_a_socket_that_cannot_keep_up_gets_4100_and_a_close_frame(
        limited: Callable[..., Any]) -> None:
    app = limited(SOCKET_QUEUE_FRAMES=4)
    with serving(app) as base:
        # a client that reads nothing while its queue fills
        raw = RawSocket(base, app.config["REALTIME_APP_KEY"], receive_buffer=4096)
        conn = next(iter(app.extensions["hub"].connections))
        filler = json.dumps({"event": "Filler", "data": json.dumps("x" * (64 << 10))})
        for _ in range(200):  # ~13 MB: more than the kernel buffers hold
            conn.push(filler)
        assert raw.until_close() == 4100
        assert raw.errors() == [4100]
        assert raw.texts[-1]["event"] == "pusher:error"  # the error, then the close frame


def test_pusher_js_reconnects_after_4100_and_gets_what_follows(
        limited: Callable[..., Any]) -> None:
    app = limited(SOCKET_QUEUE_FRAMES=4)
    biz = make_business(app)
    with serving(app) as base:
        started = start_visitor(base, biz["pk"])
        js = PusherJs({"realtime": started["realtime"], "pk": biz["pk"],
                       "session_token": started["session_token"], "seconds": 20})
        try:
            js.until("subscribed")
            conn = next(iter(app.extensions["hub"].connections))
            filler = json.dumps({"event": "Filler", "data": json.dumps("x" * (64 << 10))})
            os.kill(js.proc.pid, signal.SIGSTOP)  # a client that stops reading
            try:
                for _ in range(200):
                    conn.push(filler)
            finally:
                os.kill(js.proc.pid, signal.SIGCONT)
            assert js.until("error")["code"] == 4100
            js.until("subscribed")  # pusher-js backed off, reconnected and subscribed again
            assert conn not in app.extensions["hub"].connections
            reply = httpx.post(f"{base}/api/v1/tickets/{started['conversation_id']}/messages",
                               json={"content": "after the reconnect"}, headers=auth(biz["sk"]))
            event = js.until("event")
            assert event["event"] == "MessageCreated" and event["data"] == reply.json()["data"]
        finally:
            js.stop()
