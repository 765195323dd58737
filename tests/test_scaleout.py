"""Scale-out: `chatdock serve --workers 2` on PostgreSQL + Redis acts as one server."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import (
    ServedProcess,
    auth,
    connect_postgres,
    db_upgrade,
    postgres_database,
    start_visitor,
)
from tests.pusher import PusherTestClient

REDIS = "redis://127.0.0.1:6379/0"


def unavailable(what: str, err: Exception) -> None:
    """In CI a missing service is a failure; on a laptop, a clear skip."""
    message = f"{what}: {err}; start it (see .ci/run) to test scale-out"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    try:
        admin = connect_postgres()
    except ConnectionError as err:
        unavailable("PostgreSQL", err)
    with admin, postgres_database(admin) as url:
        yield url


@pytest.fixture
def redis_url() -> str:
    redis = pytest.importorskip("redis")
    try:
        redis.Redis.from_url(REDIS, socket_connect_timeout=3).ping()
    except redis.RedisError as err:
        unavailable("Redis at 127.0.0.1:6379", err)
    return REDIS


def two_workers(tmp_path: Path, postgres_url: str, redis_url: str,
                **options: Any) -> ServedProcess:
    """`chatdock serve --workers 2` on PostgreSQL + Redis, upgraded first as README says."""
    db_upgrade(postgres_url)
    return ServedProcess(tmp_path, workers=2, env={"CHATDOCK_DATABASE_URL": postgres_url,
                                                   "CHATDOCK_REDIS_URL": redis_url}, **options)


def worker_pids(port: int) -> set[int]:
    """Pids of the processes holding established connections on the server's port."""
    out = subprocess.run(["ss", "-Htnp", "state", "established", f"( sport = :{port} )"],
                         capture_output=True, text=True, check=True).stdout
    return {int(pid) for pid in re.findall(r"pid=(\d+)", out)}


def test_two_workers_on_postgres_and_redis_act_as_one(tmp_path: Path, postgres_url: str,
                                                      redis_url: str) -> None:
    server = two_workers(tmp_path, postgres_url, redis_url)
    clients = []
    try:
        visitors = [start_visitor(server.base, server.pk, f"visitor-{i}") for i in range(24)]
        for started in visitors:
            client = PusherTestClient.for_session(started)
            client.subscribe_session(started, server.pk)
            clients.append(client)
        # the sockets really are spread over both processes
        assert len(worker_pids(server.port)) == 2
        for started, client in zip(visitors, clients, strict=True):
            path = f"/api/v1/tickets/{started['conversation_id']}/messages"
            reply = httpx.post(server.base + path,
                               json={"content": f"hi {started['visitor_id']}"},
                               headers=auth(server.sk))
            assert reply.status_code == 201
            got = client.expect("MessageCreated")
            assert got["data"] == reply.json()["data"]
    finally:
        for client in clients:
            client.close()
        server.stop()


def test_workers_above_one_need_redis(tmp_path: Path) -> None:
    env = {**os.environ, "CHATDOCK_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}",
           "CHATDOCK_REDIS_URL": ""}
    done = subprocess.run(["chatdock", "serve", "--port", "1", "--workers", "2"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "CHATDOCK_REDIS_URL" in done.stderr
