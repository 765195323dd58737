"""Identity verification: a business's secret proves which visitor_id a visitor is.

The business's own server computes ``identity_hash = hex HMAC-SHA256(secret,
"<visitor_id>:<identity_ts>")`` for its logged-in user and puts it in the page; a start with
a valid hash marks the contact verified, and from then on only verified starts resume it.
The secret is per business and mode (a test key never changes what live visitors need).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, bindparam, select
from sqlalchemy.orm import Session

from server.db import connection
from server.errors import IdentityRequired, InvalidIdentity, ValidationError
from server.models import IdentitySetting, utcnow
from server.security import identity_hash, new_identity_secret, same
from server.services.keys import KeyInfo
from server.validation import is_whole
from server.wire import iso

SETTINGS = cast(Table, IdentitySetting.__table__)
_SETTING = select(SETTINGS.c.secret, SETTINGS.c.required).where(
    SETTINGS.c.business_id == bindparam("business_id"), SETTINGS.c.mode == bindparam("mode"))
FIELDS = ("required", "rotate_secret")


@dataclass(frozen=True)
class IdentityProof:
    """What a start sent to prove its visitor_id: the hash and the time it was made."""

    hash: str
    ts: int


# ---------- validation ----------------------------------------------------------------------


def _ts(raw: Any) -> int:
    """identity_ts: unix seconds, a JSON integer or a string of digits (an HTML attribute)."""
    if isinstance(raw, str) and is_whole(raw.strip()) and len(raw.strip()) <= 12:
        return int(raw.strip())
    if isinstance(raw, int) and not isinstance(raw, bool) and 0 <= raw < 10**12:
        return raw
    raise ValidationError("identity_ts must be unix seconds (a whole number).",
                          field="identity_ts")


def check_proof(body: dict[str, Any]) -> IdentityProof | None:
    """identity_hash and identity_ts, both or neither (None: an unverified start)."""
    raw_hash, raw_ts = body.get("identity_hash"), body.get("identity_ts")
    if raw_hash is None and raw_ts is None:
        return None
    if not isinstance(raw_hash, str) or not raw_hash.strip():
        raise ValidationError("identity_hash is required with identity_ts.",
                              field="identity_hash")
    if raw_ts is None:
        raise ValidationError("identity_ts is required with identity_hash.", field="identity_ts")
    return IdentityProof(raw_hash.strip().lower(), _ts(raw_ts))


def check_settings(body: dict[str, Any]) -> dict[str, bool]:
    """A PUT /identity body: {required?, rotate_secret?}; unknown fields are refused."""
    for field in body:
        if field not in FIELDS:
            raise ValidationError(f"Unknown field {field!r}.", field=field)
    for field in FIELDS:
        if field in body and not isinstance(body[field], bool):
            raise ValidationError(f"{field} must be true or false.", field=field)
    return {field: body[field] for field in FIELDS if field in body}


# ---------- the start ----------------------------------------------------------------------


def check_start(session: Session, key: KeyInfo, visitor_id: str, proof: IdentityProof | None,
                max_age: int) -> bool:
    """Whether this start is verified; raise when the business requires it or the proof is
    wrong. Whether the contact itself demands it is the caller's check."""
    setting = connection(session).execute(
        _SETTING, {"business_id": key.business_id, "mode": key.mode}).first()
    if proof is None:
        if setting is not None and setting.required:
            raise IdentityRequired("This business requires identity verification: start "
                                   "with identity_hash and identity_ts.")
        return False
    if setting is None:
        raise InvalidIdentity("This business has no identity secret (PUT /api/v1/identity).",
                              field="identity_hash")
    if not same(identity_hash(setting.secret, visitor_id, proof.ts), proof.hash):
        raise InvalidIdentity(field="identity_hash")
    if abs(time.time() - proof.ts) > max_age:
        raise InvalidIdentity(f"identity_ts is more than {max_age} seconds from now: compute "
                              "a fresh identity_hash.", field="identity_ts")
    return True


# ---------- settings -----------------------------------------------------------------------


def identity_json(setting: IdentitySetting | None, mode: str,
                  secret: str | None = None) -> dict[str, Any]:
    """GET/PUT /identity: never the secret, except the PUT that made it (`secret`)."""
    out: dict[str, Any] = {
        "mode": mode, "enabled": setting is not None,
        "required": bool(setting and setting.required),
        "created_at": iso(setting.created_at) if setting else None,
        "updated_at": iso(setting.updated_at) if setting else None}
    if secret is not None:
        out["secret"] = secret
    return out


def get_setting(session: Session, business_id: int, mode: str) -> IdentitySetting | None:
    """The business's identity setting in this mode, if it has one."""
    return session.get(IdentitySetting, (business_id, mode))


def do_set_identity(session: Session, business_id: int, mode: str,
                    changes: dict[str, bool]) -> tuple[IdentitySetting, str | None]:
    """Make the secret on first use (or rotate it) and set `required`; return the setting and
    the new secret, if one was made (shown to the caller this once)."""
    setting = get_setting(session, business_id, mode)
    secret = None
    now = utcnow()
    if setting is None or changes.get("rotate_secret"):
        secret = new_identity_secret()
    if setting is None:
        setting = IdentitySetting(business_id=business_id, mode=mode, secret=secret,
                                  required=False, created_at=now)
        session.add(setting)
    elif secret is not None:
        setting.secret = secret
    if "required" in changes:
        setting.required = changes["required"]
    setting.updated_at = now
    session.flush()
    return setting, secret
