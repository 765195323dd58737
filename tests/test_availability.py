"""Availability: business hours (GET/PUT /availability), status(), /chat/config's block."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from server.db import session_scope
from server.models import BusinessHours
from server.services.availability import ALWAYS_OPEN, DAYS, Availability, Settings, status
from tests.conftest import agent_token, auth, start_visitor
from tests.pusher import PusherTestClient

API = "/api/v1/availability"
WEEKDAYS = {day: [["09:00", "17:30"]] for day in DAYS[:5]}


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


def hours(tz: str, week: dict[str, list[list[str]]]) -> Settings:
    return Settings(timezone=tz, hours=week)


# ---------- status(): the pure function ------------------------------------------------------

BERLIN_9_TO_5 = hours("Europe/Berlin", WEEKDAYS)
NY_9_TO_5 = hours("America/New_York", WEEKDAYS)


@pytest.mark.parametrize("settings,now,expected", [
    # Berlin in winter is UTC+1: Monday 2026-12-07 09:00 local = 08:00 UTC
    (BERLIN_9_TO_5, "2026-12-07T07:59:59", Availability(False, utc("2026-12-07T08:00:00"))),
    (BERLIN_9_TO_5, "2026-12-07T08:00:00", Availability(True, None)),
    (BERLIN_9_TO_5, "2026-12-07T16:29:59", Availability(True, None)),
    # 17:30 is the end: closed from then on, back Tuesday 09:00
    (BERLIN_9_TO_5, "2026-12-07T16:30:00", Availability(False, utc("2026-12-08T08:00:00"))),
    # Friday evening: back Monday
    (BERLIN_9_TO_5, "2026-12-11T18:00:00", Availability(False, utc("2026-12-14T08:00:00"))),
    # DST starts in Berlin on Sunday 2026-03-29: Monday 09:00 is UTC+2 (07:00 UTC), and the
    # Friday before was UTC+1
    (BERLIN_9_TO_5, "2026-03-27T17:00:00", Availability(False, utc("2026-03-30T07:00:00"))),
    (BERLIN_9_TO_5, "2026-03-30T07:00:00", Availability(True, None)),
    (BERLIN_9_TO_5, "2026-03-30T06:59:00", Availability(False, utc("2026-03-30T07:00:00"))),
    # DST ends in Berlin on Sunday 2026-10-25: Monday 09:00 is back to 08:00 UTC
    (BERLIN_9_TO_5, "2026-10-23T16:00:00", Availability(False, utc("2026-10-26T08:00:00"))),
    # New York: DST starts Sunday 2026-03-08 (EST -5 -> EDT -4), ends Sunday 2026-11-01
    (NY_9_TO_5, "2026-03-06T23:00:00", Availability(False, utc("2026-03-09T13:00:00"))),
    (NY_9_TO_5, "2026-03-09T13:00:00", Availability(True, None)),
    (NY_9_TO_5, "2026-10-30T22:00:00", Availability(False, utc("2026-11-02T14:00:00"))),
    (NY_9_TO_5, "2026-11-02T13:59:00", Availability(False, utc("2026-11-02T14:00:00"))),
    (NY_9_TO_5, "2026-11-02T14:00:00", Availability(True, None)),
])
def test_status_follows_the_wall_clock_across_dst(settings: Settings, now: str,
                                                  expected: Availability) -> None:
    assert status(settings, utc(now)) == expected


# ranges on the switch days themselves (Sunday hours)
SUNDAY_NIGHT = {"sun": [["02:30", "04:00"]]}


@pytest.mark.parametrize("tz,now,expected", [
    # Berlin 2026-03-29: 02:00-03:00 does not exist (01:00 UTC jumps to 03:00 CEST); a range
    # starting at 02:30 opens at the switch
    ("Europe/Berlin", "2026-03-29T00:30:00", Availability(False, utc("2026-03-29T01:00:00"))),
    ("Europe/Berlin", "2026-03-29T01:00:00", Availability(True, None)),
    ("Europe/Berlin", "2026-03-29T01:59:00", Availability(True, None)),
    ("Europe/Berlin", "2026-03-29T02:00:00", Availability(False, utc("2026-04-05T00:30:00"))),
    # Berlin 2026-10-25: 02:00-03:00 happens twice; 02:30 first happens at 00:30 UTC (CEST), and
    # the range is open through both passes until 04:00 CET = 03:00 UTC
    ("Europe/Berlin", "2026-10-25T00:00:00", Availability(False, utc("2026-10-25T00:30:00"))),
    ("Europe/Berlin", "2026-10-25T00:45:00", Availability(True, None)),
    ("Europe/Berlin", "2026-10-25T02:59:00", Availability(True, None)),
    ("Europe/Berlin", "2026-10-25T03:00:00", Availability(False, utc("2026-11-01T01:30:00"))),
    # New York 2026-03-08: 02:00-03:00 EST does not exist; opens at the switch (07:00 UTC)
    ("America/New_York", "2026-03-08T06:00:00",
     Availability(False, utc("2026-03-08T07:00:00"))),
    ("America/New_York", "2026-03-08T07:00:00", Availability(True, None)),
])
def test_ranges_on_a_dst_switch_day(tz: str, now: str, expected: Availability) -> None:
    assert status(hours(tz, SUNDAY_NIGHT), utc(now)) == expected


def test_a_night_shift_is_split_at_midnight_and_stays_open() -> None:
    night = hours("Europe/Berlin", {"mon": [["22:00", "24:00"]], "tue": [["00:00", "02:00"]]})
    assert status(night, utc("2026-12-07T22:59:59")) == Availability(True, None)  # 23:59:59
    assert status(night, utc("2026-12-07T23:00:00")) == Availability(True, None)  # Tue 00:00
    assert status(night, utc("2026-12-08T01:00:00")) == Availability(
        False, utc("2026-12-14T21:00:00"))


def test_earlier_hours_today_are_next_week() -> None:
    monday_morning = hours("UTC", {"mon": [["09:00", "10:00"]]})
    assert status(monday_morning, utc("2026-12-07T11:00:00")) == Availability(
        False, utc("2026-12-14T09:00:00"))


def test_a_week_without_hours_never_opens() -> None:
    assert status(hours("Europe/Berlin", {}), utc("2026-12-07T12:00:00")) == Availability(
        False, None)


def test_never_set_is_always_open() -> None:
    for now in ("2026-12-07T00:00:00", "2026-12-13T23:59:59", "2026-03-29T01:30:00"):
        assert status(ALWAYS_OPEN, utc(now)) == Availability(True, None)


# ---------- GET / PUT /availability ----------------------------------------------------------


def test_defaults_then_update_round_trips(client: Any, biz: dict[str, Any]) -> None:
    got = client.get(API, headers=auth(biz["sk"]))
    assert got.status_code == 200
    assert got.get_json()["data"] == {
        "business_id": biz["id"], "timezone": "UTC", "offline_message": "",
        "hours": {day: [["00:00", "24:00"]] for day in DAYS}}
    resp = client.put(API, json={"timezone": "Europe/Berlin", "offline_message": " Back soon! ",
                                 "hours": {"mon": [["13:00", "17:30"], ["09:00", "12:00"]],
                                           "sat": []}},
                      headers=auth(biz["sk"]))
    assert resp.status_code == 200, resp.get_json()
    data = resp.get_json()["data"]
    assert data["timezone"] == "Europe/Berlin" and data["offline_message"] == "Back soon!"
    assert data["hours"]["mon"] == [["09:00", "12:00"], ["13:00", "17:30"]]  # sorted
    assert data["hours"]["tue"] == [] and set(data["hours"]) == set(DAYS)  # missing: closed
    # partial: only the message changes
    again = client.put(API, json={"offline_message": "Closed"}, headers=auth(biz["sk"]))
    assert again.get_json()["data"] == {**data, "offline_message": "Closed"}
    assert client.get(API, headers=auth(biz["sk"])).get_json()["data"] == {
        **data, "offline_message": "Closed"}


@pytest.mark.parametrize("body,message", [
    ({"timezone": "Mars/Olympus"}, "not a known IANA timezone"),
    ({"timezone": "../../etc/passwd"}, "not a known IANA timezone"),
    ({"timezone": "zone.tab"}, "not a known IANA timezone"),  # in the folder, not a zone
    ({"timezone": "localtime"}, "not a known IANA timezone"),  # the server's, not a place
    ({"timezone": ""}, "IANA timezone name"),
    ({"timezone": 3}, "IANA timezone name"),
    ({"hours": []}, "object of weekdays"),
    ({"hours": {"monday": []}}, "unknown day"),
    ({"hours": {"mon": "09:00-17:00"}}, "list of ranges"),
    ({"hours": {"mon": [["9:00", "17:00"]]}}, "pair of times"),
    ({"hours": {"mon": [["09:00", "25:00"]]}}, "pair of times"),
    ({"hours": {"mon": [["09:00"]]}}, "pair of times"),
    ({"hours": {"mon": [["17:00", "09:00"]]}}, "start before it ends"),
    ({"hours": {"mon": [["22:00", "02:00"]]}}, "do not cross midnight"),
    ({"hours": {"mon": [["09:00", "09:00"]]}}, "start before it ends"),
    ({"hours": {"mon": [["24:00", "24:00"]]}}, "starts at 24:00"),
    ({"hours": {"mon": [["09:00", "12:00"], ["11:00", "13:00"]]}}, "overlapping"),
    ({"hours": {"mon": [[f"0{i}:00", f"0{i}:30"] for i in range(5)]}}, "more than 4"),
    ({"offline_message": "x" * 501}, "longer than 500"),
    ({"offline_message": None}, "must be a string"),
    ({"open": True}, "Unknown field"),
])
def test_bad_input_is_400_and_changes_nothing(client: Any, app: Any, biz: dict[str, Any],
                                              body: dict[str, Any], message: str) -> None:
    resp = client.put(API, json={"offline_message": "kept?", **body}, headers=auth(biz["sk"]))
    assert resp.status_code == 400
    error = resp.get_json()
    assert error["error"] == "validation_error" and message in error["message"], error
    assert error["field"] in ("timezone", "hours", "offline_message", "open")
    with session_scope(app) as s:
        assert s.scalar(select(func.count()).select_from(BusinessHours)) == 0


def test_touching_ranges_are_not_an_overlap(client: Any, biz: dict[str, Any]) -> None:
    resp = client.put(API, json={"hours": {"fri": [["09:00", "12:00"], ["12:00", "24:00"]]}},
                      headers=auth(biz["sk"]))
    assert resp.status_code == 200
    assert resp.get_json()["data"]["hours"]["fri"] == [["09:00", "12:00"], ["12:00", "24:00"]]


def test_agents_read_owners_write(client: Any, app: Any, biz: dict[str, Any]) -> None:
    agent = agent_token(app, biz["id"])
    assert client.get(API, headers=auth(agent)).status_code == 200
    refused = client.put(API, json={"offline_message": "Mine"}, headers=auth(agent))
    assert refused.status_code == 403 and refused.get_json()["error"] == "insufficient_scope"
    owner = agent_token(app, biz["id"], role="owner")
    assert client.put(API, json={"offline_message": "Ours"},
                      headers=auth(owner)).status_code == 200
    assert client.get(API, headers=auth(biz["pk"])).status_code == 401


def test_live_and_test_share_the_hours(client: Any, app: Any, biz: dict[str, Any]) -> None:
    owner_live = agent_token(app, biz["id"], role="owner", mode="live")
    client.put(API, json={"timezone": "Asia/Tokyo"}, headers=auth(owner_live))
    assert client.get(API, headers=auth(biz["sk"])).get_json()["data"]["timezone"] == (
        "Asia/Tokyo")


# ---------- /chat/config ---------------------------------------------------------------------


def config(client: Any, pk: str) -> dict[str, Any]:
    resp = client.get("/api/v1/chat/config", headers=auth(pk))
    assert resp.status_code == 200
    return resp.get_json()["data"]  # type: ignore[no-any-return]


def test_config_is_open_for_a_business_that_never_set_hours(client: Any,
                                                            biz: dict[str, Any]) -> None:
    data = config(client, biz["pk"])
    assert data["availability"] == {"open": True, "next_open_at": None, "offline_message": ""}
    assert data["presence"] == {"agents_online": 0}  # unchanged beside it


def test_config_says_closed_and_when_it_opens(client: Any, biz: dict[str, Any]) -> None:
    client.put(API, json={"timezone": "UTC", "offline_message": "We're away", "hours": {}},
               headers=auth(biz["sk"]))
    before = client.get("/api/v1/chat/config", headers=auth(biz["pk"]))
    assert before.get_json()["data"]["availability"] == {
        "open": False, "next_open_at": None, "offline_message": "We're away"}
    now = datetime.now(timezone.utc)
    tomorrow = DAYS[(now.weekday() + 1) % 7]  # only tomorrow: closed all of today
    client.put(API, json={"hours": {tomorrow: [["09:00", "17:00"]]}}, headers=auth(biz["sk"]))
    after = client.get("/api/v1/chat/config",
                       headers=auth(biz["pk"], **{"If-None-Match": before.headers["ETag"]}))
    assert after.status_code == 200  # the ETag covers availability
    block = after.get_json()["data"]["availability"]
    assert block["open"] is False and block["offline_message"] == "We're away"
    assert block["next_open_at"].endswith(":00.000Z")
    opens = datetime.fromisoformat(block["next_open_at"].replace("Z", "+00:00"))
    assert opens.date() == (now + timedelta(days=1)).date() and (opens.hour, opens.minute) == (
        9, 0)


def test_visitors_connected_are_told_of_new_hours_at_once(live: str,
                                                          biz: dict[str, Any]) -> None:
    """AvailabilityUpdated on the visitor's channel: once after subscribing (what
    /chat/config says), then whenever the block changes (saved hours here; opening or
    closing time alike), with /chat/config's exact availability block."""
    started = start_visitor(live, biz["pk"], "hours-watcher")
    visitor = PusherTestClient.for_session(started)
    try:
        visitor.subscribe_session(started, biz["pk"])
        first = visitor.expect("AvailabilityUpdated", timeout=6)
        assert first["data"] == {"open": True, "next_open_at": None, "offline_message": ""}
        tomorrow = DAYS[(datetime.now(timezone.utc).weekday() + 1) % 7]
        saved = httpx.put(f"{live}/api/v1/availability", headers=auth(biz["sk"]), json={
            "timezone": "UTC", "offline_message": "Back tomorrow.",
            "hours": {tomorrow: [["09:00", "17:00"]]}})
        assert saved.status_code == 200, saved.text
        told = visitor.expect("AvailabilityUpdated", timeout=6)["data"]
        config = httpx.get(f"{live}/api/v1/chat/config", headers=auth(biz["pk"])).json()
        assert told == config["data"]["availability"]
        assert told["open"] is False and told["offline_message"] == "Back tomorrow."
        assert told["next_open_at"].endswith("T09:00:00.000Z")
        assert visitor.quiet(3)  # said once, not every poll
    finally:
        visitor.close()
