"""The OpenAPI 3.1 document of every HTTP route, kept by hand from small reusable pieces.

chatdock's views parse their input with check_*() functions, not with schema objects, so a
generator (apispec, flask-smorest) would mean rewriting every view around its schemas. The
document is kept here instead, and kept honest by three tests: openapi-spec-validator checks
it is valid OpenAPI 3.1, tests/test_openapi.py fails on any route of app.url_map missing from
it (or documented but absent), and schemathesis (tests/test_api_conformance.py) calls every
operation with real credentials and checks each answer's status, content type and body.

To document a new route, add one entry to `_paths()`: `{"get": op(...)}` under its path.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from server.config import DEFAULTS
from server.models import MAX_ROW_ID
from server.services import analytics, bot, knowledge, ratings
from server.services import availability as hours
from server.services.keys import KINDS, MODES, SCOPES
from server.services.oauth import MAX_CLIENT_SCOPES
from server.services.tickets import CHANNELS as TICKET_CHANNELS
from server.services.webhooks import EVENT_TYPES as WEBHOOK_EVENTS
from server.visitor_ids import RESERVED_PREFIXES

Schema = dict[str, Any]

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
ISO_TIME = {"type": "string", "format": "date-time",
            "description": "ISO 8601 UTC with milliseconds and Z."}
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
COLOR = "^#[0-9A-Fa-f]{6}$"


def _any_case(word: str) -> str:
    """A regex matching word in any letter case (JSON Schema regexes have no (?i))."""
    return "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else re.escape(c) for c in word)


# a non-blank visitor id not of a form only the server makes (server/visitor_ids.py)
VISITOR_ID_PATTERN = (r"^(?!\s*(" + "|".join(_any_case(p) for p in RESERVED_PREFIXES)
                      + r"))[\s\S]*\S")
VISITOR_ID_NOTE = ("The visitor's id, chosen by the app. Ids starting with "
                   + " or ".join(RESERVED_PREFIXES) + " are the server's own (400).")

# ---------- schema pieces ---------------------------------------------------------------------


def ref(name: str) -> Schema:
    """A reference to a component schema."""
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: Schema) -> Schema:
    """The schema, or null."""
    if "type" in schema:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        return {**schema, "type": [*types, "null"]}
    return {"anyOf": [schema, {"type": "null"}]}


def obj(required: Mapping[str, Schema], optional: Mapping[str, Schema] | None = None,
        **extra: Any) -> Schema:
    """An object with exactly these properties (the required ones always present)."""
    out: Schema = {"type": "object", "properties": {**required, **(optional or {})},
                   "additionalProperties": False, **extra}
    if required:
        out["required"] = list(required)
    return out


def string(max_length: int | None = None, **extra: Any) -> Schema:
    """A string, at most max_length characters."""
    out: Schema = {"type": "string", **extra}
    if max_length is not None:
        out["maxLength"] = max_length
    return out


def enum(values: tuple[str, ...] | list[str], **extra: Any) -> Schema:
    """One of these strings."""
    return {"type": "string", "enum": list(values), **extra}


ROW_ID = {"type": "integer", "minimum": 1, "maximum": MAX_ROW_ID}
COUNT = {"type": "integer", "minimum": 0}
OK = obj({"ok": {"const": True}})


def envelope(data: Schema, meta: Schema | None = None) -> Schema:
    """The success envelope {"data": ..., "meta"?: ...}."""
    return obj({"data": data, **({"meta": meta} if meta is not None else {})})


PAGE_META = obj({"total": COUNT, "page": {"type": "integer", "minimum": 1},
                 "per_page": {"type": "integer", "minimum": 1}})
CURSOR_META = obj({"next_cursor": nullable(string(description="The next page's cursor; "
                                                              "null on the last page."))})


def page_of(item: Schema) -> Schema:
    """A page of a list with meta {total, page, per_page}."""
    return envelope({"type": "array", "items": item}, PAGE_META)


IDENTITY_FIELDS = {
    "identity_hash": string(description="hex HMAC-SHA256(identity secret, "
                                        "\"<visitor_id>:<identity_ts>\"), computed by the "
                                        "business's server; with identity_ts."),
    "identity_ts": {"type": ["integer", "string"], "minimum": 0, "maximum": 10**12 - 1,
                    "pattern": "^[0-9]{1,12}$",
                    "description": "Unix seconds the hash was made at (within "
                                   "IDENTITY_MAX_AGE_SECONDS, default 600)."}}


# ---------- components ------------------------------------------------------------------------


def _schemas(config: Mapping[str, Any]) -> dict[str, Schema]:
    """Every named schema; config supplies the deployment's limits."""
    return {**_wire_schemas(config), **_agent_schemas(), **_admin_schemas(),
            **_webhook_schemas(), **_analytics_schemas(), **_rating_schemas(),
            **_attachment_schemas(config), **_availability_schemas(), **_knowledge_schemas(),
            **_bot_schemas(), **_talkr_schemas(config)}


def _wire_schemas(config: Mapping[str, Any]) -> dict[str, Schema]:
    contact_fields = {"name": nullable(string(200)),
                      "email": nullable(string(254, pattern=EMAIL_PATTERN)),
                      "phone": nullable(string(40))}
    return {
        "Error": obj({"error": string(description="A stable machine-readable code."),
                      "message": string(description="What went wrong, for people.")},
                     {"field": string(description="The input field at fault, if one is."),
                      "checks": ref("ReadinessChecks"),
                      "code": {"type": "integer", "description": "The HTTP status again, "
                               "as TALKR's clients read it: the TALKR endpoint's errors "
                               "only (docs/api-talkr.md)."}}),
        "ReadinessChecks": {"type": "object", "description": "/readyz: each dependency's state.",
                            "properties": {
                                "database": enum(["ok", "unreachable"]),
                                "redis": enum(["ok", "unreachable", "not_configured"])},
                            "required": ["database", "redis"], "additionalProperties": False},
        "Sender": obj({"role": enum(["visitor", "agent", "bot", "system"]),
                       "name": nullable(string())},
                      {"user_id": nullable(ROW_ID)}),
        "Message": obj({"id": ROW_ID, "conversation_id": ROW_ID,
                        "direction": enum(["inbound", "outbound"]), "type": string(),
                        "content": string(), "created_at": ISO_TIME,
                        "attachments": {"type": "array", "items": ref("Attachment"),
                                        "description": "Files of an `attachment` message "
                                                       "(else empty), URLs signed afresh."},
                        "sender": ref("Sender")},
                       {"sources": {"type": "array", "minItems": 1, "items": obj(
                           {"document_id": ROW_ID, "title": string()}), "description": (
                           "A bot answer's knowledge documents; absent on other messages.")}}),
        "MessageIn": obj({"content": string(config["MESSAGE_MAX_LENGTH"], minLength=1,
                                            pattern=r"\S")}),
        "Contact": obj({**contact_fields, "visitor_id": string(128)}),
        "ContactFields": obj({}, contact_fields),
        "SessionIn": obj({"visitor_id": string(128, minLength=1, pattern=VISITOR_ID_PATTERN,
                                               description=VISITOR_ID_NOTE)},
                         {**contact_fields, **IDENTITY_FIELDS}),
        "Realtime": obj({"key": string(), "host": string(), "port": ROW_ID,
                         "scheme": enum(["http", "https"]), "channel": string(),
                         "auth_endpoint": string()}, {"event": string()},
                        description="Where a Pusher (protocol 7) client connects."),
        "Session": obj({"session_id": ROW_ID,
                        "session_token": string(description="Send as X-Tickki-Session."),
                        "conversation_id": ROW_ID, "visitor_id": string(),
                        "contact": ref("Contact"), "realtime": ref("Realtime")},
                       {"verified": {"type": "boolean", "description": (
                           "Started with a valid identity_hash. Unverified, `contact` holds "
                           "only what this request sent, never the stored email or phone.")}}),
        "Config": obj({
            "business": obj({"id": ROW_ID, "name": string(), "slug": string()}),
            "branding": obj({"primary_color": string(), "accent_color": string(),
                             "welcome_message": string(), "logo_url": nullable(string())}),
            "features": obj({"file_uploads": {"type": "boolean"},
                             "voice_notes": {"type": "boolean"}}),
            "limits": obj({"max_upload_kb": COUNT, "message_max_length": COUNT}),
            "presence": obj({"agents_online": COUNT}),
            "identification": obj({"required_on_start": {"type": "boolean"}}),
            "availability": ref("ConfigAvailability")}),
        "ChannelAuthIn": obj({"socket_id": string(pattern=r"^\d+\.\d+$"),
                              "channel_name": string(minLength=1)}),
        "ChannelAuth": obj({"auth": string(description="<app key>:<HMAC-SHA256>")},
                           {"channel_data": string(description="Signed; forward it in the "
                                                               "subscribe frame.")}),
    }


def _agent_schemas() -> dict[str, Schema]:
    tags = {"type": "array", "maxItems": 20,
            "items": string(50, pattern="^[A-Za-z0-9_:-]+$", minLength=1)}
    ticket = {"id": ROW_ID, "status": enum(["open", "pending", "resolved"]),
              "channel": enum(list(TICKET_CHANNELS)), "subject": nullable(string()),
              "created_at": ISO_TIME, "updated_at": ISO_TIME,
              "customer": obj({"id": {**ROW_ID, "description": "The contact: GET /contacts/{id}."},
                               "name": nullable(string()), "email": nullable(string()),
                               "visitor_id": string()}),
              "assigned_to": nullable(ROW_ID), "tags": {"type": "array", "items": string()},
              "last_message_preview": nullable(string()), "unread_count": COUNT,
              "visitor_online": {"type": "boolean", "description": "A session of the visitor "
                                                                 "was seen within "
                                                                 "VISITOR_ONLINE_SECONDS."},
              "bot_active": {"type": "boolean", "description": "The answer bot holds it "
                                                             "(until a handoff, an agent's "
                                                             "reply or an assignment)."},
              "resolved_at": nullable(ISO_TIME),
              "resolved_by": nullable(string(description="user:<id> or key:<id>")),
              "rating": nullable(ref("TicketRating"))}
    messages = {"messages": {"type": "array", "items": ref("Message")}}
    custom = {"type": "object", "additionalProperties": {"type": ["string", "number",
                                                                  "boolean"]}}
    contact = {"id": ROW_ID, "visitor_id": string(), "name": nullable(string()),
               "email": nullable(string()), "phone": nullable(string()),
               "custom_fields": custom, "created_at": ISO_TIME,
               "verified_at": nullable({**ISO_TIME, "description": "First started with a "
                                                                  "valid identity_hash."}),
               "conversations": COUNT}
    shortcut = string(32, minLength=1, pattern="^[A-Za-z0-9_-]+$",
                      description="1-32 of a-z 0-9 _ - (stored lower-cased).")
    canned_content = string(4000, minLength=1, pattern=r"\S")
    return {
        "CannedResponse": obj({"id": ROW_ID, "shortcut": string(32), "content": string(),
                               "created_at": ISO_TIME, "updated_at": ISO_TIME}),
        "CannedResponseIn": obj({"shortcut": shortcut, "content": canned_content}),
        "CannedResponsePatch": obj({}, {"shortcut": shortcut, "content": canned_content}),
        "Ticket": obj(ticket),
        "TicketWithMessages": obj({**ticket, **messages}),
        "TicketIn": obj({"customer": obj({"email": string(122, pattern=EMAIL_PATTERN)},
                                         {"name": nullable(string(200))}),
                         "message": string(minLength=1, pattern=r"\S")},
                        {"subject": nullable(string(300)), "tags": nullable(tags)}),
        "TicketPatch": obj({}, {"status": enum(["open", "pending", "resolved"]),
                                "assigned_to": nullable(ROW_ID), "tags": tags}),
        "AgentContact": obj(contact),
        "ContactPatch": obj({}, {"name": nullable(string(200)),
                                 "email": nullable(string(254)),
                                 "phone": nullable(string(40)),
                                 "custom_fields": {
                                     "type": "object", "maxProperties": 50,
                                     "propertyNames": {"minLength": 1, "maxLength": 64},
                                     "additionalProperties": {
                                         "type": ["string", "number", "boolean", "null"],
                                         "maxLength": 500}}}),
        "ContactExport": obj({
            "contact": obj({**contact, "mode": enum(MODES)}),
            "conversations": {"type": "array", "items": obj({
                "id": ROW_ID, "status": ticket["status"], "channel": ticket["channel"],
                "subject": nullable(string()), "created_at": ISO_TIME,
                "updated_at": ISO_TIME, "resolved_at": nullable(ISO_TIME),
                "tags": {"type": "array", "items": string()},
                "messages": {"type": "array", "items": ref("Message")}})},
            "sessions": {"type": "array", "items": obj({
                "id": ROW_ID, "conversation_id": ROW_ID, "created_at": ISO_TIME,
                "last_seen_at": ISO_TIME, "revoked_at": nullable(ISO_TIME)})},
            "analytics_events": {"type": "array", "items": ref("AnalyticsEvent")},
            "exported_at": ISO_TIME}),
    }


def _admin_schemas() -> dict[str, Schema]:
    key = {"id": ROW_ID, "prefix": string(), "type": enum(KINDS), "mode": enum(MODES),
           "name": string(), "scopes": {"type": "array", "items": enum(SCOPES)},
           "origins": {"type": "array", "items": string()},
           "bundle_ids": {"type": "array", "items": string()},
           "created_at": ISO_TIME, "last_used_at": nullable(ISO_TIME),
           "revoked_at": nullable(ISO_TIME)}
    agent = {"id": ROW_ID, "email": string(), "name": string(),
             "role": enum(["agent", "owner"]), "created_at": ISO_TIME,
             "online": {"type": "boolean"}, "last_seen_at": nullable(ISO_TIME),
             "invited": {"type": "boolean", "description": "No password set yet."},
             "active": {"type": "boolean", "description": "False once deactivated."},
             "deactivated_at": nullable(ISO_TIME)}
    oauth_client = {"id": ROW_ID, "client_id": string(description="oc_…: public."),
                    "name": string(), "mode": enum(MODES),
                    "scopes": {"type": "array", "items": enum(SCOPES)},
                    "created_at": ISO_TIME, "revoked_at": nullable(ISO_TIME)}
    str_list = {"type": "array", "maxItems": 50, "items": string()}
    branding = {"name": string(200, minLength=1), "primary_color": string(pattern=COLOR),
                "accent_color": string(pattern=COLOR), "welcome_message": string(500),
                "logo_url": nullable(string(2000, format="uri")),
                "require_identification": {"type": "boolean"}}
    return {
        "Key": obj(key),
        "NewKey": obj({**key, "key": string(description="The plaintext, shown this once.")}),
        "KeyIn": obj({"type": enum(KINDS)}, {
            "mode": enum(MODES), "name": nullable(string(200)),
            "scopes": nullable({**str_list, "items": enum(SCOPES)}),
            "origins": nullable({**str_list, "items": string(300)}),
            "bundle_ids": nullable({**str_list, "items": string(200)})}),
        "OAuthClient": obj(oauth_client),
        "NewOAuthClient": obj({**oauth_client, "client_secret": string(
            description="ocs_…: shown this once, stored only as a digest.")}),
        "OAuthClientIn": obj({"name": string(200, minLength=1, pattern=r"\S"),
                              "scopes": {"type": "array", "minItems": 1,
                                         "maxItems": MAX_CLIENT_SCOPES,
                                         "items": enum(SCOPES)}}),
        "TokenIn": obj({"grant_type": {"const": "client_credentials"}}, {
            "scope": string(description="Space-separated, a subset of the client's; default "
                                        "all of them."),
            "client_id": string(description="With client_secret, when not sent by HTTP Basic."),
            "client_secret": string()}),
        "Token": obj({"access_token": string(description="oat_…: send as Authorization: "
                                                         "Bearer."),
                      "token_type": {"const": "Bearer"},
                      "expires_in": {"type": "integer", "minimum": 1},
                      "scope": string(description="The granted scopes, space-separated.")}),
        "Branding": obj({"business_id": ROW_ID, "slug": string(), **branding,
                         "name": string(), "welcome_message": string()}),
        "BrandingIn": obj({}, branding),
        "Agent": obj(agent),
        "NewAgent": obj(agent, {"invite_token": string(description="One-time, 7 days.")}),
        "AgentIn": obj({"email": string(254, pattern=EMAIL_PATTERN)}, {
            "name": nullable(string(200)), "role": enum(["agent", "owner"]),
            "password": nullable(string(1000, minLength=10))}),
        "LoginIn": obj({"email": string(254, pattern=EMAIL_PATTERN),
                        "password": string(1000, minLength=1)},
                       {"business": nullable(string(80)), "mode": enum(MODES)}),
        "AcceptInviteIn": obj({"token": string(minLength=1),
                               "password": string(1000, minLength=10)},
                              {"mode": enum(MODES)}),
        "Identity": obj({"mode": enum(MODES), "enabled": {"type": "boolean"},
                         "required": {"type": "boolean"}, "created_at": nullable(ISO_TIME),
                         "updated_at": nullable(ISO_TIME)},
                        {"secret": string(description="idv_…: shown by the PUT that makes it, "
                                                      "never again.")}),
        "IdentityIn": obj({}, {"required": {"type": "boolean"},
                               "rotate_secret": {"type": "boolean"}}),
        "Login": obj({"token": string(description="at_…: send as Authorization: Bearer."),
                      "expires_at": ISO_TIME, "mode": enum(MODES), "agent": ref("Agent"),
                      "business_id": ROW_ID, "realtime": ref("Realtime")},
                     description="The token, and who it is as GET /auth/me says it."),
        "Me": obj({"agent": nullable(ref("Agent")), "mode": enum(MODES), "business_id": ROW_ID,
                   "realtime": ref("Realtime")},
                  description="Who the credential is: the agent (null for a secret key), its "
                              "business and mode, and where its Pusher client connects."),
    }


ERRORS: dict[int, tuple[str, str]] = {
    400: ("BadRequest", "Invalid input: `validation_error` (with `field`), `invalid_json`, "
                        "`bad_request`, `malformed_body` (a bad chunk of a chunked body); "
                        "login and invitations add `invalid_invite`, `invite_expired`; the "
                        "OAuth2 token endpoint answers RFC 6749's `invalid_request`, "
                        "`invalid_scope`, `unsupported_grant_type`, `unauthorized_client`."),
    401: ("Unauthorized", "`missing_api_key`, `invalid_api_key`, `wrong_key_type`, "
                          "`missing_session_token`, `invalid_session`, `token_expired`, "
                          "`token_revoked`, `invalid_credentials`; starting a chat adds "
                          "`identity_required`, `invalid_identity`; the OAuth2 token endpoint "
                          "`invalid_client` (with a Basic challenge when Basic was used)."),
    403: ("Forbidden", "`forbidden`, `insufficient_scope`, `origin_not_allowed`, "
                       "`business_suspended`."),
    404: ("NotFound", "`not_found`: absent, or not this credential's (as if absent)."),
    409: ("Conflict", "`conflict`: it collides with what is stored (`field` names the input)."),
    413: ("PayloadTooLarge", "`payload_too_large`."),
    415: ("UnsupportedMediaType", "`unsupported_media_type`: the body is not of a type this "
                                  "route takes (an upload's type is sniffed from its bytes)."),
    422: ("IdempotencyConflict", "`idempotency_conflict`: this Idempotency-Key was used "
                                 "with another body."),
    429: ("RateLimited", "`rate_limited`; wait Retry-After seconds."),
    500: ("InternalError", "`internal_error`; never a stack trace."),
    503: ("Unavailable", "`unavailable`: a dependency (the database, Redis) does not answer."),
}


def _responses() -> dict[str, Schema]:
    out = {}
    for status, (name, description) in ERRORS.items():
        response: Schema = {"description": description,
                            "content": {JSON: {"schema": ref("Error")}}}
        if status == 429:
            response["headers"] = {"Retry-After": {"schema": {"type": "integer"},
                                                   "description": "Seconds to wait."}}
        out[name] = response
    return out


SECURITY_SCHEMES = {
    "publishableKey": {"type": "http", "scheme": "bearer", "bearerFormat": "pk_test_… | pk_live_…",
                       "description": "A publishable key: public, in every page that embeds "
                                      "the widget. Its origin and bundle-id allow-lists apply (a "
                                      "request with Origin: the origin list alone)."},
    "sessionToken": {"type": "apiKey", "in": "header", "name": "X-Tickki-Session",
                     "description": "The visitor's session token from POST /chat/sessions."},
    "secretKey": {"type": "http", "scheme": "bearer", "bearerFormat": "sk_test_… | sk_live_…",
                  "description": "A secret key; the requirement names the scope it needs."},
    "agentToken": {"type": "http", "scheme": "bearer", "bearerFormat": "at_…",
                   "description": "An agent token from POST /auth/login (12 h); the agent's "
                                  "role decides its scopes."},
    "oauthToken": {"type": "oauth2", "description": "An access token of an OAuth2 client "
                                                    "(oat_…, 1 h): it acts as a secret key "
                                                    "with the token's scopes.",
                   "flows": {"clientCredentials": {"tokenUrl": "/api/v1/oauth/token",
                                                   "scopes": {s: s for s in SCOPES}}}},
    "oauthClient": {"type": "http", "scheme": "basic",
                    "description": "The token endpoint's client authentication: client_id "
                                   "and client_secret (or both in the body instead)."},
}
VISITOR_KEY: list[dict[str, list[str]]] = [{"publishableKey": []}]
VISITOR_SESSION: list[dict[str, list[str]]] = [{"publishableKey": [], "sessionToken": []}]
PUBLIC: list[dict[str, list[str]]] = []


def agent(scope: str) -> list[dict[str, list[str]]]:
    """A secret key, an agent token or an OAuth2 access token holding this scope."""
    return [{"secretKey": [scope]}, {"agentToken": [scope]}, {"oauthToken": [scope]}]


# ---------- operations ------------------------------------------------------------------------


def json_content(schema: Schema) -> dict[str, Schema]:
    return {JSON: {"schema": schema}}


def body(schema: Schema, *, form: bool = False) -> Schema:
    """A request body: JSON (and the form encoding when form is set)."""
    content = json_content(schema)
    if form:
        content[FORM] = {"schema": schema}
        content["multipart/form-data"] = {"schema": schema}
    return {"required": True, "content": content}


def path_param(name: str, description: str) -> Schema:
    return {"name": name, "in": "path", "required": True, "schema": ROW_ID,
            "description": description}


def query(name: str, schema: Schema, description: str = "") -> Schema:
    out = {"name": name, "in": "query", "required": False, "schema": schema}
    return {**out, "description": description} if description else out


def header(name: str, schema: Schema, description: str) -> Schema:
    return {"name": name, "in": "header", "required": False, "schema": schema,
            "description": description}


IDEMPOTENCY_KEY = header("Idempotency-Key", string(255),
                         "A retry with the same key and body replays the first answer "
                         "(Idempotent-Replayed: true).")
REPLAYED = {"Idempotent-Replayed": {"schema": {"const": "true"},
                                     "description": "Present on a replayed answer."}}
IF_NONE_MATCH = header("If-None-Match", string(), "An ETag from an earlier answer: 304 "
                                                  "when nothing changed.")
NOT_MODIFIED = {"description": "Not modified (the ETag still matches).",
                "headers": {"ETag": {"schema": {"type": "string"}}}}


def page_params(max_per_page: int = 100) -> list[Schema]:
    return [query("page", {"type": "integer", "minimum": 1, "maximum": 10**9}),
            query("per_page", {"type": "integer", "minimum": 1, "maximum": max_per_page})]


def ok_response(schema: Schema, description: str = "Success.",
                media_type: str = JSON, **extra: Any) -> Schema:
    return {"description": description, "content": {media_type: {"schema": schema}}, **extra}


def op(operation_id: str, summary: str, tag: str, *, security: list[dict[str, list[str]]],
       responses: Mapping[int, Schema], request: Schema | None = None,
       params: list[Schema] | None = None, errors: tuple[int, ...] = (),
       description: str | None = None) -> Schema:
    """One operation: its success answers, and the error answers its inputs can cause
    (any request may be refused as malformed: 400, e.g. a query string holding NUL)."""
    statuses = set(errors) | {400, 500}
    if security:
        statuses |= {401, 403, 429}
    if request is not None:
        statuses.add(413)
    if any(p["in"] == "path" for p in params or ()):
        statuses.add(404)
    if any(p["name"] == "Idempotency-Key" for p in params or ()):
        statuses.add(422)
        responses = {status: {**r, "headers": {**r.get("headers", {}), **REPLAYED}}
                     for status, r in responses.items()}
    out: Schema = {
        "operationId": operation_id, "summary": summary, "tags": [tag], "security": security,
        "responses": {str(s): r for s, r in sorted(responses.items())}
        | {str(s): {"$ref": f"#/components/responses/{ERRORS[s][0]}"} for s in sorted(statuses)}}
    if description:
        out["description"] = description
    if params:
        out["parameters"] = params
    if request is not None:
        out["requestBody"] = request
    return out


CONVERSATION = path_param("conversation_id", "The session's conversation (its own only).")
TICKET = path_param("ticket_id", "A ticket (a conversation) of this business and mode.")
CONTACT = path_param("contact_id", "A contact of this business and mode.")


def _visitor_paths(config: Mapping[str, Any]) -> dict[str, dict[str, Schema]]:
    base = "/api/v1/chat"
    session = f"{base}/sessions/{{conversation_id}}"
    msg = envelope(ref("Message"))
    return {
        f"{base}/config": {"get": op(
            "getChatConfig", "The widget's configuration", "visitor", security=VISITOR_KEY,
            params=[IF_NONE_MATCH], responses={
                200: ok_response(envelope(ref("Config")),
                                 headers={"ETag": {"schema": {"type": "string"}}}),
                304: NOT_MODIFIED})},
        f"{base}/sessions": {"post": op(
            "startSession", "Start or resume a visitor's session", "visitor",
            security=VISITOR_KEY, request=body(ref("SessionIn")),
            responses={201: ok_response(envelope(ref("Session")), "Started.")},
            description="The same visitor_id resumes the open conversation with a new token. "
                        "Not recorded for Idempotency-Key (the answer holds the token). "
                        "identity_hash + identity_ts verify the visitor (PUT /identity); a "
                        "verified visitor is resumed by verified starts only, else 401 "
                        "identity_required, as is every unverified start when the business "
                        "requires verification.")},
        f"{session}/messages": {
            "post": op("sendMessage", "Send a visitor message", "visitor",
                       security=VISITOR_SESSION, request=body(ref("MessageIn")),
                       params=[CONVERSATION, IDEMPOTENCY_KEY],
                       responses={201: ok_response(msg, "Stored and published.")}),
            "get": op("listHistory", "A page of messages, newest first", "visitor",
                      security=VISITOR_SESSION, errors=(400,), params=[
                          CONVERSATION, query("cursor", string()),
                          query("limit", {"type": "integer", "minimum": 1, "maximum": 100})],
                      responses={200: ok_response(envelope(
                          {"type": "array", "items": ref("Message")}, CURSOR_META))})},
        f"{session}/identify": {"post": op(
            "identify", "Name the visitor", "visitor", security=VISITOR_SESSION,
            request=body(ref("ContactFields")), params=[CONVERSATION],
            responses={200: ok_response(envelope(ref("Contact")))})},
        f"{session}/typing": {"post": op(
            "visitorTyping", "Tell agents the visitor is typing", "visitor",
            security=VISITOR_SESSION, params=[CONVERSATION], responses={200: ok_response(OK)})},
        f"{session}/heartbeat": {"post": op(
            "visitorHeartbeat", "Mark the visitor online", "visitor",
            security=VISITOR_SESSION, params=[CONVERSATION], responses={200: ok_response(OK)})},
        f"{base}/broadcasting/auth": {"post": op(
            "authorizeSessionChannel", "Sign a subscription to the session's channel",
            "visitor", security=VISITOR_SESSION, request=body(ref("ChannelAuthIn"), form=True),
            responses={200: ok_response(ref("ChannelAuth"), "Pusher's bare answer.")})},
    }


def _ticket_paths() -> dict[str, dict[str, Schema]]:
    ticket = "/api/v1/tickets/{ticket_id}"
    list_meta = obj({"per_page": {"type": "integer", "minimum": 1},
                     "next_cursor": nullable(string())},
                    {"total": COUNT, "page": {"type": "integer", "minimum": 1}})
    filters = [query("status", enum(["open", "pending", "resolved"])),
               query("channel", enum(list(TICKET_CHANNELS))),
               query("assigned_to", string(pattern="^([0-9]+|unassigned)$"),
                     "An agent id, or unassigned."),
               query("tag", string(50)), query("q", string(200)),
               query("contact_id", ROW_ID, "One contact's conversations."),
               query("sort", enum(["created_desc", "created_asc", "updated_desc"])),
               *page_params(), query("cursor", string(), "Instead of page.")]
    return {
        "/api/v1/tickets": {
            "get": op("listTickets", "List tickets", "tickets", security=agent("tickets:read"),
                      params=filters, errors=(400,), responses={200: ok_response(envelope(
                          {"type": "array", "items": ref("Ticket")}, list_meta))}),
            "post": op("createTicket", "Open a ticket for a customer", "tickets",
                       security=agent("tickets:write"), request=body(ref("TicketIn")),
                       params=[IDEMPOTENCY_KEY], responses={
                           201: ok_response(envelope(ref("TicketWithMessages")), "Opened.")})},
        ticket: {
            "get": op("getTicket", "A ticket and its messages (oldest first); marks it read",
                      "tickets", security=agent("tickets:read"), errors=(400,),
                      params=[TICKET, query("cursor", string())],
                      responses={200: ok_response(envelope(ref("TicketWithMessages"),
                                                           CURSOR_META))}),
            "patch": op("updateTicket", "Change status, assignee or tags", "tickets",
                        security=agent("tickets:write"), request=body(ref("TicketPatch")),
                        params=[TICKET, IDEMPOTENCY_KEY],
                        responses={200: ok_response(envelope(ref("Ticket")))})},
        f"{ticket}/messages": {
            "post": op("replyToTicket", "Reply to the customer", "tickets",
                       security=agent("tickets:write"), request=body(ref("MessageIn")),
                       params=[TICKET, IDEMPOTENCY_KEY],
                       responses={201: ok_response(envelope(ref("Message")), "Sent.")}),
            "get": op("listTicketMessages", "The ticket's messages, newest first", "tickets",
                      security=agent("tickets:read"), errors=(400,), params=[
                          TICKET, query("cursor", string()),
                          query("limit", {"type": "integer", "minimum": 1, "maximum": 100})],
                      responses={200: ok_response(envelope(
                          {"type": "array", "items": ref("Message")}, CURSOR_META))},
                      description="The team's history: notes included, newest first, "
                                  "meta.next_cursor pages to older ones; marks nothing read.")},
        f"{ticket}/notes": {"post": op(
            "addNote", "Add a private note (agents only; never shown to the visitor)",
            "tickets", security=agent("tickets:write"), request=body(ref("MessageIn")),
            params=[TICKET, IDEMPOTENCY_KEY], errors=(403,),
            responses={201: ok_response(envelope(ref("Message")), "Stored (type note).")},
            description="A ChatMessage with type note, on the business channel only; the "
                        "ticket's status, unread_count and preview do not change. A secret "
                        "key is 403 forbidden: notes are written by agents.")},
        "/api/v1/messages": {"get": op(
            "messageFeed", "The business's messages after a position, oldest first", "tickets",
            security=agent("tickets:read"), errors=(400,), params=[
                query("after_id", {"type": "integer", "minimum": 0, "maximum": MAX_ROW_ID},
                      "The last message id the client has; without it the answer is empty "
                      "and meta.last_id is the newest message id (a starting watermark)."),
                query("limit", {"type": "integer", "minimum": 1, "maximum": 100})],
            responses={200: ok_response(envelope(
                {"type": "array", "items": ref("Message")},
                obj({"has_more": {"type": "boolean"},
                     "last_id": {"type": "integer", "minimum": 0, "maximum": MAX_ROW_ID,
                                 "description": "The last id returned, else after_id."}})))},
            description="Every message of the credential's business and mode (private notes "
                        "included), for a client catching up after a reconnect.")},
        f"{ticket}/read": {"post": op(
            "markTicketRead", "Mark a ticket read (unread_count 0)", "tickets",
            security=agent("tickets:read"), params=[TICKET],
            responses={200: ok_response(envelope(ref("Ticket")))},
            description="What GET /tickets/{id} does to unread_count, without the messages: "
                        "for an inbox with the conversation on screen while the visitor "
                        "writes. The count is shared by the team.")},
        f"{ticket}/typing": {"post": op(
            "agentTyping", "Show the visitor an agent is typing", "tickets",
            security=agent("tickets:write"), params=[TICKET], responses={200: ok_response(OK)})},
    }


def _canned_paths() -> dict[str, dict[str, Schema]]:
    one = envelope(ref("CannedResponse"))
    item = path_param("canned_id", "A canned response of this business.")
    return {
        "/api/v1/canned-responses": {
            "get": op("listCannedResponses", "The business's canned responses, by shortcut",
                      "tickets", security=agent("tickets:read"), errors=(400,),
                      params=[query("q", string(32), "A shortcut prefix (any case).")],
                      responses={200: ok_response(envelope(
                          {"type": "array", "maxItems": 500, "items": ref("CannedResponse")}))},
                      description="All of them (a business holds at most 500), shared by test "
                                  "and live mode."),
            "post": op("createCannedResponse", "Save a canned response", "tickets",
                       security=agent("tickets:write"), request=body(ref("CannedResponseIn")),
                       params=[IDEMPOTENCY_KEY], errors=(409,),
                       responses={201: ok_response(one, "Saved.")},
                       description="A shortcut the business already has is 409 conflict "
                                   "(field shortcut); a 501st canned response is 400.")},
        "/api/v1/canned-responses/{canned_id}": {
            "patch": op("updateCannedResponse", "Change a canned response", "tickets",
                        security=agent("tickets:write"), request=body(ref("CannedResponsePatch")),
                        params=[item, IDEMPOTENCY_KEY], errors=(409,),
                        responses={200: ok_response(one)}),
            "delete": op("deleteCannedResponse", "Delete a canned response", "tickets",
                         security=agent("tickets:write"), params=[item],
                         responses={200: ok_response(OK, "Deleted.")})},
    }


def _contact_paths() -> dict[str, dict[str, Schema]]:
    contact = "/api/v1/contacts/{contact_id}"
    read, write = agent("contacts:read"), agent("contacts:write")
    return {
        "/api/v1/contacts": {"get": op(
            "listContacts", "Search contacts, newest first", "contacts", security=read,
            errors=(400,), params=[query("q", string(200), "In name, email, visitor_id."),
                                   *page_params()],
            responses={200: ok_response(page_of(ref("AgentContact")))})},
        contact: {
            "get": op("getContact", "A contact", "contacts", security=read, params=[CONTACT],
                      responses={200: ok_response(envelope(ref("AgentContact")))}),
            "patch": op("updateContact", "Change a contact's fields", "contacts",
                        security=write, params=[CONTACT], request=body(ref("ContactPatch")),
                        responses={200: ok_response(envelope(ref("AgentContact")))}),
            "delete": op("eraseContact", "Erase a contact (GDPR)", "contacts", security=write,
                         params=[CONTACT], responses={200: ok_response(envelope(obj(
                             {"id": ROW_ID, "deleted": {"const": True}})), "Erased.")})},
        f"{contact}/export": {"get": op(
            "exportContact", "Everything stored about a contact", "contacts", security=read,
            params=[CONTACT], responses={200: ok_response(
                envelope(ref("ContactExport")),
                headers={"Content-Disposition": {"schema": {"type": "string"}}})})},
    }


def _admin_paths() -> dict[str, dict[str, Schema]]:
    keys_scope = agent("keys:write")
    login_answer = {200: ok_response(envelope(ref("Login")), "Logged in.")}
    return {
        "/api/v1/keys": {
            "post": op("createKey", "Mint a key (the plaintext is shown once)", "keys",
                       security=keys_scope, request=body(ref("KeyIn")),
                       responses={201: ok_response(envelope(ref("NewKey")), "Minted.")}),
            "get": op("listKeys", "The business's keys, newest first", "keys",
                      security=keys_scope, params=page_params(), errors=(400,),
                      responses={200: ok_response(page_of(ref("Key")))})},
        "/api/v1/keys/{key_id}": {"delete": op(
            "revokeKey", "Revoke a key now", "keys", security=keys_scope,
            params=[path_param("key_id", "A key of this business.")],
            responses={200: ok_response(envelope(ref("Key")), "Revoked.")})},
        "/api/v1/oauth/clients": {
            "post": op("createOAuthClient", "Make an OAuth2 client (the secret is shown once)",
                       "keys", security=keys_scope, request=body(ref("OAuthClientIn")),
                       responses={201: ok_response(envelope(ref("NewOAuthClient")), "Made.")},
                       description="Of the caller's business and mode; never with scopes "
                                   "the caller lacks (403)."),
            "get": op("listOAuthClients", "The business's OAuth2 clients, newest first", "keys",
                      security=keys_scope, params=page_params(), errors=(400,),
                      responses={200: ok_response(page_of(ref("OAuthClient")))})},
        "/api/v1/oauth/clients/{oauth_client_id}": {"delete": op(
            "revokeOAuthClient", "Revoke a client and every token it issued, now", "keys",
            security=keys_scope,
            params=[path_param("oauth_client_id", "An OAuth2 client of this business.")],
            responses={200: ok_response(envelope(ref("OAuthClient")), "Revoked.")})},
        "/api/v1/oauth/token": {"post": op(
            "oauthToken", "An access token (RFC 6749 4.4, client credentials)", "keys",
            security=[{"oauthClient": []}, {}],
            request={"required": True, "content": {FORM: {"schema": ref("TokenIn")},
                                                   **json_content(ref("TokenIn"))}},
            errors=(401,), responses={200: ok_response(
                ref("Token"), "The token (bare, not in the data envelope; Cache-Control: "
                              "no-store).")},
            description="Form-encoded or JSON. The client authenticates by HTTP Basic (id and "
                        "secret each form-encoded, RFC 6749 2.3.1) or by client_id and "
                        "client_secret in the body, never both (400 invalid_request). Errors "
                        "are RFC 6749 5.2 codes in the usual error body.")},
        "/api/v1/identity": {
            "get": op("getIdentity", "Identity verification: on, required (never the secret)",
                      "keys", security=keys_scope,
                      responses={200: ok_response(envelope(ref("Identity")))}),
            "put": op("updateIdentity", "Make (or rotate) the identity secret; set required",
                      "keys", security=keys_scope, request=body(ref("IdentityIn")),
                      responses={200: ok_response(envelope(ref("Identity")))},
                      description="The first PUT, and one with rotate_secret, answers the new "
                                  "secret (shown once; a rotation refuses hashes made with "
                                  "the old one at once). Per business and mode.")},
        "/api/v1/branding": {
            "get": op("getBranding", "The widget's look", "branding",
                      security=agent("tickets:read"),
                      responses={200: ok_response(envelope(ref("Branding")))}),
            "put": op("updateBranding", "Change the widget's look (partial)", "branding",
                      security=agent("branding:write"), request=body(ref("BrandingIn")),
                      responses={200: ok_response(envelope(ref("Branding")))})},
        "/api/v1/agents": {
            "post": op("createAgent", "Add or invite an agent", "agents",
                       security=agent("agents:write"), request=body(ref("AgentIn")),
                       responses={201: ok_response(envelope(ref("NewAgent")), "Added.")}),
            "get": op("listAgents", "The business's agents, oldest first", "agents",
                      security=agent("tickets:read"), params=page_params(), errors=(400,),
                      responses={200: ok_response(page_of(ref("Agent")))})},
        "/api/v1/agents/heartbeat": {"post": op(
            "agentHeartbeat", "Mark the calling agent online", "agents",
            security=agent("tickets:read"), responses={200: ok_response(OK)},
            description="An agent token only: a secret key has no presence (403).")},
        "/api/v1/agents/{agent_id}": {"delete": op(
            "deactivateAgent", "Deactivate an agent now", "agents",
            security=agent("agents:write"),
            params=[path_param("agent_id", "An agent or owner of this business.")],
            responses={200: ok_response(envelope(ref("Agent")), "Deactivated (once).")},
            description="No login, no token, no presence, no new assignments: its tokens are "
                        "refused by every process at once and its business sockets close "
                        "(4009). The last active owner stays (400).")},
        "/api/v1/auth/logout": {"post": op(
            "logout", "Log out: refuse every token of the calling agent", "agents",
            security=agent("tickets:read"), responses={200: ok_response(OK, "Logged out.")},
            description="An agent token only (a secret key is revoked with DELETE /keys/{id}: "
                        "403). Every token the agent holds so far answers 401 token_revoked "
                        "on every process, and its business sockets close (4009); a new "
                        "login works at once.")},
        "/api/v1/auth/me": {"get": op(
            "me", "Who this credential is, and its realtime block", "agents",
            security=agent("tickets:read"), responses={200: ok_response(envelope(ref("Me")))},
            description="The realtime block is the login answer's. A secret key answers "
                        "agent: null.")},
        "/api/v1/auth/login": {"post": op(
            "login", "Log in: an agent token", "agents", security=PUBLIC,
            request=body(ref("LoginIn")), errors=(401, 403, 429), responses=login_answer)},
        "/api/v1/auth/accept-invite": {"post": op(
            "acceptInvite", "Set the invited agent's password and log in", "agents",
            security=PUBLIC, request=body(ref("AcceptInviteIn")), responses=login_answer)},
        "/api/v1/broadcasting/auth": {"post": op(
            "authorizeBusinessChannel", "Sign a subscription to private-business.<id>",
            "agents", security=agent("tickets:read"),
            request=body(ref("ChannelAuthIn"), form=True),
            responses={200: ok_response(ref("ChannelAuth"), "Pusher's bare answer.")})},
    }


def _served_paths() -> dict[str, dict[str, Schema]]:
    script = {"schema": {"type": "string"}}
    js = {"description": "The widget script.", "content": {"text/javascript": script},
          "headers": {"ETag": {"schema": {"type": "string"}}}}
    return {
        "/healthz": {"get": op("healthz", "Liveness: the database answers", "operations",
                               security=PUBLIC, errors=(503,), responses={200: ok_response(OK)})},
        "/readyz": {"get": op(
            "readyz", "Readiness: the database, and Redis when configured, answer", "operations",
            security=PUBLIC, errors=(503,), responses={200: ok_response(obj({
                "ok": {"const": True}, "checks": ref("ReadinessChecks")}))})},
        "/metrics": {"get": op(
            "metrics", "Prometheus metrics (404 when METRICS_ENABLED is false)", "operations",
            security=PUBLIC, errors=(404,), responses={200: ok_response(
                {"type": "string"}, "Prometheus text (OpenMetrics when asked for).",
                "text/plain")})},
        "/openapi.json": {"get": op(
            "openapi", "This document", "operations", security=PUBLIC,
            params=[IF_NONE_MATCH], responses={200: ok_response(
                {"type": "object"}, headers={"ETag": {"schema": {"type": "string"}}}),
                304: NOT_MODIFIED})},
        "/docs": {"get": op("docs", "This document, rendered (Swagger UI)", "operations",
                            security=PUBLIC, responses={200: ok_response(
                                {"type": "string"}, "An HTML page.", "text/html")})},
        "/docs/{asset}": {"get": op(
            "docsAsset", "A file of the documentation page", "operations", security=PUBLIC,
            params=[{"name": "asset", "in": "path", "required": True,
                     "schema": enum(["swagger-ui.css", "swagger-ui-bundle.js", "docs.js"])}],
            errors=(404,), responses={
                200: {"description": "The file.", "content": {"text/css": script,
                                                              "text/javascript": script}},
                304: NOT_MODIFIED})},
        "/widget/v1/chatdock.js": {"get": op(
            "widgetScript", "The widget script to embed (revalidated every 5 min)", "widget",
            security=PUBLIC, params=[IF_NONE_MATCH], errors=(404,),
            responses={200: js, 304: NOT_MODIFIED})},
        "/widget/v1/{digest}/chatdock.js": {"get": op(
            "pinnedWidgetScript", "This exact widget build (cacheable for a year)", "widget",
            security=PUBLIC, params=[{"name": "digest", "in": "path", "required": True,
                                      "schema": string()}, IF_NONE_MATCH],
            errors=(404,), responses={200: js, 304: NOT_MODIFIED})},
        "/widget/demo": {"get": op(
            "widgetDemo", "A page with the widget wired to the demo key (or ?key=)", "widget",
            security=PUBLIC, params=[query("key", string(), "A publishable key.")],
            responses={200: ok_response({"type": "string"}, "An HTML page.", "text/html")})},
        "/app/{app_key}": {"get": op(
            "realtimeSocket", "The Pusher protocol 7 websocket (an upgrade, not a call)",
            "realtime", security=PUBLIC, errors=(400,),
            params=[{"name": "app_key", "in": "path", "required": True, "schema": string(),
                     "description": "realtime.key from POST /chat/sessions or login."},
                    query("protocol", {"type": "integer"}, "7.")],
            responses={101: {"description": "Switched to the websocket protocol. Close codes: "
                                            "4001 unknown app key, 4006-4008 protocol "
                                            "parameters, 4009 credential revoked, 4201 no "
                                            "pong, 4200 server shutting down."}},
            description="Send a websocket upgrade (Connection: Upgrade, Upgrade: websocket); "
                        "a plain GET is 400 bad_request. Frames: see README 'Realtime'.")},
    }


def _webhook_schemas() -> dict[str, Schema]:
    events = {"type": "array", "minItems": 1,
              "items": enum([*WEBHOOK_EVENTS, "*"]),
              "description": "Event types, or [\"*\"] for all of them."}
    url = string(2048, minLength=1, pattern=r"^[hH][tT][tT][pP][sS]?://\S",
                 description="http(s); its host must resolve to public addresses only "
                             "(unless WEBHOOK_ALLOW_PRIVATE).")
    endpoint = {"id": ROW_ID, "url": string(), "events": {"type": "array", "items": string()},
                "description": nullable(string()), "mode": enum(MODES), "created_at": ISO_TIME,
                "disabled_at": nullable({**ISO_TIME, "description": "Set after "
                                         "WEBHOOK_DISABLE_AFTER failed deliveries in a row."}),
                "consecutive_failures": COUNT}
    return {
        "WebhookEndpoint": obj(endpoint),
        "NewWebhookEndpoint": obj({**endpoint, "secret": string(description=(
            "whsec_…: signs every delivery (Chatdock-Signature). Shown this once."))}),
        "WebhookEndpointIn": obj({"url": url, "events": events},
                                 {"description": nullable(string(500))}),
        "WebhookEndpointPatch": obj({}, {"url": url, "events": events,
                                         "description": nullable(string(500)),
                                         "enabled": {"type": "boolean", "description": (
                                             "true re-enables a disabled endpoint.")}}),
        "WebhookDelivery": obj({
            "id": ROW_ID, "webhook_id": string(description="whd_<id>: the "
                                                           "Chatdock-Webhook-Id header."),
            "endpoint_id": ROW_ID, "event_id": string(description="evt_<id>: the body's id."),
            "type": string(), "status": enum(["pending", "succeeded", "failed"]),
            "attempts": COUNT, "last_status_code": nullable({"type": "integer"}),
            "last_error": nullable(string()), "next_attempt_at": nullable(ISO_TIME),
            "created_at": ISO_TIME, "delivered_at": nullable(ISO_TIME)}),
    }


def _webhook_paths() -> dict[str, dict[str, Schema]]:
    scope = agent("webhooks:write")
    item = path_param("endpoint_id", "A webhook endpoint of this business and mode.")
    delivery = path_param("delivery_id", "A delivery of this endpoint.")
    one = envelope(ref("WebhookEndpoint"))
    hooks = "/api/v1/webhooks/{endpoint_id}"
    return {
        "/api/v1/webhooks": {
            "get": op("listWebhooks", "The webhook endpoints of this mode, oldest first",
                      "webhooks", security=scope, responses={200: ok_response(envelope(
                          {"type": "array", "items": ref("WebhookEndpoint")}))}),
            "post": op("createWebhook", "Register a webhook endpoint (its secret shown once)",
                       "webhooks", security=scope, request=body(ref("WebhookEndpointIn")),
                       params=[IDEMPOTENCY_KEY], responses={201: ok_response(
                           envelope(ref("NewWebhookEndpoint")), "Registered.")},
                       description="A loopback, private, link-local, multicast or reserved "
                                   "target is 400 (field url) unless WEBHOOK_ALLOW_PRIVATE.")},
        hooks: {
            "get": op("getWebhook", "A webhook endpoint", "webhooks", security=scope,
                      params=[item], responses={200: ok_response(one)}),
            "patch": op("updateWebhook", "Change a webhook endpoint", "webhooks",
                        security=scope, params=[item, IDEMPOTENCY_KEY],
                        request=body(ref("WebhookEndpointPatch")),
                        responses={200: ok_response(one)}),
            "delete": op("deleteWebhook", "Delete a webhook endpoint and its delivery log",
                         "webhooks", security=scope, params=[item],
                         responses={200: ok_response(OK, "Deleted.")})},
        f"{hooks}/deliveries": {"get": op(
            "listWebhookDeliveries", "An endpoint's deliveries, newest first", "webhooks",
            security=scope, params=[item, *page_params()],
            responses={200: ok_response(page_of(ref("WebhookDelivery")))})},
        f"{hooks}/test": {"post": op(
            "testWebhook", "Send the endpoint a webhook.test event", "webhooks",
            security=scope, params=[item, IDEMPOTENCY_KEY],
            responses={201: ok_response(envelope(ref("WebhookDelivery")), "Queued.")},
            description="A disabled endpoint is 400: enable it first.")},
        f"{hooks}/deliveries/{{delivery_id}}/retry": {"post": op(
            "retryWebhookDelivery", "Attempt a delivery again now", "webhooks",
            security=scope, params=[item, delivery, IDEMPOTENCY_KEY],
            responses={200: ok_response(envelope(ref("WebhookDelivery")))},
            description="A failed or pending delivery becomes due now (one more attempt, the "
                        "same Chatdock-Webhook-Id); a succeeded one is 400.")},
    }


def _paths(config: Mapping[str, Any]) -> dict[str, dict[str, Schema]]:
    """Every documented path, each with its operations by lower-case method."""
    return {**_served_paths(), **_visitor_paths(config), **_ticket_paths(), **_canned_paths(),
            **_contact_paths(), **_admin_paths(), **_webhook_paths(),
            **_analytics_paths(), **_rating_paths(), **_attachment_paths(),
            **_availability_paths(), **_knowledge_paths(), **_bot_paths(), **_talkr_paths()}


# ---------- availability (server/api/availability.py) ---------------------------------------


def _availability_schemas() -> dict[str, Schema]:
    hhmm = string(5, pattern=r"^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$")
    day = {"type": "array", "maxItems": hours.MAX_RANGES,
           "items": {"type": "array", "prefixItems": [hhmm, hhmm], "minItems": 2,
                     "maxItems": 2, "description": "[start, end), wall-clock; end may be "
                                                   "24:00; start < end."}}
    week = obj({}, {d: day for d in hours.DAYS},
               description="Opening ranges per weekday; a missing day is closed; ranges do "
                           "not overlap nor cross midnight.")
    fields = {"timezone": string(hours.MAX_TIMEZONE, minLength=1,
                                 description="An IANA name, e.g. Europe/Berlin."),
              "hours": week, "offline_message": string(hours.MAX_OFFLINE)}
    return {
        "Availability": obj({"business_id": ROW_ID, **fields,
                             "hours": obj({d: day for d in hours.DAYS})}),
        "AvailabilityIn": obj({}, fields),
        "ConfigAvailability": obj({
            "open": {"type": "boolean"},
            "next_open_at": nullable({**ISO_TIME, "description": "When it next opens (null "
                                      "while open, or when the week has no hours)."}),
            "offline_message": string()}),
    }


def _availability_paths() -> dict[str, dict[str, Schema]]:
    return {"/api/v1/availability": {
        "get": op("getAvailability", "Business hours and the offline message", "branding",
                  security=agent("tickets:read"),
                  responses={200: ok_response(envelope(ref("Availability")))},
                  description="Never set: UTC, open 00:00-24:00 every day (always open)."),
        "put": op("updateAvailability", "Change business hours (partial)", "branding",
                  security=agent("branding:write"), request=body(ref("AvailabilityIn")),
                  responses={200: ok_response(envelope(ref("Availability")))},
                  description="hours replaces the whole week: a day left out is closed.")}}


# ---------- analytics (server/api/analytics.py) --------------------------------------------


def _analytics_schemas() -> dict[str, Schema]:
    type_ = string(analytics.TYPE_MAX, minLength=1, pattern=r"^\s*[A-Za-z0-9_.:-]+\s*$")
    text = {name: nullable(string(limit)) for name, limit in analytics.TEXT_FIELDS.items()}
    value = {"type": ["number", "string", "null"], "maxLength": analytics.VALUE_MAX,
             "description": "A number, or a string of at most 500 characters."}
    meta = {"type": ["object", "null"], "description":
            f"Free-form properties; at most {analytics.META_MAX_BYTES} bytes as JSON."}
    event_in = obj({"type": type_, "occurred_at": {
        **ISO_TIME, "description": "When it happened: ISO 8601 (UTC without an offset); at "
                                   "most a day in the future."}},
                   {**text, "value": value, "meta": meta})
    return {
        "AnalyticsBatchIn": obj({
            "visitor_id": string(128, minLength=1, pattern=VISITOR_ID_PATTERN,
                                 description=VISITOR_ID_NOTE),
            "events": {"type": "array", "minItems": 1, "maxItems": analytics.MAX_EVENTS,
                       "items": event_in}}),
        "AnalyticsEvent": obj({"id": ROW_ID, "visitor_id": string(),
                               "contact_id": nullable(ROW_ID), "type": string(),
                               "occurred_at": ISO_TIME, "received_at": ISO_TIME, **text,
                               "value": {"type": ["number", "string", "null"]},
                               "meta": {"type": ["object", "null"]}}),
    }


def _analytics_paths() -> dict[str, dict[str, Schema]]:
    return {
        "/api/v1/chat/events": {"post": op(
            "trackEvents", "Store a batch of the visitor app's analytics events", "visitor",
            security=VISITOR_KEY, request=body(ref("AnalyticsBatchIn")),
            responses={202: ok_response(envelope(obj({"accepted": COUNT})), "Stored.")},
            description="The Tickki SDK's TickkiAnalytics flush: the publishable key alone, no "
                        "session token. 1 to 50 events; the batch is checked whole and a bad "
                        "event stores nothing (400, field events[i].<name>).")},
        "/api/v1/analytics/events": {"get": op(
            "listAnalyticsEvents", "Analytics events, newest first", "contacts",
            security=agent("contacts:read"), errors=(400,), params=[
                query("visitor_id", string(128)),
                query("contact_id", ROW_ID, "That contact's visitor id (events sent before "
                                            "the contact existed count too)."),
                query("type", string(analytics.TYPE_MAX)),
                query("since", ISO_TIME, "Events that occurred at or after this time."),
                query("cursor", string()),
                query("per_page", {"type": "integer", "minimum": 1, "maximum": 100})],
            responses={200: ok_response(envelope(
                {"type": "array", "items": ref("AnalyticsEvent")}, CURSOR_META))})},
    }


# ---------- ratings (server/api/chat.py, server/services/ratings.py) ------------------------


def _rating_schemas() -> dict[str, Schema]:
    score = {"type": "integer", "minimum": 1, "maximum": 5}
    shown = {"score": score, "comment": nullable(string(ratings.COMMENT_MAX)),
             "created_at": ISO_TIME}
    return {
        "RatingIn": obj({"score": score},
                        {"comment": nullable(string(ratings.COMMENT_MAX,
                                                    description="Blank counts as none."))}),
        "Rating": obj({"id": ROW_ID, **shown}),
        "TicketRating": {**obj(shown), "description": "The newest rating of the ticket (its "
                                                      "latest rated resolution's)."},
        "RatingStatus": obj({"status": enum(["open", "pending", "resolved"]),
                             "pending": {"type": "boolean", "description": "Resolved and not "
                                         "rated since: the widget asks for a rating."},
                             "rating": nullable(ref("Rating"))}),
    }


def _rating_paths() -> dict[str, dict[str, Schema]]:
    rating = "/api/v1/chat/sessions/{conversation_id}/rating"
    return {rating: {
        "post": op("rateConversation", "Rate the resolved conversation (CSAT, 1-5)", "visitor",
                   security=VISITOR_SESSION, request=body(ref("RatingIn")),
                   params=[CONVERSATION, IDEMPOTENCY_KEY], errors=(409,),
                   responses={201: ok_response(envelope(obj({"rating": ref("Rating")})),
                                               "Stored; rating.created is sent.")},
                   description="Once per resolution: 409 conflict when this resolution is "
                               "rated already or the conversation is not resolved (a "
                               "reopened, again resolved conversation may be rated again)."),
        "get": op("getRatingStatus", "Whether the conversation awaits a rating", "visitor",
                  security=VISITOR_SESSION, params=[CONVERSATION],
                  responses={200: ok_response(envelope(ref("RatingStatus")))})}}


# ---------- the answer bot (server/api/bot.py) ----------------------------------------------


def _bot_schemas() -> dict[str, Schema]:
    text = string(bot.TEXT_MAX)
    fields = {
        "enabled": {"type": "boolean"}, "name": string(bot.NAME_MAX, minLength=1, pattern=r"\S"),
        "avatar_url": nullable(string(bot.URL_MAX, pattern=r"^[hH][tT][tT][pP][sS]?://\S")),
        "welcome_message": nullable(text),
        "fallback_message": string(bot.TEXT_MAX, minLength=1, pattern=r"\S"),
        "handoff_message": string(bot.TEXT_MAX, minLength=1, pattern=r"\S"),
        "handoff_keywords": {"type": "array", "maxItems": bot.KEYWORDS_MAX, "items": string(
            bot.KEYWORD_MAX, minLength=1, pattern=r"\S"), "description": (
            "Words or phrases (any case, whole words) that hand the conversation to a person.")},
        "collection_ids": {"type": "array", "maxItems": bot.COLLECTIONS_MAX, "items": ROW_ID,
                           "description": "Knowledge collections of this business; [] = all."},
        "min_score": {"type": "number", "minimum": 0, "maximum": 1, "description": (
            "A passage must score at least this (knowledge search, 0..1) to be answered "
            "from; none does: the handoff.")},
        "inactivity_minutes": {"type": "integer", "minimum": bot.INACTIVITY_MIN,
                               "maximum": bot.INACTIVITY_MAX},
        "public_api": obj({}, {"enabled": {"type": "boolean"}})}
    return {"BotSettings": obj({"id": ROW_ID, **fields, "welcome_message": string(),
                                "avatar_url": nullable(string())}),
            "BotSettingsIn": obj({}, fields),
            "BotPreviewIn": obj({"question": string(knowledge.QUERY_MAX, minLength=1,
                                                    pattern=r"\S")}),
            "BotPreview": obj({
                "answer": string(description="What the bot would say: its answer, or the "
                                             "handoff_message."),
                "sources": {"type": "array", "items": obj(
                    {"document_id": ROW_ID, "title": string()}),
                    "description": "The answer's documents; [] on a handoff."},
                "handoff": {"type": ["string", "null"],
                            "enum": ["asked", "no_answer", "error", None],
                            "description": "Why it would hand off; null: it answers."},
                "passages": {"type": "array", "items": ref("KnowledgePassage"),
                             "description": "The bot's collections' best passages, best "
                                            "first, including those under min_score."}})}


def _bot_paths() -> dict[str, dict[str, Schema]]:
    one = {200: ok_response(envelope(ref("BotSettings")))}
    return {"/api/v1/bot": {
        "get": op("getBot", "The answer bot's settings (defaults, the bot off, on first read)",
                  "bot", security=agent("tickets:read"), responses=one),
        "put": op("updateBot", "Change the answer bot's settings (partial)", "bot",
                  security=agent("bot:write"), request=body(ref("BotSettingsIn")),
                  responses=one,
                  description="collection_ids must name this business's knowledge "
                              "collections. Turning the bot off hands every conversation it "
                              "holds to the team (pending ones turn open).")},
        "/api/v1/bot/preview": {"post": op(
            "previewBot", "What the bot would answer to a question (nothing is sent)", "bot",
            security=agent("tickets:read"), request=body(ref("BotPreviewIn")),
            responses={200: ok_response(envelope(ref("BotPreview")))},
            description="The bot's own search and answerer with its current settings (even "
                        "while it is off); no message, job or webhook is written.")}}


# ---------- the TALKR wire endpoint (server/api/talkr.py, docs/api-talkr.md) ----------------


def _talkr_schemas(config: Mapping[str, Any]) -> dict[str, Schema]:
    text = string(config["MESSAGE_MAX_LENGTH"], minLength=1, pattern=r"\S")
    shown = obj({"type": {"const": "text"}, "content": string()})
    voice = {"language": string(description="TALKR_SPEECH_LANGUAGE (default en-US).")}
    return {
        "TalkrIn": {"type": "object", "description": "`{}` starts a conversation; a message "
                    "call sends session, tracking and the text (message, else "
                    "variables.userresponse). Other fields are ignored.", "properties": {
                        "session": string(200, minLength=1, pattern=r"\S"),
                        "tracking": {"type": ["string", "integer"],
                                     "description": "data.responses[0].tracking of the "
                                                    "previous answer."},
                        "message": text,
                        "variables": {"type": "object",
                                      "properties": {"userresponse": text}},
                        "currentUrl": {"description": "The page the visitor is on (web); "
                                                      "accepted, not used."}}},
        "TalkrAnswer": obj({
            "session": string(description="Keep it: send it with every message."),
            "code": {"const": 200}, "name": string(description="The bot's name."),
            "language": obj({"name": string(), "slug": string()}),
            "variables": obj({"bot_answer": string(description="The bot's answer to this "
                                                               "message (\"\" when a person "
                                                               "holds the conversation).")}),
            "data": obj({
                "messages": {"type": "array", "items": shown,
                             "description": "Everything written for the visitor since the "
                                            "previous call: agents' replies, then the bot's "
                                            "answer (the welcome on the first call)."},
                "responses": {"type": "array", "minItems": 1, "maxItems": 1,
                              "items": obj({"type": {"const": "custom"}, "content": string(),
                                            "tracking": string()})},
                "object_id": ROW_ID, "has_background_text": {"const": 0}},
                {"speech_synthesis": obj({"text": string(), **voice}),
                 "speech_recognizer": obj({**voice, "timeout": {
                     "type": "integer", "description": "Seconds of silence to wait "
                                                       "(TALKR_NO_RESPONSE_SECONDS)."}}),
                 "hangup_no_response": {"const": 1},
                 "retries": {"type": "integer", "minimum": 0,
                             "description": "TALKR_RETRIES."}}),
            "background_content": {"const": ""}}),
    }


def _talkr_paths() -> dict[str, dict[str, Schema]]:
    return {"/api/v1/talkr/{business_slug}/{bot_id}/{channel}": {"post": op(
        "talkr", "TALKR's chatbot API: start a conversation, or send a message", "talkr",
        security=PUBLIC, request=body(ref("TalkrIn")), errors=(404, 429),
        params=[{"name": "business_slug", "in": "path", "required": True,
                 "schema": string(80), "description": "The business's slug."},
                {"name": "bot_id", "in": "path", "required": True, "schema": ROW_ID,
                 "description": "The bot's id (GET /api/v1/bot)."},
                {"name": "channel", "in": "path", "required": True,
                 "schema": enum(["web", "telephony"])},
                header("X-Talkr-Query", {"const": "1"}, "Required on the web channel.")],
        responses={200: ok_response(ref("TalkrAnswer"), "The bot's answer.")},
        description="No API key: the slug and bot id name the bot, its public_api.enabled "
                    "(and the bot on) opens it; rate-limited per address. 400 "
                    "validation_error with field (a missing field, X-Talkr-Query on web), "
                    "400 invalid_session (unknown, forged or expired session), 404 unknown "
                    "or disabled bot; every error it answers adds TALKR's `code` (the "
                    "status). docs/api-talkr.md.")}}


def _version() -> str:
    try:
        return version("chatdock")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "0.0.0"


def build_document(config: Mapping[str, Any]) -> dict[str, Any]:
    """The OpenAPI 3.1 document for an app with this config."""
    return {
        "openapi": "3.1.0",
        "info": {"title": "chatdock", "version": _version(),
                 "description": "Self-hosted backend for embeddable customer-chat widgets. "
                                "Success is {\"data\": …} (lists add \"meta\"); every error is "
                                "{\"error\", \"message\", \"field\"?}.",
                 "license": {"name": "MIT", "identifier": "MIT"}},
        "tags": [{"name": n} for n in ("visitor", "tickets", "contacts", "keys", "branding",
                                        "agents", "webhooks", "knowledge", "bot",
                                        "realtime", "widget", "operations", "talkr")],
        "paths": _paths(config),
        "components": {"schemas": _schemas(config), "responses": _responses(),
                       "securitySchemes": SECURITY_SCHEMES},
    }


def document_bytes(config: Mapping[str, Any]) -> tuple[bytes, str]:
    """The document as served, and its ETag."""
    raw = json.dumps(build_document(config), sort_keys=True).encode()
    return raw, '"' + hashlib.sha256(raw).hexdigest()[:32] + '"'


# ---------- attachments (server/api/attachments.py) ----------------------------------------


def _attachment_schemas(given: Mapping[str, Any]) -> dict[str, Schema]:
    config = {**DEFAULTS, **given}  # a document built from a partial config (tests) still works
    upload = {"file": {"type": "string", "contentMediaType": "application/octet-stream",
                       "description": f"At most {config['MAX_UPLOAD_KB']} KB; its type is "
                                      "sniffed from the bytes (the part's content type is "
                                      f"ignored): one of {config['UPLOAD_MIME_TYPES']}."}}
    return {
        "Attachment": obj({"id": ROW_ID, "file_name": string(255), "mime_type": string(),
                           "file_size": COUNT,
                           "signed_url": string(description="Absolute; GET needs no key; "
                                                            "valid 60 minutes.")}),
        "AttachmentCreated": obj({"attachment": ref("Attachment"), "message": ref("Message")}),
        "VisitorUploadIn": obj(upload),
        "AgentUploadIn": obj(upload, {"content": string(config["MESSAGE_MAX_LENGTH"],
                                                        description="A caption.")}),
    }


UPLOAD_KEY = {**IDEMPOTENCY_KEY, "description": "A retry with the same key and the same file "
                                                "(bytes, name, fields) replays the first answer "
                                                "(Idempotent-Replayed: true); another file: 422."}


def _upload_body(schema: str) -> Schema:
    return {"required": True, "content": {"multipart/form-data": {"schema": ref(schema)}}}


def _attachment_paths() -> dict[str, dict[str, Schema]]:
    created = {201: ok_response(envelope(ref("AttachmentCreated")),
                                "Stored; the attachment message is published.")}
    return {
        "/api/v1/chat/sessions/{conversation_id}/attachments": {"post": op(
            "uploadAttachment", "Upload a file as the visitor (the Tickki SDK's "
                                "uploadAttachment)", "visitor", security=VISITOR_SESSION,
            request=_upload_body("VisitorUploadIn"), params=[CONVERSATION, UPLOAD_KEY],
            responses=created,
            errors=(415,), description="Streamed to the store: over MAX_UPLOAD_KB is 413 as "
                                       "soon as the limit passes; a type outside "
                                       "UPLOAD_MIME_TYPES is 415. Nothing is stored on an "
                                       "error.")},
        "/api/v1/tickets/{ticket_id}/attachments": {"post": op(
            "uploadTicketAttachment", "Send a file to the visitor (an outbound reply)",
            "tickets", security=agent("tickets:write"), request=_upload_body("AgentUploadIn"),
            params=[TICKET, UPLOAD_KEY], responses=created, errors=(415,),
            description="Like a reply: the ticket is read (unread 0).")},
        "/api/v1/chat/attachments/{token}": {"get": op(
            "downloadAttachment", "The bytes behind a signed URL", "visitor", security=PUBLIC,
            params=[{"name": "token", "in": "path", "required": True,
                     "schema": string(), "description": "From an attachment's signed_url."}],
            responses={200: ok_response({"type": "string", "format": "binary"},
                                        "The file, with its stored type; `Content-Disposition: "
                                        "attachment` unless an image; `nosniff`.",
                                        media_type="application/octet-stream")},
            errors=(403, 404, 429),
            description="403 `forbidden` when the link is tampered with or older than 60 "
                        "minutes (read the message again for a fresh one).")},
    }


# ---------- knowledge (server/api/knowledge.py) --------------------------------------------


def _knowledge_schemas() -> dict[str, Schema]:
    title = string(knowledge.TITLE_MAX, minLength=1)
    return {
        "KnowledgeCollection": obj({
            "id": ROW_ID, "name": string(), "description": nullable(string()),
            "document_count": COUNT, "created_at": ISO_TIME, "updated_at": ISO_TIME}),
        "KnowledgeCollectionIn": obj({"name": string(knowledge.NAME_MAX, minLength=1)},
                                     {"description": nullable(
                                         string(knowledge.DESCRIPTION_MAX))}),
        "KnowledgeCollectionPatch": obj({}, {"name": string(knowledge.NAME_MAX, minLength=1),
                                             "description": nullable(
                                                 string(knowledge.DESCRIPTION_MAX))}),
        "KnowledgeDocument": obj({
            "id": ROW_ID, "collection_id": ROW_ID, "title": string(), "chunk_count": COUNT,
            "size": {**COUNT, "description": "Bytes of the text (or file) as sent."},
            "created_at": ISO_TIME}),
        "KnowledgeDocumentIn": {"oneOf": [
            obj({"title": title, "text": string(description=(
                "Plain text or markdown (at most 1 MiB as UTF-8): chunked by `#` headings "
                "and blank-line paragraphs."))}),
            obj({"title": title, "chunks": {
                "type": "array", "minItems": 1, "maxItems": knowledge.MAX_CHUNKS,
                "items": string(knowledge.CHUNK_MAX),
                "description": "The document already cut into passages, kept as sent."}})]},
        "KnowledgeDocumentFile": obj({"file": {
            "type": "string", "contentMediaType": "text/plain", "description": (
                "A text/plain, text/markdown or text/html file of at most 1 MiB, UTF-8 "
                "(application/octet-stream is taken by its extension: .txt .md .markdown "
                ".html .htm). HTML is reduced to its text (script and style dropped); h1-h6 "
                "start chunks.")}},
            {"title": string(knowledge.TITLE_MAX, description="Default: the file name "
                                                              "without its extension.")}),
        "KnowledgePassage": obj({
            "document_id": ROW_ID, "title": string(), "chunk_id": ROW_ID,
            "snippet": string(description="Plain text around the hits, each hit as **word** "
                                          "(never HTML: show it as text)."),
            "score": {"type": "number", "minimum": 0, "exclusiveMaximum": 1,
                      "description": "Higher is better: s/(s+K) of bm25 (SQLite) or "
                                     "ts_rank (PostgreSQL), comparable on both."}}),
    }


def _knowledge_paths() -> dict[str, dict[str, Schema]]:
    read, write = agent("tickets:read"), agent("knowledge:write")
    item = path_param("collection_id", "A knowledge collection of this business.")
    doc = path_param("document_id", "A document of this collection.")
    one = envelope(ref("KnowledgeCollection"))
    collection = "/api/v1/knowledge/collections/{collection_id}"
    upload = {"required": True, "content": {
        **json_content(ref("KnowledgeDocumentIn")),
        "multipart/form-data": {"schema": ref("KnowledgeDocumentFile")}}}
    return {
        "/api/v1/knowledge/collections": {
            "get": op("listKnowledgeCollections", "The business's knowledge collections, by "
                      "name", "knowledge", security=read, responses={200: ok_response(envelope(
                          {"type": "array", "maxItems": knowledge.MAX_COLLECTIONS,
                           "items": ref("KnowledgeCollection")}))},
                      description="Per business, shared by test and live mode."),
            "post": op("createKnowledgeCollection", "Add a knowledge collection", "knowledge",
                       security=write, request=body(ref("KnowledgeCollectionIn")),
                       params=[IDEMPOTENCY_KEY], errors=(409,),
                       responses={201: ok_response(one, "Added.")},
                       description="A name the business already has is 409 (field name); a "
                                   "101st collection is 400.")},
        collection: {
            "get": op("getKnowledgeCollection", "A knowledge collection", "knowledge",
                      security=read, params=[item], responses={200: ok_response(one)}),
            "patch": op("updateKnowledgeCollection", "Rename or describe a collection",
                        "knowledge", security=write, params=[item, IDEMPOTENCY_KEY],
                        request=body(ref("KnowledgeCollectionPatch")), errors=(409,),
                        responses={200: ok_response(one)}),
            "delete": op("deleteKnowledgeCollection", "Delete a collection and its documents",
                         "knowledge", security=write, params=[item],
                         responses={200: ok_response(OK, "Deleted.")})},
        f"{collection}/documents": {
            "get": op("listKnowledgeDocuments", "A collection's documents, newest first",
                      "knowledge", security=read, params=[item, *page_params()],
                      responses={200: ok_response(page_of(ref("KnowledgeDocument")))}),
            "post": op("addKnowledgeDocument", "Add a document (JSON text or chunks, or a "
                       "file)", "knowledge", security=write, request=upload,
                       params=[item, IDEMPOTENCY_KEY], errors=(415,),
                       responses={201: ok_response(envelope(ref("KnowledgeDocument")),
                                                   "Stored and indexed.")},
                       description="Over 1 MiB is 413; another file type is 415; no text, "
                                   "a chunk over 2000 characters or more than 2000 chunks "
                                   "is 400.")},
        f"{collection}/documents/{{document_id}}": {"delete": op(
            "deleteKnowledgeDocument", "Delete a document, its chunks and their index rows",
            "knowledge", security=write, params=[item, doc],
            responses={200: ok_response(OK, "Deleted.")})},
        "/api/v1/knowledge/search": {"get": op(
            "searchKnowledge", "Passages ranked against a question, best first", "knowledge",
            security=read, params=[
                query("q", string(knowledge.QUERY_MAX, minLength=1),
                      "Any text (a visitor's message as typed); its words are searched, "
                      "stop words dropped. Required."),
                query("collection_id", ROW_ID, "Only this collection (404 if not the "
                                               "business's)."),
                query("limit", {"type": "integer", "minimum": 1,
                                "maximum": knowledge.SEARCH_LIMIT_MAX})],
            errors=(404,), responses={200: ok_response(envelope(
                {"type": "array", "items": ref("KnowledgePassage")}))},
            description="bm25 over SQLite FTS5, or ts_rank over PostgreSQL's GIN-indexed "
                        "tsvector. A question of stop words only finds nothing (an empty "
                        "list).")},
    }
