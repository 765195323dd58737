"""Ratings (CSAT): once per resolution, shown on tickets, announced by webhook; and the
contact.created webhook."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from server import create_app
from server.db import session_scope
from server.models import Rating, WebhookEvent
from tests.conftest import auth, db_upgrade, make_business, serving
from tests.test_scaleout import postgres_url  # noqa: F401  (a fixture: a fresh database)
from tests.test_webhooks import deliveries, register

CHAT = "/api/v1/chat/sessions"


def start(client: Any, pk: str, visitor_id: str = "v-rate") -> dict[str, Any]:
    resp = client.post(CHAT, json={"visitor_id": visitor_id}, headers=auth(pk))
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()["data"]  # type: ignore[no-any-return]


def rate(client: Any, pk: str, started: dict[str, Any], body: dict[str, Any],
         **headers: str) -> Any:
    return client.post(f"{CHAT}/{started['conversation_id']}/rating", json=body,
                       headers=auth(pk, started["session_token"], **headers))


def set_status(client: Any, sk: str, conversation_id: int, status: str) -> dict[str, Any]:
    resp = client.patch(f"/api/v1/tickets/{conversation_id}", json={"status": status},
                        headers=auth(sk))
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()["data"]  # type: ignore[no-any-return]


def ticket(client: Any, sk: str, conversation_id: int) -> dict[str, Any]:
    return client.get(f"/api/v1/tickets/{conversation_id}",  # type: ignore[no-any-return]
                      headers=auth(sk)).get_json()["data"]


def stored(app: Any) -> int:
    with session_scope(app) as s:
        return int(s.scalar(select(func.count()).select_from(Rating)) or 0)


def test_rating_once_per_resolution(app: Any, client: Any, biz: dict[str, Any]) -> None:
    started = start(client, biz["pk"])
    conversation = started["conversation_id"]
    assert ticket(client, biz["sk"], conversation)["rating"] is None
    set_status(client, biz["sk"], conversation, "resolved")

    first = rate(client, biz["pk"], started, {"score": 4, "comment": "  Quick and kind  "})
    assert first.status_code == 201, first.get_json()
    rating = first.get_json()["data"]["rating"]
    assert {k: rating[k] for k in ("score", "comment")} == {"score": 4,
                                                            "comment": "Quick and kind"}
    assert isinstance(rating["id"], int) and rating["created_at"].endswith("Z")

    again = rate(client, biz["pk"], started, {"score": 1})
    assert again.status_code == 409
    assert again.get_json()["error"] == "conflict"
    assert "already rated" in again.get_json()["message"]
    shown = {"score": 4, "comment": "Quick and kind", "created_at": rating["created_at"]}
    assert ticket(client, biz["sk"], conversation)["rating"] == shown
    listed = client.get("/api/v1/tickets", headers=auth(biz["sk"])).get_json()["data"]
    assert [t["rating"] for t in listed] == [shown]

    # the visitor writes again: reopened, nothing to rate; resolved again: a new rating
    client.post(f"{CHAT}/{conversation}/messages", json={"content": "one more thing"},
                headers=auth(biz["pk"], started["session_token"]))
    assert ticket(client, biz["sk"], conversation)["status"] == "open"
    assert rate(client, biz["pk"], started, {"score": 2}).status_code == 409
    set_status(client, biz["sk"], conversation, "resolved")
    second = rate(client, biz["pk"], started, {"score": 5})
    assert second.status_code == 201, second.get_json()
    assert ticket(client, biz["sk"], conversation)["rating"]["score"] == 5
    assert stored(app) == 2


def test_an_unresolved_conversation_cannot_be_rated(app: Any, client: Any,
                                                     biz: dict[str, Any]) -> None:
    started = start(client, biz["pk"])
    resp = rate(client, biz["pk"], started, {"score": 5})
    assert resp.status_code == 409
    assert resp.get_json()["error"] == "conflict"
    assert "not resolved" in resp.get_json()["message"]
    assert stored(app) == 0


@pytest.mark.parametrize(("body", "field"), [
    ({}, "score"), ({"score": True}, "score"), ({"score": "4"}, "score"),
    ({"score": 4.0}, "score"), ({"score": 0}, "score"), ({"score": 6}, "score"),
    ({"score": None}, "score"), ({"score": 3, "comment": 7}, "comment"),
    ({"score": 3, "comment": "x" * 1001}, "comment"),
])
def test_bad_bodies_are_400_and_change_nothing(app: Any, client: Any, biz: dict[str, Any],
                                               body: dict[str, Any], field: str) -> None:
    started = start(client, biz["pk"])
    set_status(client, biz["sk"], started["conversation_id"], "resolved")
    resp = rate(client, biz["pk"], started, body)
    assert resp.status_code == 400
    assert (resp.get_json()["error"], resp.get_json()["field"]) == ("validation_error", field)
    assert stored(app) == 0
    assert rate(client, biz["pk"], started, {"score": 3, "comment": "x" * 1000}
                ).status_code == 201


def test_the_status_tells_the_widget_whether_to_ask(client: Any, biz: dict[str, Any]) -> None:
    started = start(client, biz["pk"])
    url = f"{CHAT}/{started['conversation_id']}/rating"
    headers = auth(biz["pk"], started["session_token"])
    assert client.get(url, headers=headers).get_json()["data"] == {
        "status": "open", "pending": False, "rating": None}
    set_status(client, biz["sk"], started["conversation_id"], "resolved")
    assert client.get(url, headers=headers).get_json()["data"]["pending"] is True
    rating = rate(client, biz["pk"], started, {"score": 2}).get_json()["data"]["rating"]
    assert client.get(url, headers=headers).get_json()["data"] == {
        "status": "resolved", "pending": False, "rating": rating}


def test_only_the_own_conversation_and_a_session_token(client: Any, biz: dict[str, Any]) -> None:
    mine, other = start(client, biz["pk"]), start(client, biz["pk"], "v-other")
    set_status(client, biz["sk"], other["conversation_id"], "resolved")
    resp = client.post(f"{CHAT}/{other['conversation_id']}/rating", json={"score": 5},
                       headers=auth(biz["pk"], mine["session_token"]))
    assert resp.status_code == 404
    resp = client.post(f"{CHAT}/{other['conversation_id']}/rating", json={"score": 5},
                       headers=auth(biz["pk"]))
    assert resp.status_code == 401


def test_an_idempotency_key_replays_the_first_answer(app: Any, client: Any,
                                                     biz: dict[str, Any]) -> None:
    started = start(client, biz["pk"])
    set_status(client, biz["sk"], started["conversation_id"], "resolved")
    first = rate(client, biz["pk"], started, {"score": 4}, **{"Idempotency-Key": "r1"})
    replay = rate(client, biz["pk"], started, {"score": 4}, **{"Idempotency-Key": "r1"})
    assert (first.status_code, replay.status_code) == (201, 201)
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.get_json() == first.get_json()
    assert stored(app) == 1


def test_rating_created_webhook(app: Any, client: Any, biz: dict[str, Any]) -> None:
    app.config["WEBHOOK_ALLOW_PRIVATE"] = True
    hook = register(client, biz["sk"], "http://127.0.0.1:9/r", ["rating.created"])
    started = start(client, biz["pk"])
    set_status(client, biz["sk"], started["conversation_id"], "resolved")
    assert deliveries(client, biz["sk"], hook["id"]) == []
    rating = rate(client, biz["pk"], started, {"score": 3, "comment": "ok"}
                  ).get_json()["data"]["rating"]
    rate(client, biz["pk"], started, {"score": 3})  # refused: no second event
    assert [d["type"] for d in deliveries(client, biz["sk"], hook["id"])] == ["rating.created"]
    with session_scope(app) as s:
        payload = s.scalars(select(WebhookEvent.payload)).one()
    customer = ticket(client, biz["sk"], started["conversation_id"])["customer"]
    assert payload == {"conversation_id": started["conversation_id"],
                       "contact_id": customer["id"], "rating": rating}


def test_erasing_the_contact_deletes_its_ratings(app: Any, client: Any,
                                                 biz: dict[str, Any]) -> None:
    started = start(client, biz["pk"])
    set_status(client, biz["sk"], started["conversation_id"], "resolved")
    rate(client, biz["pk"], started, {"score": 1, "comment": "my order 1234"})
    contact_id = ticket(client, biz["sk"], started["conversation_id"])["customer"]["id"]
    assert client.delete(f"/api/v1/contacts/{contact_id}",
                         headers=auth(biz["sk"])).status_code == 200
    assert stored(app) == 0


def test_contact_created_once_per_new_contact(app: Any, client: Any,
                                              biz: dict[str, Any]) -> None:
    app.config["WEBHOOK_ALLOW_PRIVATE"] = True
    hook = register(client, biz["sk"], "http://127.0.0.1:9/c", ["contact.created"])
    start(client, biz["pk"], "v-new")
    start(client, biz["pk"], "v-new")  # resumed: not new
    body = {"customer": {"email": "ada@example.com"}, "message": "Hello"}
    for _ in range(2):  # the second ticket reuses the contact
        assert client.post("/api/v1/tickets", json=body,
                           headers=auth(biz["sk"])).status_code == 201
    assert [d["type"] for d in deliveries(client, biz["sk"], hook["id"])] == [
        "contact.created", "contact.created"]
    with session_scope(app) as s:
        payloads = s.scalars(select(WebhookEvent.payload).order_by(WebhookEvent.id)).all()
    assert [p["contact"]["visitor_id"] for p in payloads] == ["v-new", "email:ada@example.com"]
    assert all(isinstance(p["contact_id"], int) for p in payloads)


def test_concurrent_ratings_on_postgres_store_one(postgres_url: str) -> None:  # noqa: F811
    db_upgrade(postgres_url)
    app = create_app({"DATABASE_URL": postgres_url, "PUBLIC_URL": "", "REDIS_URL": ""})
    biz = make_business(app)
    client = app.test_client()
    started = start(client, biz["pk"])
    set_status(client, biz["sk"], started["conversation_id"], "resolved")
    with serving(app) as base:
        url = f"{base}{CHAT}/{started['conversation_id']}/rating"
        headers = auth(biz["pk"], started["session_token"])
        barrier = threading.Barrier(6)

        def one(score: int) -> int:
            barrier.wait()
            return httpx.post(url, json={"score": score}, headers=headers).status_code
        with ThreadPoolExecutor(6) as pool:
            statuses = sorted(pool.map(one, [1, 2, 3, 4, 5, 5]))
    assert statuses == [201, 409, 409, 409, 409, 409]
    assert stored(app) == 1
