"""Fixtures: an app on a temporary SQLite file, businesses with keys, live servers."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from werkzeug.serving import make_server

from server import create_app, migrate
from server.db import make_engine, session_scope
from server.models import User
from server.realtime.routes import start_realtime, stop_realtime
from server.security import AGENT_TOKEN_PREFIX
from server.services.keys import do_create_business, do_create_key

ROOT = Path(__file__).resolve().parent.parent

# Rate limits have their own tests (test_ratelimit.py, explicit limits); everywhere else,
# every app and served process of the suite, they would only cut walks through hundreds of
# pages short.
os.environ.setdefault("CHATDOCK_RATE_LIMIT_REQUESTS", "1000000")
# full-text search unless a test turns the `semantic` extra on with the packaged model
# (tests/test_semantic.py): the default model's hub is unreachable here
os.environ.setdefault("CHATDOCK_KNOWLEDGE_SEMANTIC", "false")

# the headless-Chromium fixtures (`chromium`, `page`) of the browser tests
pytest_plugins = ["tests.browser"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def migrated_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty database migrated to head once: each `app` starts on a copy of it (migrating
    a fresh file costs ~15 ms more than create_all did; tests/test_migrations.py and every
    other create_app on a fresh file take the real path)."""
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('migrated') / 'head.db'}")
    migrate.upgrade(engine)
    engine.dispose()  # the last connection closed: everything is in the main file
    return Path(str(engine.url.database))


@pytest.fixture
def app(tmp_path: Path, migrated_db: Path) -> Any:
    shutil.copyfile(migrated_db, tmp_path / "test.db")
    return create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'test.db'}",
                       "PUBLIC_URL": "", "TYPING_DEBOUNCE_SECONDS": 3})


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()


def make_business(app: Any, name: str = "Acme", **key_options: Any) -> dict[str, Any]:
    """Create a business with a test publishable and secret key; return plaintexts and ids."""
    with session_scope(app) as session:
        business, owner = do_create_business(session, name, f"owner@{name.lower()}.test")
        pk, pk_text = do_create_key(session, business, "publishable", "test", **key_options)
        sk, sk_text = do_create_key(session, business, "secret", "test")
        return {"id": business.id, "slug": business.slug, "pk": pk_text, "sk": sk_text,
                "pk_id": pk.id, "sk_id": sk.id, "owner_id": owner.id}


def auth(credential: str | None = None, token: str | None = None, **extra: str) -> dict[str, str]:
    """Request headers: `Authorization: Bearer credential`, `X-Tickki-Session: token`, extras."""
    out = {"Authorization": f"Bearer {credential}"} if credential else {}
    if token:
        out["X-Tickki-Session"] = token
    return {**out, **extra}


def agent_token(app: Any, business_id: int, *, role: str = "agent", user_id: int | None = None,
                mode: str = "test") -> str:
    """A signed agent token without a login: for `user_id`, else for a new user of `role`."""
    if user_id is None:
        with session_scope(app) as session:
            user = User(business_id=business_id, name=role, role=role,
                        email=f"{role}-{business_id}-{os.urandom(3).hex()}@agents.test")
            session.add(user)
            session.flush()
            user_id = user.id
    return AGENT_TOKEN_PREFIX + app.extensions["agent_tokens"].dumps(
        {"u": user_id, "b": business_id, "m": mode})


@pytest.fixture
def biz(app: Any) -> dict[str, Any]:
    return make_business(app)


@contextmanager
def serving(app: Any, port: int | None = None) -> Iterator[str]:
    """The app on a real socket (werkzeug, threaded; websockets work), on `port` if given,
    with its realtime background work started as a server worker starts it."""
    server = make_server("127.0.0.1", port or free_port(), app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    started = start_realtime(app)
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        if started:
            stop_realtime(app)


@pytest.fixture
def live(app: Any) -> Iterator[str]:
    """The app on a real socket for websocket tests."""
    with serving(app) as base:
        yield base


class Agent:
    """The business's side of a conversation: the agent API with the secret key."""

    def __init__(self, base: str, sk: str) -> None:
        self.base, self.headers = base, auth(sk)

    def _call(self, method: str, path: str, expect: int = 200, **kwargs: Any) -> Any:
        resp = httpx.request(method, f"{self.base}/api/v1{path}", headers=self.headers, **kwargs)
        assert resp.status_code == expect, resp.text
        return resp.json().get("data") if resp.content else None

    def ticket(self, conversation_id: int) -> dict[str, Any]:
        return self._call("GET", f"/tickets/{conversation_id}")  # type: ignore[no-any-return]

    def reply(self, conversation_id: int, content: str) -> dict[str, Any]:
        return self._call("POST", f"/tickets/{conversation_id}/messages", 201,  # type: ignore[no-any-return]
                          json={"content": content})

    def typing(self, conversation_id: int) -> None:
        self._call("POST", f"/tickets/{conversation_id}/typing")

    def set_status(self, conversation_id: int, status: str) -> None:
        self._call("PATCH", f"/tickets/{conversation_id}", json={"status": status})

    def brand(self, **changes: Any) -> dict[str, Any]:
        return self._call("PUT", "/branding", json=changes)  # type: ignore[no-any-return]

    def revoke(self, key_id: int) -> None:
        self._call("DELETE", f"/keys/{key_id}")


@pytest.fixture
def agent(live: str, biz: dict[str, Any]) -> Agent:
    return Agent(live, biz["sk"])


def start_visitor(base: str, pk: str, visitor_id: str = "visitor-1",
                  **extra: Any) -> dict[str, Any]:
    resp = httpx.post(f"{base}/api/v1/chat/sessions", json={"visitor_id": visitor_id, **extra},
                      headers=auth(pk))
    assert resp.status_code == 201, resp.text
    return resp.json()["data"]  # type: ignore[no-any-return]


PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"


def connect_postgres() -> Any:
    """An admin connection to the test PostgreSQL; ConnectionError when there is none."""
    try:
        import psycopg

        return psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=3)
    except Exception as err:  # no driver, or no server
        raise ConnectionError(f"PostgreSQL at 127.0.0.1:5432 is not reachable ({err})") from err


@contextmanager
def postgres_database(admin: Any, prefix: str = "chatdock_test") -> Iterator[str]:
    """A fresh, uniquely named database (dropped afterwards): its SQLAlchemy URL."""
    name = f"{prefix}_{os.urandom(4).hex()}"
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def db_upgrade(database_url: str) -> None:
    """`chatdock db upgrade`, as a PostgreSQL deployment runs it before `chatdock serve`."""
    subprocess.run([sys.executable, "-m", "server.cli", "db", "upgrade"], cwd=ROOT, check=True,
                   env={**os.environ, "CHATDOCK_DATABASE_URL": database_url},
                   capture_output=True)


class ServedProcess:
    """`chatdock serve` in a subprocess on a free port with a fresh database; stderr merged
    into `output`, or apart in `errors` with split_stderr."""

    def __init__(self, tmp: Path, workers: int = 1, env: dict[str, str] | None = None, *,
                 split_stderr: bool = False) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "CHATDOCK_DATABASE_URL": f"sqlite:///{tmp / 'served.db'}",
                    "CHATDOCK_PUBLIC_URL": "", "CHATDOCK_REDIS_URL": "", **(env or {})}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "server.cli", "serve", "--port", str(self.port),
             "--workers", str(workers)], cwd=ROOT, env=self.env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE if split_stderr else subprocess.STDOUT,
            text=True)
        self.output: list[str] = []
        self.errors: list[str] = []
        self.split_stderr = split_stderr
        if split_stderr:
            threading.Thread(target=self._drain, args=(self.proc.stderr, self.errors),
                             daemon=True).start()
        self.pk = self.sk = ""
        self._read_banner()

    def _read_banner(self) -> None:
        assert self.proc.stdout is not None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            self.output.append(line)
            if "publishable key:" in line:
                self.pk = line.split()[-1]
            if "secret key:" in line:
                self.sk = line.split()[-1]
            if "Booting worker" in line or (self.split_stderr and self.sk):
                break  # (apart, gunicorn's lines are on stderr: the keys end the banner wait)
        threading.Thread(target=self._drain, args=(self.proc.stdout, self.output),
                         daemon=True).start()
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.base}/healthz").status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError("chatdock serve did not come up:\n" + "".join(self.output + self.errors))

    @staticmethod
    def _drain(stream: Any, lines: list[str]) -> None:
        for line in stream:
            lines.append(line)

    def cli(self, *args: str) -> Any:
        out = subprocess.run([sys.executable, "-m", "server.cli", *args], cwd=ROOT, env=self.env,
                             capture_output=True, text=True, check=True)
        return json.loads(out.stdout) if "--json" in args else out.stdout

    def stop(self, sig: int = 15) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout=30)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedProcess]:
    proc = ServedProcess(tmp_path_factory.mktemp("served"))
    yield proc
    proc.stop()
