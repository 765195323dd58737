"""Branding: how the widget looks; a change repaints every connected widget live."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.orm import Session

from server.channels import visitors_topic
from server.db import emit
from server.errors import NotFound, ValidationError
from server.models import Business
from server.services.keys import MODES

COLOR_RE = re.compile(r"#[0-9A-Fa-f]{6}")
FIELDS = ("name", "primary_color", "accent_color", "welcome_message", "logo_url",
          "require_identification")
MAX_NAME, MAX_WELCOME, MAX_URL = 200, 500, 2000


def _string(body: dict[str, Any], field: str, max_len: int, *, empty_ok: bool) -> str:
    value = body[field]
    if not isinstance(value, str):
        raise ValidationError(f"{field} must be a string.", field=field)
    value = value.strip()
    if not value and not empty_ok:
        raise ValidationError(f"{field} must not be empty.", field=field)
    if len(value) > max_len:
        raise ValidationError(f"{field} is longer than {max_len} characters.", field=field)
    return value


def _color(body: dict[str, Any], field: str) -> str:
    value = body[field]
    if not isinstance(value, str) or not COLOR_RE.fullmatch(value):
        raise ValidationError(f"{field} must be a color like #4F46E5.", field=field)
    return value.upper()


def _logo_url(body: dict[str, Any]) -> str | None:
    if body["logo_url"] is None:
        return None
    value = _string(body, "logo_url", MAX_URL, empty_ok=False)
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationError("logo_url must be an http or https URL.", field="logo_url")
    return value


def _flag(body: dict[str, Any], field: str) -> bool:
    if not isinstance(body[field], bool):
        raise ValidationError(f"{field} must be true or false.", field=field)
    return bool(body[field])


def check_branding(body: dict[str, Any]) -> dict[str, Any]:
    """Validate a partial branding update; unknown fields are refused (Stripe's rule)."""
    for field in body:
        if field not in FIELDS:
            raise ValidationError(f"Unknown field {field!r}.", field=field)
    checks = {
        "name": lambda: _string(body, "name", MAX_NAME, empty_ok=False),
        "primary_color": lambda: _color(body, "primary_color"),
        "accent_color": lambda: _color(body, "accent_color"),
        "welcome_message": lambda: _string(body, "welcome_message", MAX_WELCOME, empty_ok=True),
        "logo_url": lambda: _logo_url(body),
        "require_identification": lambda: _flag(body, "require_identification"),
    }
    return {field: check() for field, check in checks.items() if field in body}


def _business(session: Session, business_id: int) -> Business:
    business = session.get(Business, business_id)
    if business is None:
        raise NotFound("No such business.")
    return business


def widget_branding(business: Business) -> dict[str, Any]:
    """What BrandingUpdated carries (the shape of /chat/config's business and branding)."""
    return {"branding": {"primary_color": business.primary_color,
                         "accent_color": business.accent_color,
                         "welcome_message": business.welcome_message,
                         "logo_url": business.logo_url},
            "business": {"id": business.id, "name": business.name, "slug": business.slug}}


def branding_json(business: Business) -> dict[str, Any]:
    """GET/PUT /branding: every field PUT accepts, plus the business's id and slug."""
    return {"business_id": business.id, "slug": business.slug, "name": business.name,
            "primary_color": business.primary_color, "accent_color": business.accent_color,
            "welcome_message": business.welcome_message, "logo_url": business.logo_url,
            "require_identification": business.require_identification}


def get_branding(session: Session, business_id: int) -> Business:
    """Return the business whose branding this is."""
    return _business(session, business_id)


def do_update_branding(session: Session, business_id: int, changes: dict[str, Any]) -> Business:
    """Apply validated changes; when anything changed, every connected widget (both modes)
    gets BrandingUpdated after commit."""
    business = _business(session, business_id)
    changed = {f: v for f, v in changes.items() if getattr(business, f) != v}
    for field, value in changed.items():
        setattr(business, field, value)
    if changed:
        session.flush()
        emit(session, [visitors_topic(business_id, mode) for mode in MODES], "BrandingUpdated",
             widget_branding(business))
    return business
