"""Canned responses: per business (test and live share them), shortcuts unique, bounded."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, insert, select

from server.db import session_scope
from server.models import Business, CannedResponse, utcnow
from server.services.keys import do_create_key
from tests.conftest import agent_token, auth, make_business

CANNED = "/api/v1/canned-responses"


def create(client: Any, credential: str, shortcut: Any = "refund",
           content: Any = "Your refund is on its way.") -> Any:
    return client.post(CANNED, json={"shortcut": shortcut, "content": content},
                       headers=auth(credential))


def made(client: Any, credential: str, shortcut: str, content: str = "text") -> dict[str, Any]:
    resp = create(client, credential, shortcut, content)
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()["data"]  # type: ignore[no-any-return]


def listed(client: Any, credential: str, q: str | None = None) -> list[str]:
    resp = client.get(CANNED, query_string={"q": q} if q is not None else {},
                      headers=auth(credential))
    assert resp.status_code == 200, resp.get_json()
    assert set(resp.get_json()) == {"data"}
    return [r["shortcut"] for r in resp.get_json()["data"]]


def stored(app: Any) -> list[tuple[int, str, str]]:
    with session_scope(app) as s:
        return [tuple(r) for r in s.execute(select(  # type: ignore[misc]
            CannedResponse.business_id, CannedResponse.shortcut, CannedResponse.content)
            .order_by(CannedResponse.id))]


def error(resp: Any, status: int, code: str, field: str | None) -> None:
    body = resp.get_json()
    assert resp.status_code == status, body
    assert (body["error"], body.get("field")) == (code, field), body


def test_create_list_update_delete(app: Any, client: Any, biz: dict[str, Any]) -> None:
    token = agent_token(app, biz["id"])
    resp = create(client, token, "  Refund ", "Your refund is on its way.")
    assert resp.status_code == 201
    row = resp.get_json()["data"]
    assert row == {"id": row["id"], "shortcut": "refund", "content": "Your refund is on its way.",
                   "created_at": row["created_at"], "updated_at": row["created_at"]}
    made(client, biz["sk"], "greet", "Hi! How can I help?")
    made(client, token, "bye-now", "Have a nice day.")
    assert listed(client, token) == ["bye-now", "greet", "refund"]
    full = client.get(CANNED, headers=auth(token)).get_json()["data"]
    assert full[2] == row
    patched = client.patch(f"{CANNED}/{row['id']}", json={"content": "Refunded today."},
                           headers=auth(token))
    assert patched.status_code == 200
    data = patched.get_json()["data"]
    assert (data["shortcut"], data["content"]) == ("refund", "Refunded today.")
    assert data["created_at"] == row["created_at"] and data["updated_at"] >= row["updated_at"]
    renamed = client.patch(f"{CANNED}/{row['id']}", json={"shortcut": "REFUND_2"},
                           headers=auth(token)).get_json()["data"]
    assert renamed["shortcut"] == "refund_2" and renamed["content"] == "Refunded today."
    gone = client.delete(f"{CANNED}/{row['id']}", headers=auth(token))
    assert gone.status_code == 200 and gone.get_json() == {"ok": True}
    assert listed(client, token) == ["bye-now", "greet"]
    error(client.delete(f"{CANNED}/{row['id']}", headers=auth(token)), 404, "not_found", None)


def test_q_is_a_shortcut_prefix_with_no_wildcards(client: Any, biz: dict[str, Any]) -> None:
    for shortcut in ("ship", "ship-late", "shipping", "refund", "a_b", "axb"):
        made(client, biz["sk"], shortcut)
    assert listed(client, biz["sk"], "SHIP") == ["ship", "ship-late", "shipping"]
    assert listed(client, biz["sk"], "ship-") == ["ship-late"]
    assert listed(client, biz["sk"], "a_") == ["a_b"]  # _ is a character, not a LIKE wildcard
    assert listed(client, biz["sk"], "hip") == []  # a prefix, not a substring
    assert listed(client, biz["sk"], "") == listed(client, biz["sk"])
    error(client.get(CANNED, query_string={"q": "x" * 33}, headers=auth(biz["sk"])), 400,
          "validation_error", "q")


def test_shortcuts_are_unique_per_business(app: Any, client: Any, biz: dict[str, Any]) -> None:
    first = made(client, biz["sk"], "refund", "first")
    error(create(client, biz["sk"], "Refund", "second"), 409, "conflict", "shortcut")
    other = make_business(app, "Other")
    made(client, other["sk"], "refund", "theirs")  # another business may use it
    greet = made(client, biz["sk"], "greet")
    error(client.patch(f"{CANNED}/{greet['id']}", json={"shortcut": "refund"},
                       headers=auth(biz["sk"])), 409, "conflict", "shortcut")
    same = client.patch(f"{CANNED}/{first['id']}", json={"shortcut": "refund"},
                        headers=auth(biz["sk"]))  # its own shortcut is no clash
    assert same.status_code == 200 and same.get_json()["data"] == first
    assert stored(app) == [(biz["id"], "refund", "first"), (other["id"], "refund", "theirs"),
                           (biz["id"], "greet", "text")]


@pytest.mark.parametrize("body,field", [
    ({"content": "x"}, "shortcut"), ({"shortcut": "", "content": "x"}, "shortcut"),
    ({"shortcut": "two words", "content": "x"}, "shortcut"),
    ({"shortcut": "x" * 33, "content": "x"}, "shortcut"),
    ({"shortcut": "café", "content": "x"}, "shortcut"),
    ({"shortcut": "a.b", "content": "x"}, "shortcut"),
    ({"shortcut": 7, "content": "x"}, "shortcut"),
    ({"shortcut": "ok"}, "content"), ({"shortcut": "ok", "content": "  "}, "content"),
    ({"shortcut": "ok", "content": "x" * 4001}, "content"),
    ({"shortcut": "ok", "content": ["x"]}, "content"),
])
def test_bad_bodies_are_refused_and_store_nothing(app: Any, client: Any, biz: dict[str, Any],
                                                  body: dict[str, Any], field: str) -> None:
    error(client.post(CANNED, json=body, headers=auth(biz["sk"])), 400, "validation_error",
          field)
    row = made(client, biz["sk"], "keep", "kept")
    patch = {k: v for k, v in body.items() if k == field}
    if patch:  # the same field is refused by a PATCH too, and changes nothing
        error(client.patch(f"{CANNED}/{row['id']}", json=patch, headers=auth(biz["sk"])), 400,
              "validation_error", field)
    assert stored(app) == [(biz["id"], "keep", "kept")]


def test_limits_are_inclusive(client: Any, biz: dict[str, Any]) -> None:
    row = made(client, biz["sk"], "x" * 32, "y" * 4000)
    assert (len(row["shortcut"]), len(row["content"])) == (32, 4000)
    made(client, biz["sk"], "0-_")


def test_patch_refuses_unknown_fields_and_other_businesses(app: Any, client: Any,
                                                           biz: dict[str, Any]) -> None:
    row = made(client, biz["sk"], "refund", "text")
    error(client.patch(f"{CANNED}/{row['id']}", json={"id": 9}, headers=auth(biz["sk"])), 400,
          "validation_error", "id")
    other = make_business(app, "Other")
    for method in ("patch", "delete"):
        resp = getattr(client, method)(f"{CANNED}/{row['id']}", json={"content": "mine now"},
                                       headers=auth(other["sk"]))
        error(resp, 404, "not_found", None)
    assert listed(client, other["sk"]) == []
    assert stored(app) == [(biz["id"], "refund", "text")]
    error(client.patch(f"{CANNED}/2147483648", json={}, headers=auth(biz["sk"])), 404,
          "not_found", None)


def test_test_and_live_share_one_set(app: Any, client: Any, biz: dict[str, Any]) -> None:
    made(client, biz["sk"], "refund")
    with session_scope(app) as s:
        _, live_sk = do_create_key(s, s.get(Business, biz["id"]), "secret", "live")
    assert listed(client, live_sk) == listed(client, agent_token(app, biz["id"], mode="live")) \
        == ["refund"]


def test_scopes(app: Any, client: Any, biz: dict[str, Any]) -> None:
    with session_scope(app) as s:
        business = s.get(Business, biz["id"])
        _, reader = do_create_key(s, business, "secret", "test", scopes=["tickets:read"])
        _, writer = do_create_key(s, business, "secret", "test", scopes=["tickets:write"])
    row = made(client, writer, "refund")
    error(create(client, reader, "other"), 403, "insufficient_scope", None)
    error(client.delete(f"{CANNED}/{row['id']}", headers=auth(reader)), 403,
          "insufficient_scope", None)
    error(client.get(CANNED, headers=auth(writer)), 403, "insufficient_scope", None)
    assert listed(client, reader) == ["refund"]
    error(client.get(CANNED, headers=auth(biz["pk"])), 401, "wrong_key_type", None)


def test_a_business_holds_at_most_500(app: Any, client: Any, biz: dict[str, Any]) -> None:
    with app.extensions["engine"].begin() as conn:
        conn.execute(insert(CannedResponse), [
            {"business_id": biz["id"], "shortcut": f"c{i:03d}", "content": "x",
             "created_at": utcnow(), "updated_at": utcnow()} for i in range(500)])
    error(create(client, biz["sk"], "one-more"), 400, "validation_error", None)
    everything = listed(client, biz["sk"])
    assert len(everything) == 500 and everything == sorted(everything)
    with session_scope(app) as s:
        assert s.scalar(select(func.count()).select_from(CannedResponse)) == 500
    first = client.get(CANNED, headers=auth(biz["sk"])).get_json()["data"][0]
    assert client.delete(f"{CANNED}/{first['id']}", headers=auth(biz["sk"])).status_code == 200
    made(client, biz["sk"], "one-more")  # room again
