"""The relay: realtime events from processes that hold no sockets, through the database.

A server process publishes committed events to its broker: the in-process hub
(embedded default) or Redis (scale-out). A process that holds no sockets, such as
the ``chatdock`` command line, has nobody to publish to: its in-process hub is
empty, and the embedded default has no Redis. So such a process installs
``write_events_to_relay`` on its session factory: on ``before_commit`` the events
its services queued (``server.db.emit``) become rows of ``relay_events``, written
in the same transaction as the change they describe (committed together, or not
at all), instead of being published after commit.

Every server process reads the table itself (``start``: a reader loop the
revocation/presence watcher starts, polling every POLL_SECONDS) and hands new
rows, in id order, to its own hub; with Redis, each process still reads the table (a
relayed event never goes through Redis, so none is delivered twice). A reader
starts from the table's highest id when it starts (earlier events were for
sockets that no longer exist), remembers the highest id it delivered, and, since
PostgreSQL may commit ids out of order, looks again for ids it skipped for
GAP_SECONDS (the writer inserts right before COMMIT, so such a window is short).
SQLite ids never go back: the table is AUTOINCREMENT. Rows older than
KEEP_SECONDS are pruned by the readers, at most once a minute per process.

Latency: up to POLL_SECONDS after the commit; cost: one primary-key range query
per process per POLL_SECONDS (~0.25 ms on SQLite, ~1.5 ms on PostgreSQL).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from datetime import timedelta
from typing import cast

from flask import Flask
from sqlalchemy import Table, delete, event, func, insert, or_, select
from sqlalchemy.orm import Session, sessionmaker

from server.db import PENDING, session_scope
from server.models import RelayEvent, utcnow
from server.realtime.hub import Hub

log = logging.getLogger("chatdock.realtime")
RELAY = cast(Table, RelayEvent.__table__)
KEEP_SECONDS = 600  # a reader more than 10 minutes behind has bigger problems
PRUNE_EVERY = 60.0
GAP_SECONDS = 10.0  # how long a skipped id may still turn up (out-of-order commits)
MAX_GAP = 1000  # skipped ids remembered at most (a sequence jump is not a thousand events)
BATCH = 500
POLL_SECONDS = 1.0


def write_events_to_relay(factory: sessionmaker[Session]) -> None:
    """Make this factory's sessions write their queued events to relay_events on commit."""
    @event.listens_for(factory, "before_commit")
    def _relay(session: Session) -> None:
        pending = session.info.pop(PENDING, [])
        if pending:
            now = utcnow()
            session.execute(insert(RELAY), [
                {"topics": list(topics), "event": name, "data": json.dumps(payload),
                 "created_at": now} for topics, name, payload in pending])


class RelayReader:
    """Deliver relay rows this process has not delivered yet to its hub, in id order."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.last_id: int | None = None  # None until the first poll reads the start
        self.gaps: dict[int, float] = {}  # skipped id -> when it was first missed
        self._pruned_at = time.monotonic()

    def poll(self, session: Session) -> int:
        """Deliver the rows committed since the last poll; return how many."""
        if self.last_id is None:
            self.last_id = int(session.scalar(select(func.max(RELAY.c.id))) or 0)
            return 0
        newer = RELAY.c.id > self.last_id
        rows = session.execute(
            select(RELAY.c.id, RELAY.c.topics, RELAY.c.event, RELAY.c.data)
            .where(or_(newer, RELAY.c.id.in_(self.gaps)) if self.gaps else newer)
            .order_by(RELAY.c.id).limit(BATCH)).all()
        now = time.monotonic()
        for row in rows:
            self._advance(row.id, now)
            for topic in row.topics:
                self.hub.deliver(topic, row.event, row.data)
        self.gaps = {i: t for i, t in self.gaps.items() if now - t < GAP_SECONDS}
        return len(rows)

    def _advance(self, row_id: int, now: float) -> None:
        self.gaps.pop(row_id, None)
        last = cast(int, self.last_id)
        if row_id > last:
            self.gaps.update(dict.fromkeys(range(max(last + 1, row_id - MAX_GAP), row_id), now))
            self.last_id = row_id

    def prune(self, session: Session) -> None:
        """Delete rows older than KEEP_SECONDS (at most once per PRUNE_EVERY)."""
        if time.monotonic() - self._pruned_at < PRUNE_EVERY:
            return
        self._pruned_at = time.monotonic()
        old = RELAY.c.created_at < utcnow() - timedelta(seconds=KEEP_SECONDS)
        if session.scalar(select(RELAY.c.id).where(old).limit(1)) is not None:
            session.execute(delete(RELAY).where(old))  # a write only when there is one to do


def start(app: Flask, stop: threading.Event) -> threading.Thread:
    """Start this process's relay reader until `stop`; it begins at the table's current end."""
    reader = RelayReader(app.extensions["hub"])
    thread = threading.Thread(target=_read_until, args=(app, reader, stop), daemon=True,
                              name="relay-reader")
    thread.start()
    return thread


def _read_until(app: Flask, reader: RelayReader, stop: threading.Event) -> None:
    deliver_new(app, reader)  # at once: where the table ends now is where delivery starts
    while not stop.wait(POLL_SECONDS):
        deliver_new(app, reader)


def deliver_new(app: Flask, reader: RelayReader) -> None:
    """Deliver relayed events committed since the last call to this process's sockets."""
    try:
        with session_scope(app) as session:
            reader.poll(session)
            reader.prune(session)
    except Exception:
        log.exception("relay poll failed")
