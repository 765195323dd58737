"""OAuth2 client credentials: clients (secret shown once) and the token endpoint."""

from __future__ import annotations

import base64
import binascii
from urllib.parse import unquote_plus

from flask import Blueprint, Response, current_app, g, request

from server.api.common import commit_ok, json_body, ok_page, page_args
from server.auth import agent_api, failed_auth_guard
from server.db import get_session
from server.errors import (
    InvalidClient,
    InvalidOAuthRequest,
    UnsupportedGrantType,
    ValidationError,
)
from server.models import OAuthClient
from server.responses import json_response
from server.services import keys, oauth
from server.validation import check_storable

bp = Blueprint("oauth", __name__, url_prefix="/api/v1/oauth")
FORM = "application/x-www-form-urlencoded"
BASIC_CHALLENGE = {"WWW-Authenticate": 'Basic realm="chatdock"'}


@bp.post("/clients")
@agent_api("keys:write")
def create_client() -> Response:
    actor = g.actor
    req = oauth.check_client_request(json_body())
    client, secret = oauth.do_create_client(get_session(), actor.business_id, actor.mode, req,
                                            actor.scopes)
    return commit_ok({**oauth.client_json(client), "client_secret": secret}, 201)


@bp.get("/clients")
@agent_api("keys:write")
def list_clients() -> Response:
    page, per_page = page_args()
    rows, total = oauth.business_clients(get_session(), g.actor.business_id, page, per_page)
    return ok_page([oauth.client_json(c) for c in rows], total, page, per_page)


@bp.delete("/clients/<int:oauth_client_id>")
@agent_api("keys:write")
def revoke_client(oauth_client_id: int) -> Response:
    actor = g.actor
    client = oauth.find_business_client(get_session(), actor.business_id, oauth_client_id)
    keys.check_may_manage(client.mode, actor.mode, actor.machine)
    oauth.do_revoke_client(client)
    return commit_ok(oauth.client_json(client))


@bp.post("/token")
def token() -> Response:
    params = _token_params()
    grant = params.get("grant_type")
    if not grant:
        raise InvalidOAuthRequest("grant_type is required.")
    if grant != "client_credentials":
        raise UnsupportedGrantType()
    with failed_auth_guard():  # a wrong secret counts like a wrong key (429 past the budget)
        client = _authenticated_client(params)
    scopes = oauth.check_token_scope(params.get("scope"), client)
    access_token = oauth.issue_token(current_app.extensions["oauth_tokens"], client, scopes)
    return json_response({"access_token": access_token, "token_type": "Bearer",
                          "expires_in": current_app.config["OAUTH_TOKEN_SECONDS"],
                          "scope": " ".join(scopes)})


@bp.after_request
def _no_store(resp: Response) -> Response:
    """Token answers, errors included, are never cached (RFC 6749 5.1)."""
    if request.endpoint == "oauth.token":
        resp.headers.update({"Cache-Control": "no-store", "Pragma": "no-cache"})
    return resp


def _token_params() -> dict[str, str]:
    """The token request's parameters, form-encoded or JSON: each a storable string, sent
    at most once (any other body is invalid_request, as RFC 6749 5.2 names it)."""
    try:
        params = _form_params() if request.mimetype == FORM else _json_params()
        check_storable(params, "")
    except ValidationError as err:  # invalid_json, or NUL / a lone surrogate
        raise InvalidOAuthRequest(err.message) from None
    return params


def _form_params() -> dict[str, str]:
    form = request.form
    if any(len(form.getlist(name)) > 1 for name in form):
        raise InvalidOAuthRequest("A parameter was sent more than once.")
    return form.to_dict()


def _json_params() -> dict[str, str]:
    if request.mimetype != "application/json":
        raise InvalidOAuthRequest("Send the parameters form-encoded or as JSON.")
    body = json_body()
    if not all(isinstance(v, str) for v in body.values()):
        raise InvalidOAuthRequest("Every parameter must be a string.")
    return body


def _authenticated_client(params: dict[str, str]) -> OAuthClient:
    """The client proven by HTTP Basic (RFC 6749 2.3.1: id and secret each form-encoded) or
    by client_id and client_secret in the body, one method only. A failed Basic attempt is
    answered with a Basic challenge (RFC 6749 5.2)."""
    scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "basic":
        if not params.get("client_id") or not params.get("client_secret"):
            raise InvalidClient("Authenticate with HTTP Basic, or client_id and client_secret.")
        return oauth.authenticate_client(get_session(), params["client_id"],
                                         params["client_secret"])
    if "client_secret" in params:
        raise InvalidOAuthRequest("Use one client authentication method, not two.")
    try:
        client_id, colon, secret = base64.b64decode(encoded.strip(), validate=True).decode() \
            .partition(":")
        if not colon or not client_id:
            raise InvalidClient()
        pair = unquote_plus(client_id, errors="strict"), unquote_plus(secret, errors="strict")
        check_storable(list(pair), "Authorization")  # e.g. a %00: no such client
        return oauth.authenticate_client(get_session(), *pair)
    except (binascii.Error, UnicodeDecodeError, ValidationError):
        raise InvalidClient(headers=BASIC_CHALLENGE) from None
    except InvalidClient as err:
        raise InvalidClient(err.message, headers=BASIC_CHALLENGE) from None
