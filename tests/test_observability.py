"""Observability: /readyz, Prometheus /metrics, JSON log lines with request ids."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families

from server import create_app
from server.logs import json_handler
from server.realtime.hub import Hub
from server.security import AGENT_TOKEN_PREFIX
from tests.conftest import (
    PG_ADMIN,
    ROOT,
    ServedProcess,
    auth,
    db_upgrade,
    make_business,
    start_visitor,
)
from tests.pusher import PusherTestClient
from tests.test_scaleout import postgres_url, redis_url, two_workers, worker_pids  # noqa: F401

CHAT = "/api/v1/chat"
HEX_ID = re.compile(r"[0-9a-f]{32}")
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(text: str) -> Samples:
    """Every sample of a /metrics answer, parsed by prometheus_client's own parser."""
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def metrics(client: Any) -> Samples:
    resp = client.get("/metrics")
    assert resp.status_code == 200
    assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return scrape(resp.get_data(as_text=True))


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def requests_total(samples: Samples, route: str, method: str, status: int) -> float:
    return value(samples, "chatdock_http_requests_total", route=route, method=method,
                 status=str(status))


def start(client: Any, pk: str, visitor_id: str = "v1") -> dict[str, Any]:
    resp = client.post(f"{CHAT}/sessions", json={"visitor_id": visitor_id}, headers=auth(pk))
    assert resp.status_code == 201, resp.get_data(as_text=True)
    return resp.get_json()["data"]  # type: ignore[no-any-return]


# ---------- /metrics ---------------------------------------------------------------


def test_requests_are_counted_by_route_template_method_and_status(app: Any, client: Any,
                                                                  biz: dict[str, Any]) -> None:
    started = start(client, biz["pk"])
    ticket = f"/api/v1/tickets/{started['conversation_id']}"
    assert client.get(ticket, headers=auth(biz["sk"])).status_code == 200
    assert client.get("/api/v1/tickets/999999", headers=auth(biz["sk"])).status_code == 404
    assert client.get("/no/such/page").status_code == 404
    assert client.delete("/healthz").status_code == 405

    samples = metrics(client)
    template = app.url_map.bind("").match(ticket, return_rule=True)[0].rule
    assert template.startswith("/api/v1/tickets/<int:")
    assert requests_total(samples, f"{CHAT}/sessions", "POST", 201) == 1
    assert requests_total(samples, template, "GET", 200) == 1
    assert requests_total(samples, template, "GET", 404) == 1  # the template, not the path
    assert requests_total(samples, "unmatched", "GET", 404) == 1
    assert requests_total(samples, "unmatched", "DELETE", 405) == 1
    assert not any(dict(labels).get("route", "").startswith(("/no/", "/api/v1/tickets/9"))
                   for _, labels in samples)
    histogram = "chatdock_http_request_duration_seconds_count"
    assert value(samples, histogram, route=template, method="GET") == 2
    assert value(samples, "chatdock_http_request_duration_seconds_bucket", route=template,
                 method="GET", le="+Inf") == 2


def test_messages_are_counted_by_direction_once_committed(client: Any,
                                                          biz: dict[str, Any]) -> None:
    started = start(client, biz["pk"])
    send = f"{CHAT}/sessions/{started['conversation_id']}/messages"
    visitor = auth(biz["pk"], started["session_token"])
    before = metrics(client)
    assert value(before, "chatdock_messages_created_total", direction="inbound") == 0

    assert client.post(send, json={"content": "hello"}, headers=visitor).status_code == 201
    assert client.post(send, json={"content": ""}, headers=visitor).status_code == 400
    reply = client.post(f"/api/v1/tickets/{started['conversation_id']}/messages",
                        json={"content": "hi there"}, headers=auth(biz["sk"]))
    assert reply.status_code == 201

    after = metrics(client)
    assert value(after, "chatdock_messages_created_total", direction="inbound") == 1
    assert value(after, "chatdock_messages_created_total", direction="outbound") == 1


def test_rate_limit_refusals_are_counted_by_kind(tmp_path: Path) -> None:
    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'rl.db'}",
                      "RATE_LIMIT_REQUESTS": 2, "RATE_LIMIT_WINDOW_SECONDS": 60})
    biz, client = make_business(app), app.test_client()
    assert value(metrics(client), "chatdock_rate_limited_total", kind="visitor") == 0
    for _ in range(2):
        client.get(f"{CHAT}/config", headers=auth(biz["pk"]))
    refused = client.get(f"{CHAT}/config", headers=auth(biz["pk"]))
    assert refused.status_code == 429
    for _ in range(3):  # two failed authentications, then the address is refused
        last = client.get("/api/v1/tickets", headers=auth(AGENT_TOKEN_PREFIX + "forged"))
    assert last.status_code == 429

    samples = metrics(client)
    assert value(samples, "chatdock_rate_limited_total", kind="visitor") == 1
    assert value(samples, "chatdock_rate_limited_total", kind="auth") == 1
    assert value(samples, "chatdock_rate_limited_total", kind="agent") == 0
    assert requests_total(samples, f"{CHAT}/config", "GET", 429) == 1


def wait_for(client: Any, name: str, expected: float) -> None:
    deadline = time.monotonic() + 5
    while value(samples := metrics(client), name) != expected:
        assert time.monotonic() < deadline, (name, value(samples, name), expected)
        time.sleep(0.05)


def test_open_sockets_and_subscriptions(live: str, client: Any, biz: dict[str, Any]) -> None:
    started = start_visitor(live, biz["pk"])
    socket = PusherTestClient.for_session(started)
    try:
        socket.socket_id()
        wait_for(client, "chatdock_open_sockets", 1)
        assert value(metrics(client), "chatdock_subscriptions") == 0
        socket.subscribe_session(started, biz["pk"])
        wait_for(client, "chatdock_subscriptions", 1)
        socket.send("pusher:unsubscribe", {"channel": started["realtime"]["channel"]})
        wait_for(client, "chatdock_subscriptions", 0)
        socket.subscribe_session(started, biz["pk"])
        wait_for(client, "chatdock_subscriptions", 1)
    finally:
        socket.close()
    wait_for(client, "chatdock_open_sockets", 0)
    wait_for(client, "chatdock_subscriptions", 0)
    socket_route = requests_total(metrics(client), "/app/<app_key>", "GET", 200)
    assert socket_route == 1  # counted once it ends, and not in the latency histogram
    assert value(metrics(client), "chatdock_http_request_duration_seconds_count",
                 route="/app/<app_key>", method="GET") == 0


def test_metrics_can_be_switched_off(tmp_path: Path) -> None:
    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'off.db'}",
                      "METRICS_ENABLED": False})
    resp = app.test_client().get("/metrics")
    assert resp.status_code == 404
    assert resp.get_json() == {"error": "not_found",
                               "message": "Metrics are turned off (METRICS_ENABLED = false)."}
    assert "metrics" not in app.extensions  # and nothing is instrumented
    assert type(app.extensions["hub"]) is Hub


# ---------- /readyz ----------------------------------------------------------------


def test_readyz_when_everything_answers(client: Any) -> None:
    resp = client.get("/readyz")
    assert resp.status_code == 200
    assert resp.get_json() == {"ok": True,
                               "checks": {"database": "ok", "redis": "not_configured"}}


def test_readyz_with_real_redis(tmp_path: Path, redis_url: str) -> None:  # noqa: F811
    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'r.db'}", "REDIS_URL": redis_url})
    resp = app.test_client().get("/readyz")
    assert resp.get_json() == {"ok": True, "checks": {"database": "ok", "redis": "ok"}}


def test_readyz_is_503_when_redis_is_unreachable(tmp_path: Path) -> None:
    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'r.db'}",
                      "REDIS_URL": "redis://127.0.0.1:1/0"})
    client = app.test_client()
    began = time.monotonic()
    resp = client.get("/readyz")
    assert time.monotonic() - began < 3
    assert resp.status_code == 503
    assert resp.get_json() == {
        "error": "unavailable", "message": "Not ready: redis not reachable.",
        "checks": {"database": "ok", "redis": "unreachable"}}
    assert client.get("/healthz").status_code == 200  # liveness does not depend on Redis


def test_readyz_is_503_when_postgres_goes_away(postgres_url: str) -> None:  # noqa: F811
    db_upgrade(postgres_url)
    app = create_app({"DATABASE_URL": postgres_url})
    client = app.test_client()
    assert client.get("/readyz").status_code == 200
    app.extensions["engine"].dispose()
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE "{postgres_url.rsplit("/", 1)[1]}" WITH (FORCE)')
    resp = client.get("/readyz")
    assert resp.status_code == 503
    assert resp.get_json()["checks"] == {"database": "unreachable", "redis": "not_configured"}
    assert resp.get_json()["message"] == "Not ready: database not reachable."


# ---------- request ids and log lines --------------------------------------------


@pytest.mark.parametrize("method,path,status", [
    ("GET", "/healthz", 200), ("GET", "/no/such/page", 404), ("DELETE", "/healthz", 405),
    ("GET", f"{CHAT}/config", 401), ("OPTIONS", f"{CHAT}/config", 204)])
def test_request_id_is_echoed_or_generated_on_every_response(client: Any, method: str,
                                                             path: str, status: int) -> None:
    preflight = {"Origin": "https://shop.example", "Access-Control-Request-Method": "GET"}
    given = client.open(path, method=method, headers={"X-Request-Id": "req-42.a:b", **preflight})
    assert given.status_code == status
    assert given.headers["X-Request-Id"] == "req-42.a:b"
    for insane in (None, "x" * 129, "two words", "semi;colon", "é"):
        headers = {"X-Request-Id": insane} if insane is not None else {}
        resp = client.open(path, method=method, headers={**headers, **preflight})
        assert resp.status_code == status
        assert HEX_ID.fullmatch(resp.headers["X-Request-Id"]), insane


def test_request_id_is_readable_by_the_widget(client: Any, biz: dict[str, Any]) -> None:
    resp = client.get(f"{CHAT}/config", headers=auth(biz["pk"], Origin="https://a.example"))
    assert "X-Request-Id" in resp.headers["Access-Control-Expose-Headers"]


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """What the app logs, through the same JSON handler as stderr."""
    stream = io.StringIO()
    handler = json_handler(stream)
    root = logging.getLogger()
    root.addHandler(handler)
    yield stream
    root.removeHandler(handler)


def test_a_failing_request_logs_its_request_id_and_traceback(tmp_path: Path,
                                                             log_lines: io.StringIO) -> None:
    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'boom.db'}"})

    def boom() -> None:
        raise RuntimeError("kaboom")
    app.add_url_rule("/boom", "boom", boom)
    resp = app.test_client().get("/boom", headers={"X-Request-Id": "failing-1"})
    assert resp.status_code == 500
    assert resp.get_json()["error"] == "internal_error"
    assert resp.headers["X-Request-Id"] == "failing-1"

    lines = [json.loads(line) for line in log_lines.getvalue().splitlines()]
    error = next(r for r in lines if r["msg"] == "unhandled error")
    assert error["request_id"] == "failing-1" and error["level"] == "ERROR"
    assert "Traceback" in error["exc_info"] and "RuntimeError: kaboom" in error["exc_info"]
    access = next(r for r in lines if r["logger"] == "chatdock.access")
    assert access | {"duration_ms": 0} == {
        "ts": access["ts"], "level": "INFO", "logger": "chatdock.access",
        "msg": "GET /boom 500", "pid": os.getpid(), "method": "GET", "path": "/boom",
        "route": "/boom", "status": 500, "duration_ms": 0, "request_id": "failing-1"}


def test_access_log_can_be_switched_off(tmp_path: Path, log_lines: io.StringIO) -> None:
    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'quiet.db'}",
                      "ACCESS_LOG": False})
    log_lines.seek(0)  # forget the start's own lines (a fresh file's migration)
    log_lines.truncate()
    assert app.test_client().get("/healthz").status_code == 200
    assert log_lines.getvalue() == ""


def test_stray_stderr_writes_become_json_lines() -> None:
    script = """if True:
        import sys, threading, warnings
        from server import logs
        logs.capture_stderr()
        print("a raw line", file=sys.stderr)
        sys.stderr.write("two\\nlines")
        sys.stderr.flush()
        warnings.warn("careful")
        threading.Thread(target=lambda: 1 / 0, name="doomed").start()
        raise SystemExit(sys.excepthook(KeyError, KeyError("k"), None))
    """
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                         text=True, timeout=30)
    records = [json.loads(line) for line in out.stderr.splitlines()]  # every line parses
    assert [r["msg"] for r in records[:3]] == ["a raw line", "two", "lines"]
    assert "careful" in records[3]["msg"] and records[3]["logger"] == "py.warnings"
    thread = records[4]
    assert thread["msg"] == "uncaught exception in thread doomed"
    assert "ZeroDivisionError" in thread["exc_info"]
    assert records[5]["msg"] == "uncaught exception" and "KeyError" in records[5]["exc_info"]


# ---------- a real `chatdock serve` ----------------------------------------------


def json_lines(lines: list[str]) -> list[dict[str, Any]]:
    """Parse every line; a line that is not one JSON object fails the test."""
    records = [json.loads(line) for line in lines]
    assert all(isinstance(r, dict) for r in records)
    return records


def test_served_stderr_is_json_lines_and_stdout_keeps_the_banner(tmp_path: Path) -> None:
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    server = ServedProcess(tmp_path, env={"TMPDIR": str(tmpdir)}, split_stderr=True)
    try:
        assert [p.name[:17] for p in tmpdir.iterdir()] == ["chatdock-metrics-"]
        assert httpx.get(f"{server.base}/readyz", headers={"X-Request-Id": "probe-1"}).json()[
            "ok"] is True
        assert httpx.get(f"{server.base}/nope", headers={"X-Request-Id": "lost-1"}
                         ).status_code == 404
        samples = scrape(httpx.get(f"{server.base}/metrics").text)
        assert requests_total(samples, "/readyz", "GET", 200) == 1
    finally:
        assert server.stop() == 0
    time.sleep(0.2)  # the drain threads read the last lines
    records = json_lines(server.errors)
    messages = [r["msg"] for r in records]
    assert any(m.startswith("Starting gunicorn") for m in messages)
    assert any(m.startswith("Booting worker with pid") for m in messages)
    assert "Shutting down: Master" in messages
    access = {r["request_id"]: r for r in records if r["logger"] == "chatdock.access"}
    assert access["probe-1"]["route"] == "/readyz" and access["probe-1"]["status"] == 200
    assert access["lost-1"]["route"] is None and access["lost-1"]["status"] == 404
    assert any("publishable key:" in line for line in server.output)  # plain text banner
    assert not any(line.startswith("{") for line in server.output)
    assert list(tmpdir.iterdir()) == []  # the metrics directory went with the server


def served_by(server: ServedProcess, request_id: str) -> int:
    """The worker pid that wrote the access line of this request."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        for line in list(server.errors):
            record = json.loads(line)
            if record.get("request_id") == request_id and record["logger"] == "chatdock.access":
                return int(record["pid"])
        time.sleep(0.02)
    raise AssertionError(f"no access line for {request_id}")


def socket_holder(port: int) -> int:
    """The one worker with an established connection: the socket's (HTTP ones have closed)."""
    deadline = time.monotonic() + 5
    while len(pids := worker_pids(port)) != 1:
        assert time.monotonic() < deadline, pids
        time.sleep(0.05)
    return pids.pop()


def test_two_workers_report_as_one(tmp_path: Path, postgres_url: str,  # noqa: F811
                                   redis_url: str) -> None:  # noqa: F811
    server = two_workers(tmp_path, postgres_url, redis_url, split_stderr=True)
    socket = None
    try:
        pids: set[int] = set()
        probes = 0
        while len(pids) < 2:  # until both workers have answered some of the probes
            assert probes < 300, "every probe went to one worker"
            probes += 1
            resp = httpx.get(f"{server.base}/readyz", headers={"X-Request-Id": f"p{probes}"})
            assert resp.json() == {"ok": True, "checks": {"database": "ok", "redis": "ok"}}
            pids.add(served_by(server, f"p{probes}"))

        scrapers: set[int] = set()
        for n in range(200):  # every worker's answer adds up both workers' counts
            text = httpx.get(f"{server.base}/metrics", headers={"X-Request-Id": f"s{n}"}).text
            assert requests_total(scrape(text), "/readyz", "GET", 200) == probes
            scrapers.add(served_by(server, f"s{n}"))
            if scrapers == pids:
                break
        assert scrapers == pids

        started = start_visitor(server.base, server.pk)
        socket = PusherTestClient.for_session(started)
        socket.subscribe_session(started, server.pk)
        samples = scrape(httpx.get(f"{server.base}/metrics").text)
        assert value(samples, "chatdock_open_sockets") == 1
        assert value(samples, "chatdock_subscriptions") == 1
        # the worker holding the socket dies: its gauges leave the sum, its counts stay
        holder = socket_holder(server.port)
        os.kill(holder, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while True:
            try:
                samples = scrape(httpx.get(f"{server.base}/metrics").text)
                if value(samples, "chatdock_open_sockets") == 0:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the dead worker's socket is still counted"
            time.sleep(0.1)
        assert value(samples, "chatdock_subscriptions") == 0
        assert requests_total(samples, "/readyz", "GET", 200) == probes
    finally:
        if socket is not None:
            socket.close()
        server.stop()
    json_lines(server.errors)
