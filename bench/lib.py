"""Shared load-generator library: the server under test, visitors, sockets, figures."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import httpx
import uvloop
import websockets

ROOT = Path(__file__).resolve().parent.parent
PAGE = os.sysconf("SC_PAGE_SIZE")
TICKS = os.sysconf("SC_CLK_TCK")
T = TypeVar("T")


def raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """`chatdock serve` in its own process with a fresh database; the demo keys it prints."""

    def __init__(self, workers: int = 1, env: dict[str, str] | None = None) -> None:
        self.tmp = tempfile.mkdtemp(prefix="chatdock-bench-")
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "CHATDOCK_DATABASE_URL": f"sqlite:///{self.tmp}/bench.db",
                    "CHATDOCK_LOG_LEVEL": "WARNING",
                    # thousands of requests/s from one address and key: a limit high enough
                    # never to trigger, so the limiter's own cost is still measured
                    "CHATDOCK_RATE_LIMIT_REQUESTS": "1000000000", **(env or {})}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "server.cli", "serve", "--port", str(self.port),
             "--workers", str(workers)], cwd=ROOT, env=self.env, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, text=True)
        self.pk = self.sk = ""
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if "publishable key:" in line:
                self.pk = line.split()[-1]
            if "secret key:" in line:
                self.sk = line.split()[-1]
                break
        self._wait_healthy()

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.base}/healthz").status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError("server did not start")

    def workers(self) -> list[int]:
        out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(self.proc.pid)],
                             capture_output=True, text=True).stdout
        return [int(p) for p in out.split()]

    def rss_bytes(self) -> int:
        """Resident memory of the worker processes (the master only forks them)."""
        total = 0
        for pid in self.workers():
            with open(f"/proc/{pid}/statm") as fh:
                total += int(fh.read().split()[1]) * PAGE
        return total

    def cpu_seconds(self) -> float:
        total = 0.0
        for pid in self.workers():
            with open(f"/proc/{pid}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / TICKS
        return total

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


class Reply:
    """A finished HTTP response: status and body (the part of httpx's Response we use)."""

    def __init__(self, status: int, body: bytes) -> None:
        self.status_code = status
        self.body = body

    def json(self) -> Any:
        return json.loads(self.body)

    def raise_for_status(self) -> None:
        if self.status_code >= 400:
            raise RuntimeError(f"HTTP {self.status_code}: {self.body[:200]!r}")


class Http:
    """The load generator's HTTP client: aiohttp on uvloop.

    Measured here: one agent reply round trip p50 1.05 ms with aiohttp against
    1.99 ms with httpx's AsyncClient (the server's own share is the same); a
    load generator must not measure itself.
    """

    def __init__(self, base: str, connections: int, timeout: float = 60) -> None:
        self._session = aiohttp.ClientSession(
            # keep-alive shorter than the server's 5 s, or a reused connection may be closing
            base_url=base, connector=aiohttp.TCPConnector(limit=connections,
                                                          keepalive_timeout=2),
            timeout=aiohttp.ClientTimeout(total=timeout))

    async def request(self, method: str, url: str, *, json_body: Any = None,
                      data: dict[str, str] | None = None, params: dict[str, str] | None = None,
                      headers: dict[str, str] | None = None) -> Reply:
        async with self._session.request(method, url, json=json_body, data=data, params=params,
                                         headers=headers) as resp:
            return Reply(resp.status, await resp.read())

    async def post_file(self, url: str, field_name: str, file_name: str, content: bytes, *,
                        headers: dict[str, str] | None = None) -> Reply:
        """A multipart/form-data POST with one file part (as the Tickki SDK uploads)."""
        form = aiohttp.FormData()
        form.add_field(field_name, content, filename=file_name,
                       content_type="application/octet-stream")
        async with self._session.post(url, data=form, headers=headers) as resp:
            return Reply(resp.status, await resp.read())

    async def post(self, url: str, *, json: Any = None, data: dict[str, str] | None = None,
                   headers: dict[str, str] | None = None) -> Reply:
        return await self.request("POST", url, json_body=json, data=data, headers=headers)

    async def get(self, url: str, *, params: dict[str, str] | None = None,
                  headers: dict[str, str] | None = None) -> Reply:
        return await self.request("GET", url, params=params, headers=headers)

    async def __aenter__(self) -> Http:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._session.close()


def run(coro: Awaitable[T]) -> T:
    """Run the load generator's event loop (uvloop)."""
    return uvloop.run(coro)  # type: ignore[arg-type]


@dataclass
class Visitor:
    started: dict[str, Any]
    ws: Any = None
    received: dict[str, float] = field(default_factory=dict)  # content -> receive time


def headers(key: str, token: str | None = None) -> dict[str, str]:
    out = {"Authorization": f"Bearer {key}"}
    if token:
        out["X-Tickki-Session"] = token
    return out


async def start_visitor(http: Http, pk: str, visitor_id: str) -> Visitor:
    resp = await http.post("/api/v1/chat/sessions", json={"visitor_id": visitor_id},
                           headers=headers(pk))
    resp.raise_for_status()
    return Visitor(resp.json()["data"])


async def connect_and_subscribe(http: Http, pk: str, visitor: Visitor) -> None:
    """Open the visitor's socket and subscribe through the real auth endpoint."""
    rt = visitor.started["realtime"]
    ws = await websockets.connect(
        f"ws://{rt['host']}:{rt['port']}/app/{rt['key']}?protocol=7&client=bench&version=1",
        compression=None, open_timeout=60, ping_interval=None, max_queue=None)
    hello = json.loads(await ws.recv())
    socket_id = json.loads(hello["data"])["socket_id"]
    auth = await http.post(rt["auth_endpoint"], data={"socket_id": socket_id,
                                                      "channel_name": rt["channel"]},
                           headers=headers(pk, visitor.started["session_token"]))
    auth.raise_for_status()
    await ws.send(json.dumps({"event": "pusher:subscribe",
                              "data": {"channel": rt["channel"], "auth": auth.json()["auth"]}}))
    ack = json.loads(await ws.recv())
    assert ack["event"] == "pusher_internal:subscription_succeeded", ack
    visitor.ws = ws


async def gather_limited(coros: Sequence[Any], limit: int) -> list[Any]:
    sem = asyncio.Semaphore(limit)

    async def run(coro: Any) -> Any:
        async with sem:
            return await coro
    return await asyncio.gather(*(run(c) for c in coros))


def percentiles(samples: list[float]) -> dict[str, float]:
    """p50/p95/p99/max of samples (milliseconds in, milliseconds out)."""
    if not samples:
        return {"p50": float("nan"), "p95": float("nan"), "p99": float("nan"),
                "max": float("nan")}
    ordered = sorted(samples)

    def pick(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]
    return {"p50": pick(0.50), "p95": pick(0.95), "p99": pick(0.99), "max": ordered[-1]}


def print_table(title: str, rows: list[dict[str, Any]]) -> None:
    print(f"\n{title}")
    if not rows:
        return
    cols = list(rows[0])
    cells = [[_fmt(r[c]) for c in cols] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    print("  ".join(c.rjust(w) for c, w in zip(cols, widths, strict=True)))
    for row in cells:
        print("  ".join(v.rjust(w) for v, w in zip(row, widths, strict=True)))


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def write_json(path: str | None, data: Any) -> None:
    if path:
        Path(path).write_text(json.dumps(data, indent=2))
        print(f"\nwrote {path}")


def machine() -> dict[str, Any]:
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return {"cores": os.cpu_count(), "ram_gib": round(mem / 2**30, 1),
            "python": sys.version.split()[0]}


def base_parser(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--json", metavar="PATH", help="also write the figures as JSON")
    return parser


# ---------- shared by ingest, sessions and history ---------------------------------------


def http_client(server: Server, connections: int, timeout: float = 60) -> Http:
    """An async client against the server with a pool of `connections` keep-alive connections."""
    return Http(server.base, connections, timeout)


def stop_and_clean(server: Server) -> None:
    """Stop the server and delete its temporary database directory."""
    server.stop()
    shutil.rmtree(server.tmp, ignore_errors=True)


async def post_session(http: Http, pk: str, visitor_id: str) -> Reply:
    """POST /chat/sessions for visitor_id; the raw response, whatever its status."""
    return await http.post("/api/v1/chat/sessions", json={"visitor_id": visitor_id},
                           headers=headers(pk))


async def post_message(http: Http, pk: str, visitor: Visitor,
                       content: str) -> Reply:
    """POST a visitor message into the visitor's conversation; the raw response."""
    return await http.post(
        f"/api/v1/chat/sessions/{visitor.started['conversation_id']}/messages",
        json={"content": content}, headers=headers(pk, visitor.started["session_token"]))


async def get_history(http: Http, pk: str, visitor: Visitor,
                      cursor: str | None = None, limit: int = 30) -> Reply:
    """GET one page of the visitor's history (newest first); the raw response."""
    params = {"limit": str(limit), **({"cursor": cursor} if cursor else {})}
    return await http.get(
        f"/api/v1/chat/sessions/{visitor.started['conversation_id']}/messages",
        params=params, headers=headers(pk, visitor.started["session_token"]))


async def timed(call: Awaitable[T]) -> tuple[float, T]:
    """Await call; (milliseconds it took, its result)."""
    t0 = time.perf_counter()
    result = await call
    return (time.perf_counter() - t0) * 1000, result


async def outcome(call: Awaitable[Reply]) -> tuple[float, str]:
    """(milliseconds, status code as text, or the transport error's class name)."""
    t0 = time.perf_counter()
    try:
        label = str((await call).status_code)
    except (TimeoutError, aiohttp.ClientError) as exc:
        label = type(exc).__name__
    return (time.perf_counter() - t0) * 1000, label


@dataclass
class LoadResult:
    """What a closed-loop run saw: every request's latency and outcome, and the wall time."""

    latencies_ms: list[float] = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    client_cpu_s: float = 0.0  # this load generator's own CPU: is it the bottleneck?

    def columns(self, expect: int, rate_name: str) -> dict[str, Any]:
        """Table columns: requests, successes per second, latency percentiles, errors."""
        good = self.outcomes[str(expect)]
        bad = {k: n for k, n in sorted(self.outcomes.items()) if k != str(expect)}
        return {"requests": sum(self.outcomes.values()),
                rate_name: round(good / self.seconds, 1) if self.seconds else 0.0,
                **latency_columns(self.latencies_ms), "errors": sum(bad.values()),
                "error_kinds": " ".join(f"{k}x{n}" for k, n in bad.items()) or "-",
                "client_cpu_s": round(self.client_cpu_s, 2)}


async def closed_loop(request: Callable[[int, int], Awaitable[Reply]], workers: int,
                      seconds: float) -> LoadResult:
    """Run `workers` loops, each sending request(worker, seq) back to back until time is up."""
    result = LoadResult()
    deadline = time.perf_counter() + seconds

    async def loop(worker: int) -> None:
        seq = 0
        while time.perf_counter() < deadline:
            ms, label = await outcome(request(worker, seq))
            result.latencies_ms.append(ms)
            result.outcomes[label] += 1
            seq += 1
    start, cpu0 = time.perf_counter(), time.process_time()
    await asyncio.gather(*(loop(w) for w in range(workers)))
    result.seconds = time.perf_counter() - start
    result.client_cpu_s = time.process_time() - cpu0
    return result


def latency_columns(samples: list[float]) -> dict[str, float]:
    """percentiles() as rounded table columns p50_ms ... max_ms."""
    return {f"{k}_ms": round(v, 2) for k, v in percentiles(samples).items()}


def usage_columns(server: Server, cpu_before: float) -> dict[str, float]:
    """Server CPU seconds spent since cpu_before, and its resident memory now."""
    return {"server_cpu_s": round(server.cpu_seconds() - cpu_before, 2),
            "server_rss_mib": round(server.rss_bytes() / 2**20, 1)}
