"""Fixtures for the headless client: clients on the in-process transport and on a real
socket, an agent that replies through the API, agents who log in (AgentClient), a collector
of events, and a TCP proxy the tests can cut, freeze and restore to make the client really
lose its socket."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from app_flet.headless import (
    AgentClient,
    AgentEvent,
    ChatClient,
    ChatMessage,
    ConnectionChanged,
    Event,
    MessageCreated,
    RealtimeOptions,
)
from server import create_app
from server.db import session_scope
from server.services.agents import NewAgent, do_create_agent
from tests.conftest import make_business, serving

# Short timings: a reconnect within a fraction of a second, a dead socket noticed in ~1 s.
FAST = RealtimeOptions(backoff=(0.1, 0.2, 0.3), ping_interval=5.0, pong_timeout=1.0,
                       open_timeout=2.0)


# One server per module (creating an app and hashing its keys is most of a test's cost
# on a busy machine): every test starts its own visitor, so conversations never mix.
@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Any:
    db = tmp_path_factory.mktemp("headless") / "test.db"
    return create_app({"DATABASE_URL": f"sqlite:///{db}", "PUBLIC_URL": "",
                       "TYPING_DEBOUNCE_SECONDS": 3, "RATE_LIMIT_REQUESTS": 100_000})


@pytest.fixture(scope="module")
def biz(app: Any) -> dict[str, Any]:
    return make_business(app)


@pytest.fixture(scope="module")
def live(app: Any) -> Iterator[str]:
    with serving(app) as base:
        yield base


PASSWORD = "correct horse battery"


@dataclass(frozen=True)
class Login:
    """A person of the test business who logs in with email + PASSWORD, and a token of
    theirs from one login (most tests reuse it: logins are argon2-slow)."""

    id: int
    email: str
    role: str
    token: str


def make_login(app: Any, base: str, business_id: int, role: str = "agent") -> Login:
    """Create an agent (or owner) with PASSWORD in the business; log in once."""
    email = f"{role}-{uuid.uuid4().hex[:8]}@acme.test"
    with session_scope(app) as session:
        user_id = do_create_agent(session, business_id,
                                  NewAgent(email, f"{role.title()} Smith", role, PASSWORD)).id
    with AgentClient(base, transport=httpx.WSGITransport(app=app)) as client:
        client.login(email, PASSWORD)
        assert client.token is not None
        return Login(user_id, email, role, client.token)


@pytest.fixture(scope="module")
def ann(app: Any, biz: dict[str, Any]) -> Login:
    """An agent of the business."""
    return make_login(app, "http://testserver", biz["id"])


@pytest.fixture(scope="module")
def boss(app: Any, biz: dict[str, Any]) -> Login:
    """An owner of the business (every scope: keys, branding, team)."""
    return make_login(app, "http://testserver", biz["id"], role="owner")


@pytest.fixture
def inbox(app: Any, ann: Login) -> Iterator[AgentClient]:
    """Ann's AgentClient on the in-process transport."""
    client = AgentClient("http://testserver", token=ann.token,
                         transport=httpx.WSGITransport(app=app))
    yield client
    client.close()


@pytest.fixture
def live_inbox(live: str, ann: Login) -> Iterator[AgentClient]:
    """Ann's AgentClient on the live server (realtime works)."""
    client = AgentClient(live, token=ann.token, realtime_options=FAST)
    yield client
    client.close()


def new_visitor() -> str:
    return f"visitor-{uuid.uuid4().hex[:12]}"


@pytest.fixture(params=["wsgi", "socket"])
def chat(request: pytest.FixtureRequest, app: Any, biz: dict[str, Any]) -> Iterator[ChatClient]:
    """A ChatClient on the in-process transport, then on the app behind a real socket."""
    if request.param == "wsgi":
        client = ChatClient(biz["pk"], "http://testserver", transport=httpx.WSGITransport(app=app))
    else:
        client = ChatClient(biz["pk"], request.getfixturevalue("live"), realtime_options=FAST)
    yield client
    client.close()


@pytest.fixture
def remote(live: str, biz: dict[str, Any]) -> Iterator[ChatClient]:
    """A ChatClient on the live server (realtime works)."""
    client = ChatClient(biz["pk"], live, realtime_options=FAST)
    yield client
    client.close()


AnyEvent = Event | AgentEvent


class Collector:
    """An `on()` callback (of a session or an AgentClient) that records events and lets the
    test wait for one."""

    def __init__(self) -> None:
        self.events: list[AnyEvent] = []
        self.threads: set[str] = set()
        self._cond = threading.Condition()

    def __call__(self, event: AnyEvent) -> None:
        with self._cond:
            self.events.append(event)
            self.threads.add(threading.current_thread().name)
            self._cond.notify_all()

    def wait_for(self, match: Callable[[AnyEvent], bool], timeout: float = 5.0,
                 after: int = 0) -> AnyEvent:
        """The first event at index >= `after` that matches, waiting up to `timeout` s."""
        found: list[AnyEvent] = []

        def seen() -> bool:
            found[:] = [e for e in self.events[after:] if match(e)][:1]
            return bool(found)
        with self._cond:
            assert self._cond.wait_for(seen, timeout), f"no matching event in {self.events}"
        return found[0]

    def message(self, content: str, timeout: float = 5.0) -> ChatMessage:
        event = self.wait_for(lambda e: isinstance(e, MessageCreated)
                              and e.message.content == content, timeout)
        assert isinstance(event, MessageCreated)
        return event.message

    def state(self, state: str, after: int = 0, timeout: float = 5.0) -> ConnectionChanged:
        """The first ConnectionChanged(state) at or after index `after` of the events."""
        event = self.wait_for(lambda e: isinstance(e, ConnectionChanged) and e.state == state,
                              timeout, after)
        assert isinstance(event, ConnectionChanged)
        return event

    def messages(self) -> list[ChatMessage]:
        with self._cond:
            return [e.message for e in self.events if isinstance(e, MessageCreated)]

    def states(self) -> list[ConnectionChanged]:
        with self._cond:
            return [e for e in self.events if isinstance(e, ConnectionChanged)]


class TcpProxy:
    """127.0.0.1:port -> upstream. `cut()` drops every connection and refuses new ones
    until `restore()`; `freeze()` silently swallows traffic on the open connections."""

    def __init__(self, upstream: str) -> None:
        host, port = httpx.URL(upstream).host, httpx.URL(upstream).port
        self.upstream = (host, int(port or 80))
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.down = False
        self.frozen: set[socket.socket] = set()
        self.open: set[socket.socket] = set()
        self.accepted = 0
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                downstream, _ = self.listener.accept()
            except OSError:
                return
            if self.down:
                downstream.close()
                continue
            try:
                upstream = socket.create_connection(self.upstream)
            except OSError:
                downstream.close()
                continue
            with self._lock:
                self.accepted += 1
                self.open |= {downstream, upstream}
            for src, dst in ((downstream, upstream), (upstream, downstream)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                if src not in self.frozen:
                    dst.sendall(data)
        except OSError:
            pass
        finally:
            self._drop(src, dst)

    def _drop(self, *socks: socket.socket) -> None:
        for s in socks:
            with self._lock:
                self.open.discard(s)
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def cut(self) -> None:
        self.down = True
        with self._lock:
            victims = list(self.open)
        self._drop(*victims)

    def freeze(self) -> None:
        with self._lock:
            self.frozen |= self.open

    def restore(self) -> None:
        self.down = False

    def close(self) -> None:
        self.cut()
        self.listener.close()


@pytest.fixture
def proxy(live: str) -> Iterator[TcpProxy]:
    p = TcpProxy(live)
    yield p
    p.close()


def settle(seconds: float = 0.3) -> None:
    """Give late (duplicate) deliveries a chance to show up before counting."""
    time.sleep(seconds)
