"""Prometheus metrics, served at /metrics (server.api.ops) unless METRICS_ENABLED is false.

Importing this module imports prometheus_client, which decides at import time whether it
keeps values in memory or in files under PROMETHEUS_MULTIPROC_DIR: `chatdock serve` sets that
directory first (server.serve), and /metrics then adds up every worker's files.
"""

from __future__ import annotations

import os
import time

from flask import Flask, Response, request
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, multiprocess
from prometheus_client.exposition import choose_encoder
from sqlalchemy import event
from sqlalchemy.orm import Session

from server.db import PENDING
from server.logs import request_started
from server.ratelimit import KINDS
from server.realtime.hub import Connection, Hub, Route

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
UNMATCHED = "unmatched"  # the route label of a request no URL rule matched
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# API answers take ~1-3 ms: buckets from 1 ms up
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """This app's metrics; in a multi-process server every worker writes its own files."""

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.requests = Counter("chatdock_http_requests", "HTTP requests answered.",
                                ["route", "method", "status"], registry=r)
        self.latency = Histogram("chatdock_http_request_duration_seconds",
                                 "Time to answer an HTTP request (sockets excluded).",
                                 ["route", "method"], buckets=BUCKETS, registry=r)
        self.sockets = Gauge("chatdock_open_sockets", "Open realtime sockets.",
                             multiprocess_mode="livesum", registry=r)
        self.subscriptions = Gauge("chatdock_subscriptions",
                                   "Channel subscriptions held by open sockets.",
                                   multiprocess_mode="livesum", registry=r)
        self.messages = Counter("chatdock_messages_created", "Messages committed.",
                                ["direction"], registry=r)
        self.rate_limited = Counter("chatdock_rate_limited",
                                    "Requests refused with 429 rate_limited.", ["kind"],
                                    registry=r)
        self.bot_answers = Counter("chatdock_bot_answers", "Bot replies committed: answered "
                                   "from the knowledge, or handoff to a person.", ["outcome"],
                                   registry=r)
        for direction in ("inbound", "outbound"):  # every series exists from the start
            self.messages.labels(direction)
        for outcome in ("answered", "handoff"):
            self.bot_answers.labels(outcome)
        for kind in KINDS:
            self.rate_limited.labels(kind)

    def observe(self, response: Response) -> Response:
        """Count an answered request under its URL rule (not its path) and time it."""
        rule = request.url_rule
        route = rule.rule if rule is not None else UNMATCHED
        method = request.method if request.method in METHODS else "other"
        self.requests.labels(route, method, str(response.status_code)).inc()
        if rule is None or not rule.websocket:  # a socket's "request" lasts as long as it
            self.latency.labels(route, method).observe(time.perf_counter() - request_started())
        return response

    def count_committed(self, session: Session) -> None:
        """Count the messages (and bot replies) of a transaction that just committed (before
        its events go)."""
        for _topics, name, payload in session.info.get(PENDING, ()):
            if name == "MessageCreated":
                self.messages.labels(payload["direction"]).inc()
                if payload["sender"]["role"] == "bot":  # an answer always has sources
                    self.bot_answers.labels("answered" if payload.get("sources")
                                            else "handoff").inc()

    def refused(self, kind: str) -> None:
        """Count a rate-limit refusal."""
        self.rate_limited.labels(kind).inc()

    def hub(self) -> Hub:
        """A socket hub that keeps the socket and subscription gauges."""
        return MeteredHub(self.sockets, self.subscriptions)

    def render(self, accept: str | None) -> tuple[bytes, str]:
        """The exposition the scraper asked for (Prometheus text unless it prefers
        OpenMetrics): every worker's values when multi-process, else this app's."""
        registry = self.registry
        if os.environ.get(MULTIPROC_ENV):
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
        encode, content_type = choose_encoder(accept or "")
        return encode(registry), content_type


class MeteredHub(Hub):
    """The hub, keeping the open-socket and subscription gauges as sockets come and go."""

    def __init__(self, sockets: Gauge, subscriptions: Gauge) -> None:
        super().__init__()
        self._sockets, self._subscriptions = sockets, subscriptions

    def add(self, conn: Connection) -> None:
        super().add(conn)
        self._sockets.inc()

    def remove(self, conn: Connection) -> None:
        present = conn in self.connections
        super().remove(conn)  # unsubscribes every channel first
        if present:
            self._sockets.dec()

    def subscribe(self, conn: Connection, channel: str, route: Route) -> None:
        before = len(conn.channels)  # re-subscribing a channel replaces it
        super().subscribe(conn, channel, route)
        self._subscriptions.inc(len(conn.channels) - before)

    def unsubscribe(self, conn: Connection, channel: str) -> None:
        before = len(conn.channels)
        super().unsubscribe(conn, channel)
        self._subscriptions.dec(before - len(conn.channels))


def init_app(app: Flask) -> Metrics:
    """Instrument the app: requests, committed messages; the caller meters the hub."""
    metrics = app.extensions["metrics"] = Metrics()
    app.after_request(metrics.observe)
    # insert=True: before server.db's own listener hands the events to the broker and drops them
    event.listen(app.extensions["db"], "after_commit", metrics.count_committed, insert=True)
    return metrics
