"""Models: frozen, built by from_json, strict about required fields; events decode."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from app_flet.headless import (
    AuthError,
    AvailabilityUpdated,
    BrandingUpdated,
    ChatConnectionError,
    ChatError,
    ChatMessage,
    ConflictError,
    ConversationUpdated,
    ForbiddenError,
    MessageCreated,
    MessagePage,
    NotFoundError,
    PayloadTooLargeError,
    PresenceUpdated,
    RateLimitedError,
    ServerError,
    SessionDetails,
    TypingStarted,
    ValidationError,
    error_from_response,
)
from app_flet.headless.models import decode_event, parse_time

MESSAGE = {"id": 7, "conversation_id": 3, "direction": "outbound", "type": "text",
           "content": "Hi", "created_at": "2025-01-02T03:04:05.123Z", "attachments": [],
           "sender": {"role": "agent", "name": "Ada"}}
SESSION = {"session_id": 1, "session_token": "st_secret_token", "conversation_id": 3,
           "visitor_id": "v1", "contact": {"name": "Ann", "email": None},
           "realtime": {"key": "k", "host": "h", "port": 443, "scheme": "https",
                        "channel": "private-chat.session.1",
                        "auth_endpoint": "https://h/api/v1/chat/broadcasting/auth",
                        "event": "MessageCreated"}}


def test_message_from_json() -> None:
    m = ChatMessage.from_json(MESSAGE)
    assert m.id == 7 and m.content == "Hi" and not m.from_visitor
    assert m.created_at == datetime(2025, 1, 2, 3, 4, 5, 123000, tzinfo=UTC)
    assert m.sender is not None and m.sender.name == "Ada"
    assert m.attachments == ()


def test_models_are_frozen() -> None:
    m = ChatMessage.from_json(MESSAGE)
    with pytest.raises(dataclasses.FrozenInstanceError):
        m.content = "changed"  # type: ignore[misc]
    assert m.sender is not None
    assert hash(m.sender) == hash(dataclasses.replace(m.sender))  # hashable value objects


def test_session_token_not_in_repr() -> None:
    details = SessionDetails.from_json(SESSION)
    assert details.session_token == "st_secret_token"
    assert "st_secret_token" not in repr(details)
    assert details.realtime.url == "wss://h:443/app/k"


@pytest.mark.parametrize("value, expected", [
    ("2025-01-02T03:04:05Z", datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)),
    ("2025-01-02T03:04:05", datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)),
    ("2025-01-02T05:04:05+02:00", datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)),
])
def test_times_are_aware_utc(value: str, expected: datetime) -> None:
    parsed = parse_time(value)
    assert parsed == expected and parsed.utcoffset() is not None


@pytest.mark.parametrize("missing", ["id", "direction", "created_at"])
def test_required_fields_are_required(missing: str) -> None:
    with pytest.raises(KeyError):
        ChatMessage.from_json({k: v for k, v in MESSAGE.items() if k != missing})


def test_page_keeps_newest_first() -> None:
    older = {**MESSAGE, "id": 6}
    page = MessagePage.from_json({"data": [MESSAGE, older], "meta": {"next_cursor": None}})
    assert [m.id for m in page.messages] == [7, 6] and page.next_cursor is None


def test_decode_events() -> None:
    created = decode_event("MessageCreated", json.dumps(MESSAGE))
    assert isinstance(created, MessageCreated) and created.message.id == 7
    assert decode_event("TypingStarted", '{"role": "agent", "name": "Ada"}') == \
        TypingStarted("agent", "Ada")
    updated = decode_event("ConversationUpdated", {"status": "resolved",
                                                   "resolved_at": "2025-01-02T03:04:05Z"})
    assert isinstance(updated, ConversationUpdated) and updated.resolved_at is not None
    branding = decode_event("BrandingUpdated", {
        "business": {"id": 1, "name": "A", "slug": "a"},
        "branding": {"primary_color": "#000000", "accent_color": "#ffffff",
                     "welcome_message": None, "logo_url": None}})
    assert isinstance(branding, BrandingUpdated) and branding.branding.welcome_message is None
    assert decode_event("PresenceUpdated", '{"agents_online": 2}') == PresenceUpdated(2)
    closed = decode_event("AvailabilityUpdated", '{"open": false, "next_open_at": '
                          '"2026-12-03T09:00:00Z", "offline_message": "Back at nine."}')
    assert isinstance(closed, AvailabilityUpdated) and not closed.availability.open
    assert closed.availability.next_open_at == datetime(2026, 12, 3, 9, tzinfo=UTC)
    assert closed.availability.offline_message == "Back at nine."
    assert decode_event("MessagesRead", "{}") is None  # unknown: ignored


def _response(status: int, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, json=body, headers=headers)


@pytest.mark.parametrize("status, code, cls", [
    (400, "validation_error", ValidationError),
    (401, "invalid_api_key", AuthError),
    (401, "wrong_key_type", AuthError),
    (403, "origin_not_allowed", AuthError),
    (403, "business_suspended", AuthError),
    (403, "forbidden", ForbiddenError),
    (404, "not_found", NotFoundError),
    (413, "payload_too_large", PayloadTooLargeError),
    (415, "unsupported_media_type", ValidationError),
    (422, "idempotency_conflict", ConflictError),
    (429, "rate_limited", RateLimitedError),
    (500, "internal_error", ServerError),
    (503, "unavailable", ServerError),
    (402, "plan_gate", ChatError),
])
def test_error_mapping(status: int, code: str, cls: type[ChatError]) -> None:
    err = error_from_response(_response(status, {"error": code, "message": "m"}))
    assert type(err) is cls and err.code == code and err.status == status


def test_error_details() -> None:
    err = error_from_response(_response(400, {"error": "validation_error", "message": "bad",
                                              "field": "content"}))
    assert err.field == "content" and err.message == "bad" and "content" in str(err)
    limited = error_from_response(_response(429, {"error": "rate_limited", "message": "slow"},
                                            {"Retry-After": "12"}))
    assert limited.is_rate_limited and limited.retry_after == 12.0
    html = error_from_response(httpx.Response(502, text="<html>Bad gateway</html>"))
    assert isinstance(html, ServerError) and html.code == "http_502"
    assert ChatConnectionError("down").code == "network_error"
    assert ChatConnectionError("down").status is None
