"""Canned responses: saved replies an agent inserts by shortcut, one set per business
(shared by test and live mode, like branding)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server.db import flush_unique
from server.errors import Conflict, NotFound, ValidationError
from server.models import CannedResponse, utcnow
from server.validation import check_required_text
from server.wire import iso

SHORTCUT_RE = re.compile(r"[a-z0-9_-]{1,32}")
SHORTCUT_MAX = 32
CONTENT_MAX = 4000
MAX_PER_BUSINESS = 500  # GET lists them all: a business holds at most this many


@dataclass(frozen=True)
class CannedFields:
    """A validated body: the fields it sets (None: left as it is, on a PATCH)."""

    shortcut: str | None = None
    content: str | None = None


def check_shortcut(body: dict[str, Any]) -> str:
    """1-32 characters of a-z 0-9 _ - (lower-cased), else 400 field shortcut."""
    shortcut = check_required_text(body, "shortcut", SHORTCUT_MAX).lower()
    if not SHORTCUT_RE.fullmatch(shortcut):
        raise ValidationError("shortcut must be 1-32 characters of a-z, 0-9, '_', '-'.",
                              field="shortcut")
    return shortcut


def check_new(body: dict[str, Any]) -> CannedFields:
    """Validate POST /canned-responses: shortcut and content, both required."""
    return CannedFields(check_shortcut(body), check_required_text(body, "content", CONTENT_MAX))


def check_patch(body: dict[str, Any]) -> CannedFields:
    """Validate PATCH /canned-responses/{id}: shortcut and/or content."""
    unknown = sorted(set(body) - {"shortcut", "content"})
    if unknown:
        raise ValidationError(f"{unknown[0]} cannot be changed here.", field=unknown[0])
    return CannedFields(check_shortcut(body) if "shortcut" in body else None,
                        check_required_text(body, "content", CONTENT_MAX)
                        if "content" in body else None)


def check_prefix(raw: str | None) -> str | None:
    """?q=: a shortcut prefix, lower-cased (at most a shortcut's length)."""
    q = (raw or "").strip().lower()
    if len(q) > SHORTCUT_MAX:
        raise ValidationError(f"q is longer than {SHORTCUT_MAX} characters.", field="q")
    return q or None


def canned_json(row: CannedResponse) -> dict[str, Any]:
    """A canned response as the API shows it."""
    return {"id": row.id, "shortcut": row.shortcut, "content": row.content,
            "created_at": iso(row.created_at), "updated_at": iso(row.updated_at)}


def list_canned(session: Session, business_id: int, prefix: str | None) -> list[dict[str, Any]]:
    """The business's canned responses by shortcut, those starting with prefix if given."""
    stmt = select(CannedResponse).where(CannedResponse.business_id == business_id)
    if prefix:
        stmt = stmt.where(CannedResponse.shortcut.startswith(prefix, autoescape=True))
    rows = session.scalars(stmt.order_by(CannedResponse.shortcut).limit(MAX_PER_BUSINESS))
    return [canned_json(r) for r in rows]


def _taken() -> Conflict:
    return Conflict("A canned response with this shortcut exists.", field="shortcut")


def _save(session: Session, business_id: int, row: CannedResponse) -> CannedResponse:
    """Flush a new or changed row; a shortcut already in the business is a 409."""
    flush_unique(session, row, select(CannedResponse.id).where(
        CannedResponse.business_id == business_id, CannedResponse.shortcut == row.shortcut),
        _taken)
    return row


def do_create(session: Session, business_id: int, new: CannedFields) -> dict[str, Any]:
    """Add a canned response (at most MAX_PER_BUSINESS per business)."""
    held = session.scalar(select(func.count()).select_from(CannedResponse)
                          .where(CannedResponse.business_id == business_id)) or 0
    if held >= MAX_PER_BUSINESS:
        raise ValidationError(f"A business holds at most {MAX_PER_BUSINESS} canned "
                              "responses; delete one first.")
    now = utcnow()
    row = CannedResponse(business_id=business_id, shortcut=new.shortcut, content=new.content,
                         created_at=now, updated_at=now)
    session.add(row)
    return canned_json(_save(session, business_id, row))


def _find(session: Session, business_id: int, canned_id: int) -> CannedResponse:
    row = session.get(CannedResponse, canned_id)
    if row is None or row.business_id != business_id:
        raise NotFound("No such canned response.")
    return row


def do_update(session: Session, business_id: int, canned_id: int,
              changes: CannedFields) -> dict[str, Any]:
    """Change a canned response's shortcut and/or content (updated_at only on a change)."""
    row = _find(session, business_id, canned_id)
    values = {k: v for k, v in (("shortcut", changes.shortcut), ("content", changes.content))
              if v is not None and v != getattr(row, k)}
    if values:
        for name, value in values.items():
            setattr(row, name, value)
        row.updated_at = utcnow()
        _save(session, business_id, row)
    return canned_json(row)


def do_delete(session: Session, business_id: int, canned_id: int) -> None:
    """Delete a canned response of this business (else 404)."""
    session.delete(_find(session, business_id, canned_id))
    session.flush()
