"""Deliver webhooks from the outbox: a background thread in every server process.

Each round claims the oldest due delivery at the head of an endpoint's queue (PostgreSQL:
FOR UPDATE SKIP LOCKED, so N processes never claim one twice) by moving its next attempt a
lease ahead, commits, POSTs it signed outside any transaction, and records the outcome. A
process killed mid-delivery leaves the row pending: it is sent again when the lease ends
(at least once; receivers dedupe by Chatdock-Webhook-Id)."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import time
from datetime import timedelta
from functools import partial
from urllib.parse import urlsplit, urlunsplit

import httpx
from flask import Flask
from sqlalchemy import event
from sqlalchemy.orm import Session

from server.db import session_scope
from server.models import WebhookDelivery, WebhookEndpoint, WebhookEvent, utcnow
from server.services import webhooks

log = logging.getLogger("chatdock.webhooks")
TIMEOUT_SECONDS = 10.0
# A claimed delivery is not due again for this long: time for the POST and its record (a
# process killed meanwhile leaves it to be sent again once the lease ends).
LEASE = timedelta(seconds=TIMEOUT_SECONDS * 3)
ROUND_MAX = 100  # deliveries per round before the stop flag is looked at again
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


def post(client: httpx.Client, endpoint: WebhookEndpoint, delivery: WebhookDelivery,
         event: WebhookEvent, allow_private: bool) -> tuple[int | None, str | None]:
    """Send one delivery: (status code or None, error or None)."""
    try:
        address = webhooks.target_addresses(endpoint.url, allow_private)[0]
    except webhooks.UnsafeTarget as refused:
        return None, f"refused: {refused}"
    body = json.dumps(webhooks.event_body(event), separators=(",", ":")).encode()
    url, host, extensions = _pinned(endpoint.url, address)
    headers = {**host, "Content-Type": "application/json", "User-Agent": "chatdock-webhooks",
               "Chatdock-Signature": signature(endpoint.secret, int(time.time()), body),
               "Chatdock-Webhook-Id": f"whd_{delivery.id}",
               "Chatdock-Event-Type": event.type}
    try:  # the answer's body is never read: only its status counts
        with client.stream("POST", url, content=body, headers=headers,
                           extensions=extensions) as answer:
            status = answer.status_code
    except httpx.HTTPError as failed:
        return None, f"{type(failed).__name__}: {failed}"
    return status, None if 200 <= status < 300 else f"HTTP {status}"


def deliver_one(app: Flask, client: httpx.Client) -> bool:
    """Claim, send and record one due delivery; False when none was due."""
    config = app.config
    with session_scope(app) as session:  # the claim: a lease, committed before the POST
        claimed = webhooks.claim_due(session, utcnow())
        if claimed is None:
            return False
        delivery, endpoint, event = claimed
        delivery.next_attempt_at = utcnow() + LEASE
    status, error = post(client, endpoint, delivery, event, config["WEBHOOK_ALLOW_PRIVATE"])
    with session_scope(app) as session:
        found = webhooks.attempted(session, delivery.id)
        if found is None:  # deleted meanwhile
            return True
        delivery, endpoint = found
        if error is None and status is not None:
            webhooks.record_success(delivery, endpoint, status)
        else:
            webhooks.record_failure(delivery, endpoint, status, error or "",
                                    list(config["WEBHOOK_RETRY_SECONDS"]),
                                    config["WEBHOOK_DISABLE_AFTER"])
        outcome = "retried" if delivery.status == "pending" else delivery.status
    metrics = app.extensions.get("metrics")  # absent with METRICS_ENABLED false
    if metrics is not None:  # counted once the outcome is committed
        metrics.delivered(outcome)
    return True


def run(app: Flask, stop: threading.Event) -> None:
    """Deliver what is due; when nothing is, wait until this process commits an event or
    WEBHOOK_POLL_SECONDS pass (another process's events); until stop is set."""
    wake = _waker(app)
    with httpx.Client(timeout=TIMEOUT_SECONDS, follow_redirects=False) as client:
        while not stop.is_set():
            wake.clear()  # before the round: a commit during it makes the next one at once
            if _round(app, client, stop) < ROUND_MAX:  # a full round: more may be due now
                wake.wait(app.config["WEBHOOK_POLL_SECONDS"])


def _round(app: Flask, client: httpx.Client, stop: threading.Event) -> int:
    """Deliver up to ROUND_MAX due deliveries: how many were sent."""
    sent = 0
    try:
        while sent < ROUND_MAX and not stop.is_set() and deliver_one(app, client):
            sent += 1
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
