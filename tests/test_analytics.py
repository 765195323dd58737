"""Analytics ingest: the Tickki SDK's POST /chat/events and the team's GET /analytics/events."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from server import create_app
from server.db import session_scope
from server.models import AnalyticsEvent, utcnow
from server.services.keys import do_create_key, find_business
from server.wire import iso
from tests.conftest import agent_token, auth, make_business

API = "/api/v1"

# TickkiAnalytics.flush() as SDK 0.2 sends it: trackScreen, trackTap, track with a value;
# occurred_at is Dart's DateTime.now().toUtc().toIso8601String() (microseconds and Z).
SDK_BODY = {"visitor_id": "device-42", "events": [
    {"type": "screen_view", "occurred_at": "2026-11-30T09:15:02.123456Z",
     "title": "CheckoutScreen", "url": "tickki://CheckoutScreen"},
    {"type": "tap", "occurred_at": "2026-11-30T09:15:04.500000Z",
     "element_label": "Add to cart", "element_type": "button", "element_key": "add_to_cart_btn",
     "meta": {"product_id": "sku-123"}},
    {"type": "add_to_cart", "occurred_at": "2026-11-30T09:15:04.612000Z", "value": 19.99,
     "meta": {"product_id": "sku-123", "price_cents": 1999}},
]}


def event(**fields: Any) -> dict[str, Any]:
    return {"type": "page_view", "occurred_at": iso(utcnow()), **fields}


def post_events(client: Any, pk: str, events: list[Any], visitor_id: str = "v-1") -> Any:
    return client.post(f"{API}/chat/events", json={"visitor_id": visitor_id, "events": events},
                       headers=auth(pk))


def stored(app: Any) -> int:
    with session_scope(app) as s:
        return int(s.scalar(select(func.count()).select_from(AnalyticsEvent)) or 0)


def listed(client: Any, credential: str, query: str = "") -> Any:
    resp = client.get(f"{API}/analytics/events?{query}", headers=auth(credential))
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return resp.get_json()


def test_the_sdks_exact_body_is_stored_and_listed(app: Any, client: Any,
                                                  biz: dict[str, Any]) -> None:
    raw = json.dumps(SDK_BODY).encode()
    resp = client.post(f"{API}/chat/events", data=raw, headers={
        "Authorization": f"Bearer {biz['pk']}", "Content-Type": "application/json",
        "Accept": "application/json"})
    assert resp.status_code == 202
    assert resp.get_json() == {"data": {"accepted": 3}}
    rows = listed(client, biz["sk"])["data"]
    assert [r["type"] for r in rows] == ["add_to_cart", "tap", "screen_view"]  # newest first
    add, tap, screen = rows
    assert screen["title"] == "CheckoutScreen" and screen["url"] == "tickki://CheckoutScreen"
    assert screen["occurred_at"] == "2026-11-30T09:15:02.123Z"
    assert (tap["element_label"], tap["element_type"], tap["element_key"]) == (
        "Add to cart", "button", "add_to_cart_btn")
    assert add["value"] == 19.99 and add["meta"] == {"product_id": "sku-123",
                                                     "price_cents": 1999}
    assert {r["visitor_id"] for r in rows} == {"device-42"}
    assert {r["contact_id"] for r in rows} == {None}  # no chat yet: no contact


def test_a_known_visitors_events_carry_their_contact(client: Any, biz: dict[str, Any]) -> None:
    client.post(f"{API}/chat/sessions", json={"visitor_id": "v-1"}, headers=auth(biz["pk"]))
    assert post_events(client, biz["pk"], [event()]).status_code == 202
    row = listed(client, biz["sk"])["data"][0]
    contact_id = client.get(f"{API}/contacts?q=v-1", headers=auth(biz["sk"])).get_json()[
        "data"][0]["id"]
    assert row["contact_id"] == contact_id


def test_51_events_are_refused_and_nothing_is_stored(app: Any, client: Any,
                                                     biz: dict[str, Any]) -> None:
    resp = post_events(client, biz["pk"], [event() for _ in range(51)])
    assert resp.status_code == 400
    assert resp.get_json()["error"] == "validation_error"
    assert resp.get_json()["field"] == "events"
    assert post_events(client, biz["pk"], []).get_json()["field"] == "events"
    assert stored(app) == 0
    assert post_events(client, biz["pk"], [event() for _ in range(50)]).status_code == 202
    assert stored(app) == 50


@pytest.mark.parametrize(("bad", "field"), [
    ({"occurred_at": "yesterday"}, "events[3].occurred_at"),
    ({"occurred_at": iso(utcnow() + timedelta(days=30))}, "events[3].occurred_at"),
    ({"occurred_at": None}, "events[3].occurred_at"),
    ({"occurred_at": "1969-12-31T23:59:59Z"}, "events[3].occurred_at"),
    ({"occurred_at": "0001-01-01T00:00:00+14:00"}, "events[3].occurred_at"),
    ({"occurred_at": 1733000000}, "events[3].occurred_at"),
    ({"type": ""}, "events[3].type"),
    ({"type": "has space"}, "events[3].type"),
    ({"type": "<script>"}, "events[3].type"),
    ({"type": "x" * 65}, "events[3].type"),
    ({"title": "t" * 501}, "events[3].title"),
    ({"url": 5}, "events[3].url"),
    ({"element_key": "k" * 201}, "events[3].element_key"),
    ({"value": True}, "events[3].value"),
    ({"value": {"a": 1}}, "events[3].value"),
    ({"value": "v" * 501}, "events[3].value"),
    ({"meta": ["not", "an", "object"]}, "events[3].meta"),
    ({"meta": {"blob": "x" * 4100}}, "events[3].meta"),
])
def test_a_bad_event_names_its_index_and_nothing_is_stored(
        app: Any, client: Any, biz: dict[str, Any], bad: dict[str, Any], field: str) -> None:
    events = [event(), event(), event(), event(**bad), event()]
    resp = post_events(client, biz["pk"], events)
    assert resp.status_code == 400, resp.get_data(as_text=True)
    assert resp.get_json()["field"] == field
    assert resp.get_json()["message"].startswith("events[3].")
    assert stored(app) == 0


def test_an_event_that_is_not_an_object_and_a_bad_visitor_id(client: Any,
                                                            biz: dict[str, Any]) -> None:
    assert post_events(client, biz["pk"], [event(), "tap"]).get_json()["field"] == "events[1]"
    resp = post_events(client, biz["pk"], [event()], visitor_id="email:a@b.c")
    assert resp.status_code == 400 and resp.get_json()["field"] == "visitor_id"


def test_a_secret_key_or_no_key_is_refused(app: Any, client: Any, biz: dict[str, Any]) -> None:
    resp = post_events(client, biz["sk"], [event()])
    assert resp.status_code == 401 and resp.get_json()["error"] == "wrong_key_type"
    assert client.post(f"{API}/chat/events", json={"visitor_id": "v", "events": [event()]}
                       ).status_code == 401
    assert stored(app) == 0


def test_listing_needs_contacts_read_not_a_publishable_key(client: Any,
                                                           biz: dict[str, Any]) -> None:
    resp = client.get(f"{API}/analytics/events", headers=auth(biz["pk"]))
    assert resp.status_code == 401 and resp.get_json()["error"] == "wrong_key_type"


def test_tenancy_by_business_and_mode(app: Any, client: Any, biz: dict[str, Any]) -> None:
    other = make_business(app, "Other")
    with session_scope(app) as s:
        _, live_pk = do_create_key(s, find_business(s, biz["slug"]), "publishable", "live")
    post_events(client, biz["pk"], [event(title="ours")])
    post_events(client, other["pk"], [event(title="theirs")])
    post_events(client, live_pk, [event(title="live")])
    assert [r["title"] for r in listed(client, biz["sk"])["data"]] == ["ours"]
    assert [r["title"] for r in listed(client, other["sk"])["data"]] == ["theirs"]
    live_token = agent_token(app, biz["id"], role="owner", mode="live")
    assert [r["title"] for r in listed(client, live_token)["data"]] == ["live"]


def test_filters_and_cursor(app: Any, client: Any, biz: dict[str, Any]) -> None:
    post_events(client, biz["pk"], [event(type="page_view", title=f"p{i}") for i in range(5)],
                visitor_id="a")
    post_events(client, biz["pk"], [event(type="tap", title="t0"),
                                    event(type="page_view", title="old",
                                          occurred_at="2020-01-01T00:00:00Z")],
                visitor_id="b")
    token = agent_token(app, biz["id"])  # an agent's token holds contacts:read
    assert [r["title"] for r in listed(client, token, "visitor_id=b")["data"]] == ["old", "t0"]
    assert [r["title"] for r in listed(client, token, "type=tap")["data"]] == ["t0"]
    since = listed(client, token, "visitor_id=b&since=2025-01-01T00:00:00Z")["data"]
    assert [r["title"] for r in since] == ["t0"]
    seen: list[str] = []
    query = "visitor_id=a&per_page=2"
    while True:
        page = listed(client, token, query)
        seen += [r["title"] for r in page["data"]]
        if page["meta"]["next_cursor"] is None:
            break
        query = f"visitor_id=a&per_page=2&cursor={page['meta']['next_cursor']}"
    assert seen == ["p4", "p3", "p2", "p1", "p0"]


@pytest.mark.parametrize("query", ["since=soon", "since=0001-01-01T00:00:00%2B14:00",
                                   "cursor=bm9wZQ", "per_page=0", "type=has%20space",
                                   "contact_id=x"])
def test_bad_list_queries_are_400(client: Any, biz: dict[str, Any], query: str) -> None:
    resp = client.get(f"{API}/analytics/events?{query}", headers=auth(biz["sk"]))
    assert resp.status_code == 400
    assert resp.get_json()["field"] == query.split("=")[0]


def test_contact_filter_counts_events_sent_before_the_first_chat(
        client: Any, biz: dict[str, Any]) -> None:
    post_events(client, biz["pk"], [event(title="before chat")], visitor_id="v-9")
    client.post(f"{API}/chat/sessions", json={"visitor_id": "v-9"}, headers=auth(biz["pk"]))
    post_events(client, biz["pk"], [event(title="after chat")], visitor_id="v-9")
    post_events(client, biz["pk"], [event(title="someone else")], visitor_id="v-10")
    contact_id = client.get(f"{API}/contacts?q=v-9", headers=auth(biz["sk"])).get_json()[
        "data"][0]["id"]
    rows = listed(client, biz["sk"], f"contact_id={contact_id}")["data"]
    assert [r["title"] for r in rows] == ["after chat", "before chat"]


def test_another_business_contact_id_matches_nothing(app: Any, client: Any,
                                                     biz: dict[str, Any]) -> None:
    other = make_business(app, "Other")
    post_events(client, biz["pk"], [event()], visitor_id="v-1")
    client.post(f"{API}/chat/sessions", json={"visitor_id": "v-1"}, headers=auth(biz["pk"]))
    contact_id = client.get(f"{API}/contacts?q=v-1", headers=auth(biz["sk"])).get_json()[
        "data"][0]["id"]
    assert listed(client, other["sk"], f"contact_id={contact_id}")["data"] == []


def test_export_has_the_contacts_events_and_erasure_deletes_them(app: Any, client: Any,
                                                biz: dict[str, Any]) -> None:
    post_events(client, biz["pk"], [event(title="before chat")], visitor_id="gone")
    client.post(f"{API}/chat/sessions", json={"visitor_id": "gone"}, headers=auth(biz["pk"]))
    post_events(client, biz["pk"], [event(title="after chat")], visitor_id="gone")
    post_events(client, biz["pk"], [event(title="kept")], visitor_id="stays")
    contact_id = client.get(f"{API}/contacts?q=gone", headers=auth(biz["sk"])).get_json()[
        "data"][0]["id"]
    exported = client.get(f"{API}/contacts/{contact_id}/export", headers=auth(biz["sk"]))
    assert [e["title"] for e in exported.get_json()["data"]["analytics_events"]] == [
        "before chat", "after chat"]
    assert client.delete(f"{API}/contacts/{contact_id}",
                         headers=auth(biz["sk"])).status_code == 200
    assert [r["title"] for r in listed(client, biz["sk"])["data"]] == ["kept"]
    assert stored(app) == 1


def test_the_visitor_rate_limit_applies(tmp_path: Path) -> None:
    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'rl.db'}", "PUBLIC_URL": "",
                      "RATE_LIMIT_REQUESTS": 3, "RATE_LIMIT_WINDOW_SECONDS": 60})
    biz, client = make_business(app), app.test_client()
    for _ in range(3):
        assert post_events(client, biz["pk"], [event()]).status_code == 202
    resp = post_events(client, biz["pk"], [event()])
    assert resp.status_code == 429 and resp.get_json()["error"] == "rate_limited"
    assert int(resp.headers["Retry-After"]) >= 1
    assert stored(app) == 3
