"""Validating request fields: strings, email addresses, message content, whole numbers."""

from __future__ import annotations

import re
from typing import Any

from server.errors import ValidationError

EMAIL_RE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
# Text no database can hold: NUL (PostgreSQL refuses it in text) and lone UTF-16 surrogates
# (not encodable as UTF-8). JSON spells them as \u escapes, a query string NUL as %00.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def check_storable(value: Any, field: str) -> None:
    """Refuse (400 naming the field) any string in value that a database cannot store."""
    todo = [(value, field)]
    while todo:  # a loop, not recursion: the body may be nested ~1000 deep
        item, name = todo.pop()
        if isinstance(item, str) and _UNSTORABLE.search(item):
            raise ValidationError(f"{name} holds a character that cannot be stored "
                                  "(NUL or a lone surrogate).", field=name)
        if isinstance(item, dict):
            todo += [(key, name or "body") for key in item]
            todo += [(v, f"{name}.{k}" if name else str(k)) for k, v in item.items()]
        elif isinstance(item, list):
            todo += [(v, name) for v in item]


def is_whole(raw: str) -> bool:
    """ASCII digits only: str.isdigit() also accepts '²', which int() rejects."""
    return raw.isascii() and raw.isdigit()


def _checked(field: str, value: Any, max_len: int, pattern: re.Pattern[str] | None) -> str:
    if not isinstance(value, str):
        raise ValidationError(f"{field} must be a string.", field=field)
    value = value.strip()
    if len(value) > max_len:
        raise ValidationError(f"{field} is longer than {max_len} characters.", field=field)
    if pattern is not None and not pattern.fullmatch(value):
        raise ValidationError(f"{field} is not valid.", field=field)
    return value


def check_text(body: dict[str, Any], field: str, max_len: int, *,
               pattern: re.Pattern[str] | None = None) -> str | None:
    """Return a trimmed optional string field (None when absent or blank), or raise
    validation_error naming it."""
    value = body.get(field)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return _checked(field, value, max_len, pattern)


def check_required_text(body: dict[str, Any], field: str, max_len: int, *,
                        pattern: re.Pattern[str] | None = None) -> str:
    """Return a trimmed, non-empty string field, or raise validation_error naming it."""
    value = body.get(field)
    if value is None:
        raise ValidationError(f"{field} is required.", field=field)
    if isinstance(value, str) and not value.strip():
        raise ValidationError(f"{field} must not be empty.", field=field)
    return _checked(field, value, max_len, pattern)


def check_contact_fields(body: dict[str, Any]) -> dict[str, str | None]:
    """Validate name / email / phone."""
    return {"name": check_text(body, "name", 200),
            "email": check_text(body, "email", 254, pattern=EMAIL_RE),
            "phone": check_text(body, "phone", 40)}


def check_content(body: dict[str, Any], max_len: int, field: str = "content") -> str:
    """Validate a message's text (kept as sent) against limits.message_max_length."""
    content = body.get(field)
    if not isinstance(content, str) or not content.strip():
        raise ValidationError(f"{field} must be a non-empty string.", field=field)
    if len(content) > max_len:
        raise ValidationError(f"{field} is longer than {max_len} characters.", field=field)
    return content
