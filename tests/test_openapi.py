"""The OpenAPI document: valid OpenAPI 3.1, in step with app.url_map, served with an ETag,
and rendered at /docs from this server's own files (headless Chromium)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import pytest
from openapi_spec_validator import validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError

from server.openapi import build_document, nullable, obj

IGNORED_METHODS = {"HEAD", "OPTIONS"}  # Werkzeug adds them to every rule
CONVERTER = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")  # <int:ticket_id> -> {ticket_id}


def routes(app: Any) -> set[tuple[str, str]]:
    """Every (path template, method) the app answers."""
    return {(CONVERTER.sub(r"{\1}", rule.rule), method.lower())
            for rule in app.url_map.iter_rules()
            for method in rule.methods or () if method not in IGNORED_METHODS}


def documented(document: dict[str, Any]) -> set[tuple[str, str]]:
    """Every (path, method) the document describes."""
    return {(path, method) for path, item in document["paths"].items() for method in item}


def test_document_is_valid_openapi_3_1(app: Any) -> None:
    document = build_document(app.config)
    assert document["openapi"] == "3.1.0"
    validate(document)  # raises on any violation of the OpenAPI 3.1 schema


def test_the_validator_catches_a_broken_document(app: Any) -> None:
    document = build_document(app.config)
    document["paths"]["/healthz"]["get"]["responses"]["200"] = {"content": {}}  # no description
    with pytest.raises(OpenAPIValidationError):
        validate(document)


def test_every_route_is_documented_and_every_documented_route_exists(app: Any) -> None:
    served, described = routes(app), documented(build_document(app.config))
    assert served - described == set(), "routes missing from server/openapi.py"
    assert described - served == set(), "documented but not routed"


def test_the_drift_test_sees_a_new_route(app: Any) -> None:
    app.add_url_rule("/api/v1/undocumented/<int:thing_id>", "undocumented", lambda thing_id: "",
                     methods=["PUT"])
    missing = routes(app) - documented(build_document(app.config))
    assert missing == {("/api/v1/undocumented/{thing_id}", "put")}


def test_websocket_upgrade_is_documented_as_such(app: Any) -> None:
    socket = build_document(app.config)["paths"]["/app/{app_key}"]["get"]
    assert "101" in socket["responses"] and "upgrade" in socket["description"]


def test_every_operation_documents_its_errors_with_the_error_shape(app: Any) -> None:
    document = build_document(app.config)
    responses = document["components"]["responses"]
    for path, item in document["paths"].items():
        for method, operation in item.items():
            codes = operation["responses"]
            assert {"400", "500"} <= set(codes), (method, path)
            if operation["security"]:
                assert {"401", "403", "429"} <= set(codes), (method, path)
            if "requestBody" in operation:
                assert {"400", "413"} <= set(codes), (method, path)
            for code in codes:
                if code >= "400":
                    name = codes[code]["$ref"].rsplit("/", 1)[1]
                    schema = responses[name]["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/Error"}
    assert document["components"]["schemas"]["Error"]["required"] == ["error", "message"]


def test_security_names_the_credentials_and_scopes(app: Any) -> None:
    paths = build_document(app.config)["paths"]
    assert paths["/api/v1/chat/sessions/{conversation_id}/messages"]["post"]["security"] == [
        {"publishableKey": [], "sessionToken": []}]
    assert paths["/api/v1/chat/config"]["get"]["security"] == [{"publishableKey": []}]
    assert paths["/api/v1/tickets"]["post"]["security"] == [
        {"secretKey": ["tickets:write"]}, {"agentToken": ["tickets:write"]},
        {"oauthToken": ["tickets:write"]}]
    assert paths["/api/v1/auth/login"]["post"]["security"] == []


def test_scopes_match_the_views(app: Any) -> None:
    paths = build_document(app.config)["paths"]
    for rule in app.url_map.iter_rules():
        scope = getattr(app.view_functions[rule.endpoint], "required_scope", None)
        if scope is None:
            continue
        path = CONVERTER.sub(r"{\1}", rule.rule)
        for method in set(rule.methods or ()) - IGNORED_METHODS:
            security = paths[path][method.lower()]["security"]
            assert security == [{"secretKey": [scope]}, {"agentToken": [scope]},
                                {"oauthToken": [scope]}], (method, path)


def test_limits_follow_the_config(tmp_path: Any) -> None:
    from server import create_app

    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}",
                      "MESSAGE_MAX_LENGTH": 500})
    schemas = build_document(app.config)["components"]["schemas"]
    assert schemas["MessageIn"]["properties"]["content"]["maxLength"] == 500


def test_pieces() -> None:
    assert nullable({"type": "string"}) == {"type": ["string", "null"]}
    assert obj({"a": {"type": "integer"}}, {"b": {"type": "string"}})["required"] == ["a"]


def test_openapi_json_is_served_with_an_etag(client: Any, app: Any) -> None:
    resp = client.get("/openapi.json")
    assert resp.status_code == 200 and resp.mimetype == "application/json"
    assert resp.get_json() == build_document(app.config)
    etag = resp.headers["ETag"]
    again = client.get("/openapi.json", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b"" and again.headers["ETag"] == etag
    assert client.get("/openapi.json", headers={"If-None-Match": '"old"'}).status_code == 200


def test_docs_assets_come_from_this_server(client: Any) -> None:
    page = client.get("/docs")
    assert page.status_code == 200 and page.mimetype == "text/html"
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert "http" not in page.get_data(as_text=True)  # no absolute URL: nothing from elsewhere
    for asset, mimetype in [("swagger-ui.css", "text/css"),
                            ("swagger-ui-bundle.js", "text/javascript"),
                            ("docs.js", "text/javascript")]:
        resp = client.get(f"/docs/{asset}")
        assert resp.status_code == 200 and resp.mimetype == mimetype, asset
        again = client.get(f"/docs/{asset}", headers={"If-None-Match": resp.headers["ETag"]})
        assert again.status_code == 304, asset
    missing = client.get("/docs/../server/app.py")
    assert missing.status_code == 404 and missing.get_json()["error"] == "not_found"
    assert client.get("/docs/index.html").get_json()["error"] == "not_found"


def test_swagger_ui_renders_the_document_offline(live: str, page: Any) -> None:
    """Open /docs in headless Chromium: every operation is listed, nothing is requested from
    another host, and the page's Content-Security-Policy is never violated."""
    expect = pytest.importorskip("playwright.sync_api").expect
    server, hosts, errors = urlsplit(live).netloc, set(), []
    page.on("request", lambda req: hosts.add(urlsplit(req.url).netloc))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.goto(f"{live}/docs")
    operations = page.locator(".opblock")
    expect(operations.first).to_be_visible(timeout=20_000)
    document = build_document({"MESSAGE_MAX_LENGTH": 8000})
    assert operations.count() == len(documented(document))
    assert page.locator(".info .title").inner_text().startswith("chatdock")
    page.locator("#operations-tickets-listTickets .opblock-summary").click()
    expect(page.locator("#operations-tickets-listTickets .parameters")).to_be_visible()
    assert hosts == {server}, hosts
    assert errors == [], errors
