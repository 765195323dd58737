"""Shared load-generator library: the server under test, visitors, sockets, figures."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import websockets

ROOT = Path(__file__).resolve().parent.parent
PAGE = os.sysconf("SC_PAGE_SIZE")
TICKS = os.sysconf("SC_CLK_TCK")


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
                    "CHATDOCK_LOG_LEVEL": "WARNING", **(env or {})}
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


async def start_visitor(http: httpx.AsyncClient, pk: str, visitor_id: str) -> Visitor:
    resp = await http.post("/api/v1/chat/sessions", json={"visitor_id": visitor_id},
                           headers=headers(pk))
    resp.raise_for_status()
    return Visitor(resp.json()["data"])


async def connect_and_subscribe(http: httpx.AsyncClient, pk: str, visitor: Visitor) -> None:
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
    print("  ".join(c.rjust(w) for c, w in zip(cols, widths)))
    for row in cells:
        print("  ".join(v.rjust(w) for v, w in zip(row, widths)))


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
