"""The ticket API: list (filters, sorts, pages, cursors, query plans), read, open, update."""

from __future__ import annotations

import base64
import re
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher
from sqlalchemy import event, func, insert, select

from server import create_app
from server.api import tickets as views
from server.db import session_scope
from server.models import Business, Contact, Conversation, Message, TicketTag, User
from server.services.keys import do_create_key
from server.services.tickets import encode_list_cursor
from tests.conftest import agent_token, auth, make_business, start_visitor
from tests.pusher import PusherTestClient

TICKETS = "/api/v1/tickets"
ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
ROW_KEYS = {"id", "status", "channel", "subject", "created_at", "updated_at", "customer",
            "assigned_to", "tags", "last_message_preview", "unread_count", "visitor_online",
            "bot_active", "resolved_at", "resolved_by", "rating"}
BASE = datetime(2025, 3, 1, 9, 0, tzinfo=timezone.utc)
N = 66  # tickets in the inbox fixture: every filter has several pages' worth of choice
SORTS = ("created_desc", "created_asc", "updated_desc")


def add_agent(app: Any, business_id: int, name: str) -> int:
    """Insert an agent directly (the agents API is built elsewhere)."""
    with session_scope(app) as s:
        user = User(business_id=business_id, email=f"{name.lower()}@{business_id}.test",
                    name=name, role="agent")
        s.add(user)
        s.flush()
        return user.id


def error(resp: Any, status: int, field: str | None, code: str = "validation_error") -> None:
    body = resp.get_json()
    assert resp.status_code == status, body
    assert body["error"] == code, body
    assert body.get("field") == field, body


# ---------- seeding ---------------------------------------------------------------------------


def ticket_spec(i: int, agents: list[int | None], n: int = N) -> dict[str, Any]:
    """Ticket i of a seeded inbox: statuses, channels, assignees and tags all mixed; ties in
    created_at and updated_at (pairs) so keyset cursors must use the id."""
    tags = sorted(tag for tag, every in (("vip", 2), ("billing", 3), ("bug:login", 7))
                  if i % every == 0)
    return {"status": ("open", "pending", "resolved")[i % 3],
            "channel": "api" if i % 4 == 0 else "widget",
            "assigned_to": agents[i % 5 % len(agents)],
            "created_at": BASE + timedelta(minutes=i // 2),
            "updated_at": BASE + timedelta(days=1, minutes=(i * 37) % n // 2),
            "subject": "100% off?" if i == 5 else ("Refund request" if i % 11 == 0
                                                   else f"Order {i}"),
            "message": "where is my parcel?" if i % 13 == 0 else f"message number {i}",
            "tags": tags}


def seed(app: Any, business_id: int, mode: str, specs: list[dict[str, Any]],
         prefix: str) -> list[dict[str, Any]]:
    """Insert contacts, tickets, one inbound message each and tags; specs gain their ids.

    Core executemany with explicit ids and no fsync, as bench/seed.py loads.
    """
    with app.extensions["engine"].begin() as conn:
        conn.exec_driver_sql("PRAGMA synchronous=OFF")
        first_contact, first_ticket = (
            (conn.scalar(select(func.max(model.id))) or 0) + 1 for model in (Contact,
                                                                             Conversation))
        ids = range(first_ticket, first_ticket + len(specs))
        conn.execute(insert(Contact), [
            {"id": first_contact + n, "business_id": business_id, "mode": mode,
             "visitor_id": f"{prefix}-{n}", "name": f"Customer {n}",
             "email": f"{prefix}{n}@example.com", "custom_fields": {}}
            for n in range(len(specs))])
        conn.execute(insert(Conversation), [
            {"id": t, "business_id": business_id, "mode": mode, "contact_id": first_contact + n,
             "last_message_preview": s["message"], "unread_count": 1,
             **{k: s[k] for k in ("status", "channel", "assigned_to", "created_at",
                                  "updated_at", "subject")}}
            for n, (t, s) in enumerate(zip(ids, specs, strict=True))])
        conn.execute(insert(Message), [
            {"conversation_id": t, "direction": "inbound", "content": s["message"],
             "sender_role": "visitor", "created_at": s["created_at"]}
            for t, s in zip(ids, specs, strict=True)])
        tag_rows = [{"conversation_id": t, "tag": tag} for t, s in zip(ids, specs, strict=True)
                    for tag in s["tags"]]
        if tag_rows:
            conn.execute(insert(TicketTag), tag_rows)
    return [{**s, "id": t} for t, s in zip(ids, specs, strict=True)]


def build_inbox(app: Any, biz: dict[str, Any]) -> dict[str, Any]:
    """N tickets in biz (test mode) plus noise another business and live mode must hide."""
    agents = [add_agent(app, biz["id"], "Ada"), add_agent(app, biz["id"], "Bo")]
    tickets = seed(app, biz["id"], "test", [ticket_spec(i, [None, *agents]) for i in range(N)],
                   "c")
    seed(app, biz["id"], "live", [ticket_spec(i, [None]) for i in range(5)], "live")
    other = make_business(app, "Other")
    seed(app, other["id"], "test", [ticket_spec(i, [None]) for i in range(5)], "other")
    return {"tickets": tickets, "agents": agents, "other": other}


@pytest.fixture
def inbox(app: Any, biz: dict[str, Any]) -> dict[str, Any]:
    """A fresh inbox for tests that change it."""
    return build_inbox(app, biz)


@pytest.fixture(scope="module")
def ro(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One inbox shared by the tests that only read it (or whose writes must fail)."""
    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path_factory.mktemp('ro') / 'ro.db'}",
                      "PUBLIC_URL": ""})
    biz = make_business(app)
    return {"app": app, "client": app.test_client(), "biz": biz, "sk": biz["sk"],
            **build_inbox(app, biz)}


def expected(tickets: list[dict[str, Any]], sort: str, **f: Any) -> list[int]:
    """The ids the API should list, computed from the seed in Python."""
    def keep(t: dict[str, Any]) -> bool:
        q = (f.get("q") or "").lower()
        return all([f.get("status") in (None, t["status"]),
                    f.get("channel") in (None, t["channel"]),
                    f.get("assigned_to") is None or t["assigned_to"] == (
                        None if f["assigned_to"] == "unassigned" else f["assigned_to"]),
                    f.get("tag") in (None, *t["tags"]),
                    not q or q in t["subject"].lower() or q in t["message"].lower()])
    column = "updated_at" if sort == "updated_desc" else "created_at"
    rows = sorted((t for t in tickets if keep(t)), key=lambda t: (t[column], t["id"]),
                  reverse=sort != "created_asc")
    return [t["id"] for t in rows]


def list_ids(client: Any, key: str, **params: Any) -> tuple[list[int], dict[str, Any]]:
    resp = client.get(TICKETS, query_string=params, headers=auth(key))
    assert resp.status_code == 200, resp.get_data(as_text=True)
    body = resp.get_json()
    return [t["id"] for t in body["data"]], body["meta"]


# ---------- list ------------------------------------------------------------------------------


def test_list_default_page_shape(ro: dict[str, Any]) -> None:
    resp = ro["client"].get(TICKETS, headers=auth(ro["sk"]))
    assert resp.status_code == 200
    body = resp.get_json()
    assert set(body) == {"data", "meta"}
    assert body["meta"]["total"] == N and body["meta"]["page"] == 1
    assert body["meta"]["per_page"] == 25 and body["meta"]["next_cursor"]
    assert [t["id"] for t in body["data"]] == expected(ro["tickets"], "created_desc")[:25]
    by_id = {t["id"]: t for t in ro["tickets"]}
    for row in body["data"]:
        seeded = by_id[row["id"]]
        assert set(row) == ROW_KEYS
        assert ISO_Z.match(row["created_at"]) and ISO_Z.match(row["updated_at"])
        assert row["created_at"] == seeded["created_at"].strftime("%Y-%m-%dT%H:%M:%S.000Z")
        assert row["tags"] == seeded["tags"] == sorted(row["tags"])
        assert (row["status"], row["channel"], row["assigned_to"], row["subject"]) == (
            seeded["status"], seeded["channel"], seeded["assigned_to"], seeded["subject"])
        assert row["customer"]["email"].endswith("@example.com")
        assert set(row["customer"]) == {"id", "name", "email", "visitor_id"}
        assert row["visitor_online"] is False  # no visitor session in a seeded inbox
        assert row["last_message_preview"] == seeded["message"] and row["unread_count"] == 1


FILTERS: list[dict[str, Any]] = [
    {}, {"status": "open"}, {"status": "pending"}, {"status": "resolved"},
    {"channel": "api"}, {"channel": "widget"}, {"assigned_to": "unassigned"},
    {"assigned_to": 0}, {"assigned_to": 1}, {"tag": "vip"}, {"tag": "BUG:LOGIN"},
    {"tag": "nothing-has-this"}, {"q": "refund"}, {"q": "PARCEL"}, {"q": "100%"},
    {"q": "number 1"}, {"status": "open", "assigned_to": 1}, {"status": "pending", "tag": "vip"},
    {"channel": "api", "assigned_to": "unassigned", "tag": "billing"},
    {"status": "resolved", "channel": "widget", "assigned_to": 0, "tag": "vip", "q": "order"},
]


def _query(f: dict[str, Any], agents: list[int]) -> dict[str, Any]:
    """Replace agent indexes in a FILTERS entry with the inbox's agent ids."""
    out = dict(f)
    if isinstance(out.get("assigned_to"), int):
        out["assigned_to"] = agents[out["assigned_to"]]
    return out


@pytest.mark.parametrize("sort", SORTS)
@pytest.mark.parametrize("filters", FILTERS, ids=lambda f: "&".join(f"{k}={v}"
                                                                      for k, v in f.items()))
def test_filters_and_sorts(ro: dict[str, Any], sort: str,
                           filters: dict[str, Any]) -> None:
    query = _query(filters, ro["agents"])
    want = expected(ro["tickets"], sort, **{**query, "tag": (query.get("tag") or "").lower()
                                               or None})
    ids, meta = list_ids(ro["client"], ro["sk"], sort=sort, per_page=100, **query)
    assert ids == want
    assert meta == {"total": len(want), "page": 1, "per_page": 100, "next_cursor": None}


def test_filters_are_not_vacuous(ro: dict[str, Any]) -> None:
    """Each single filter above keeps some tickets and drops others (or the test proves little)."""
    for f in FILTERS[1:11] + FILTERS[12:16]:
        kept = len(expected(ro["tickets"], "created_desc",
                            **{**_query(f, ro["agents"]), "tag": (f.get("tag") or "").lower()
                               or None}))
        assert 0 < kept < N, f


def test_q_escapes_like_wildcards(ro: dict[str, Any]) -> None:
    ids, _ = list_ids(ro["client"], ro["sk"], q="100%")
    assert ids == [ro["tickets"][5]["id"]]
    assert list_ids(ro["client"], ro["sk"], q="_")[0] == []


@pytest.mark.parametrize("per_page", [7, 11, 25, 66, 100])
def test_page_walk(ro: dict[str, Any],
                   per_page: int) -> None:
    want = expected(ro["tickets"], "created_desc")
    pages = -(-N // per_page)
    seen: list[int] = []
    for page in range(1, pages + 1):
        ids, meta = list_ids(ro["client"], ro["sk"], page=page, per_page=per_page)
        assert meta["total"] == N and meta["page"] == page and meta["per_page"] == per_page
        assert len(ids) == (per_page if page < pages else N - per_page * (pages - 1))
        assert (meta["next_cursor"] is None) == (page == pages)
        seen += ids
    assert seen == want
    beyond, meta = list_ids(ro["client"], ro["sk"], page=pages + 1, per_page=per_page)
    assert beyond == [] and meta == {"total": N, "page": pages + 1, "per_page": per_page,
                                     "next_cursor": None}


def test_empty_result(ro: dict[str, Any]) -> None:
    ids, meta = list_ids(ro["client"], ro["sk"], tag="nothing-has-this")
    assert ids == [] and meta == {"total": 0, "page": 1, "per_page": 25, "next_cursor": None}


def test_empty_inbox(client: Any, biz: dict[str, Any]) -> None:
    assert list_ids(client, biz["sk"]) == ([], {"total": 0, "page": 1, "per_page": 25,
                                               "next_cursor": None})


@pytest.mark.parametrize("sort", SORTS)
@pytest.mark.parametrize("filters", [{}, {"status": "open"}, {"assigned_to": "unassigned"},
                                     {"tag": "vip"}, {"channel": "widget", "q": "order"}])
@pytest.mark.parametrize("per_page", [1, 4, 10])
def test_cursor_walks_every_row_once(ro: dict[str, Any],
                                     sort: str, filters: dict[str, Any], per_page: int) -> None:
    want = expected(ro["tickets"], sort, **filters)
    ids, meta = list_ids(ro["client"], ro["sk"], sort=sort, per_page=per_page, **filters)
    seen = list(ids)
    while meta["next_cursor"]:
        ids, meta = list_ids(ro["client"], ro["sk"], sort=sort, per_page=per_page,
                             cursor=meta["next_cursor"], **filters)
        assert set(meta) == {"per_page", "next_cursor"}  # no count on the keyset path
        assert ids, "a cursor is only handed out when more rows follow"
        seen += ids
    assert seen == want and len(set(seen)) == len(seen)


def test_cursor_continues_after_a_page(ro: dict[str, Any]) -> None:
    """Page 3 of page mode hands out a cursor that picks up exactly where it ends."""
    want = expected(ro["tickets"], "updated_desc")
    ids, meta = list_ids(ro["client"], ro["sk"], sort="updated_desc", page=3, per_page=9)
    assert ids == want[18:27]
    rest, _ = list_ids(ro["client"], ro["sk"], sort="updated_desc", per_page=100,
                       cursor=meta["next_cursor"])
    assert rest == want[27:]


@pytest.mark.parametrize("query,field", [
    ("per_page=0", "per_page"), ("per_page=101", "per_page"), ("per_page=-1", "per_page"),
    ("per_page=ten", "per_page"), ("page=0", "page"), ("page=x", "page"),
    ("status=closed", "status"), ("status=OPEN", "status"), ("channel=email", "channel"),
    ("sort=newest", "sort"), ("sort=updated_asc", "sort"), ("assigned_to=me", "assigned_to"),
    ("assigned_to=-3", "assigned_to"), ("tag=has%20space", "tag"), ("tag=" + "a" * 51, "tag"),
    ("q=" + "x" * 201, "q"), ("cursor=!!!", "cursor"), ("cursor=bm90LWEtY3Vyc29y", "cursor"),
    ("cursor=abc&page=2", "cursor"), ("assigned_to=%C2%B2", "assigned_to"),
    ("cursor=" + encode_list_cursor("created_desc", BASE, 2**64), "cursor"),
    ("cursor=" + base64.urlsafe_b64encode(b"t|created_desc|2025-03-01T09:00:00|3").decode(),
     "cursor"),
])
def test_bad_list_queries(ro: dict[str, Any], query: str, field: str) -> None:
    error(ro["client"].get(f"{TICKETS}?{query}", headers=auth(ro["sk"])), 400, field)


def test_cursor_belongs_to_its_sort(ro: dict[str, Any]) -> None:
    _, meta = list_ids(ro["client"], ro["sk"], sort="created_asc", per_page=5)
    resp = ro["client"].get(TICKETS, query_string={"sort": "updated_desc",
                                             "cursor": meta["next_cursor"]}, headers=auth(ro["sk"]))
    error(resp, 400, "cursor")


def test_tenancy_and_modes(ro: dict[str, Any]) -> None:
    other = ro["other"]
    other_ids, meta = list_ids(ro["client"], other["sk"], per_page=100)
    assert meta["total"] == 5 and not set(other_ids) & {t["id"] for t in ro["tickets"]}
    live_token = agent_token(ro["app"], ro["biz"]["id"], user_id=ro["agents"][0], mode="live")
    live_ids, meta = list_ids(ro["client"], live_token, per_page=100)
    assert meta["total"] == 5 and not set(live_ids) & {t["id"] for t in ro["tickets"]}
    mine = ro["tickets"][0]["id"]
    for key in (other["sk"], live_token):
        error(ro["client"].get(f"{TICKETS}/{mine}", headers=auth(key)), 404, None, "not_found")
        error(ro["client"].patch(f"{TICKETS}/{mine}", json={"status": "resolved"},
                                 headers=auth(key)), 404, None, "not_found")
        client = ro["client"]
        error(client.post(f"{TICKETS}/{mine}/typing", headers=auth(key)), 404, None, "not_found")
        error(client.post(f"{TICKETS}/{mine}/messages", json={"content": "x"}, headers=auth(key)),
              404, None, "not_found")
    with session_scope(ro["app"]) as s:
        assert s.get(Conversation, mine).status == "open"  # type: ignore[union-attr]


def test_scopes(ro: dict[str, Any]) -> None:
    client = ro["client"]
    with session_scope(ro["app"]) as s:
        business = s.get(Business, ro["biz"]["id"])
        assert business is not None
        _, reader = do_create_key(s, business, "secret", "test", scopes=["tickets:read"])
    assert list_ids(client, reader)[1]["total"] == N
    ticket = ro["tickets"][0]["id"]
    error(client.patch(f"{TICKETS}/{ticket}", json={"status": "resolved"}, headers=auth(reader)),
          403, None, "insufficient_scope")
    error(client.get(TICKETS, headers=auth(ro["biz"]["pk"])), 401, None, "wrong_key_type")
    assert {name: getattr(views, name).required_scope for name in (
        "list_tickets", "get_ticket", "create_ticket", "update_ticket", "reply", "typing")} == {
        "list_tickets": "tickets:read", "get_ticket": "tickets:read",
        "create_ticket": "tickets:write", "update_ticket": "tickets:write",
        "reply": "tickets:write", "typing": "tickets:write"}


# ---------- query plans on 100,000 tickets -------------------------------------------------------

BIG = 100_000
PLAN_FILTERS: list[dict[str, Any]] = [
    {}, {"status": "open"}, {"channel": "api"}, {"assigned_to": 0}, {"assigned_to": "unassigned"},
    {"tag": "vip"}, {"q": "parcel"}, {"status": "pending", "assigned_to": 1},
    {"status": "resolved", "tag": "vip"}, {"channel": "widget", "assigned_to": 1},
    {"status": "open", "channel": "api", "assigned_to": "unassigned", "tag": "vip", "q": "order"},
]


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """An app whose business holds 100,000 tickets (Core executemany, as bench/seed.py)."""
    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path_factory.mktemp('big') / 'big.db'}",
                      "PUBLIC_URL": ""})
    biz = make_business(app)
    agents: list[int | None] = [None, add_agent(app, biz["id"], "Ada"),
                                add_agent(app, biz["id"], "Bo")]
    t0 = time.perf_counter()
    tickets = seed(app, biz["id"], "test", [ticket_spec(i, agents, BIG) for i in range(BIG)], "big")
    print(f"\nseeded {BIG} tickets in {time.perf_counter() - t0:.1f}s")
    yield {"app": app, "biz": biz, "agents": agents[1:], "last": tickets[BIG // 2]}
    app.extensions["engine"].dispose()


def captured_plans(app: Any, call: Any) -> tuple[Any, list[tuple[str, list[str]]]]:
    """Run call(); EXPLAIN QUERY PLAN every statement it sent that reads conversations."""
    engine = app.extensions["engine"]
    sent: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if "FROM conversations" in statement:
            sent.append((statement, params))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        result = call()
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    with engine.connect() as conn:
        return result, [(statement, [row[3] for row in conn.exec_driver_sql(
            "EXPLAIN QUERY PLAN " + statement, params)]) for statement, params in sent]


def assert_indexed(plans: list[tuple[str, list[str]]]) -> None:
    assert plans
    for statement, plan in plans:
        for line in plan:
            assert not (line.startswith("SCAN ") and "USING" not in line), (line, statement)
            assert "TEMP B-TREE" not in line, (line, statement)
        first = plan[0]
        assert re.match(r"SEARCH conversations USING (COVERING )?INDEX (ix_tickets_\w+|"
                        r"sqlite_autoindex)|SEARCH conversations USING INTEGER PRIMARY KEY",
                        first), (first, statement)


def timed(timings: list[float], call: Any, *args: Any, **kwargs: Any) -> Any:
    """call(*args, **kwargs), appending its milliseconds to timings."""
    t0 = time.perf_counter()
    result = call(*args, **kwargs)
    timings.append((time.perf_counter() - t0) * 1000)
    return result


@pytest.mark.parametrize("sort", SORTS)
def test_list_query_plans_use_indexes(big: dict[str, Any], sort: str) -> None:
    """Every filter and sort, page and cursor mode: an index walk, never a scan or a sort."""
    client = big["app"].test_client()
    timings: list[float] = []
    for filters in PLAN_FILTERS:
        query = {"sort": sort, **_query(filters, big["agents"])}
        cursor = list_ids(client, big["biz"]["sk"], **query)[1]["next_cursor"]
        assert cursor, query  # every filter matches more than a page of the big inbox
        for mode, extra in (("page 1", {}), ("page 400", {"page": 400}),
                            ("cursor", {"cursor": cursor})):
            resp, plans = captured_plans(big["app"], lambda p={**query, **extra}: timed(  # type: ignore
                timings, client.get, TICKETS, query_string=p, headers=auth(big["biz"]["sk"])))
            assert resp.status_code == 200, resp.get_data(as_text=True)
            assert_indexed(plans)
            print(f"{sort:12} {mode:8} {timings[-1]:8.1f} ms  {query}  "
                  f"total={resp.get_json()['meta'].get('total')}")
    print(f"{sort}: max {max(timings):.1f} ms over {len(timings)} requests (not asserted)")


def test_plan_check_catches_scans_and_sorts(big: dict[str, Any]) -> None:
    """The checker above fails on a sort the indexes cannot serve and on a full scan."""
    engine = big["app"].extensions["engine"]
    for sql in ("SELECT id FROM conversations WHERE business_id = 1 AND mode = 'test' "
                "ORDER BY subject LIMIT 5",
                "SELECT id FROM conversations WHERE subject = 'x'"):
        def call(sql: str = sql) -> None:
            with engine.connect() as conn:
                conn.exec_driver_sql(sql).all()
        _, plans = captured_plans(big["app"], call)
        with pytest.raises(AssertionError):
            assert_indexed(plans)


def test_detail_query_plan(big: dict[str, Any]) -> None:
    client = big["app"].test_client()
    resp, plans = captured_plans(big["app"], lambda: client.get(
        f"{TICKETS}/{big['last']['id']}", headers=auth(big["biz"]["sk"])))
    assert resp.status_code == 200 and resp.get_json()["data"]["messages"]
    assert_indexed(plans)


def test_filter_plans_are_checked_on_real_rows(big: dict[str, Any]) -> None:
    """The big inbox has matches for every plan filter, so the walks above did real work."""
    client = big["app"].test_client()
    for filters in PLAN_FILTERS:
        assert list_ids(client, big["biz"]["sk"], **_query(filters, big["agents"]))[1]["total"] > 0


# ---------- read ------------------------------------------------------------------------------


def test_get_ticket_marks_read(app: Any, client: Any, biz: dict[str, Any],
                               inbox: dict[str, Any]) -> None:
    ticket = inbox["tickets"][13]
    resp = client.get(f"{TICKETS}/{ticket['id']}", headers=auth(biz["sk"]))
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["meta"] == {"next_cursor": None}
    data = body["data"]
    assert set(data) == ROW_KEYS | {"messages"} and data["unread_count"] == 0
    assert [m["content"] for m in data["messages"]] == ["where is my parcel?"]
    assert data["messages"][0]["direction"] == "inbound"
    with session_scope(app) as s:
        assert s.get(Conversation, ticket["id"]).unread_count == 0  # type: ignore[union-attr]
        assert s.get(Conversation, inbox["tickets"][14]["id"]).unread_count == 1  # type: ignore


def test_mark_read_clears_unread_without_the_messages(app: Any, client: Any,
                                                     biz: dict[str, Any],
                                                     inbox: dict[str, Any]) -> None:
    ticket, other = inbox["tickets"][15], inbox["tickets"][16]
    with session_scope(app) as s:
        assert s.get(Conversation, ticket["id"]).unread_count == 1  # type: ignore[union-attr]
    resp = client.post(f"{TICKETS}/{ticket['id']}/read", headers=auth(biz["sk"]))
    assert resp.status_code == 200
    data = resp.get_json()["data"]
    assert set(data) == ROW_KEYS and data["id"] == ticket["id"] and data["unread_count"] == 0
    with session_scope(app) as s:
        assert s.get(Conversation, ticket["id"]).unread_count == 0  # type: ignore[union-attr]
        assert s.get(Conversation, other["id"]).unread_count == 1  # type: ignore[union-attr]
    # another business's ticket is absent, and the unread count there stays
    stranger = make_business(app, "Stranger")
    resp = client.post(f"{TICKETS}/{other['id']}/read", headers=auth(stranger["sk"]))
    assert resp.status_code == 404 and resp.get_json()["error"] == "not_found"
    with session_scope(app) as s:
        assert s.get(Conversation, other["id"]).unread_count == 1  # type: ignore[union-attr]


def test_get_ticket_pages_messages_oldest_first(app: Any, client: Any, biz: dict[str, Any],
                                                inbox: dict[str, Any]) -> None:
    ticket = inbox["tickets"][0]["id"]
    with session_scope(app) as s:
        s.execute(insert(Message), [{"conversation_id": ticket, "direction": "outbound",
                                     "content": f"reply {n}", "sender_role": "agent"}
                                    for n in range(230)])
        all_ids = s.scalars(select(Message.id).where(Message.conversation_id == ticket)
                            .order_by(Message.id)).all()
    seen: list[int] = []
    cursor = None
    pages = 0
    while True:
        resp = client.get(f"{TICKETS}/{ticket}", query_string={"cursor": cursor} if cursor else {},
                          headers=auth(biz["sk"]))
        assert resp.status_code == 200
        messages = resp.get_json()["data"]["messages"]
        assert len(messages) <= 100
        seen += [m["id"] for m in messages]
        pages += 1
        cursor = resp.get_json()["meta"]["next_cursor"]
        if cursor is None:
            break
    assert seen == list(all_ids) and pages == 3 and len(seen) == 231


@pytest.mark.parametrize("ticket_id", [999_999, 0, 2**63, 10**30])
def test_get_missing_ticket(ro: dict[str, Any], ticket_id: int) -> None:
    error(ro["client"].get(f"{TICKETS}/{ticket_id}", headers=auth(ro["sk"])), 404, None,
          "not_found")


def test_get_ticket_bad_cursor(ro: dict[str, Any]) -> None:
    _, meta = list_ids(ro["client"], ro["sk"], per_page=1)  # a list cursor is not a message cursor
    error(ro["client"].get(f"{TICKETS}/{ro['tickets'][0]['id']}?cursor={meta['next_cursor']}",
                     headers=auth(ro["sk"])), 400, "cursor")


# ---------- create ----------------------------------------------------------------------------


@pytest.fixture
def published(app: Any, monkeypatch: pytest.MonkeyPatch) -> list[tuple[list[str], str, Any]]:
    """Every event handed to the broker (after commit), still delivered."""
    broker = app.extensions["broker"]
    original = broker.publish
    seen: list[tuple[list[str], str, Any]] = []

    def spy(channels: list[str], name: str, payload: Any) -> None:
        seen.append((list(channels), name, payload))
        original(channels, name, payload)

    monkeypatch.setattr(broker, "publish", spy)
    return seen


NEW = {"subject": "Invoice missing", "customer": {"name": "Dana", "email": "Dana@Example.com"},
       "message": "I never got my March invoice.", "tags": ["Billing", "vip", "billing"]}


def test_create_ticket(app: Any, client: Any, biz: dict[str, Any],
                       published: list[Any]) -> None:
    resp = client.post(TICKETS, json=NEW, headers=auth(biz["sk"]))
    assert resp.status_code == 201, resp.get_json()
    data = resp.get_json()["data"]
    assert set(data) == ROW_KEYS | {"messages"}
    assert (data["status"], data["channel"], data["subject"], data["tags"]) == (
        "open", "api", "Invoice missing", ["billing", "vip"])
    assert data["customer"] == {"id": data["customer"]["id"], "name": "Dana",
                                "email": "dana@example.com",
                                "visitor_id": "email:dana@example.com"}
    assert data["visitor_online"] is False  # an api ticket's customer has no session
    assert data["unread_count"] == 1 and data["assigned_to"] is None
    assert data["last_message_preview"] == NEW["message"]
    assert [(m["direction"], m["content"]) for m in data["messages"]] == [
        ("inbound", NEW["message"])]
    with session_scope(app) as s:
        conv = s.get(Conversation, data["id"])
        assert conv is not None and conv.business_id == biz["id"] and conv.mode == "test"
        assert conv.contact.visitor_id == "email:dana@example.com"
        assert conv.contact_id == data["customer"]["id"]
        assert s.scalars(select(Message.sender_role).where(
            Message.conversation_id == data["id"])).all() == ["visitor"]
    names = [(name, channels) for channels, name, _ in published]
    business = f"business.{biz['id']}.test"
    assert names == [("TicketCreated", [business]),
                     ("MessageCreated", [f"conversation.{data['id']}", business])]
    created = published[0][2]
    assert created["conversation_id"] == data["id"] and created["channel"] == "api"
    assert created["customer"] == data["customer"]


def test_create_reuses_the_contact(app: Any, client: Any, biz: dict[str, Any]) -> None:
    first = client.post(TICKETS, json=NEW, headers=auth(biz["sk"])).get_json()["data"]
    second = client.post(TICKETS, json={"customer": {"email": "dana@example.COM"},
                                        "message": "again"}, headers=auth(biz["sk"]))
    assert second.status_code == 201
    data = second.get_json()["data"]
    assert data["id"] != first["id"] and data["subject"] is None and data["tags"] == []
    assert data["customer"]["name"] == "Dana"  # kept: the second ticket gave no name
    with session_scope(app) as s:
        assert s.scalars(select(Contact.id).where(
            Contact.visitor_id == "email:dana@example.com")).all() == [
            s.get(Conversation, first["id"]).contact_id]  # type: ignore[union-attr]
    other = make_business(app, "Other")
    elsewhere = client.post(TICKETS, json=NEW, headers=auth(other["sk"])).get_json()["data"]
    with session_scope(app) as s:
        assert s.get(Conversation, elsewhere["id"]).contact_id != s.get(  # type: ignore
            Conversation, first["id"]).contact_id


def test_create_is_idempotent(app: Any, client: Any, biz: dict[str, Any]) -> None:
    headers = auth(biz["sk"], **{"Idempotency-Key": "create-1"})
    first = client.post(TICKETS, json=NEW, headers=headers)
    again = client.post(TICKETS, json=NEW, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.get_json() == first.get_json()
    assert again.headers.get("Idempotent-Replayed") == "true"
    error(client.post(TICKETS, json={**NEW, "subject": "other"}, headers=headers), 422, None,
          "idempotency_conflict")
    with session_scope(app) as s:
        assert len(s.scalars(select(Conversation.id)).all()) == 1
        assert len(s.scalars(select(Message.id)).all()) == 1


def _without(field: str) -> dict[str, Any]:
    return {k: v for k, v in NEW.items() if k != field}


@pytest.mark.parametrize("body,field", [
    (_without("customer"), "customer"),
    ({**NEW, "customer": "dana@example.com"}, "customer"),
    ({**NEW, "customer": {"name": "Dana"}}, "customer.email"),
    ({**NEW, "customer": {"email": "not-an-email"}}, "customer.email"),
    ({**NEW, "customer": {"email": 42}}, "customer.email"),
    ({**NEW, "customer": {"email": "a" * 120 + "@x.io"}}, "customer.email"),
    ({**NEW, "customer": {"email": "d@example.com", "name": "n" * 201}}, "customer.name"),
    (_without("message"), "message"),
    ({**NEW, "message": "   "}, "message"),
    ({**NEW, "message": ["hi"]}, "message"),
    ({**NEW, "message": "x" * 8001}, "message"),
    ({**NEW, "subject": "s" * 301}, "subject"),
    ({**NEW, "subject": 7}, "subject"),
    ({**NEW, "tags": "vip"}, "tags"),
    ({**NEW, "tags": [f"t{n}" for n in range(21)]}, "tags"),
    ({**NEW, "tags": ["has space"]}, "tags"),
    ({**NEW, "tags": ["x" * 51]}, "tags"),
    ({**NEW, "tags": [""]}, "tags"),
    ({**NEW, "tags": [3]}, "tags"),
])
def test_create_rejects_bad_bodies(ro: dict[str, Any], body: dict[str, Any],
                                   field: str) -> None:
    before = counts(ro["app"])
    error(ro["client"].post(TICKETS, json=body, headers=auth(ro["sk"])), 400, field)
    assert counts(ro["app"]) == before


def counts(app: Any) -> tuple[int, ...]:
    with session_scope(app) as s:
        return tuple(s.scalar(select(func.count()).select_from(model)) or 0
                     for model in (Conversation, Contact, Message, TicketTag))


def test_create_limits_are_inclusive(client: Any, biz: dict[str, Any]) -> None:
    body = {**NEW, "subject": "s" * 300, "message": "m" * 8000,
            "tags": [f"t{n}" for n in range(19)] + ["x" * 50]}
    resp = client.post(TICKETS, json=body, headers=auth(biz["sk"]))
    assert resp.status_code == 201, resp.get_json()
    assert len(resp.get_json()["data"]["tags"]) == 20


def test_create_not_json(client: Any, biz: dict[str, Any]) -> None:
    resp = client.post(TICKETS, data="{", headers=auth(biz["sk"], **{
        "Content-Type": "application/json"}))
    assert resp.status_code == 400 and resp.get_json()["error"] == "invalid_json"


# ---------- update ----------------------------------------------------------------------------


def patch(client: Any, key: str, ticket_id: int, **body: Any) -> dict[str, Any]:
    resp = client.patch(f"{TICKETS}/{ticket_id}", json=body, headers=auth(key))
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()["data"]  # type: ignore[no-any-return]


def db_ticket(app: Any, ticket_id: int) -> Conversation:
    with session_scope(app) as s:
        conv = s.get(Conversation, ticket_id)
        assert conv is not None
        s.expunge(conv)
        return conv


def test_resolve_and_reopen_record_who(app: Any, client: Any, biz: dict[str, Any],
                                       inbox: dict[str, Any]) -> None:
    ticket = next(t for t in inbox["tickets"] if t["status"] == "open")["id"]
    agent = inbox["agents"][0]
    token = agent_token(app, biz["id"], user_id=agent)
    data = patch(client, token, ticket, status="resolved")
    conv = db_ticket(app, ticket)
    assert conv.status == "resolved" and conv.resolved_by == f"user:{agent}"
    assert conv.resolved_at is not None and data["resolved_by"] == f"user:{agent}"
    assert data["resolved_at"] == data["updated_at"]
    # resolving again keeps the first record
    patch(client, biz["sk"], ticket, status="resolved")
    assert db_ticket(app, ticket).resolved_by == f"user:{agent}"
    data = patch(client, biz["sk"], ticket, status="pending")
    conv = db_ticket(app, ticket)
    assert (conv.status, conv.resolved_at, conv.resolved_by) == ("pending", None, None)
    assert (data["resolved_at"], data["resolved_by"]) == (None, None)
    patch(client, biz["sk"], ticket, status="resolved")
    assert db_ticket(app, ticket).resolved_by == f"key:{biz['sk_id']}"
    patch(client, biz["sk"], ticket, status="open")
    assert db_ticket(app, ticket).resolved_at is None


def test_assign_and_retag(app: Any, client: Any, biz: dict[str, Any],
                          inbox: dict[str, Any]) -> None:
    ticket = next(t for t in inbox["tickets"] if t["assigned_to"] is None and not t["tags"])
    agent = inbox["agents"][1]
    data = patch(client, biz["sk"], ticket["id"], assigned_to=agent, tags=["Urgent", "vip"])
    assert data["assigned_to"] == agent and data["tags"] == ["urgent", "vip"]
    assert data["updated_at"] > ticket["updated_at"].strftime("%Y-%m-%dT%H:%M:%S.000Z")
    assert db_ticket(app, ticket["id"]).assigned_to == agent
    assert ticket["id"] in list_ids(client, biz["sk"], assigned_to=agent, tag="urgent",
                                    per_page=100)[0]
    data = patch(client, biz["sk"], ticket["id"], assigned_to=None, tags=[])
    assert data["assigned_to"] is None and data["tags"] == []
    with session_scope(app) as s:
        assert s.scalars(select(TicketTag.tag).where(
            TicketTag.conversation_id == ticket["id"])).all() == []
    assert ticket["id"] in list_ids(client, biz["sk"], assigned_to="unassigned",
                                    per_page=100)[0]


def test_updated_desc_follows_updates(client: Any, biz: dict[str, Any],
                                      inbox: dict[str, Any]) -> None:
    oldest = expected(inbox["tickets"], "updated_desc")[-1]
    patch(client, biz["sk"], oldest, status="pending" if oldest % 3 else "open")
    assert list_ids(client, biz["sk"], sort="updated_desc", per_page=1)[0] == [oldest]


@pytest.mark.parametrize("body,field", [
    ({"status": "closed"}, "status"), ({"status": None}, "status"),
    ({"assigned_to": "1"}, "assigned_to"), ({"assigned_to": True}, "assigned_to"),
    ({"assigned_to": 999_999}, "assigned_to"), ({"tags": "vip"}, "tags"),
    ({"tags": ["ok", "not ok"]}, "tags"), ({"subject": "new"}, "subject"),
    ({"status": "resolved", "priority": "high"}, "priority"),
])
def test_patch_rejects_bad_bodies(ro: dict[str, Any], body: dict[str, Any],
                                  field: str) -> None:
    ticket = ro["tickets"][0]
    resp = ro["client"].patch(f"{TICKETS}/{ticket['id']}", json=body, headers=auth(ro["sk"]))
    error(resp, 400, field)
    conv = db_ticket(ro["app"], ticket["id"])
    assert (conv.status, conv.assigned_to) == (ticket["status"], ticket["assigned_to"])


def test_patch_agent_of_another_business(app: Any, client: Any, biz: dict[str, Any],
                                         inbox: dict[str, Any]) -> None:
    stranger = add_agent(app, inbox["other"]["id"], "Eve")
    ticket = inbox["tickets"][0]["id"]
    error(client.patch(f"{TICKETS}/{ticket}", json={"assigned_to": stranger},
                       headers=auth(biz["sk"])), 400, "assigned_to")
    assert db_ticket(app, ticket).assigned_to is None


def test_noop_patch_changes_and_emits_nothing(app: Any, client: Any, biz: dict[str, Any],
                                              inbox: dict[str, Any],
                                              published: list[Any]) -> None:
    ticket = inbox["tickets"][0]
    data = patch(client, biz["sk"], ticket["id"], status=ticket["status"], tags=ticket["tags"])
    assert data["updated_at"] == ticket["updated_at"].strftime("%Y-%m-%dT%H:%M:%S.000Z")
    assert patch(client, biz["sk"], ticket["id"]) == data
    assert published == []


def test_patch_events(app: Any, client: Any, biz: dict[str, Any], inbox: dict[str, Any],
                      published: list[Any]) -> None:
    ticket = inbox["tickets"][0]["id"]
    data = patch(client, biz["sk"], ticket, status="resolved", tags=["vip"])
    assert [(channels, name) for channels, name, _ in published] == [
        ([f"business.{biz['id']}.test"], "ConversationUpdated"),
        ([f"conversation.{ticket}"], "ConversationUpdated")]
    assert published[0][2] == data  # agents get the ticket row
    assert published[1][2] == {"conversation_id": ticket, "status": "resolved",
                               "updated_at": data["updated_at"],
                               "resolved_at": data["resolved_at"]}


# ---------- realtime: the visitor's socket ----------------------------------------------------


@pytest.fixture
def visitor(live: str, biz: dict[str, Any]) -> Iterator[tuple[dict[str, Any], PusherTestClient]]:
    started = start_visitor(live, biz["pk"], "ticket-visitor", email="v@example.com")
    socket = PusherTestClient.for_session(started)
    socket.subscribe_session(started, biz["pk"])
    yield started, socket
    socket.close()


def test_patch_reaches_the_visitor_socket(live: str, app: Any, biz: dict[str, Any],
                                          visitor: Any) -> None:
    started, socket = visitor
    agent = add_agent(app, biz["id"], "Ada")
    resp = httpx.patch(f"{live}{TICKETS}/{started['conversation_id']}",
                       json={"status": "resolved", "assigned_to": agent, "tags": ["secret-tag"]},
                       headers=auth(biz["sk"]))
    assert resp.status_code == 200, resp.text
    frame = socket.expect("ConversationUpdated")
    assert frame["channel"] == started["realtime"]["channel"]
    assert frame["data"]["conversation_id"] == started["conversation_id"]
    assert frame["data"]["status"] == "resolved"
    assert "tags" not in frame["data"] and "secret-tag" not in frame["data_raw"]
    reopened = httpx.patch(f"{live}{TICKETS}/{started['conversation_id']}",
                           json={"status": "open"}, headers=auth(biz["sk"]))
    assert reopened.status_code == 200
    assert socket.expect("ConversationUpdated")["data"]["resolved_at"] is None


def test_agent_typing_reaches_the_visitor_socket(live: str, app: Any, biz: dict[str, Any],
                                                 visitor: Any) -> None:
    started, socket = visitor
    agent = add_agent(app, biz["id"], "Ada")
    resp = httpx.post(f"{live}{TICKETS}/{started['conversation_id']}/typing",
                      headers=auth(agent_token(app, biz["id"], user_id=agent)))
    assert resp.status_code == 200 and resp.json() == {"ok": True}
    frame = socket.expect("TypingStarted")
    assert frame["data"] == {"conversation_id": started["conversation_id"], "role": "agent",
                             "name": "Ada"}


def test_rejected_patch_reaches_no_socket(live: str, biz: dict[str, Any], visitor: Any) -> None:
    started, socket = visitor
    resp = httpx.patch(f"{live}{TICKETS}/{started['conversation_id']}",
                       json={"status": "gone"}, headers=auth(biz["sk"]))
    assert resp.status_code == 400
    assert socket.quiet(0.5)


# ---------- replies ---------------------------------------------------------------------------


def test_agent_reply_records_sender_and_is_idempotent(app: Any, client: Any, biz: dict[str, Any],
                                                      inbox: dict[str, Any]) -> None:
    ticket = inbox["tickets"][2]["id"]
    agent = inbox["agents"][0]
    headers = auth(agent_token(app, biz["id"], user_id=agent), **{"Idempotency-Key": "reply-1"})
    first = client.post(f"{TICKETS}/{ticket}/messages", json={"content": "On it"},
                        headers=headers)
    again = client.post(f"{TICKETS}/{ticket}/messages", json={"content": "On it"},
                        headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.get_json() == first.get_json()
    assert first.get_json()["data"]["sender"] == {"role": "agent", "name": "Ada"}
    with session_scope(app) as s:
        rows = s.execute(select(Message.sender_user_id, Message.content).where(
            Message.conversation_id == ticket, Message.direction == "outbound")).all()
        assert [tuple(r) for r in rows] == [(agent, "On it")]
    detail = client.get(f"{TICKETS}/{ticket}", headers=auth(biz["sk"])).get_json()["data"]
    assert detail["messages"][-1]["sender"] == {"role": "agent", "name": "Ada", "user_id": agent}
    assert detail["unread_count"] == 0 and detail["last_message_preview"] == "On it"
    secret = client.post(f"{TICKETS}/{ticket}/messages", json={"content": "by key"},
                         headers=auth(biz["sk"]))
    assert secret.status_code == 201
    with session_scope(app) as s:
        assert s.scalar(select(Message.sender_user_id).where(
            Message.id == secret.get_json()["data"]["id"])) is None


def test_seed_mixes_every_dimension() -> None:
    """ticket_spec mixes every dimension (a guard for the fixtures above)."""
    specs = [ticket_spec(i, [None, 1, 2]) for i in range(N)]
    assert {s["status"] for s in specs} == {"open", "pending", "resolved"}
    assert {s["channel"] for s in specs} == {"api", "widget"}
    assert {s["assigned_to"] for s in specs} == {None, 1, 2}
    assert len({s["created_at"] for s in specs}) == N // 2  # ties, broken by id
    assert len({s["updated_at"] for s in specs}) < N


# ---------- an inbox's starting points: who am I, and the message feed --------------------

FEED = "/api/v1/messages"


def feed(client: Any, key: str, **params: Any) -> dict[str, Any]:
    resp = client.get(FEED, query_string=params, headers=auth(key))
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return resp.get_json()  # type: ignore[no-any-return]


def message_ids(app: Any, business_id: int, mode: str) -> list[int]:
    with session_scope(app) as s:
        return list(s.scalars(select(Message.id).join(Conversation).where(
            Conversation.business_id == business_id, Conversation.mode == mode)
            .order_by(Message.id)))


def test_feed_without_after_id_is_the_starting_watermark(ro: dict[str, Any]) -> None:
    ours = message_ids(ro["app"], ro["biz"]["id"], "test")
    with session_scope(ro["app"]) as s:
        newest_anywhere = s.scalar(select(func.max(Message.id)))
    assert len(ours) == N and newest_anywhere > ours[-1]  # live mode and Other wrote later
    assert feed(ro["client"], ro["sk"]) == {"data": [],
                                            "meta": {"has_more": False, "last_id": ours[-1]}}
    other = feed(ro["client"], ro["other"]["sk"])["meta"]
    assert other["last_id"] == message_ids(ro["app"], ro["other"]["id"], "test")[-1]


def test_feed_of_an_empty_business_starts_at_zero(client: Any, biz: dict[str, Any]) -> None:
    assert feed(client, biz["sk"]) == {"data": [], "meta": {"has_more": False, "last_id": 0}}
    assert feed(client, biz["sk"], after_id=0)["meta"] == {"has_more": False, "last_id": 0}


@pytest.mark.parametrize("limit", [1, 7, 66, 100])
def test_feed_walks_this_business_and_mode_oldest_first(ro: dict[str, Any], limit: int) -> None:
    ours = message_ids(ro["app"], ro["biz"]["id"], "test")
    seen: list[int] = []
    after = 0
    for _ in range(N + 1):
        page = feed(ro["client"], ro["sk"], after_id=after, limit=limit)
        assert len(page["data"]) <= limit
        seen += [m["id"] for m in page["data"]]
        after = page["meta"]["last_id"]
        assert after == (seen[-1] if page["data"] else after)
        if not page["meta"]["has_more"]:
            break
    assert seen == ours
    first = feed(ro["client"], ro["sk"], after_id=0, limit=1)["data"][0]
    assert first["conversation_id"] == ro["tickets"][0]["id"]
    assert first["sender"] == {"role": "visitor", "name": None, "user_id": None}
    # at the end: nothing more, and the watermark stays where the client is
    assert feed(ro["client"], ro["sk"], after_id=ours[-1]) == {
        "data": [], "meta": {"has_more": False, "last_id": ours[-1]}}


def test_feed_keeps_live_and_test_apart(app: Any, client: Any, biz: dict[str, Any]) -> None:
    seed(app, biz["id"], "test", [ticket_spec(i, [None]) for i in range(3)], "t")
    seed(app, biz["id"], "live", [ticket_spec(i, [None]) for i in range(2)], "l")
    with session_scope(app) as s:
        _, live_sk = do_create_key(s, s.get(Business, biz["id"]), "secret", "live")
    live = feed(client, live_sk, after_id=0)["data"]
    assert [m["id"] for m in live] == message_ids(app, biz["id"], "live")
    token = agent_token(app, biz["id"], mode="live")  # an agent token's mode counts too
    assert feed(client, token, after_id=0)["data"] == live
    assert feed(client, biz["sk"])["meta"]["last_id"] == message_ids(app, biz["id"], "test")[-1]


@pytest.mark.parametrize("query,field", [
    ("after_id=-1", "after_id"), ("after_id=abc", "after_id"), ("after_id=1.5", "after_id"),
    ("after_id=2147483648", "after_id"), ("after_id=%C2%B2", "after_id"),
    ("after_id=1&limit=0", "limit"), ("after_id=1&limit=101", "limit"), ("limit=x", "limit"),
])
def test_feed_rejects_bad_positions(ro: dict[str, Any], query: str, field: str) -> None:
    error(ro["client"].get(f"{FEED}?{query}", headers=auth(ro["sk"])), 400, field)


def test_feed_scopes(ro: dict[str, Any]) -> None:
    with session_scope(ro["app"]) as s:
        _, no_read = do_create_key(s, s.get(Business, ro["biz"]["id"]), "secret", "test",
                                   scopes=["tickets:write"])
    error(ro["client"].get(FEED, headers=auth(no_read)), 403, None, "insufficient_scope")
    error(ro["client"].get(FEED), 401, None, "missing_api_key")


def test_feed_plans_walk_the_messages_key(big: dict[str, Any]) -> None:
    """Catch-up walks the messages primary key from after_id (each row's conversation by its
    own key), and the watermark reads it backwards: never a sort, on 100,000 messages."""
    client = big["app"].test_client()
    for params in ({}, {"after_id": 0}, {"after_id": BIG // 2}):
        resp, plans = captured_plans(big["app"], lambda p=params: client.get(  # type: ignore
            FEED, query_string=p, headers=auth(big["biz"]["sk"])))
        assert resp.status_code == 200
        [(statement, plan)] = [p for p in plans if "FROM messages" in p[0]]
        assert plan[0] in ("SEARCH messages USING INTEGER PRIMARY KEY (rowid>?)",
                           "SCAN messages"), plan
        assert "SEARCH conversations USING INTEGER PRIMARY KEY (rowid=?)" in plan, plan
        assert not any("TEMP B-TREE" in line for line in plan), plan
    assert resp.get_json()["meta"]["has_more"]


def test_me_for_an_agent_token_and_a_secret_key(app: Any, client: Any,
                                                biz: dict[str, Any]) -> None:
    with session_scope(app) as s:
        owner = s.get(User, biz["owner_id"])
        owner.password_hash = PasswordHasher().hash("owner password!")
    login = client.post("/api/v1/auth/login", json={
        "email": "owner@acme.test", "password": "owner password!", "mode": "test"})
    assert login.status_code == 200, login.get_json()
    logged = login.get_json()["data"]
    me = client.get("/api/v1/auth/me", headers=auth(logged["token"]))
    assert me.status_code == 200
    data = me.get_json()["data"]
    assert data == {"agent": logged["agent"], "mode": "test", "business_id": biz["id"],
                    "realtime": logged["realtime"]}
    assert data["realtime"]["channel"] == f"private-business.{biz['id']}"
    assert data["agent"]["id"] == biz["owner_id"] and data["agent"]["role"] == "owner"
    by_key = client.get("/api/v1/auth/me", headers=auth(biz["sk"])).get_json()["data"]
    assert by_key == {"agent": None, "mode": "test", "business_id": biz["id"],
                      "realtime": logged["realtime"]}
    live = agent_token(app, biz["id"], mode="live")
    assert client.get("/api/v1/auth/me", headers=auth(live)).get_json()["data"]["mode"] == "live"
    error(client.get("/api/v1/auth/me", headers=auth(biz["pk"])), 401, None, "wrong_key_type")


# ---------- one contact's conversations (the contact panel's "past conversations") --------


def test_contact_id_lists_one_contacts_tickets(app: Any, client: Any,
                                               biz: dict[str, Any]) -> None:
    made = [client.post(TICKETS, json={"customer": {"email": email}, "message": text},
                        headers=auth(biz["sk"])).get_json()["data"]
            for email, text in (("dana@example.com", "one"), ("eve@example.com", "eve's"),
                                ("dana@example.com", "two"), ("dana@example.com", "three"))]
    dana = made[0]["customer"]["id"]
    assert {t["customer"]["id"] for t in made} == {dana, made[1]["customer"]["id"]}
    contact = client.get(f"/api/v1/contacts/{dana}", headers=auth(biz["sk"])).get_json()["data"]
    assert contact["email"] == "dana@example.com"  # customer.id is the contact's id
    ids, meta = list_ids(client, biz["sk"], contact_id=dana)
    assert ids == [made[3]["id"], made[2]["id"], made[0]["id"]] and meta["total"] == 3
    patch(client, biz["sk"], made[2]["id"], status="resolved")
    assert list_ids(client, biz["sk"], contact_id=dana, status="resolved")[0] == [made[2]["id"]]
    assert list_ids(client, biz["sk"], contact_id=dana, sort="created_asc",
                    per_page=2)[1]["next_cursor"]
    other = make_business(app, "Other")
    assert list_ids(client, other["sk"], contact_id=dana)[0] == []  # not theirs: nothing


@pytest.mark.parametrize("value", ["0", "-1", "abc", "2147483648", "1.0"])
def test_contact_id_must_be_an_id(ro: dict[str, Any], value: str) -> None:
    error(ro["client"].get(TICKETS, query_string={"contact_id": value}, headers=auth(ro["sk"])),
          400, "contact_id")


def test_contact_id_plan_uses_the_contact_index(big: dict[str, Any]) -> None:
    """A contact has a handful of conversations: its own index finds them (then they are
    sorted), never a walk of the whole inbox."""
    client = big["app"].test_client()
    with session_scope(big["app"]) as s:
        contact_id = s.get(Conversation, big["last"]["id"]).contact_id  # type: ignore[union-attr]
    resp, plans = captured_plans(big["app"], lambda: client.get(
        TICKETS, query_string={"contact_id": contact_id}, headers=auth(big["biz"]["sk"])))
    assert [t["id"] for t in resp.get_json()["data"]] == [big["last"]["id"]]
    assert plans
    for _statement, plan in plans:
        [walk] = [line for line in plan if "conversations" in line]
        assert re.match(r"SEARCH conversations USING (COVERING )?INDEX "
                        r"ix_conversations_contact_status \(contact_id=\?\)", walk), plan
