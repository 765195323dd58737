"""Credential resolution: publishable keys, secret keys, visitor sessions."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from functools import wraps
from typing import Any, TypeVar

from flask import current_app, g, request
from itsdangerous import BadSignature, SignatureExpired
from sqlalchemy import update

from server.db import get_session
from server.errors import (
    BusinessSuspended,
    InsufficientScope,
    InvalidCredentials,
    MissingApiKey,
    MissingSessionToken,
    OriginNotAllowed,
    TokenExpired,
    TokenRevoked,
    Unauthorized,
    WrongKeyType,
)
from server.models import ApiKey, Business, User, utcnow
from server.ratelimit import client_address, enforce
from server.security import (
    AGENT_TOKEN_PREFIX,
    OAUTH_TOKEN_PREFIX,
    is_legacy_key_hash,
    parse_key,
    verify_key,
)
from server.services.agents import token_revoked
from server.services.chat import SessionInfo, check_conversation, do_touch_session, find_session
from server.services.keys import SCOPES, KeyInfo, do_rewrite_legacy_hash, find_key
from server.services.oauth import token_client

F = TypeVar("F", bound=Callable[..., Any])
LAST_USED_EVERY = 60.0  # seconds between last_used_at writes per key and process
_last_touch: dict[int, float] = {}


def _bearer() -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise MissingApiKey()
    return token.strip()


@contextmanager
def failed_auth_guard() -> Iterator[None]:
    """Count a failed key or token check against the caller's address; over the budget the
    failure is a 429 instead of a 401. Checks are cheap (a digest or a signature), so they
    run first: a valid credential is never refused for other callers' failures."""
    try:
        yield
    except Unauthorized:
        enforce(_failures_bucket(), kind="auth")
        raise


def _failures_bucket() -> str:
    return f"ip:{client_address()}"


@contextmanager
def login_guard(email: str) -> Iterator[None]:
    """Refuse a login before any argon2 work when its account (email, in any business) or
    its address is over its budget of failed logins; count a failed login against both.
    Refused attempts are not counted, and keys and agent tokens never look at these."""
    limits = (("login_account_limiter", f"login-account:{email}"),
              ("login_address_limiter", f"login-address:{client_address()}"))
    for name, bucket in limits:
        enforce(bucket, kind="auth", count=False, limiter_name=name)
    try:
        yield
    except InvalidCredentials:
        for name, bucket in limits:
            current_app.extensions[name].retry_after(bucket)
        raise


def authenticate_key(kind: str) -> KeyInfo:
    """Resolve the bearer key, insisting on its kind (publishable or secret)."""
    plaintext = _bearer()
    if plaintext.startswith(OAUTH_TOKEN_PREFIX):
        raise WrongKeyType(f"This endpoint takes a {kind} key, not an OAuth2 access token.")
    shape = parse_key(plaintext)
    if shape is None:
        raise Unauthorized()
    if shape[0] != kind:
        raise WrongKeyType(f"This endpoint takes a {kind} key.")
    with failed_auth_guard():
        key = find_key(get_session(), plaintext)
        if key is not None and is_legacy_key_hash(key.key_hash):  # argon2 until rewritten:
            enforce(_failures_bucket(), kind="auth", count=False)  # refused before it, as in 0.x
        if not verify_key(key.key_hash if key is not None else None, plaintext) or key is None:
            raise Unauthorized()
    if do_rewrite_legacy_hash(get_session(), key, plaintext):
        get_session().commit()
    if key.business_suspended:
        raise BusinessSuspended()
    _touch(key)
    return key


def _touch(key: KeyInfo) -> None:
    now = time.monotonic()
    if now - _last_touch.get(key.id, -1e9) < LAST_USED_EVERY:
        return
    _last_touch[key.id] = now
    session = get_session()
    session.execute(update(ApiKey).where(ApiKey.id == key.id).values(last_used_at=utcnow()))
    session.commit()


def _touch_session(chat_session: SessionInfo) -> None:
    """Using a session keeps it from idling out (written at most every few minutes)."""
    if chat_session.last_seen_at < utcnow() - timedelta(minutes=5):
        do_touch_session(get_session(), chat_session)
        get_session().commit()


def _request_origin() -> str:
    """The calling page's origin. Browsers send no Origin on a same-origin GET; they do
    send Sec-Fetch-Site, and then the page's origin is this server's own."""
    origin = request.headers.get("Origin", "").strip()
    if not origin and request.headers.get("Sec-Fetch-Site") == "same-origin":
        origin = request.host_url
    return origin.lower().rstrip("/")


def check_allow_lists(key: KeyInfo) -> None:
    """Enforce a publishable key's origin and bundle-id allow-lists.

    A request with an origin comes from a browser (a page cannot drop Origin, but it can
    set any X-Tickki-Bundle-Id): the origin list alone judges it. Only a request without
    one (a native app) is judged by its bundle id.
    """
    if not key.allowed_origins and not key.allowed_bundle_ids:
        return
    origin = _request_origin()
    if origin:
        allowed = origin in key.allowed_origins
    else:
        bundle = request.headers.get("X-Tickki-Bundle-Id", "").strip()
        allowed = bool(bundle) and bundle in key.allowed_bundle_ids
    if not allowed:
        raise OriginNotAllowed()


def visitor_key(view: F) -> F:
    """Require a publishable key (allow-lists enforced); sets g.api_key."""
    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        g.api_key = authenticate_key("publishable")
        check_allow_lists(g.api_key)
        enforce(f"key:{g.api_key.id}:{client_address()}", kind="visitor")
        g.credential = f"key:{g.api_key.id}"
        return view(*args, **kwargs)
    return wrapped  # type: ignore[return-value]


def visitor_session(view: F) -> F:
    """Require a publishable key and that session's token; sets g.chat_session."""
    @wraps(view)
    @visitor_key
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        token = request.headers.get("X-Tickki-Session", "").strip()
        if not token:
            raise MissingSessionToken()
        chat_session = find_session(
            get_session(), g.api_key, token, current_app.config["SESSION_IDLE_DAYS"])
        if "conversation_id" in kwargs:
            check_conversation(chat_session, kwargs["conversation_id"])
        _touch_session(chat_session)
        g.chat_session = chat_session
        g.credential = f"session:{chat_session.id}"
        return view(*args, **kwargs)
    return wrapped  # type: ignore[return-value]


ROLE_SCOPES = {
    "owner": frozenset(SCOPES),
    "agent": frozenset({"tickets:read", "tickets:write", "contacts:read", "contacts:write"}),
}


@dataclass(frozen=True)
class Actor:
    """Who is calling the agent API: a secret key, a logged-in agent or an OAuth2 client's
    access token, in one mode."""

    business_id: int
    mode: str
    scopes: frozenset[str]
    name: str
    user_id: int | None = None
    key_id: int | None = None
    client_id: int | None = None  # the OAuth client's row id

    @property
    def ref(self) -> str:
        """A stable label for records (resolved_by, idempotency scope)."""
        if self.user_id is not None:
            return f"user:{self.user_id}"
        return f"oauth:{self.client_id}" if self.client_id is not None else f"key:{self.key_id}"

    @property
    def machine(self) -> bool:
        """A key or an OAuth client: bound to its own mode (only an owner's login is not)."""
        return self.user_id is None


def authenticate_agent() -> Actor:
    """Resolve a secret key, an agent token or an OAuth2 access token (a publishable key is
    the wrong type)."""
    token = _bearer()
    if token.startswith(AGENT_TOKEN_PREFIX):
        with failed_auth_guard():
            return _agent_from_token(token[len(AGENT_TOKEN_PREFIX):])
    if token.startswith(OAUTH_TOKEN_PREFIX):
        with failed_auth_guard():
            return _client_from_token(token[len(OAUTH_TOKEN_PREFIX):])
    key = authenticate_key("secret")
    return Actor(key.business_id, key.mode, frozenset(key.scopes), key.business_name,
                 key_id=key.id)


def _agent_from_token(token: str) -> Actor:
    try:
        data, signed_at = current_app.extensions["agent_tokens"].loads(
            token, max_age=current_app.config["AGENT_TOKEN_HOURS"] * 3600, return_timestamp=True)
    except SignatureExpired:
        raise TokenExpired() from None
    except BadSignature:
        raise Unauthorized("The agent token is not valid.") from None
    user = get_session().get(User, data.get("u"))
    if user is None or user.business_id != data.get("b") or user.deactivated_at is not None:
        raise Unauthorized("The agent token is not valid.")
    # tokens from before logout existed carry no "t": their signing second stands in
    issued = data.get("t")
    if token_revoked(user, issued if isinstance(issued, int) else
                     int(signed_at.timestamp()) * 1000):
        raise TokenRevoked()
    if get_session().get(Business, user.business_id).suspended:  # type: ignore[union-attr]
        raise BusinessSuspended()
    return Actor(user.business_id, data.get("m", "live"), ROLE_SCOPES[user.role],
                 user.name or user.email, user_id=user.id)


def _client_from_token(token: str) -> Actor:
    client, scopes = token_client(get_session(), current_app.extensions["oauth_tokens"], token,
                                  current_app.config["OAUTH_TOKEN_SECONDS"])
    business = get_session().get(Business, client.business_id)
    if business is None or business.suspended:
        raise BusinessSuspended()
    # it speaks for the business, as a secret key does (replies carry the business's name)
    return Actor(client.business_id, client.mode, scopes, business.name, client_id=client.id)


def agent_api(scope: str) -> Callable[[F], F]:
    """Require a secret key or agent token holding this scope; sets g.actor."""
    def decorator(view: F) -> F:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            actor = authenticate_agent()
            enforce(actor.ref, kind="agent")
            if scope not in actor.scopes:
                raise InsufficientScope(f"This credential lacks the {scope} scope.")
            g.actor = actor
            g.credential = actor.ref
            return view(*args, **kwargs)
        wrapped.required_scope = scope  # type: ignore[attr-defined]  # for the scope matrix
        return wrapped  # type: ignore[return-value]
    return decorator
