"""An in-memory Flet page: a real `Session` over a recording `Connection`, no client app.

Every message the session sends is msgpack-encoded with Flet's own encoder, exactly as the
socket transport does (the encoder also snapshots each control for the next diff, so
without it later patches come out wrong), and the initial page patch is encoded once, as a
registering client would receive it. Drive it like a client would:

    async with InMemoryPage() as fp:
        ChatWidget.show(fp.page, client, visitor_id="v1")
        fp.type_into("chat-input", "Hello")   # what the Flutter client sends on typing
        await fp.click("chat-send")           # a click event from the client
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import flet as ft
import msgpack
from flet.controls.base_control import BaseControl
from flet.messaging.connection import Connection
from flet.messaging.protocol import Message, configure_encode_object_for_msgpack
from flet.messaging.session import Session
from flet.pubsub.pubsub_hub import PubSubHub

__all__ = ["InMemoryPage", "RecordingConnection", "find", "find_all", "walk"]

_encode = configure_encode_object_for_msgpack(BaseControl)


def _pack(value: Any) -> bytes:
    return msgpack.packb(value, default=_encode)  # type: ignore[no-any-return]


class RecordingConnection(Connection):
    """Encodes every outgoing message like the real transport and keeps it."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self.loop = loop
        self.executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="flet-page")
        self.pubsubhub = PubSubHub(loop=loop, executor=self.executor)
        self.sent: list[Any] = []

    def send_message(self, message: Message) -> None:
        frame = _pack([message.action, message.body])
        self.sent.append(msgpack.unpackb(frame, strict_map_key=False))

    def dispose(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)


def walk(root: Any) -> Iterator[BaseControl]:
    """Every control under `root` (itself included), through any field or list."""
    seen: set[int] = set()
    stack = [root]
    while stack:
        value = stack.pop()
        if id(value) in seen:
            continue
        seen.add(id(value))
        if isinstance(value, (list, tuple)):
            stack.extend(reversed(value))
            continue
        if not isinstance(value, BaseControl):
            continue
        yield value
        for f in dataclasses.fields(value):
            if f.name.startswith("_") or f.metadata.get("skip"):
                continue
            child = getattr(value, f.name, None)
            if isinstance(child, (BaseControl, list, tuple)):
                stack.append(child)


def find_all(root: Any, key: str | Callable[[BaseControl], bool]) -> list[BaseControl]:
    """Controls under `root` whose key is `key` (or for which `key(control)` holds)."""
    match = key if callable(key) else (lambda c: str(c.key) == key if c.key else False)
    return [c for c in walk(root) if match(c)]


def find(root: Any, key: str) -> Any:
    """The one control with this key under `root`."""
    found = find_all(root, key)
    assert len(found) == 1, f"{len(found)} controls with key {key!r}"
    return found[0]


class InMemoryPage:
    """A live `ft.Page` with no Flutter client; use as `async with` inside a running loop."""

    async def __aenter__(self) -> InMemoryPage:
        self.connection = RecordingConnection(asyncio.get_running_loop())
        self.session = Session(self.connection)
        _pack(self.session.get_page_patch())  # the register-client response, encoded once
        self.session.start_updates_scheduler()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.session.close()
        await asyncio.sleep(0)
        self.connection.dispose()

    @property
    def page(self) -> ft.Page:
        return self.session.page

    def sent(self, value: Any) -> bool:
        """Whether `value` went out to the client in any patch so far."""
        def contains(node: Any) -> bool:
            if node == value and type(node) is type(value):
                return True
            if isinstance(node, dict):
                return any(contains(v) for v in node.values())
            if isinstance(node, (list, tuple)):
                return any(contains(v) for v in node)
            return False
        return contains(self.connection.sent)

    def find(self, key: str) -> Any:
        """The one mounted control with this key."""
        return find(self.page, key)

    def visible(self, key: str) -> bool:
        """Whether the control and every ancestor up to the page is visible."""
        control: Any = self.find(key)
        while control is not None:
            if getattr(control, "visible", True) is False:
                return False
            control = control.parent
        return True

    def type_into(self, key: str, text: str) -> None:
        """What the client sends when the user types: a property patch on the field."""
        field = self.find(key)
        self.session.apply_patch(field._i, {"value": text})

    async def event(self, key: str, name: str, data: Any = None) -> None:
        """Fire a client event (`click`, `submit`, `change`, …) at the control with this key."""
        await self.session.dispatch_event(self.find(key)._i, name, data)

    async def click(self, key: str) -> None:
        await self.event(key, "click")

    async def wait_for(self, predicate: Callable[[], Any], timeout: float = 10.0,
                       what: str = "condition") -> Any:
        """Poll `predicate` on the loop (so pushes get applied) until it is truthy."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            try:
                result = predicate()
            except (AssertionError, LookupError):
                result = None
            if result:
                return result
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            await asyncio.sleep(0.02)
