"""Businesses, owners and API keys."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm import Session

from server.db import connection
from server.errors import Forbidden, InsufficientScope, NotFound, ValidationError
from server.models import ApiKey, Business, Setting, User, utcnow
from server.security import (
    hash_secret,
    is_legacy_key_hash,
    key_digest,
    lookup_prefix,
    new_api_key,
    parse_key,
)
from server.wire import iso

SCOPES = ("tickets:read", "tickets:write", "keys:write", "branding:write", "webhooks:write",
          "contacts:read", "contacts:write", "knowledge:write", "agents:write",
          "bot:write")
KINDS = ("publishable", "secret")
MODES = ("test", "live")
ORIGIN_RE = re.compile(r"https?://[a-z0-9.-]+(:\d{1,5})?")


def slugify(name: str) -> str:
    """Turn a business name into a URL-safe slug."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:60] or "business"


def _free_slug(session: Session, name: str) -> str:
    base = slug = slugify(name)
    n = 1
    while session.scalar(select(Business.id).where(Business.slug == slug)) is not None:
        n += 1
        slug = f"{base}-{n}"
    return slug


def check_origins(origins: list[str]) -> list[str]:
    """Normalize web origins for an allow-list (scheme://host[:port])."""
    out = [o.strip().lower().rstrip("/") for o in origins if o.strip()]
    for origin in out:
        if not ORIGIN_RE.fullmatch(origin):
            raise ValidationError(f"{origin!r} is not an origin like https://example.com",
                                  field="origins")
    return out


def check_scopes(scopes: list[str]) -> list[str]:
    """Reject unknown scopes."""
    for scope in scopes:
        if scope not in SCOPES:
            raise ValidationError(f"Unknown scope {scope!r}.", field="scopes")
    return list(dict.fromkeys(scopes))


def do_create_key(session: Session, business: Business, kind: str, mode: str, *,
                  name: str = "", scopes: list[str] | None = None,
                  origins: list[str] | None = None,
                  bundle_ids: list[str] | None = None) -> tuple[ApiKey, str]:
    """Mint a key; return the row and the plaintext (shown once, never stored)."""
    if kind not in KINDS:
        raise ValidationError("type must be publishable or secret.", field="type")
    if mode not in MODES:
        raise ValidationError("mode must be test or live.", field="mode")
    plaintext, prefix = new_api_key(kind, mode)
    key = ApiKey(business_id=business.id, kind=kind, mode=mode, prefix=prefix,
                 key_hash=key_digest(plaintext), name=name,
                 scopes=check_scopes(scopes if scopes is not None else list(SCOPES))
                 if kind == "secret" else [],
                 allowed_origins=check_origins(origins or []),
                 allowed_bundle_ids=[b.strip() for b in bundle_ids or [] if b.strip()])
    session.add(key)
    session.flush()
    return key, plaintext


def do_create_business(session: Session, name: str, owner_email: str,
                       owner_password: str | None = None) -> tuple[Business, User]:
    """Create a business and its owner."""
    if not name.strip():
        raise ValidationError("A business needs a name.", field="business")
    if "@" not in owner_email:
        raise ValidationError("owner email is not valid.", field="owner_email")
    business = Business(name=name.strip(), slug=_free_slug(session, name))
    session.add(business)
    session.flush()
    owner = User(business_id=business.id, email=owner_email.strip().lower(), role="owner",
                 password_hash=hash_secret(owner_password) if owner_password else None)
    session.add(owner)
    session.flush()
    return business, owner


def find_business(session: Session, slug: str) -> Business:
    """Return the business with this slug or raise not_found."""
    business = session.scalar(select(Business).where(Business.slug == slug))
    if business is None:
        raise NotFound(f"No business with slug {slug!r}.")
    return business


@dataclass(frozen=True)
class KeyInfo:
    """What a request needs to know about the key it came with (a plain record)."""

    id: int
    business_id: int
    kind: str
    mode: str
    key_hash: str
    scopes: list[str]
    allowed_origins: list[str]
    allowed_bundle_ids: list[str]
    last_used_at: datetime | None
    business_name: str
    business_suspended: bool


_KEYS, _BUSINESSES = ApiKey.__table__, Business.__table__
_KEY_LOOKUP = (
    select(_KEYS.c.id, _KEYS.c.business_id, _KEYS.c.kind, _KEYS.c.mode, _KEYS.c.key_hash,
           _KEYS.c.scopes, _KEYS.c.allowed_origins, _KEYS.c.allowed_bundle_ids,
           _KEYS.c.last_used_at, _BUSINESSES.c.name, _BUSINESSES.c.suspended)
    .join(_BUSINESSES, _BUSINESSES.c.id == _KEYS.c.business_id)
    .where(_KEYS.c.prefix == bindparam("prefix"), _KEYS.c.revoked_at.is_(None))
)


def find_key(session: Session, plaintext: str) -> KeyInfo | None:
    """Return the live key this plaintext claims to be (not yet verified); runs on every
    request, so it is one prebuilt Core statement (see services/chat.py)."""
    if parse_key(plaintext) is None:
        return None
    row = connection(session).execute(_KEY_LOOKUP, {"prefix": lookup_prefix(plaintext)}).first()
    return KeyInfo(*row) if row is not None else None


def do_rewrite_legacy_hash(session: Session, key: KeyInfo, plaintext: str) -> bool:
    """Replace a verified key's argon2 hash (chatdock 0.x) with its digest; True if rewritten.

    Conditional on the old hash, so concurrent first uses write once and never undo a revoke.
    """
    if not is_legacy_key_hash(key.key_hash):
        return False
    session.execute(update(ApiKey).where(ApiKey.id == key.id, ApiKey.key_hash == key.key_hash)
                    .values(key_hash=key_digest(plaintext)))
    return True


def list_keys(session: Session, business: Business) -> list[ApiKey]:
    """Return the business's keys, newest first."""
    return list(session.scalars(select(ApiKey).where(ApiKey.business_id == business.id)
                                .order_by(ApiKey.id.desc())))


def do_revoke_key(session: Session, key_id: int, business_id: int | None = None) -> ApiKey:
    """Revoke a key now; its sessions and sockets stop working."""
    key = session.get(ApiKey, key_id)
    if key is None or (business_id is not None and key.business_id != business_id):
        raise NotFound("No such key.")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
    return key


def key_json(key: ApiKey) -> dict[str, object]:
    """Serialize a key without its secret."""
    return {"id": key.id, "prefix": key.prefix, "type": key.kind, "mode": key.mode,
            "name": key.name, "scopes": key.scopes, "origins": key.allowed_origins,
            "bundle_ids": key.allowed_bundle_ids,
            "created_at": iso(key.created_at),
            "last_used_at": iso(key.last_used_at) if key.last_used_at else None,
            "revoked_at": iso(key.revoked_at) if key.revoked_at else None}


# ---------- the agent API over keys (POST/GET/DELETE /api/v1/keys) ----------

MAX_LIST_ITEMS = 50


@dataclass(frozen=True)
class KeyRequest:
    """A validated POST /keys body."""

    kind: str
    mode: str
    name: str
    scopes: list[str] | None
    origins: list[str]
    bundle_ids: list[str]


def _str_list(body: dict[str, Any], field: str, max_len: int) -> list[str]:
    value = body.get(field)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValidationError(f"{field} must be a list of strings.", field=field)
    if len(value) > MAX_LIST_ITEMS or any(len(v) > max_len for v in value):
        raise ValidationError(f"{field} takes at most {MAX_LIST_ITEMS} entries of at most "
                              f"{max_len} characters.", field=field)
    return value


def _only_for(body: dict[str, Any], field: str, kind: str, wanted: str) -> None:
    if body.get(field) not in (None, []) and kind != wanted:
        raise ValidationError(f"{field} applies to {wanted} keys only.", field=field)


def check_key_request(body: dict[str, Any], default_mode: str) -> KeyRequest:
    """Validate a POST /keys body (scopes for secret keys, allow-lists for publishable)."""
    kind, mode = body.get("type"), body.get("mode", default_mode)
    if kind not in KINDS:
        raise ValidationError("type must be publishable or secret.", field="type")
    if mode not in MODES:
        raise ValidationError("mode must be test or live.", field="mode")
    name = body.get("name") or ""
    if not isinstance(name, str) or len(name) > 200:
        raise ValidationError("name must be a string of at most 200 characters.", field="name")
    _only_for(body, "scopes", kind, "secret")
    _only_for(body, "origins", kind, "publishable")
    _only_for(body, "bundle_ids", kind, "publishable")
    scopes = _str_list(body, "scopes", 40) if body.get("scopes") is not None else None
    if scopes is not None and kind == "secret" and not scopes:
        raise ValidationError("A secret key needs at least one scope.", field="scopes")
    return KeyRequest(kind, mode, name.strip(), check_scopes(scopes) if scopes else None,
                      check_origins(_str_list(body, "origins", 300)),
                      [b.strip() for b in _str_list(body, "bundle_ids", 200) if b.strip()])


def check_may_manage(mode: str, actor_mode: str, actor_is_key: bool) -> None:
    """A secret key manages keys of its own mode only; an owner's login manages both."""
    if actor_is_key and mode != actor_mode:
        raise Forbidden(f"A {actor_mode} key cannot manage {mode} keys.", field="mode")


def grantable_scopes(requested: list[str] | None, held: frozenset[str]) -> list[str]:
    """The new key's scopes: never more than the creator holds (default: all it holds)."""
    if requested is None:
        return [s for s in SCOPES if s in held]
    missing = [s for s in requested if s not in held]
    if missing:
        raise InsufficientScope(
            f"You cannot grant scopes you do not hold: {', '.join(missing)}.")
    return requested


def do_mint_key(session: Session, business_id: int, req: KeyRequest,
                held: frozenset[str]) -> tuple[ApiKey, str]:
    """Mint a key for a business through the API; return the row and the plaintext."""
    business = session.get(Business, business_id)
    if business is None:
        raise NotFound("No such business.")
    scopes = grantable_scopes(req.scopes, held) if req.kind == "secret" else None
    return do_create_key(session, business, req.kind, req.mode, name=req.name, scopes=scopes,
                         origins=req.origins, bundle_ids=req.bundle_ids)


def business_keys(session: Session, business_id: int, page: int,
                  per_page: int) -> tuple[list[ApiKey], int]:
    """A page of the business's keys (both modes, revoked too), newest first, and the total."""
    where = ApiKey.business_id == business_id
    total = session.scalar(select(func.count()).select_from(ApiKey).where(where)) or 0
    rows = session.scalars(select(ApiKey).where(where).order_by(ApiKey.id.desc())
                           .limit(per_page).offset((page - 1) * per_page))
    return list(rows), int(total)


def find_business_key(session: Session, business_id: int, key_id: int) -> ApiKey:
    """Return one of the business's keys (another business's key is not found)."""
    key = session.get(ApiKey, key_id)
    if key is None or key.business_id != business_id:
        raise NotFound("No such key.")
    return key


DEMO_KEY_SETTING = "demo_publishable_key"


def remember_demo_key(session: Session, plaintext: str) -> None:
    """Record the demo business's publishable key for /widget/demo.

    Only hashes of keys are stored, but a publishable key is public by design (it sits in
    every page that embeds the widget, and Stripe shows them in its dashboard at any time);
    secret keys are never recorded.
    """
    shape = parse_key(plaintext)
    if shape is None or shape[0] != "publishable":
        raise ValueError("only a publishable key may be recorded for the demo page")
    if session.get(Setting, DEMO_KEY_SETTING) is None:
        session.add(Setting(name=DEMO_KEY_SETTING, value=plaintext))


def demo_key(session: Session) -> str | None:
    """The publishable key recorded for the demo page, if any."""
    found = session.get(Setting, DEMO_KEY_SETTING)
    return found.value if found is not None else None
