"""The headless clients' uploads: ChatSession.upload, AgentClient.upload and their async twins."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from app_flet.headless import (
    AgentClient,
    AsyncAgentClient,
    AsyncChatClient,
    ChatClient,
    PayloadTooLargeError,
    ValidationError,
)
from tests.headless.conftest import Login, new_visitor
from tests.test_attachments import EXE, PNG


def fetch(app: Any, url: str) -> httpx.Response:
    """GET a signed URL on whichever transport issued it (no key)."""
    transport = httpx.WSGITransport(app=app) if url.startswith("http://testserver") else None
    with httpx.Client(transport=transport) as http:
        return http.get(url)


def test_upload_a_path_and_bytes(app: Any, chat: ChatClient, tmp_path: Path) -> None:
    session = chat.start_session(new_visitor())
    photo = tmp_path / "holiday.png"
    photo.write_bytes(PNG)
    message = session.upload(photo)
    assert message.type == "attachment" and message.from_visitor
    [attachment] = message.attachments
    assert (attachment.file_name, attachment.mime_type, attachment.file_size) == (
        "holiday.png", "image/png", len(PNG))
    assert attachment.signed_url and fetch(app, attachment.signed_url).content == PNG
    text = session.upload(b"order #42\n", file_name="order.txt").attachments[0]
    assert text.mime_type == "text/plain" and text.file_name == "order.txt"
    history = session.load_history().messages
    assert [m.attachments[0].id for m in history[:2]] == [text.id, attachment.id]


def test_upload_errors_are_named(chat: ChatClient) -> None:
    session = chat.start_session(new_visitor())
    with pytest.raises(ValidationError) as refused:
        session.upload(EXE, file_name="cat.png")
    assert refused.value.code == "unsupported_media_type"
    with pytest.raises(PayloadTooLargeError):
        session.upload(PNG + b"\0" * (5120 * 1024), file_name="huge.png")
    assert session.load_history().messages == ()


def test_agent_upload_with_a_caption(app: Any, inbox_client: AgentClient,
                                     visitor_chat: ChatClient) -> None:
    session = visitor_chat.start_session(new_visitor())
    message = inbox_client.upload(session.conversation_id, b"%PDF-1.7\n", "quote.pdf",
                                  content="Here is the quote")
    assert message.direction == "outbound" and message.content == "Here is the quote"
    assert message.attachments[0].mime_type == "application/pdf"
    seen = session.load_history().messages[0]
    assert seen.id == message.id and seen.attachments[0].file_name == "quote.pdf"
    detail = inbox_client.get_ticket(session.conversation_id)
    assert detail.messages[-1].attachments[0].id == message.attachments[0].id


def test_async_uploads(app: Any, biz: dict[str, Any], ann: Login) -> None:
    async def run() -> None:
        transport = httpx.WSGITransport(app=app)
        async with AsyncChatClient(biz["pk"], "http://testserver",
                                   transport=transport) as chat:
            session = await chat.start_session(new_visitor())
            sent = await session.upload(PNG, file_name="a.png")
            assert sent.attachments[0].mime_type == "image/png"
            async with AsyncAgentClient("http://testserver", token=ann.token,
                                        transport=transport) as agent:
                back = await agent.upload(session.conversation_id, b"thanks", "t.txt")
                assert back.attachments[0].file_name == "t.txt"
    asyncio.run(run())


@pytest.fixture
def inbox_client(app: Any, ann: Login) -> Any:
    client = AgentClient("http://testserver", token=ann.token,
                         transport=httpx.WSGITransport(app=app))
    yield client
    client.close()


@pytest.fixture
def visitor_chat(app: Any, biz: dict[str, Any]) -> Any:
    client = ChatClient(biz["pk"], "http://testserver", transport=httpx.WSGITransport(app=app))
    yield client
    client.close()
