"""Analytics ingest: the events a visitor's app tracks (Tickki SDK 0.2 TickkiAnalytics).

The SDK posts `{visitor_id, events: [...]}` with the publishable key alone; a batch is
checked whole before anything is stored, so a bad event refuses the batch (400 naming its
index) and the SDK's re-queue sends nothing twice.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import ColumnElement, insert, or_, select
from sqlalchemy.orm import Session

from server.errors import ValidationError
from server.models import AnalyticsEvent, Contact, utcnow
from server.validation import check_required_text, check_text
from server.visitor_ids import VISITOR_ID_MAX
from server.wire import decode_id_cursor, encode_id_cursor, iso

MAX_EVENTS = 50  # per batch: the SDK's maxBatchSize
TYPE_RE = re.compile(r"[A-Za-z0-9_.:-]+")
TYPE_MAX = 64
TEXT_FIELDS = {"title": 500, "url": 2048, "element_label": 200, "element_type": 64,
               "element_key": 200}
VALUE_MAX = 500  # characters of a string value
META_MAX_BYTES = 4096  # of the meta object as compact JSON
EARLIEST = datetime(1970, 1, 1, tzinfo=timezone.utc)  # a device with a reset clock says 1970
MAX_FUTURE = timedelta(days=1)  # a device clock may be wrong; a week ahead is not a clock
EVENTS_CURSOR = "a"


def check_batch(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The batch's events, checked (400 naming `events` or `events[i].<field>`)."""
    events = body.get("events")
    if not isinstance(events, list) or not 1 <= len(events) <= MAX_EVENTS:
        raise ValidationError(f"events must be a list of 1 to {MAX_EVENTS} events.",
                              field="events")
    return [_indexed(i, event) for i, event in enumerate(events)]


def _indexed(index: int, event: Any) -> dict[str, Any]:
    """check_event, its error's field prefixed with the event's place in the batch."""
    where = f"events[{index}]"
    if not isinstance(event, dict):
        raise ValidationError(f"{where} must be an object.", field=where)
    try:
        return check_event(event)
    except ValidationError as e:
        raise ValidationError(f"{where}.{e.message}", field=f"{where}.{e.field}") from None


def check_event(event: dict[str, Any]) -> dict[str, Any]:
    """One event's stored columns (400 naming the field)."""
    out = {"type": check_required_text(event, "type", TYPE_MAX, pattern=TYPE_RE),
           "occurred_at": check_occurred_at(event.get("occurred_at")),
           "value": check_value(event.get("value")), "meta": check_meta(event.get("meta"))}
    return out | {name: check_text(event, name, limit) for name, limit in TEXT_FIELDS.items()}


def parse_time(raw: Any, field: str) -> datetime:
    """An ISO 8601 time (UTC when it names no offset), in UTC, or 400 naming the field."""
    try:
        when = datetime.fromisoformat(raw) if isinstance(raw, str) else None
        if when is not None:
            when = (when if when.tzinfo else when.replace(tzinfo=timezone.utc)
                    ).astimezone(timezone.utc)
    except (ValueError, OverflowError):  # OverflowError: year 1 at +14:00 is year 0 in UTC
        when = None
    if when is None:
        raise ValidationError(f"{field} must be an ISO 8601 time.", field=field)
    return when


def check_occurred_at(raw: Any) -> datetime:
    """When the event happened: an ISO 8601 time from 1970 to a day ahead of our clock."""
    when = parse_time(raw, "occurred_at")
    if when < EARLIEST:
        raise ValidationError("occurred_at is before 1970.", field="occurred_at")
    if when > utcnow() + MAX_FUTURE:
        raise ValidationError("occurred_at is more than a day in the future.",
                              field="occurred_at")
    return when


def check_value(value: Any) -> float | int | str | None:
    """A finite number or a string of at most VALUE_MAX characters (or absent)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValidationError("value must be a number or a string.", field="value")
    if isinstance(value, str) and len(value) > VALUE_MAX:
        raise ValidationError(f"value is longer than {VALUE_MAX} characters.", field="value")
    if isinstance(value, float) and not math.isfinite(value) or (
            isinstance(value, int) and abs(value) > 2**53):
        raise ValidationError("value is not a number JSON can carry.", field="value")
    return value


def check_meta(meta: Any) -> dict[str, Any] | None:
    """An object of at most META_MAX_BYTES as JSON (or absent)."""
    if meta is None:
        return None
    if not isinstance(meta, dict):
        raise ValidationError("meta must be an object.", field="meta")
    size = len(json.dumps(meta, separators=(",", ":"), ensure_ascii=False).encode())
    if size > META_MAX_BYTES:
        raise ValidationError(f"meta is larger than {META_MAX_BYTES} bytes as JSON.",
                              field="meta")
    return meta


def do_ingest(session: Session, business_id: int, mode: str, visitor_id: str,
              events: list[dict[str, Any]]) -> int:
    """Store a checked batch for this visitor (and their contact, if known); its size."""
    contact_id = session.scalar(select(Contact.id).where(
        Contact.business_id == business_id, Contact.mode == mode,
        Contact.visitor_id == visitor_id))
    received = utcnow()
    session.execute(insert(AnalyticsEvent), [
        {**e, "business_id": business_id, "mode": mode, "visitor_id": visitor_id,
         "contact_id": contact_id, "received_at": received} for e in events])
    return len(events)


@dataclass(frozen=True)
class EventFilters:
    """The list's filters; contact_id means that contact's visitor id (so events its app sent
    before the first chat count too), and a contact of another business or mode matches
    nothing."""

    visitor_id: str | None = None
    contact_id: int | None = None
    type: str | None = None
    since: datetime | None = None


def check_filters(args: dict[str, Any], contact_id: int | None) -> EventFilters:
    """The list's filters from the query string (400 naming a bad one)."""
    since = args.get("since")
    return EventFilters(visitor_id=check_text(args, "visitor_id", VISITOR_ID_MAX),
                        contact_id=contact_id,
                        type=check_text(args, "type", TYPE_MAX, pattern=TYPE_RE),
                        since=parse_time(since, "since") if since else None)


def event_json(e: AnalyticsEvent) -> dict[str, Any]:
    return {"id": e.id, "visitor_id": e.visitor_id, "contact_id": e.contact_id, "type": e.type,
            "occurred_at": iso(e.occurred_at), "received_at": iso(e.received_at),
            "title": e.title, "url": e.url, "element_label": e.element_label,
            "element_type": e.element_type, "element_key": e.element_key, "value": e.value,
            "meta": e.meta}


def list_events(session: Session, business_id: int, mode: str, filters: EventFilters,
                cursor: str | None, per_page: int) -> tuple[list[dict[str, Any]], str | None]:
    """A page of events newest first (by arrival), and the next page's cursor."""
    query = select(AnalyticsEvent).where(AnalyticsEvent.business_id == business_id,
                                         AnalyticsEvent.mode == mode)
    if filters.contact_id is not None:  # by the contact's visitor id: earlier events count
        query = query.where(AnalyticsEvent.visitor_id == select(Contact.visitor_id).where(
            Contact.id == filters.contact_id, Contact.business_id == business_id,
            Contact.mode == mode).scalar_subquery())
    if filters.visitor_id:
        query = query.where(AnalyticsEvent.visitor_id == filters.visitor_id)
    if filters.type:
        query = query.where(AnalyticsEvent.type == filters.type)
    if filters.since:
        query = query.where(AnalyticsEvent.occurred_at >= filters.since)
    if cursor:
        query = query.where(AnalyticsEvent.id < decode_id_cursor(cursor, EVENTS_CURSOR))
    rows = list(session.scalars(query.order_by(AnalyticsEvent.id.desc()).limit(per_page + 1)))
    page = [event_json(e) for e in rows[:per_page]]
    more = len(rows) > per_page
    return page, encode_id_cursor(EVENTS_CURSOR, page[-1]["id"]) if more else None


def of_contact(contact: Contact) -> ColumnElement[bool]:
    """A contact's events: those stored with it, and those its visitor id sent before it
    existed (for the export and the erasure alike)."""
    return (AnalyticsEvent.business_id == contact.business_id) & or_(
        AnalyticsEvent.contact_id == contact.id,
        (AnalyticsEvent.mode == contact.mode) & (AnalyticsEvent.visitor_id == contact.visitor_id))
