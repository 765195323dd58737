"""Availability: a business's weekly hours in its own timezone, and whether it is open now.

Hours are wall-clock times in the business's IANA timezone, one list of ranges per weekday:
`{"mon": [["09:00", "17:30"]], ..., "sun": []}`. A range never crosses midnight: "24:00" ends
one at midnight, so a night shift is `mon: [["22:00", "24:00"]], tue: [["00:00", "02:00"]]`
(open throughout). A missing day is closed. Daylight-saving switches follow the wall clock
(zoneinfo): on a fall-back night the repeated hour is open both times it happens when a range
covers it, and a range that starts in a spring-forward gap opens at the switch. A business
that never set hours is always open (`ALWAYS_OPEN`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, Protocol, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Table, bindparam, select
from sqlalchemy.orm import Session

from server.db import connection
from server.errors import NotFound, ValidationError
from server.models import Business, BusinessHours, utcnow
from server.wire import iso

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # date.weekday() order
FIELDS = ("timezone", "hours", "offline_message")
MAX_RANGES, MAX_OFFLINE, MAX_TIMEZONE = 4, 500, 64
DAY_MINUTES = 24 * 60
# "24:00" is only an end (midnight at the close of the day)
HHMM = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])|24:00")


class HoursLike(Protocol):
    """What status() reads: a BusinessHours row or a Settings record."""

    @property
    def timezone(self) -> str: ...

    @property
    def hours(self) -> dict[str, list[list[str]]]: ...


@dataclass(frozen=True)
class Settings:
    """A business's availability settings (what GET /availability answers)."""

    timezone: str = "UTC"
    hours: dict[str, list[list[str]]] = field(
        default_factory=lambda: {day: [["00:00", "24:00"]] for day in DAYS})
    offline_message: str = ""


ALWAYS_OPEN = Settings()


@dataclass(frozen=True)
class Availability:
    """Open now, or closed until next_open_at (None: no hours at all in the week)."""

    open: bool
    next_open_at: datetime | None


# ---------- the pure part ---------------------------------------------------------------


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


def _opens_at(day: date, start: int, zone: ZoneInfo) -> datetime:
    """The first instant (UTC) the wall clock of `day` in zone shows `start` minutes or later."""
    wall = datetime.combine(day, time(start // 60, start % 60))
    instant = wall.replace(tzinfo=zone, fold=0).astimezone(timezone.utc)
    if instant.astimezone(zone).replace(tzinfo=None) == wall:
        return instant  # an existing (or, on a fall-back night, the first repeated) time
    # In a spring-forward gap fold=0 lands past the switch; the switch is within the gap's
    # length before it, at a whole minute: the earliest minute whose wall clock is >= start.
    low, high = instant - timedelta(hours=3), instant
    while high - low > timedelta(minutes=1):
        mid = low + (high - low) / 2
        mid = mid.replace(second=0, microsecond=0)
        if mid.astimezone(zone).replace(tzinfo=None) >= wall:
            high = mid
        else:
            low = mid
    return high


def status(settings: HoursLike, now_utc: datetime) -> Availability:
    """Whether the business is open at now_utc and, if closed, when it next opens."""
    zone = ZoneInfo(settings.timezone)
    local = now_utc.astimezone(zone)
    now_minutes = local.hour * 60 + local.minute + local.second / 60
    for start, end in settings.hours.get(DAYS[local.weekday()], []):
        if _minutes(start) <= now_minutes < _minutes(end):
            return Availability(True, None)
    # 8 days: today's later ranges, the next six days, and today's earlier ones a week on
    for ahead in range(8):
        day = local.date() + timedelta(days=ahead)
        for start, _ in settings.hours.get(DAYS[day.weekday()], []):
            opens = _opens_at(day, _minutes(start), zone)
            if opens > now_utc:
                return Availability(False, opens)
    return Availability(False, None)


# ---------- validation ------------------------------------------------------------------


def _timezone(value: Any) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_TIMEZONE:
        raise ValidationError("timezone must be an IANA timezone name like Europe/Berlin.",
                              field="timezone")
    name = value.strip()
    if not _known_zone(name):
        raise ValidationError(f"timezone {value!r} is not a known IANA timezone name.",
                              field="timezone")
    return name


def _known_zone(name: str) -> bool:
    # "localtime" is a file in Debian's tz folder, but it is this server's own setting,
    # not a place
    if name == "localtime":
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # unknown, not a key, not TZif
        return False
    return True


def _range(value: Any, where: str) -> list[str]:
    if (not isinstance(value, list) or len(value) != 2
            or not all(isinstance(v, str) and HHMM.fullmatch(v) for v in value)):
        raise ValidationError(f"{where} must be a pair of times like [\"09:00\", \"17:30\"].",
                              field="hours")
    start, end = value
    if start == "24:00":
        raise ValidationError(f"{where} starts at 24:00: a range starts by 23:59.",
                              field="hours")
    if _minutes(start) >= _minutes(end):
        raise ValidationError(f"{where} must start before it ends (ranges do not cross "
                              "midnight: split one at 24:00).", field="hours")
    return [start, end]


def _day(day: str, value: Any) -> list[list[str]]:
    if not isinstance(value, list):
        raise ValidationError(f"hours.{day} must be a list of ranges.", field="hours")
    if len(value) > MAX_RANGES:
        raise ValidationError(f"hours.{day} has more than {MAX_RANGES} ranges.", field="hours")
    ranges = sorted((_range(r, f"hours.{day}[{i}]") for i, r in enumerate(value)),
                    key=lambda r: _minutes(r[0]))
    for before, after in zip(ranges, ranges[1:], strict=False):
        if _minutes(after[0]) < _minutes(before[1]):
            raise ValidationError(f"hours.{day} has overlapping ranges ({before[0]}-"
                                  f"{before[1]} and {after[0]}-{after[1]}).", field="hours")
    return ranges


def _hours(value: Any) -> dict[str, list[list[str]]]:
    if not isinstance(value, dict):
        raise ValidationError("hours must be an object of weekdays (mon … sun).",
                              field="hours")
    for day in value:
        if day not in DAYS:
            raise ValidationError(f"hours has an unknown day {day!r} (mon … sun).",
                                  field="hours")
    return {day: _day(day, value.get(day, [])) for day in DAYS}


def _offline_message(value: Any) -> str:
    if not isinstance(value, str):
        raise ValidationError("offline_message must be a string.", field="offline_message")
    if len(value.strip()) > MAX_OFFLINE:
        raise ValidationError(f"offline_message is longer than {MAX_OFFLINE} characters.",
                              field="offline_message")
    return value.strip()


def check_availability(body: dict[str, Any]) -> dict[str, Any]:
    """Validate a partial update; unknown fields are refused, a missing day is closed."""
    for name in body:
        if name not in FIELDS:
            raise ValidationError(f"Unknown field {name!r}.", field=name)
    checks = {"timezone": _timezone, "hours": _hours, "offline_message": _offline_message}
    return {name: checks[name](body[name]) for name in FIELDS if name in body}


# ---------- storage ---------------------------------------------------------------------


_HOURS = cast(Table, BusinessHours.__table__)
# a prebuilt Core select: /chat/config reads this on every widget load
_SETTINGS = select(_HOURS.c.timezone, _HOURS.c.hours, _HOURS.c.offline_message).where(
    _HOURS.c.business_id == bindparam("business_id"))


def settings_for(session: Session, business_id: int) -> Settings:
    """The business's settings; ALWAYS_OPEN when it never set any."""
    row = connection(session).execute(_SETTINGS, {"business_id": business_id}).first()
    if row is None:
        return ALWAYS_OPEN
    return Settings(timezone=row.timezone, hours=row.hours, offline_message=row.offline_message)


def config_blocks(session: Session, business_ids: set[int],
                  now_utc: datetime) -> dict[int, dict[str, Any]]:
    """config_block of each business, in one query (the realtime watcher's AvailabilityUpdated:
    every business with visitors connected, every poll)."""
    if not business_ids:
        return {}
    rows = {row.business_id: Settings(row.timezone, row.hours, row.offline_message)
            for row in connection(session).execute(
                select(_HOURS.c.business_id, _HOURS.c.timezone, _HOURS.c.hours,
                       _HOURS.c.offline_message).where(_HOURS.c.business_id.in_(business_ids)))}
    return {b: config_block(rows.get(b, ALWAYS_OPEN), now_utc) for b in business_ids}


def get_availability(session: Session, business_id: int) -> Settings:
    """The settings of an existing business."""
    if session.get(Business, business_id) is None:
        raise NotFound("No such business.")
    return settings_for(session, business_id)


def do_update_availability(session: Session, business_id: int,
                           changes: dict[str, Any]) -> Settings:
    """Apply validated changes (the first one stores the always-open defaults first)."""
    current = get_availability(session, business_id)
    row = session.get(BusinessHours, business_id)
    if row is None:
        row = BusinessHours(business_id=business_id, timezone=current.timezone,
                            hours=current.hours, offline_message=current.offline_message)
        session.add(row)
    for name, value in changes.items():
        setattr(row, name, value)
    row.updated_at = utcnow()
    session.flush()
    return settings_for(session, business_id)


def settings_json(business_id: int, settings: Settings) -> dict[str, Any]:
    """GET/PUT /availability."""
    return {"business_id": business_id, "timezone": settings.timezone,
            "hours": settings.hours, "offline_message": settings.offline_message}


def config_block(settings: Settings, now_utc: datetime) -> dict[str, Any]:
    """/chat/config's availability: open now, when it next opens, what to say meanwhile."""
    now = status(settings, now_utc)
    return {"open": now.open,
            "next_open_at": None if now.next_open_at is None else iso(now.next_open_at),
            "offline_message": settings.offline_message}
