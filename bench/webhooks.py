"""webhooks: commit → receiver latency of `message.created` webhooks, nothing lost or doubled.

    python -m bench.webhooks --rate 20 --seconds 2 --workers 1          # CI size
    python -m bench.webhooks --rate 100 --seconds 20 --workers 1,2      # docs/benchmarks.md

`chatdock serve` on a fresh PostgreSQL database (upgraded with `chatdock db upgrade`) and
Redis, with 1 then 2 gunicorn workers (each runs the webhook delivery thread). One endpoint
listens to `message.created` at a local receiver (a threaded HTTP server that checks every
Chatdock-Signature with the endpoint's secret, constant-time, and records arrival time and
Chatdock-Webhook-Id). Visitors send messages through the visitor API at --rate per second
(open loop: a send is due every 1/rate s whether the previous one answered or not) for
--seconds. Latency is the receipt time minus the message's `created_at` (its commit, same
clock). Prints p50/p99, sent, delivered, duplicates, lost (not received --drain seconds
after the load) and how long the queue took to empty after the load (drain_s); exits 1 on
any loss, duplicate, refused signature or failed send.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import aiohttp
import httpx

from bench.chaos import PG_ADMIN, REDIS, db_upgrade, postgres_database
from bench.lib import (
    Server,
    Visitor,
    base_parser,
    headers,
    http_client,
    latency_columns,
    machine,
    post_message,
    print_table,
    run,
    start_visitor,
    stop_and_clean,
    write_json,
)

VISITORS = 20  # the messages go round-robin to this many conversations
SIGNATURE_AGE = 300  # seconds: an older t= is a replay


# ---------- the receiver ------------------------------------------------------------------


@dataclass
class Inbox:
    """What the receiver saw: first arrival per message id, and every webhook id."""

    secret: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)
    arrived: dict[int, float] = field(default_factory=dict)  # message id -> wall-clock time
    webhook_ids: list[str] = field(default_factory=list)
    refused: int = 0  # bad or stale signatures

    def verified(self, header: str, body: bytes) -> bool:
        """Chatdock-Signature checked as docs/api-webhooks.md says a receiver should."""
        parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
        t = parts.get("t", "")
        if not t.isdigit() or abs(time.time() - int(t)) > SIGNATURE_AGE:
            return False
        expected = hmac.new(self.secret.encode(), f"{t}.".encode() + body,
                            hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, parts.get("v1", ""))

    def receive(self, headers: Any, body: bytes) -> int:
        now = time.time()
        if not self.verified(headers.get("Chatdock-Signature", ""), body):
            with self.lock:
                self.refused += 1
            return 400
        message_id = json.loads(body)["data"].get("id")  # a message; not in other events
        with self.lock:
            self.webhook_ids.append(headers["Chatdock-Webhook-Id"])
            if message_id is not None:
                self.arrived.setdefault(int(message_id), now)
        return 200


@contextmanager
def receiving(inbox: Inbox) -> Iterator[str]:
    """The receiver on a free port of 127.0.0.1: its URL."""
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as a real receiver behind a proxy

        def do_POST(self) -> None:
            status = inbox.receive(self.headers, self.rfile.read(
                int(self.headers["Content-Length"])))
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/hooks"
    finally:
        server.shutdown()
        server.server_close()


# ---------- one run -----------------------------------------------------------------------


def _created(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


async def send_load(server: Server, rate: float, seconds: float) -> tuple[dict[int, float], int]:
    """Visitor messages at `rate`/s for `seconds`: {message id: created_at}, and failures."""
    async with http_client(server, VISITORS * 2) as http:
        visitors: list[Visitor] = [await start_visitor(http, server.pk, f"wh-{i}")
                                   for i in range(VISITORS)]
        committed: dict[int, float] = {}
        failures = 0

        async def send(n: int) -> None:
            nonlocal failures
            try:
                resp = await post_message(http, server.pk, visitors[n % VISITORS], f"event {n}")
            except (TimeoutError, aiohttp.ClientError):
                failures += 1
                return
            if resp.status_code != 201:
                failures += 1
                return
            message = resp.json()["data"]
            committed[int(message["id"])] = _created(message["created_at"])

        loop = asyncio.get_running_loop()
        start, sends = loop.time(), []
        for n in range(int(rate * seconds)):
            await asyncio.sleep(max(0.0, start + n / rate - loop.time()))
            sends.append(asyncio.create_task(send(n)))
        await asyncio.gather(*sends)
    return committed, failures


def register(server: Server, url: str, inbox: Inbox) -> None:
    resp = httpx.post(f"{server.base}/api/v1/webhooks", headers=headers(server.sk),
                      json={"url": url, "events": ["message.created"]})
    resp.raise_for_status()
    inbox.secret = resp.json()["data"]["secret"]


def drain(inbox: Inbox, committed: dict[int, float], seconds: float) -> float:
    """Wait until every committed message arrived (or `seconds` passed): how long it took."""
    start = time.monotonic()
    deadline = start + seconds
    while time.monotonic() < deadline:
        with inbox.lock:
            if committed.keys() <= inbox.arrived.keys():
                break
        time.sleep(0.05)
    return time.monotonic() - start


def one_run(workers: int, rate: float, seconds: float, poll: float | None,
            drain_seconds: float) -> dict[str, Any]:
    with postgres_database(PG_ADMIN) as database_url:
        db_upgrade(database_url)
        env = {"CHATDOCK_DATABASE_URL": database_url, "CHATDOCK_REDIS_URL": REDIS,
               "CHATDOCK_PUBLIC_URL": "", "CHATDOCK_WEBHOOK_ALLOW_PRIVATE": "true",
               **({"CHATDOCK_WEBHOOK_POLL_SECONDS": str(poll)} if poll is not None else {})}
        server = Server(workers=workers, env=env)
        threading.Thread(target=lambda: server.proc.stdout and server.proc.stdout.read(),
                         daemon=True).start()
        inbox = Inbox()
        try:
            with receiving(inbox) as url:
                register(server, url, inbox)
                committed, failures = run(send_load(server, rate, seconds))
                drained = drain(inbox, committed, drain_seconds)
        finally:
            stop_and_clean(server)
    with inbox.lock:
        latencies = [(inbox.arrived[i] - at) * 1000 for i, at in committed.items()
                     if i in inbox.arrived]
        duplicates = len(inbox.webhook_ids) - len(set(inbox.webhook_ids))
        return {"workers": workers, "rate": rate, "sent": len(committed),
                "send_errors": failures, "delivered": len(inbox.arrived),
                **latency_columns(latencies), "duplicates": duplicates,
                "lost": len(committed.keys() - inbox.arrived.keys()),
                "drain_s": round(drained, 1),
                "bad_signatures": inbox.refused}


def main() -> None:
    parser = base_parser(__doc__.split("\n")[0])
    parser.add_argument("--rate", type=float, default=100, help="messages per second")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts")
    parser.add_argument("--poll", type=float, default=None,
                        help="WEBHOOK_POLL_SECONDS (default: the server's, 1 s)")
    parser.add_argument("--drain", type=float, default=120,
                        help="seconds after the load for the last deliveries (then: lost)")
    args = parser.parse_args()
    rows = [one_run(int(w), args.rate, args.seconds, args.poll, args.drain)
            for w in args.workers.split(",")]
    print_table(f"webhooks: commit -> receiver, message.created at {args.rate:g}/s for "
                f"{args.seconds:g} s, PostgreSQL + Redis", rows)
    write_json(args.json, {"machine": machine(), "runs": rows})
    if any(r["lost"] or r["duplicates"] or r["bad_signatures"] or r["send_errors"]
           for r in rows):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
