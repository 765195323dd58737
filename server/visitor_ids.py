"""Visitor ids: the ones a visitor may choose, and the forms only the server makes.

A visitor id is the Tickki SDK's handle on a conversation: whoever sends it with the
publishable key resumes that contact. The server makes ids of its own for contacts that no
widget created (a ticket opened through the agent API is "email:<address>", an erased
contact "erased:<random>"); were those claimable, knowing a customer's email address would
be enough to read their conversation. Every reserved form is listed here, and the visitor
API refuses all of them.
"""

from __future__ import annotations

import secrets
from typing import Any

from server.errors import ValidationError
from server.validation import check_required_text

VISITOR_ID_MAX = 128  # contacts.visitor_id is String(128)
EMAIL_PREFIX = "email:"  # a ticket opened through the agent API: "email:<address>"
ERASED_PREFIX = "erased:"  # an erased contact (it also leaves its mode: out of reach)
TALKR_PREFIX = "talkr:"  # a TALKR wire-API caller: one contact per session (server.api.talkr)
RESERVED_PREFIXES = (EMAIL_PREFIX, ERASED_PREFIX, TALKR_PREFIX)


def email_visitor_id(address: str) -> str:
    """The visitor id of the contact the agent API keeps for this email address."""
    return EMAIL_PREFIX + address


def erased_visitor_id() -> str:
    """A fresh visitor id for an erased contact (nothing can resume it)."""
    return ERASED_PREFIX + secrets.token_hex(16)


def talkr_visitor_id() -> str:
    """A fresh visitor id for the contact of a new TALKR session (nothing can resume it)."""
    return TALKR_PREFIX + secrets.token_hex(16)


def is_reserved(visitor_id: str) -> bool:
    """Whether the server alone makes ids of this form (compared case-insensitively)."""
    return visitor_id.lower().startswith(RESERVED_PREFIXES)


def check_visitor_id(body: dict[str, Any], field: str = "visitor_id") -> str:
    """A visitor-chosen id: trimmed, 1-128 characters, not of a reserved form."""
    visitor_id = check_required_text(body, field, VISITOR_ID_MAX)
    if is_reserved(visitor_id):
        raise ValidationError(f"{field} may not start with "
                              f"{' or '.join(map(repr, RESERVED_PREFIXES))}: the server "
                              "makes those ids.", field=field)
    return visitor_id
