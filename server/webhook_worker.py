"""Deliver webhooks from the outbox: a background thread in every server process.

Each batch claims the oldest due delivery at the head of an endpoint's queue (PostgreSQL:
FOR UPDATE SKIP LOCKED, so N processes never claim one twice) and up to BATCH_MAX - 1 of
the same endpoint's next due ones, moves their next attempt a lease ahead, commits, POSTs
them signed, in order, outside any transaction (keep-alive connections), and records the
outcomes in one transaction. A process killed mid-batch leaves its rows pending: they are
sent again when the lease ends (at least once, at most a batch again; receivers dedupe by
Chatdock-Webhook-Id)."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial
from urllib.parse import urlsplit, urlunsplit

import httpx
from flask import Flask
from sqlalchemy import event
from sqlalchemy.orm import Session

from server.models import WebhookDelivery, WebhookEndpoint, WebhookEvent, utcnow
from server.services import webhooks

log = logging.getLogger("chatdock.webhooks")
TIMEOUT_SECONDS = 10.0
# A claimed delivery is not due again for this long: time for the POST and its record (a
# process killed meanwhile leaves it to be sent again once the lease ends).
LEASE = timedelta(seconds=TIMEOUT_SECONDS * 3)
ROUND_MAX = 100  # deliveries per round before the wake flag is looked at again
BATCH_MAX = 20  # deliveries claimed at once (sent again after a crash: at least once)
# No POST of a batch starts later than this after its claim: the last one (TIMEOUT_SECONDS)
# and the record still fit in the lease.
SEND_WINDOW = LEASE.total_seconds() - 2 * TIMEOUT_SECONDS
BODY_MAX = 64 * 1024  # bytes of an answer read (and dropped) to keep its connection
CLIENTS_MAX = 16  # target origins a thread keeps connections to
WAKE = "webhook_wake"  # app.extensions: the delivery thread's wake-up Event


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """Chatdock-Signature, Stripe's format: t=<unix>,v1=<hex HMAC-SHA256(secret, "t.body")>."""
    signed = f"{timestamp}.".encode() + body
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def _pinned(url: str, address: str) -> tuple[str, dict[str, str], dict[str, str]]:
    """The URL aimed at the address already checked (no second DNS answer can differ), with
    the Host header and TLS server name of the original host."""
    parts = urlsplit(url)
    host = f"[{address}]" if ":" in address else address
    netloc = f"{host}:{parts.port}" if parts.port else host
    name = parts.hostname or ""
    return (urlunsplit(parts._replace(netloc=netloc)), {"Host": parts.netloc.rsplit("@", 1)[-1]},
            {"sni_hostname": name})


class Sender:
    """One delivery thread's HTTP clients, with keep-alive: one per target origin as
    registered (scheme, host, port), least recently used dropped beyond CLIENTS_MAX.

    Every request still goes to a URL rewritten to the address checked just before it
    (_pinned), and httpx pools a client's connections by that URL's origin, so a pooled
    connection is only ever reused for the same checked address: once DNS answers
    another address the next request opens a new connection there (after its check), and
    one that is refused sends nothing. A client serves one host name only, so a TLS
    connection verified for one name (its SNI) never carries another name's request that
    happens to resolve to the same address."""

    def __init__(self) -> None:
        self.clients: OrderedDict[tuple[str, str, int | None], httpx.Client] = OrderedDict()

    def client(self, url: str) -> httpx.Client:
        """The pool for url's origin (made on first use)."""
        parts = urlsplit(url)
        key = (parts.scheme, parts.hostname or "", parts.port)
        found = self.clients.pop(key, None)
        if found is None:
            found = httpx.Client(timeout=TIMEOUT_SECONDS, follow_redirects=False,
                                 limits=httpx.Limits(max_connections=2,
                                                     max_keepalive_connections=1))
            if len(self.clients) >= CLIENTS_MAX:
                self.clients.popitem(last=False)[1].close()
        self.clients[key] = found
        return found

    def close(self) -> None:
        """Close every pooled connection."""
        for client in self.clients.values():
            client.close()
        self.clients.clear()


def post(sender: Sender, endpoint: WebhookEndpoint, delivery: WebhookDelivery,
         event: WebhookEvent, allow_private: bool) -> tuple[int | None, str | None]:
    """Send one delivery: (status code or None, error or None)."""
    try:  # at every delivery, after DNS: a pooled connection does not skip it
        address = webhooks.target_addresses(endpoint.url, allow_private)[0]
    except webhooks.UnsafeTarget as refused:
        return None, f"refused: {refused}"
    body = json.dumps(webhooks.event_body(event), separators=(",", ":")).encode()
    url, host, extensions = _pinned(endpoint.url, address)
    headers = {**host, "Content-Type": "application/json", "User-Agent": "chatdock-webhooks",
               "Chatdock-Signature": signature(endpoint.secret, int(time.time()), body),
               "Chatdock-Webhook-Id": f"whd_{delivery.id}",
               "Chatdock-Event-Type": event.type}
    deadline = time.monotonic() + TIMEOUT_SECONDS
    try:
        with sender.client(endpoint.url).stream("POST", url, content=body, headers=headers,
                                                extensions=extensions) as answer:
            status = answer.status_code
            _discard(answer, deadline)
    except httpx.HTTPError as failed:
        return None, f"{type(failed).__name__}: {failed}"
    return status, None if 200 <= status < 300 else f"HTTP {status}"


def _discard(answer: httpx.Response, deadline: float) -> None:
    """Read and drop the answer's body, so its connection goes back to the pool; past
    BODY_MAX bytes or the deadline stop (closing the response then closes the connection
    instead): only the status counts."""
    read = 0
    try:
        for chunk in answer.iter_raw():
            read += len(chunk)
            if read > BODY_MAX or time.monotonic() > deadline:
                return
    except httpx.HTTPError:
        return  # the status already came: a body cut short does not change it


def deliver_batch(app: Flask, sender: Sender, sessions: Callable[[], Session],
                  stop: threading.Event) -> int:
    """Claim a run of one endpoint's due deliveries (leased in one transaction), send them
    in order and record the outcomes in one more: how many were sent (0: none was due)."""
    with sessions() as session, session.begin():
        batch = webhooks.claim_batch(session, utcnow(), BATCH_MAX)
        held = {delivery.id: delivery.next_attempt_at for delivery, _, _ in batch}
        for delivery, _, _ in batch:
            delivery.next_attempt_at = utcnow() + LEASE
    if not batch:
        return 0
    outcomes = _send(app, sender, batch, stop)
    sent = {delivery_id for delivery_id, _, _ in outcomes}
    _record(app, sessions, outcomes, {k: v for k, v in held.items() if k not in sent})
    return len(outcomes)


def _send(app: Flask, sender: Sender,
          batch: list[tuple[WebhookDelivery, WebhookEndpoint, WebhookEvent]],
          stop: threading.Event) -> list[tuple[int, int | None, str | None]]:
    """POST the batch in order, stopping after a failure (its endpoint's later events wait
    for it), at stop, or once a POST begun now could outlast the lease."""
    allow_private = app.config["WEBHOOK_ALLOW_PRIVATE"]
    window_ends = time.monotonic() + SEND_WINDOW
    outcomes: list[tuple[int, int | None, str | None]] = []
    for delivery, endpoint, happened in batch:
        if outcomes and (stop.is_set() or time.monotonic() > window_ends):
            break
        status, error = post(sender, endpoint, delivery, happened, allow_private)
        outcomes.append((delivery.id, status, error))
        if error is not None:
            break
    return outcomes


def _record(app: Flask, sessions: Callable[[], Session],
            outcomes: list[tuple[int, int | None, str | None]],
            unsent: dict[int, datetime | None]) -> None:
    """Record the attempts and give the unsent deliveries their due time back, in one
    transaction; count the outcomes once it is committed."""
    config, counted = app.config, []
    with sessions() as session, session.begin():
        found = webhooks.attempted(session, [*(o[0] for o in outcomes), *unsent])
        for delivery_id, status, error in outcomes:
            if delivery_id not in found:  # deleted meanwhile
                continue
            delivery, endpoint = found[delivery_id]
            if error is None and status is not None:
                webhooks.record_success(delivery, endpoint, status)
            else:
                webhooks.record_failure(delivery, endpoint, status, error or "",
                                        list(config["WEBHOOK_RETRY_SECONDS"]),
                                        config["WEBHOOK_DISABLE_AFTER"])
            counted.append("retried" if delivery.status == "pending" else delivery.status)
        for delivery_id, due in unsent.items():
            if delivery_id in found:
                found[delivery_id][0].next_attempt_at = due
    metrics = app.extensions.get("metrics")  # absent with METRICS_ENABLED false
    if metrics is not None:
        for outcome in counted:
            metrics.delivered(outcome)


def run(app: Flask, stop: threading.Event) -> None:
    """Deliver what is due; when nothing is, wait until this process commits an event or
    WEBHOOK_POLL_SECONDS pass (another process's events); until stop is set."""
    wake = _waker(app)
    sender = Sender()
    try:
        while not stop.is_set():
            wake.clear()  # before the round: a commit during it makes the next one at once
            if _round(app, sender, stop) < ROUND_MAX:  # a full round: more may be due now
                wake.wait(app.config["WEBHOOK_POLL_SECONDS"])
    finally:
        sender.close()


def _round(app: Flask, sender: Sender, stop: threading.Event) -> int:
    """Deliver up to about ROUND_MAX due deliveries over one database connection (one
    checkout: one pre-ping and one reset per round, not per transaction): how many."""
    sent = 0
    try:
        with app.extensions["engine"].connect() as connection:
            sessions = partial(app.extensions["db"], bind=connection)
            while sent < ROUND_MAX and not stop.is_set():
                batch = deliver_batch(app, sender, sessions, stop)
                if not batch:
                    break
                sent += batch
    except Exception:
        log.exception("webhook delivery round failed")
    return sent


def _waker(app: Flask) -> threading.Event:
    """This app's wake-up call: set when a transaction that queued deliveries commits (and
    by wake() at stop), so the thread needs no poll to see this process's own events."""
    wake: threading.Event | None = app.extensions.get(WAKE)
    if wake is None:
        wake = app.extensions[WAKE] = threading.Event()
        factory = app.extensions["db"]
        event.listen(factory, "after_commit", partial(_committed, wake))
        event.listen(factory, "after_soft_rollback",
                     lambda session, _previous: session.info.pop(webhooks.QUEUED, None))
    return wake


def _committed(wake: threading.Event, session: Session) -> None:
    if session.info.pop(webhooks.QUEUED, False):
        wake.set()


def wake(app: Flask) -> None:
    """Wake the delivery thread now (its stop flag was just set: it returns at once)."""
    waker = app.extensions.get(WAKE)
    if waker is not None:
        waker.set()


def start(app: Flask, stop: threading.Event) -> threading.Thread:
    """Start this process's delivery thread (stopped by stop, then wake)."""
    _waker(app)  # listening before the first request commits
    thread = threading.Thread(target=run, args=(app, stop), daemon=True,
                              name="webhook-worker")
    thread.start()
    return thread
