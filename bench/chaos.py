"""chaos: `kill -9` a gunicorn worker every few seconds under load; nothing may be lost.

    python -m bench.chaos --visitors 4 --messages 200 --kills 2          # CI size
    python -m bench.chaos --visitors 20 --messages 10000 --kills 6       # docs/benchmarks.md

`chatdock serve --workers 2` on a fresh PostgreSQL database (upgraded with `chatdock db
upgrade` first) and Redis, on loopback. Visitors (the headless client, each holding its
realtime socket, which reconnects and catches up) send messages; agents answer each
acknowledged visitor message once. Every write carries an Idempotency-Key and is re-sent
with the same key after a connection error or a 5xx until acknowledged. Meanwhile one
worker (never the master, which forks a replacement) gets SIGKILL every --interval seconds.

Then: every acknowledged message is stored exactly once, ids follow acknowledgement order,
each conversation's history (the visitor API, paged) is in id order and equals what is
stored. Client views are checked twice: live (a few seconds after the load), where the only
gap allowed is a message acknowledged by a replay (its worker died after the commit, before
answering and publishing the event: see docs/benchmarks.md); then after a final sweep that
kills each worker once more, so every socket reconnects and catches up, when each visitor's
view must equal its history. Exits 1 on any loss, duplicate, disorder, mismatch, or when it
could not make the kills it was asked for.
"""

from __future__ import annotations

import os
import queue
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import httpx
import psycopg

from app_flet.headless import (
    ChatClient,
    ChatConnectionError,
    ChatSession,
    ConnectionChanged,
    MessageCreated,
    RealtimeOptions,
    ServerError,
)
from bench.lib import ROOT, Server, base_parser, machine, print_table, write_json

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
REDIS = "redis://127.0.0.1:6379/0"
RETRY_PAUSE = 0.05  # seconds between attempts with the same key
LIVE_SETTLE_SECONDS = 10  # after the load: sockets on the last victim reconnect, catch up
SETTLE_SECONDS = 30  # after the final sweep: every socket reconnects and catches up


# ---------- the server under test -------------------------------------------------------


@contextmanager
def postgres_database(admin_url: str) -> Iterator[str]:
    """A fresh, uniquely named PostgreSQL database (dropped afterwards): its SQLAlchemy URL."""
    name = f"chatdock_chaos_{os.urandom(4).hex()}"
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=3) as admin:
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


def serve(database_url: str, redis_url: str) -> Server:
    """`chatdock serve --workers 2` on that database and Redis; its stdout drained."""
    server = Server(workers=2, env={"CHATDOCK_DATABASE_URL": database_url,
                                    "CHATDOCK_REDIS_URL": redis_url, "CHATDOCK_PUBLIC_URL": ""})
    threading.Thread(target=lambda: server.proc.stdout and server.proc.stdout.read(),
                     daemon=True).start()
    return server


def sql_url(database_url: str) -> str:
    """The psycopg form of a SQLAlchemy PostgreSQL URL."""
    return database_url.replace("postgresql+psycopg://", "postgresql://", 1)


# ---------- writes that retry with the same key ------------------------------------------


@dataclass
class Tally:
    """What the writers saw, shared by every thread."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    sent: int = 0  # distinct messages attempted
    acked: dict[str, int] = field(default_factory=dict)  # content -> id the server answered
    retries: int = 0  # extra attempts (same key)
    replayed: list[int] = field(default_factory=list)  # ids acked by a replay (an earlier
    # attempt had committed, its answer was lost with the killed worker)
    failures: Counter[str] = field(default_factory=Counter)  # why attempts failed
    gave_up: int = 0

    def ack(self, content: str, message: dict[str, Any], replayed: bool) -> None:
        with self.lock:
            self.acked[content] = message["id"]
            if replayed:
                self.replayed.append(message["id"])


def until_acked(tally: Tally, attempt: Callable[[], httpx.Response], deadline: float
                ) -> tuple[dict[str, Any], bool] | None:
    """Call attempt() until it answers 2xx (a connection error or 5xx: again, same key)."""
    with tally.lock:
        tally.sent += 1
    first = True
    while time.monotonic() < deadline:
        if not first:
            with tally.lock:
                tally.retries += 1
            time.sleep(RETRY_PAUSE)
        first = False
        try:
            resp = attempt()
        except (httpx.TransportError, ChatConnectionError) as exc:
            tally.failures[type(exc.__cause__ or exc).__name__] += 1
            continue
        except ServerError as exc:
            tally.failures[f"HTTP {exc.status}"] += 1
            continue
        if resp.status_code >= 500:
            tally.failures[f"HTTP {resp.status_code}"] += 1
            continue
        resp.raise_for_status()
        return resp.json()["data"], resp.headers.get("Idempotent-Replayed") == "true"
    with tally.lock:
        tally.gave_up += 1
    return None


# ---------- visitors and agents ----------------------------------------------------------


@dataclass
class Visitor:
    """One visitor: its session, and every message id its client has shown (in order)."""

    session: ChatSession
    client: ChatClient
    seen: list[int] = field(default_factory=list)
    drops: int = 0  # times its socket was lost (and the client reconnected)

    def listen(self) -> None:
        """Show the initial history, then every MessageCreated (socket or catch-up)."""
        def on_event(event: Any) -> None:
            if isinstance(event, MessageCreated):
                self.seen.append(event.message.id)
            elif isinstance(event, ConnectionChanged) and event.state == "reconnecting":
                self.drops += 1
        self.session.on(on_event)
        self.session.connect(wait=True, timeout=30)
        page = self.session.load_history(limit=100)
        self.seen.extend(m.id for m in reversed(page.messages))


def open_visitor(base: str, pk: str, index: int) -> Visitor:
    client = ChatClient(pk, base, realtime_options=RealtimeOptions(backoff=(0.2, 0.5, 1.0)))
    visitor = Visitor(client.start_session(f"chaos-{index}"), client)
    visitor.listen()
    return visitor


def visitor_loop(visitor: Visitor, index: int, count: int, pace: Callable[[int], None],
                 tally: Tally, replies: queue.Queue[tuple[int, int] | None],
                 deadline: float) -> None:
    """Send `count` messages, one at a time, each until acknowledged; queue it for a reply."""
    session, client = visitor.session, visitor.client
    path = f"chat/sessions/{session.conversation_id}/messages"
    token = session.details.session_token
    for seq in range(count):
        pace(seq)
        content, key = f"v{index}-{seq}", str(uuid.uuid4())
        got = until_acked(tally, partial(client.request, "POST", path, session_token=token,
                                         json={"content": content}, idempotency_key=key),
                          deadline)
        if got is None:
            return
        tally.ack(content, got[0], got[1])
        replies.put((session.conversation_id, got[0]["id"]))


def agent_loop(http: httpx.Client, sk: str, tally: Tally,
               replies: queue.Queue[tuple[int, int] | None], deadline: float) -> None:
    """Answer each queued visitor message once (its key is derived from the message id)."""
    while (job := replies.get()) is not None:
        conversation_id, message_id = job
        content = f"r{message_id}"
        got = until_acked(tally, partial(
            http.post, f"/api/v1/tickets/{conversation_id}/messages", json={"content": content},
            headers={"Authorization": f"Bearer {sk}", "Idempotency-Key": f"reply-{message_id}"}),
            deadline)
        if got is not None:
            tally.ack(content, got[0], got[1])


# ---------- the killer -------------------------------------------------------------------


def killer(server: Server, kills: int, interval: float, stop: threading.Event,
           log: list[dict[str, Any]]) -> None:
    """Every `interval` s, SIGKILL one worker (the master forks a replacement)."""
    while len(log) < kills and not stop.wait(interval):
        workers = server.workers()
        if len(workers) < 2:  # the last victim's replacement is still booting
            continue
        victim = random.choice(workers)
        os.kill(victim, signal.SIGKILL)
        log.append({"pid": victim, "at_s": time.monotonic()})


# ---------- the checks -------------------------------------------------------------------


def stored_messages(database_url: str) -> list[tuple[int, int, str]]:
    """(id, conversation_id, content) of every stored message, by id."""
    with psycopg.connect(sql_url(database_url)) as conn:
        return list(conn.execute(
            "SELECT id, conversation_id, content FROM messages ORDER BY id").fetchall())


def api_history(visitor: Visitor) -> list[int]:
    """The conversation's history through the visitor API (paged newest first), oldest first."""
    ids: list[int] = []
    cursor: str | None = None
    while True:
        page = visitor.session.load_history(cursor, limit=100)
        ids += [m.id for m in page.messages]
        if page.next_cursor is None:
            return ids[::-1]
        cursor = page.next_cursor


def by_conversation(rows: list[tuple[int, int, str]]) -> dict[int, list[int]]:
    """Stored message ids per conversation, ascending."""
    stored: dict[int, list[int]] = {}
    for mid, conv, _ in rows:
        stored.setdefault(conv, []).append(mid)
    return stored


def view_gaps(visitors: list[Visitor], stored: dict[int, list[int]]) -> list[set[int]]:
    """Per visitor: stored ids its client has not shown (and ids it showed that are not
    stored, which would be worse)."""
    return [set(stored.get(v.session.conversation_id, [])) ^ set(v.seen) for v in visitors]


def settle(visitors: list[Visitor], stored: dict[int, list[int]], seconds: float) -> float:
    """Wait until every socket is connected and every view holds its history (or time out)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < seconds:
        if all(v.session.connection_state == "connected" for v in visitors) \
                and not any(view_gaps(visitors, stored)):
            break
        time.sleep(0.2)
    return time.monotonic() - t0


def sweep(server: Server) -> int:
    """SIGKILL each worker in turn (waiting for its replacement): every socket reconnects and
    catches up once more, as each client would on its next reconnect. Returns the kills."""
    victims = server.workers()
    for victim in victims:
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            workers = server.workers()
            if len(workers) == 2 and victim not in workers:
                break
            time.sleep(0.1)
    return len(victims)


def verify(tally: Tally, rows: list[tuple[int, int, str]],
           visitors: list[Visitor]) -> dict[str, Any]:
    """Loss, duplicates, order and client views, as counts."""
    copies = Counter(content for _, _, content in rows)
    stored_ids = {mid for mid, _, _ in rows}
    contents = {mid: content for mid, _, content in rows}
    lost = sorted(c for c, mid in tally.acked.items()
                  if mid not in stored_ids or contents[mid] != c)
    stored = by_conversation(rows)
    # ids follow acknowledgement: a visitor's next message, an answer after its question
    disorder = sum(tally.acked[f"r{mid}"] <= mid for mid in tally.acked.values()
                   if f"r{mid}" in tally.acked)
    mismatches = view_duplicates = 0
    unseen: list[dict[str, Any]] = []
    for index, v in enumerate(visitors):
        own = [tally.acked[c] for c in sorted(
            (c for c in tally.acked if c.startswith(f"v{index}-")),
            key=lambda c: int(c.split("-")[1]))]
        disorder += own != sorted(own)
        history = api_history(v)
        disorder += history != sorted(set(history))
        mismatches += history != stored.get(v.session.conversation_id, [])
        if sorted(set(v.seen)) != history:
            mismatches += 1
            unseen.append({"conversation": v.session.conversation_id,
                           "missing": sorted(set(history) - set(v.seen))[:5],
                           "extra": sorted(set(v.seen) - set(history))[:5],
                           "socket_drops": v.drops})
        view_duplicates += len(v.seen) - len(set(v.seen))
    return {"stored": len(rows), "lost": len(lost),
            "duplicated": sum(n - 1 for n in copies.values() if n > 1),
            "out_of_order": disorder, "view_mismatches": mismatches,
            "view_duplicates": view_duplicates, "lost_examples": lost[:5],
            "unseen_examples": unseen[:5]}


def live_check(tally: Tally, visitors: list[Visitor], stored: dict[int, list[int]]
               ) -> dict[str, Any]:
    """Views before the final sweep: every acknowledged message must already be in every
    view (a message acknowledged by a replay too: the replay publishes its events again, for
    a worker that died after the commit and before publishing). `live_gaps_unexplained`
    counts the gaps not acknowledged through a replay, to tell the two apart."""
    gaps = set().union(*view_gaps(visitors, stored))
    explained = gaps & set(tally.replayed)
    return {"live_gaps": len(gaps), "live_gaps_unexplained": len(gaps - explained),
            "live_gap_ids": sorted(gaps)[:10]}


# ---------- the run ----------------------------------------------------------------------


def pacer(start: float, rate: float, visitors: int, index: int) -> Callable[[int], None]:
    """Sleep until visitor `index`'s message `seq` is due (all visitors together at `rate`/s)."""
    def pace(seq: int) -> None:
        delay = start + (seq * visitors + index) / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    return pace


def load(server: Server, visitors: list[Visitor], per_visitor: int, rate: float, agents: int,
         tally: Tally, deadline: float) -> None:
    """Visitors send, agents answer, until every message is acknowledged (or the deadline)."""
    replies: queue.Queue[tuple[int, int] | None] = queue.Queue()
    start = time.monotonic()
    with httpx.Client(base_url=server.base, timeout=10) as http:
        answering = [threading.Thread(target=agent_loop, args=(http, server.sk, tally, replies,
                                                               deadline)) for _ in range(agents)]
        sending = [threading.Thread(target=visitor_loop, args=(
            v, i, per_visitor, pacer(start, rate, len(visitors), i), tally, replies, deadline))
            for i, v in enumerate(visitors)]
        for thread in answering + sending:
            thread.start()
        for thread in sending:
            thread.join()
        for _ in answering:
            replies.put(None)
        for thread in answering:
            thread.join()


def run(visitors: int, messages: int, kills: int, interval: float, agents: int,
        timeout: float) -> dict[str, Any]:
    """One chaos run on a fresh database; the figures."""
    per_visitor = max(1, messages // (2 * visitors))  # each visitor message gets one answer
    rate = per_visitor * visitors / ((kills + 1) * interval)  # visitor messages per second
    with postgres_database(PG_ADMIN) as url:
        db_upgrade(url)
        server = serve(url, REDIS)
        crowd: list[Visitor] = []
        try:
            crowd = [open_visitor(server.base, server.pk, i) for i in range(visitors)]
            tally, stop = Tally(), threading.Event()
            kill_log: list[dict[str, Any]] = []
            chaos = threading.Thread(target=killer, args=(server, kills, interval, stop,
                                                          kill_log))
            t0 = time.monotonic()
            deadline = t0 + timeout
            chaos.start()
            load(server, crowd, per_visitor, rate, agents, tally, deadline)
            chaos.join(timeout=max(0.0, deadline - time.monotonic()))
            stop.set()
            duration = time.monotonic() - t0
            rows = stored_messages(url)
            stored = by_conversation(rows)
            settled = settle(crowd, stored, LIVE_SETTLE_SECONDS)
            live = live_check(tally, crowd, stored)
            swept = sweep(server)
            settle(crowd, stored, SETTLE_SECONDS)
            figures = verify(tally, rows, crowd)
        finally:
            for v in crowd:
                v.client.close()
            server.stop()
    return {"visitors": visitors, "sent": tally.sent, "acknowledged": len(tally.acked),
            "retried": tally.retries, "replayed": len(tally.replayed), "gave_up": tally.gave_up,
            "kills": len(kill_log), "socket_drops": sum(v.drops for v in crowd), **figures,
            "duration_s": round(duration, 1), "settle_s": round(settled, 1), **live,
            "final_sweep_kills": swept,
            "failures": " ".join(f"{k}x{n}" for k, n in sorted(tally.failures.items())) or "-"}


def main() -> None:
    parser = base_parser(__doc__ or "")
    parser.add_argument("--visitors", type=int, default=8)
    parser.add_argument("--messages", type=int, default=1000,
                        help="messages in all: half from visitors, half agents' answers")
    parser.add_argument("--kills", type=int, default=3, help="workers to SIGKILL")
    parser.add_argument("--interval", type=float, default=3.0, help="seconds between kills")
    parser.add_argument("--agents", type=int, default=4, help="agent threads answering")
    parser.add_argument("--timeout", type=float, default=600.0, help="give up after (s)")
    args = parser.parse_args()
    row = run(args.visitors, args.messages, args.kills, args.interval, args.agents,
              args.timeout)
    examples, unseen = row.pop("lost_examples"), row.pop("unseen_examples")
    gap_ids = row.pop("live_gap_ids")
    print_table(f"chaos ({machine()})", [row])
    if examples:
        print(f"lost (first): {examples}")
    for view in unseen:
        print(f"view mismatch: {view}")
    if gap_ids:
        print(f"live gaps (ids, first): {gap_ids}")
    write_json(args.json, {"machine": machine(), "rows": [row]})
    bad = row["lost"] or row["duplicated"] or row["out_of_order"] or row["view_mismatches"] \
        or row["view_duplicates"] or row["gave_up"] or row["kills"] < args.kills \
        or row["live_gaps"]
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
