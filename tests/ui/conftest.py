"""Fixtures for the Flet UI tests: the real AsyncChatClient against the real server."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import flet as ft
import httpx
import pytest
from werkzeug.serving import make_server

from app_flet.headless import AsyncChatClient
from tests.conftest import free_port

T = TypeVar("T")


def run(scenario: Callable[[], Awaitable[T]], timeout: float = 30.0) -> T:
    """Run an async test scenario on a fresh loop (no pytest-asyncio here)."""
    async def bounded() -> T:
        return await asyncio.wait_for(scenario(), timeout)
    return asyncio.run(bounded())


@pytest.fixture
def chat_client(live: str, biz: dict[str, Any]) -> Iterator[AsyncChatClient]:
    """The client a developer would inject: an AsyncChatClient for the business's pk."""
    client = AsyncChatClient(biz["pk"], live)
    yield client
    client.sync.close()


class Agent:
    """The business side over the agent API (secret key): replies, typing, branding."""

    def __init__(self, live: str, sk: str) -> None:
        self.live, self.headers = live, {"Authorization": f"Bearer {sk}"}

    def reply(self, conversation_id: int, content: str) -> dict[str, Any]:
        resp = httpx.post(f"{self.live}/api/v1/tickets/{conversation_id}/messages",
                          json={"content": content}, headers=self.headers)
        assert resp.status_code == 201, resp.text
        return resp.json()["data"]  # type: ignore[no-any-return]

    def typing(self, conversation_id: int) -> None:
        resp = httpx.post(f"{self.live}/api/v1/tickets/{conversation_id}/typing",
                          headers=self.headers)
        assert resp.status_code == 200, resp.text

    def branding(self, **fields: Any) -> dict[str, Any]:
        resp = httpx.put(f"{self.live}/api/v1/branding", json=fields, headers=self.headers)
        assert resp.status_code == 200, resp.text
        return resp.json()["data"]  # type: ignore[no-any-return]


@pytest.fixture
def agent(live: str, biz: dict[str, Any]) -> Agent:
    return Agent(live, biz["sk"])


@contextmanager
def serving(app: Any, port: int | None = None) -> Iterator[str]:
    """`app` on a real socket (like the `live` fixture), on `port` if given."""
    port = port or free_port()
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()


async def until(predicate: Callable[[], Any], timeout: float = 10.0, what: str = "it") -> Any:
    """Yield to the loop until `predicate()` holds (realtime pushes land on the loop)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not (result := predicate()):
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)
    return result


async def fire(control: Any, name: str = "click") -> None:
    """Call the control's `on_<name>` handler the way Flet does, with an `ft.Event`."""
    handler: Any = getattr(control, f"on_{name}")
    await handler(ft.Event(name=name, control=control))
