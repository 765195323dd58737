"""OAuth2 client credentials (RFC 6749 4.4): clients of a business and mode, their tokens.

A client's secret is stored as a key digest (server/security.py), like a key's. Its access
tokens are signed (itsdangerous: the client's row id, the granted scopes, the signing time)
and stored nowhere: each request checks the client's revoked_at, so revoking a client stops
its tokens at once on every process.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server.errors import (
    InvalidClient,
    InvalidScope,
    NotFound,
    TokenExpired,
    TokenRevoked,
    Unauthorized,
    UnauthorizedClient,
    ValidationError,
)
from server.models import Business, OAuthClient, utcnow
from server.security import OAUTH_TOKEN_PREFIX, key_digest, new_oauth_client, verify_key
from server.services.keys import SCOPES, check_scopes, grantable_scopes
from server.wire import iso


@dataclass(frozen=True)
class ClientRequest:
    """A validated POST /oauth/clients body."""

    name: str
    scopes: list[str]


MAX_CLIENT_SCOPES = len(SCOPES) * 2  # repeats are dropped; more is not a list of scopes


def check_client_request(body: dict[str, Any]) -> ClientRequest:
    """Validate {name, scopes}: a name, and at least one known secret-key scope."""
    name, scopes = body.get("name"), body.get("scopes")
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        raise ValidationError("name must be a string of 1 to 200 characters.", field="name")
    if (not isinstance(scopes, list) or not scopes or len(scopes) > MAX_CLIENT_SCOPES
            or not all(isinstance(s, str) for s in scopes)):
        raise ValidationError("scopes must be a non-empty list of scopes.", field="scopes")
    return ClientRequest(name.strip(), check_scopes(scopes))


def do_create_client(session: Session, business_id: int, mode: str, req: ClientRequest,
                     held: frozenset[str]) -> tuple[OAuthClient, str]:
    """Make a client (never with scopes its creator lacks); return it and its secret."""
    client_id, secret = new_oauth_client()
    client = OAuthClient(business_id=business_id, mode=mode, client_id=client_id,
                         secret_hash=key_digest(secret), name=req.name,
                         scopes=grantable_scopes(req.scopes, held), created_at=utcnow())
    session.add(client)
    session.flush()
    return client, secret


def business_clients(session: Session, business_id: int, page: int,
                     per_page: int) -> tuple[list[OAuthClient], int]:
    """A page of the business's clients (both modes, revoked too), newest first."""
    where = OAuthClient.business_id == business_id
    total = session.scalar(select(func.count()).select_from(OAuthClient).where(where)) or 0
    rows = session.scalars(select(OAuthClient).where(where).order_by(OAuthClient.id.desc())
                           .limit(per_page).offset((page - 1) * per_page))
    return list(rows), int(total)


def find_business_client(session: Session, business_id: int, row_id: int) -> OAuthClient:
    """One of the business's clients (another business's is not found)."""
    client = session.get(OAuthClient, row_id)
    if client is None or client.business_id != business_id:
        raise NotFound("No such OAuth client.")
    return client


def do_revoke_client(client: OAuthClient) -> None:
    """Revoke the client now: no new tokens, and every token it issued stops working."""
    if client.revoked_at is None:
        client.revoked_at = utcnow()


def client_json(client: OAuthClient) -> dict[str, object]:
    """Serialize a client without its secret."""
    return {"id": client.id, "client_id": client.client_id, "name": client.name,
            "mode": client.mode, "scopes": client.scopes, "created_at": iso(client.created_at),
            "revoked_at": iso(client.revoked_at) if client.revoked_at else None}


def authenticate_client(session: Session, client_id: str, secret: str) -> OAuthClient:
    """The live client these credentials prove (constant-time; an unknown id costs the same
    comparison), or invalid_client; a suspended business's client is unauthorized_client."""
    client = session.scalar(select(OAuthClient).where(OAuthClient.client_id == client_id,
                                                      OAuthClient.revoked_at.is_(None)))
    if not verify_key(client.secret_hash if client is not None else None, secret) \
            or client is None:
        raise InvalidClient()
    if session.get(Business, client.business_id).suspended:  # type: ignore[union-attr]
        raise UnauthorizedClient()
    return client


def check_token_scope(requested: str | None, client: OAuthClient) -> list[str]:
    """The scopes to grant: the space-separated request (a subset of the client's), or all."""
    if requested is None:
        return list(client.scopes)
    wanted = list(dict.fromkeys(requested.split()))
    beyond = [s for s in wanted if s not in client.scopes]
    if not wanted or beyond:
        raise InvalidScope(f"This client may not have: {' '.join(beyond) or '(no scope)'}.")
    return wanted


def issue_token(serializer: URLSafeTimedSerializer, client: OAuthClient,
                scopes: list[str]) -> str:
    """A signed access token for the client with these scopes."""
    return OAUTH_TOKEN_PREFIX + serializer.dumps({"c": client.id, "s": scopes})


def token_client(session: Session, serializer: URLSafeTimedSerializer, token: str,
                 max_age: int) -> tuple[OAuthClient, frozenset[str]]:
    """The live client behind an access token ('oat_' stripped) and the token's scopes."""
    try:
        data = serializer.loads(token, max_age=max_age)
    except SignatureExpired:
        raise TokenExpired("The access token has expired; fetch a new one.") from None
    except BadSignature:
        raise Unauthorized("The access token is not valid.") from None
    client = session.get(OAuthClient, data.get("c"))
    if client is None:
        raise Unauthorized("The access token is not valid.")
    if client.revoked_at is not None:
        raise TokenRevoked("The OAuth client of this token was revoked.")
    # never more than the client holds now
    return client, frozenset(data.get("s", ())) & frozenset(client.scopes)
