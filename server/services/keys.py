"""Businesses, owners and API keys."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from server.db import connection
from server.errors import NotFound, ValidationError
from server.models import ApiKey, Business, User, utcnow
from server.security import hash_secret, lookup_prefix, new_api_key, parse_key

SCOPES = ("tickets:read", "tickets:write", "keys:write", "branding:write", "webhooks:write",
          "contacts:read", "contacts:write", "knowledge:write", "agents:write")
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
                 key_hash=hash_secret(plaintext), name=name,
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
            "created_at": key.created_at.isoformat(),
            "last_used_at": key.last_used_at.isoformat() if key.last_used_at else None,
            "revoked_at": key.revoked_at.isoformat() if key.revoked_at else None}
