"""ChatClient / ChatSession REST methods against the real server: in process and on a socket."""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from typing import Any

import httpx
import pytest

from app_flet.headless import (
    AuthError,
    ChatClient,
    ChatConnectionError,
    ChatError,
    ChatSession,
    NotFoundError,
    RateLimitedError,
    ValidationError,
)
from server import create_app
from tests.conftest import free_port, make_business
from tests.headless.conftest import new_visitor


def test_fetch_config(chat: ChatClient) -> None:
    config = chat.fetch_config()
    assert config.business.name == "Acme"
    assert config.limits.message_max_length == 8000
    assert config.features.file_uploads is True
    assert config.agents_online == 0 and config.identification_required is False
    assert chat.fetch_config() == config  # revalidated by ETag (304)


def test_session_round_trip(chat: ChatClient) -> None:
    visitor = new_visitor()
    session = chat.start_session(visitor, name="Ann", email="ann@example.com")
    assert session.visitor_id == visitor
    assert session.contact.name == "Ann" and session.contact.email == "ann@example.com"
    assert session.details.realtime.channel == f"private-chat.session.{session.session_id}"

    first = session.send("Hello")
    second = session.send("Anyone there?")
    assert first.from_visitor and first.content == "Hello" and second.id > first.id
    assert first.created_at.tzinfo is not None

    page = session.load_history(limit=1)
    assert [m.id for m in page.messages] == [second.id] and page.next_cursor
    older = session.load_history(cursor=page.next_cursor, limit=1)
    assert [m.id for m in older.messages] == [first.id] and older.next_cursor is None

    contact = session.identify(phone="+15550100")
    assert contact.phone == "+15550100" and contact.name == "Ann"
    assert session.contact == contact
    session.send_typing()
    session.heartbeat()

    resumed = chat.start_session(visitor)
    assert resumed.conversation_id == session.conversation_id
    assert resumed.details.session_token != session.details.session_token


def test_close_is_idempotent_and_closes_sessions(chat: ChatClient) -> None:
    session = chat.start_session(new_visitor())
    with session:
        pass
    session.close()
    assert session.closed
    with pytest.raises(ChatError) as caught:
        session.send("late")
    assert caught.value.code == "session_closed"
    other = chat.start_session(new_visitor())
    chat.close()
    chat.close()
    assert other.closed and chat.closed
    with pytest.raises(ChatError):
        chat.fetch_config()


def test_heartbeat_timer(app: Any, biz: dict[str, Any], caplog: pytest.LogCaptureFixture
                         ) -> None:
    beats = threading.Semaphore(0)
    transport = httpx.WSGITransport(app=app)

    class Counting(httpx.BaseTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            response = transport.handle_request(request)
            if request.url.path.endswith("/heartbeat"):
                beats.release()
            return response

    with ChatClient(biz["pk"], "http://testserver", transport=Counting()) as client:
        session = client.start_session(new_visitor())
        session.start_heartbeat(interval=0.05)
        assert all(beats.acquire(timeout=5) for _ in range(3))
        session.stop_heartbeat()
        # a failing heartbeat is logged by the timer, not raised
        session._details = dataclasses.replace(session.details, session_token="st_wrong")
        with caplog.at_level(logging.WARNING, logger="chatdock.client"):
            session.start_heartbeat(interval=0.05)
            deadline = time.monotonic() + 5
            while "heartbeat failed" not in caplog.text and time.monotonic() < deadline:
                time.sleep(0.02)
            session.close()
        assert "heartbeat failed: invalid_session" in caplog.text


# ---------- errors --------------------------------------------------------------


def test_invalid_key_is_an_auth_error(app: Any) -> None:
    with ChatClient("pk_test_nope", "http://t", transport=httpx.WSGITransport(app=app)) as c:
        with pytest.raises(AuthError) as caught:
            c.fetch_config()
    assert caught.value.is_auth_error and caught.value.status == 401
    assert caught.value.code == "invalid_api_key"


def test_secret_key_is_the_wrong_key_type(app: Any, biz: dict[str, Any]) -> None:
    with ChatClient(biz["sk"], "http://t", transport=httpx.WSGITransport(app=app)) as c:
        with pytest.raises(AuthError) as caught:
            c.start_session(new_visitor())
    assert caught.value.code == "wrong_key_type" and caught.value.is_auth_error


@pytest.mark.parametrize("content, field", [("", "content"), ("x" * 8001, "content")])
def test_bad_input_is_a_validation_error(chat: ChatClient, content: str, field: str) -> None:
    session = chat.start_session(new_visitor())
    with pytest.raises(ValidationError) as caught:
        session.send(content)
    assert caught.value.field == field and caught.value.status == 400
    assert not caught.value.is_auth_error


def test_bad_visitor_id(chat: ChatClient) -> None:
    with pytest.raises(ValidationError) as caught:
        chat.start_session("")
    assert caught.value.field == "visitor_id"


def test_unknown_conversation(chat: ChatClient) -> None:
    session = chat.start_session(new_visitor())
    stranger = ChatSession(chat, dataclasses.replace(session.details, conversation_id=999_999))
    with pytest.raises(NotFoundError) as caught:
        stranger.load_history()
    assert caught.value.code == "not_found" and caught.value.status == 404


def test_revoked_session_token(chat: ChatClient) -> None:
    session = chat.start_session(new_visitor())
    forged = ChatSession(chat, dataclasses.replace(session.details, session_token="st_forged"))
    with pytest.raises(AuthError) as caught:
        forged.send("hi")
    assert caught.value.code == "invalid_session" and caught.value.is_auth_error


def test_network_down_is_a_connection_error() -> None:
    with ChatClient("pk_test_x", f"http://127.0.0.1:{free_port()}", timeout=2) as client:
        with pytest.raises(ChatConnectionError) as caught:
            client.fetch_config()
    assert caught.value.code == "network_error" and caught.value.status is None


def test_rate_limited(tmp_path: Any) -> None:
    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'rl.db'}", "PUBLIC_URL": "",
                      "RATE_LIMIT_REQUESTS": 2})
    biz = make_business(app)
    with ChatClient(biz["pk"], "http://t", transport=httpx.WSGITransport(app=app)) as client:
        with pytest.raises(RateLimitedError) as caught:
            for _ in range(5):
                client.fetch_config()
    assert caught.value.is_rate_limited and caught.value.status == 429
    assert caught.value.retry_after is not None and caught.value.retry_after > 0


# ---------- Idempotency-Key --------------------------------------------------------


class LosesFirstResponse(httpx.BaseTransport):
    """Delivers the first message POST to the app, then fails as if the answer was lost."""

    def __init__(self, app: Any) -> None:
        self.inner = httpx.WSGITransport(app=app)
        self.keys: list[str | None] = []
        self.lost = False

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        if request.method == "POST" and request.url.path.endswith("/messages"):
            self.keys.append(request.headers.get("Idempotency-Key"))
            if not self.lost:
                self.lost = True
                raise httpx.ReadError("connection reset while reading the response")
        return response


def test_send_retry_after_lost_response_does_not_duplicate(app: Any, biz: dict[str, Any]
                                                           ) -> None:
    transport = LosesFirstResponse(app)
    with ChatClient(biz["pk"], "http://t", transport=transport) as client:
        session = client.start_session(new_visitor())
        message = session.send("only once")
        history = session.load_history()
    assert len(transport.keys) == 2 and transport.keys[0] == transport.keys[1]
    assert transport.keys[0]  # a fresh uuid4 even though the caller gave none
    assert [m.id for m in history.messages] == [message.id]


def test_explicit_idempotency_key(chat: ChatClient) -> None:
    session = chat.start_session(new_visitor())
    first = session.send("pay once", idempotency_key="order-42")
    again = session.send("pay once", idempotency_key="order-42")
    other = session.send("pay once")
    assert again == first and other.id != first.id
    assert [m.id for m in session.load_history().messages] == [other.id, first.id]
