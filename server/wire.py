"""What goes over the wire in more than one place: timestamps, messages, cursors."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

from server.errors import ValidationError
from server.models import MAX_ROW_ID
from server.validation import is_whole


def iso(dt: datetime) -> str:
    """ISO 8601 UTC with milliseconds and Z, as Dart and JS parse it."""
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def message_json(m: Any) -> dict[str, Any]:
    """ChatMessage as the Tickki SDK reads it, plus chatdock's extras."""
    out = {"id": m.id, "conversation_id": m.conversation_id, "direction": m.direction,
           "type": m.type, "content": m.content, "created_at": iso(m.created_at),
           "attachments": [], "sender": {"role": m.sender_role, "name": m.sender_name}}
    sources = getattr(m, "sources", None)
    if sources:  # a bot answer's passages; absent on every other message (Tickki's shape)
        out["sources"] = sources
    return out


# ---------- cursors: opaque to clients, base64url of a short text -------------------------


def invalid_cursor() -> ValidationError:
    """The one answer to a cursor this server did not write."""
    return ValidationError("cursor is not valid.", field="cursor")


def encode_cursor(raw: str) -> str:
    """An opaque cursor for a position written as text (base64url, no padding)."""
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    """The text inside a cursor, or 400 field cursor."""
    try:
        return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        raise invalid_cursor() from None


def cursor_row_id(raw: str) -> int:
    """A row id inside a cursor; like every id, never above MAX_ROW_ID (else 400, before it
    reaches the database driver)."""
    if not is_whole(raw) or int(raw) > MAX_ROW_ID:
        raise invalid_cursor()
    return int(raw)


def encode_id_cursor(tag: str, row_id: int) -> str:
    """A cursor at one row: a one-letter tag naming the list, then the row id."""
    return encode_cursor(f"{tag}{row_id}")


def decode_id_cursor(cursor: str, tag: str) -> int:
    """The row id of an encode_id_cursor cursor with this tag, or 400 field cursor."""
    raw = decode_cursor(cursor)
    if raw[:1] != tag:
        raise invalid_cursor()
    return cursor_row_id(raw[1:])
