"""Every agent-API route: its scope is enforced, and another business sees nothing (404)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import select

from server.auth import ROLE_SCOPES
from server.db import session_scope
from server.models import Business, CannedResponse, Contact, WebhookEndpoint
from server.services import knowledge
from server.services.keys import SCOPES, do_create_key
from server.services.oauth import ClientRequest, do_create_client
from server.services.webhooks import do_send_test, new_secret
from tests.conftest import agent_token, auth, make_business

PUBLIC_PREFIXES = ("/api/v1/chat/", "/api/v1/auth/",  # visitor API and login: not agent routes
                   "/api/v1/oauth/token",  # nor the OAuth2 token endpoint (client auth)
                   "/api/v1/talkr/")  # nor TALKR's wire endpoint (no key: the bot's slug + id)
PARAM = re.compile(r"<(?:[^:>]+:)?([a-z_]+)(?:\([^)]*\))?>")


def agent_routes(app: Any) -> list[tuple[str, str, str]]:
    """(method, rule, required scope) for every /api/v1 route outside the visitor API."""
    routes = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/") or rule.rule.startswith(PUBLIC_PREFIXES):
            continue
        scope = getattr(app.view_functions[rule.endpoint], "required_scope", None)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            routes.append((method, rule.rule, scope))
    return routes


def test_every_agent_route_declares_a_scope(app: Any) -> None:
    routes = agent_routes(app)
    assert len(routes) >= 15
    assert [r for r in routes if r[2] is None] == []
    assert {scope for _, _, scope in routes} <= set(SCOPES)


def url(rule: str, ids: dict[str, int]) -> str:
    return PARAM.sub(lambda m: str(ids[m.group(1)]), rule)


@pytest.fixture
def world(app: Any, client: Any) -> dict[str, Any]:
    """Business A with a ticket, a contact and a key; business B's credentials."""
    a, b = make_business(app, "Alpha"), make_business(app, "Beta")
    started = client.post("/api/v1/chat/sessions", json={"visitor_id": "alpha-visitor"},
                          headers=auth(a["pk"])).get_json()["data"]
    with session_scope(app) as session:
        contact_id = session.scalar(select(Contact.id).where(Contact.visitor_id == "alpha-visitor"))
        canned = CannedResponse(business_id=a["id"], shortcut="hello", content="Hello!")
        session.add(canned)
        session.flush()
        canned_id = canned.id
        hook = WebhookEndpoint(business_id=a["id"], mode="test", url="https://hooks.test/a",
                               events=["*"], secret=new_secret())
        session.add(hook)
        session.flush()
        delivery = do_send_test(session, a["id"], "test", hook.id)
        oauth_client, _ = do_create_client(session, a["id"], "test",
                                           ClientRequest("Alpha's CRM", ["tickets:read"]),
                                           frozenset(SCOPES))
        oauth_client_id = oauth_client.id
        collection = knowledge.do_create_collection(
            session, a["id"], knowledge.check_new_collection({"name": "Help"}))
        document = knowledge.do_add_document(
            session, a["id"], collection["id"],
            knowledge.check_json_document({"title": "Hours", "text": "We open at nine."}))
    an_agent = agent_token(app, a["id"])
    ids = {"ticket_id": started["conversation_id"], "contact_id": contact_id,
           "canned_id": canned_id, "endpoint_id": hook.id, "delivery_id": delivery["id"],
           "oauth_client_id": oauth_client_id, "collection_id": collection["id"],
           "document_id": document["id"],
           "key_id": a["pk_id"], "id": started["conversation_id"],
           "agent_id": app.extensions["agent_tokens"].loads(an_agent[3:])["u"]}
    return {"a": a, "b": b, "ids": ids,
            "b_token": agent_token(app, b["id"], role="owner"),
            "a_token": agent_token(app, a["id"], role="owner")}


def valid_body(method: str, path: str) -> dict[str, Any] | None:
    """A body each write route accepts, so that only ownership or scope can fail."""
    if method not in ("POST", "PUT", "PATCH"):
        return None
    if path.endswith(("/messages", "/notes")):
        return {"content": "hello"}
    if "/tickets/" in path and method == "PATCH":
        return {"status": "open"}
    if "/contacts/" in path and method == "PATCH":
        return {"name": "Someone"}
    if path.endswith("/knowledge/collections"):
        return {"name": "FAQ"}
    if path.endswith("/documents"):
        return {"title": "Returns", "text": "Send it back within 30 days."}
    if path.endswith("/bot/preview"):
        return {"question": "When do you open?"}
    if path.endswith("/oauth/clients"):
        return {"name": "CRM", "scopes": ["tickets:read"]}
    return {}


def call(client: Any, method: str, path: str, credential: str) -> Any:
    body = valid_body(method, path)
    return client.open(path, method=method, json=body,
                       headers=auth(credential))


def test_a_key_lacking_the_scope_gets_403(app: Any, client: Any, world: dict[str, Any]) -> None:
    checked = 0
    for method, rule, scope in agent_routes(app):
        with session_scope(app) as session:
            business = session.get(Business, world["a"]["id"])
            _, narrow = do_create_key(session, business, "secret", "test",
                                      scopes=[s for s in SCOPES if s != scope])
        resp = call(client, method, url(rule, world["ids"]), narrow)
        assert resp.status_code == 403, (method, rule, resp.get_json())
        assert resp.get_json()["error"] == "insufficient_scope", (method, rule)
        assert scope in resp.get_json()["message"]
        checked += 1
    assert checked >= 15


def test_a_publishable_key_is_the_wrong_type(app: Any, client: Any,
                                             world: dict[str, Any]) -> None:
    for method, rule, _ in agent_routes(app):
        resp = call(client, method, url(rule, world["ids"]), world["a"]["pk"])
        assert resp.status_code == 401 and resp.get_json()["error"] == "wrong_key_type", rule


def test_an_agent_role_lacks_owner_scopes(app: Any, client: Any, world: dict[str, Any]) -> None:
    agent = agent_token(app, world["a"]["id"], role="agent")
    owner_only = [(m, r, s) for m, r, s in agent_routes(app) if s not in ROLE_SCOPES["agent"]]
    assert owner_only  # keys, branding, agents
    for method, rule, _ in owner_only:
        resp = call(client, method, url(rule, world["ids"]), agent)
        assert resp.status_code == 403, (method, rule)


@pytest.mark.parametrize("who", ["b_secret_key", "b_agent_token"])
def test_another_business_sees_404_on_every_route_with_an_id(app: Any, client: Any,
                                                             world: dict[str, Any],
                                                             who: str) -> None:
    credential = world["b"]["sk"] if who == "b_secret_key" else world["b_token"]
    with_ids = [(m, r) for m, r, _ in agent_routes(app) if PARAM.search(r)]
    assert len(with_ids) >= 8
    for method, rule in with_ids:
        resp = call(client, method, url(rule, world["ids"]), credential)
        assert resp.status_code == 404, (who, method, rule, resp.get_json())
        assert resp.get_json()["error"] == "not_found"
    # and A's things are still there for A
    resp = client.get(f"/api/v1/tickets/{world['ids']['ticket_id']}",
                      headers=auth(world["a"]['sk']))
    assert resp.status_code == 200


@pytest.mark.parametrize("path,id_name", [("/api/v1/tickets", "ticket_id"),
                                          ("/api/v1/contacts", "contact_id"),
                                          ("/api/v1/keys", "key_id"),
                                          ("/api/v1/oauth/clients", "oauth_client_id"),
                                          ("/api/v1/canned-responses", "canned_id"),
                                          ("/api/v1/webhooks", "endpoint_id"),
                                          ("/api/v1/knowledge/collections", "collection_id")])
def test_lists_of_another_business_do_not_show_a(client: Any, world: dict[str, Any],
                                                 path: str, id_name: str) -> None:
    mine = client.get(path, headers=auth(world["a"]['sk']))
    assert world["ids"][id_name] in {row["id"] for row in mine.get_json()["data"]}
    for credential in (world["b"]["sk"], world["b_token"]):
        resp = client.get(path, headers=auth(credential))
        assert resp.status_code == 200, (path, resp.get_json())
        assert world["ids"][id_name] not in {row["id"] for row in resp.get_json()["data"]}
