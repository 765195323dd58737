"""Fixtures for the Flet UI tests: the real AsyncChatClient against the real server."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import flet as ft
import pytest

from app_flet.headless import AsyncChatClient

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


PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


class Picker:
    """Stands in for the file dialog: hands out the files queued here, one per click."""

    def __init__(self) -> None:
        self.files: list[ft.FilePickerFile | None] = []

    async def __call__(self) -> ft.FilePickerFile | None:
        return self.files.pop(0)


def picked(name: str, *, data: bytes, path: Path | None = None,
           size: int | None = None) -> ft.FilePickerFile:
    """What FilePicker returns: a path on desktop; in web mode no path, only the bytes."""
    return ft.FilePickerFile(id=1, name=name, size=len(data) if size is None else size,
                             path=str(path) if path else None, bytes=None if path else data)
