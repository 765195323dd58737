"""Webhooks: endpoints, the outbox (an event and its deliveries, written in the caller's
transaction) and what a delivery attempt changes. The HTTP side is server/webhook_worker.py."""

from __future__ import annotations

import ipaddress
import logging
import secrets
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server.errors import NotFound, ValidationError
from server.models import WebhookDelivery, WebhookEndpoint, WebhookEvent, utcnow
from server.validation import check_required_text, check_text
from server.wire import iso

log = logging.getLogger("chatdock.webhooks")

EVENT_TYPES = ("message.created", "conversation.created", "conversation.updated",
               "conversation.resolved", "conversation.handoff", "contact.created",
               "contact.updated", "contact.deleted", "rating.created", "webhook.test")
ALL = "*"
URL_MAX = 2048
DESCRIPTION_MAX = 500
ERROR_MAX = 500
MAX_PER_BUSINESS = 50  # endpoints per business and mode
QUEUED = "webhooks_queued"  # Session.info: this transaction queued deliveries


@dataclass(frozen=True)
class EndpointFields:
    """A validated body (None: left as it is, on a PATCH)."""

    url: str | None = None
    events: list[str] | None = None
    description: str | None = None
    enabled: bool | None = None


class UnsafeTarget(Exception):
    """The URL's host is, or resolves to, an address webhooks may not reach."""


def target_addresses(url: str, allow_private: bool) -> list[str]:
    """The addresses url's host resolves to, every one public unless allow_private."""
    parts = urlsplit(url)
    try:
        infos = socket.getaddrinfo(parts.hostname or "", parts.port or
                                   (443 if parts.scheme == "https" else 80),
                                   type=socket.SOCK_STREAM)
    except (OSError, UnicodeError, ValueError):
        raise UnsafeTarget("its host does not resolve") from None
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%")[0])
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:  # ::ffff:127.0.0.1
            ip = ip.ipv4_mapped
        if not allow_private and (ip.is_loopback or ip.is_private or ip.is_link_local
                                  or ip.is_multicast or ip.is_reserved or ip.is_unspecified):
            raise UnsafeTarget(f"its host resolves to a non-public address ({ip})")
    return addresses


def check_url(body: dict[str, Any], allow_private: bool) -> str:
    """An http(s) URL whose host resolves to public addresses only, else 400 field url."""
    url = check_required_text(body, "url", URL_MAX)
    parts = urlsplit(url)
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        raise ValidationError("url has an invalid port.", field="url") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationError("url must be an http:// or https:// URL with a host.",
                              field="url")
    try:
        target_addresses(url, allow_private)
    except UnsafeTarget as refused:
        raise ValidationError(f"url is refused: {refused}.", field="url") from None
    return url


def check_events(body: dict[str, Any]) -> list[str]:
    """A non-empty list of event types, or ["*"] for all of them."""
    events = body.get("events")
    if not isinstance(events, list) or not events:
        raise ValidationError("events must be a non-empty list of event types.",
                              field="events")
    for name in events:
        if name != ALL and name not in EVENT_TYPES:
            raise ValidationError(f"Unknown event type {name!r}.", field="events")
    return [ALL] if ALL in events else list(dict.fromkeys(events))


def check_new(body: dict[str, Any], allow_private: bool) -> EndpointFields:
    """Validate POST /webhooks: url and events required, description optional."""
    return EndpointFields(check_url(body, allow_private), check_events(body),
                          check_text(body, "description", DESCRIPTION_MAX))


def check_patch(body: dict[str, Any], allow_private: bool) -> EndpointFields:
    """Validate PATCH /webhooks/{id}: url, events, description and/or enabled."""
    unknown = sorted(set(body) - {"url", "events", "description", "enabled"})
    if unknown:
        raise ValidationError(f"{unknown[0]} cannot be changed here.", field=unknown[0])
    enabled = body.get("enabled")
    if "enabled" in body and not isinstance(enabled, bool):
        raise ValidationError("enabled must be true or false.", field="enabled")
    return EndpointFields(check_url(body, allow_private) if "url" in body else None,
                          check_events(body) if "events" in body else None,
                          (check_text(body, "description", DESCRIPTION_MAX) or "")
                          if "description" in body else None,
                          enabled)


def _iso(at: datetime | None) -> str | None:
    return iso(at) if at else None


def endpoint_json(row: WebhookEndpoint) -> dict[str, Any]:
    """An endpoint as the API shows it (never its secret, but on creation)."""
    return {"id": row.id, "url": row.url, "events": row.events,
            "description": row.description, "mode": row.mode,
            "created_at": iso(row.created_at), "disabled_at": _iso(row.disabled_at),
            "consecutive_failures": row.consecutive_failures}


def delivery_json(row: WebhookDelivery, event: WebhookEvent) -> dict[str, Any]:
    """A delivery as the log shows it; webhook_id is its Chatdock-Webhook-Id header."""
    return {"id": row.id, "webhook_id": f"whd_{row.id}", "endpoint_id": row.endpoint_id,
            "event_id": f"evt_{event.id}", "type": event.type, "status": row.status,
            "attempts": row.attempts, "last_status_code": row.last_status_code,
            "last_error": row.last_error, "next_attempt_at": _iso(row.next_attempt_at),
            "created_at": iso(row.created_at), "delivered_at": _iso(row.delivered_at)}


def event_body(event: WebhookEvent) -> dict[str, Any]:
    """What the receiver gets: the event, as it was when it happened."""
    return {"id": f"evt_{event.id}", "type": event.type, "created_at": iso(event.created_at),
            "business_id": event.business_id, "mode": event.mode, "data": event.payload}


# ---------- the outbox ------------------------------------------------------


def enqueue(session: Session, business_id: int, mode: str, type: str,
            data: dict[str, Any]) -> None:
    """Record an event and a pending delivery for each enabled endpoint of this business and
    mode that wants it, in the caller's transaction (nothing when no endpoint does)."""
    targets = [e for e in session.scalars(select(WebhookEndpoint).where(
        WebhookEndpoint.business_id == business_id, WebhookEndpoint.mode == mode,
        WebhookEndpoint.disabled_at.is_(None))) if ALL in e.events or type in e.events]
    if targets:
        _record(session, business_id, mode, type, data, targets)


def _record(session: Session, business_id: int, mode: str, type: str, data: dict[str, Any],
            targets: list[WebhookEndpoint]) -> tuple[WebhookEvent, list[WebhookDelivery]]:
    event = WebhookEvent(business_id=business_id, mode=mode, type=type, payload=data,
                         created_at=utcnow())
    session.add(event)
    session.flush()
    deliveries = [WebhookDelivery(endpoint_id=e.id, event_id=event.id, status="pending",
                                  attempts=0, next_attempt_at=event.created_at,
                                  created_at=event.created_at) for e in targets]
    session.add_all(deliveries)
    session.flush()
    session.info[QUEUED] = True  # once committed, this process's delivery thread wakes
    return event, deliveries


# ---------- endpoints -----------------------------------------------------


def new_secret() -> str:
    """A signing secret: whsec_ and 32 random bytes."""
    return "whsec_" + secrets.token_urlsafe(32)


def do_create(session: Session, business_id: int, mode: str,
              new: EndpointFields) -> dict[str, Any]:
    """Add an endpoint; the answer carries its secret, this once."""
    held = session.scalar(select(func.count()).select_from(WebhookEndpoint).where(
        WebhookEndpoint.business_id == business_id, WebhookEndpoint.mode == mode)) or 0
    if held >= MAX_PER_BUSINESS:
        raise ValidationError(f"A business holds at most {MAX_PER_BUSINESS} webhook "
                              "endpoints per mode; delete one first.")
    row = WebhookEndpoint(business_id=business_id, mode=mode, url=new.url, events=new.events,
                          description=new.description, secret=new_secret(),
                          created_at=utcnow(), consecutive_failures=0)
    session.add(row)
    session.flush()
    return {**endpoint_json(row), "secret": row.secret}


def find_endpoint(session: Session, business_id: int, mode: str,
                  endpoint_id: int) -> WebhookEndpoint:
    """This business and mode's endpoint, else 404."""
    row = session.get(WebhookEndpoint, endpoint_id)
    if row is None or row.business_id != business_id or row.mode != mode:
        raise NotFound("No such webhook endpoint.")
    return row


def list_endpoints(session: Session, business_id: int, mode: str) -> list[dict[str, Any]]:
    """The business's endpoints in this mode, oldest first."""
    rows = session.scalars(select(WebhookEndpoint).where(
        WebhookEndpoint.business_id == business_id, WebhookEndpoint.mode == mode)
        .order_by(WebhookEndpoint.id))
    return [endpoint_json(r) for r in rows]


def do_update(session: Session, business_id: int, mode: str, endpoint_id: int,
              changes: EndpointFields) -> dict[str, Any]:
    """Change url / events / description; enabled=true re-enables (failures reset)."""
    row = find_endpoint(session, business_id, mode, endpoint_id)
    if changes.url is not None:
        row.url = changes.url
    if changes.events is not None:
        row.events = changes.events
    if changes.description is not None:
        row.description = changes.description or None
    if changes.enabled is True:
        row.disabled_at, row.consecutive_failures = None, 0
    elif changes.enabled is False and row.disabled_at is None:
        row.disabled_at = utcnow()
    session.flush()
    return endpoint_json(row)


def do_delete(session: Session, business_id: int, mode: str, endpoint_id: int) -> None:
    """Delete an endpoint and its delivery log."""
    row = find_endpoint(session, business_id, mode, endpoint_id)
    for delivery in session.scalars(select(WebhookDelivery)
                                    .where(WebhookDelivery.endpoint_id == row.id)):
        session.delete(delivery)
    session.flush()
    session.delete(row)
    session.flush()


def do_send_test(session: Session, business_id: int, mode: str,
                 endpoint_id: int) -> dict[str, Any]:
    """Queue a webhook.test event for this endpoint alone (even if it does not list it)."""
    row = find_endpoint(session, business_id, mode, endpoint_id)
    if row.disabled_at is not None:
        raise ValidationError("This endpoint is disabled; enable it first (PATCH enabled).")
    event, deliveries = _record(session, business_id, mode, "webhook.test",
                                {"endpoint_id": row.id}, [row])
    return delivery_json(deliveries[0], event)


# ---------- the delivery log ---------------------------------------------


def list_deliveries(session: Session, business_id: int, mode: str, endpoint_id: int,
                    page: int, per_page: int) -> tuple[list[dict[str, Any]], int]:
    """A page of an endpoint's deliveries, newest first, and how many there are."""
    row = find_endpoint(session, business_id, mode, endpoint_id)
    total = session.scalar(select(func.count()).select_from(WebhookDelivery)
                           .where(WebhookDelivery.endpoint_id == row.id)) or 0
    rows = session.execute(
        select(WebhookDelivery, WebhookEvent)
        .join(WebhookEvent, WebhookEvent.id == WebhookDelivery.event_id)
        .where(WebhookDelivery.endpoint_id == row.id)
        .order_by(WebhookDelivery.id.desc())
        .offset((page - 1) * per_page).limit(per_page))
    return [delivery_json(d, e) for d, e in rows], total


def do_retry(session: Session, business_id: int, mode: str, endpoint_id: int,
             delivery_id: int) -> dict[str, Any]:
    """Make a delivery due now (one more attempt; a failed one is pending again)."""
    find_endpoint(session, business_id, mode, endpoint_id)
    delivery = session.get(WebhookDelivery, delivery_id)
    if delivery is None or delivery.endpoint_id != endpoint_id:
        raise NotFound("No such delivery.")
    if delivery.status == "succeeded":
        raise ValidationError("This delivery succeeded; there is nothing to retry.")
    delivery.status, delivery.next_attempt_at = "pending", utcnow()
    session.flush()
    session.info[QUEUED] = True
    event = session.get(WebhookEvent, delivery.event_id)
    return delivery_json(delivery, event)  # type: ignore[arg-type]


# ---------- attempts (server/webhook_worker.py) -----------------------------


def claim_due(session: Session, now: datetime
              ) -> tuple[WebhookDelivery, WebhookEndpoint, WebhookEvent] | None:
    """Lock the oldest due delivery that heads its endpoint's queue (the oldest pending one
    of an enabled endpoint), skipping rows another process holds (PostgreSQL); with its
    endpoint and event, read in the same query (a delivery is one serial step of its
    endpoint's queue: every round trip here is one less delivery per second)."""
    heads = (select(func.min(WebhookDelivery.id)).where(WebhookDelivery.status == "pending")
             .group_by(WebhookDelivery.endpoint_id))
    row = session.execute(
        select(WebhookDelivery, WebhookEndpoint, WebhookEvent)
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .join(WebhookEvent, WebhookEvent.id == WebhookDelivery.event_id)
        .where(WebhookDelivery.id.in_(heads), WebhookDelivery.status == "pending",
               WebhookDelivery.next_attempt_at <= now, WebhookEndpoint.disabled_at.is_(None))
        .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
        .limit(1).with_for_update(of=WebhookDelivery, skip_locked=True)).first()
    return None if row is None else (row[0], row[1], row[2])


def claim_batch(session: Session, now: datetime, limit: int
                ) -> list[tuple[WebhookDelivery, WebhookEndpoint, WebhookEvent]]:
    """The due head delivery (claim_due) and, locked with it, up to limit-1 of its
    endpoint's next pending deliveries in order, cut at the first one not yet due: one
    query for a run of the queue instead of one per delivery."""
    head = claim_due(session, now)
    if head is None:
        return []
    delivery, endpoint, _event = head
    following = session.execute(
        select(WebhookDelivery, WebhookEvent)
        .join(WebhookEvent, WebhookEvent.id == WebhookDelivery.event_id)
        .where(WebhookDelivery.endpoint_id == endpoint.id, WebhookDelivery.id > delivery.id,
               WebhookDelivery.status == "pending")
        .order_by(WebhookDelivery.id).limit(limit - 1)
        .with_for_update(of=WebhookDelivery))  # no one else claims behind a locked head
    batch = [head]
    for later, event in following:
        if later.next_attempt_at is None or later.next_attempt_at > now:
            break  # order: nothing after a delivery that is not due
        batch.append((later, endpoint, event))
    return batch


def attempted(session: Session, delivery_ids: list[int]
              ) -> dict[int, tuple[WebhookDelivery, WebhookEndpoint]]:
    """Claimed deliveries and their endpoints by id, to record attempts (a deleted one is
    absent)."""
    rows = session.execute(
        select(WebhookDelivery, WebhookEndpoint)
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .where(WebhookDelivery.id.in_(delivery_ids)))
    return {d.id: (d, e) for d, e in rows}


def record_success(delivery: WebhookDelivery, endpoint: WebhookEndpoint, status: int) -> None:
    """A 2xx: delivered; the endpoint's run of failures ends."""
    now = utcnow()
    delivery.status, delivery.delivered_at, delivery.next_attempt_at = "succeeded", now, None
    delivery.attempts += 1
    delivery.last_status_code, delivery.last_error = status, None
    endpoint.consecutive_failures = 0


def record_failure(delivery: WebhookDelivery, endpoint: WebhookEndpoint, status: int | None,
                   error: str, schedule: list[int], disable_after: int) -> None:
    """Not delivered: retry on the schedule, or fail it (and disable the endpoint after
    disable_after failed deliveries in a row)."""
    now = utcnow()
    delivery.attempts += 1
    delivery.last_status_code, delivery.last_error = status, error[:ERROR_MAX]
    if delivery.attempts <= len(schedule):
        delivery.next_attempt_at = now + timedelta(seconds=schedule[delivery.attempts - 1])
        return
    delivery.status, delivery.next_attempt_at = "failed", None
    endpoint.consecutive_failures += 1
    if disable_after and endpoint.consecutive_failures >= disable_after \
            and endpoint.disabled_at is None:
        endpoint.disabled_at = now
        log.warning("webhook endpoint %s disabled after %s failed deliveries in a row",
                    endpoint.id, endpoint.consecutive_failures)
