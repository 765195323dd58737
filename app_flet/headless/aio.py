"""The asyncio flavour: the same API as coroutines, delegating to the sync implementation.

Each blocking call runs in `asyncio.to_thread`; events reach an async iterator through an
`asyncio.Queue` fed with `loop.call_soon_threadsafe`. There is one copy of the protocol,
parsing, reconnect and dedupe logic: the sync one.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from types import TracebackType
from typing import Any

import httpx

from app_flet.headless.client import ChatClient, ChatSession
from app_flet.headless.events import AddListener, Listener
from app_flet.headless.models import (
    ChatConfig,
    ChatMessage,
    Contact,
    Event,
    MessagePage,
    SessionDetails,
)
from app_flet.headless.realtime import RealtimeOptions

__all__ = ["AsyncChatClient", "AsyncChatSession", "AsyncEvents"]


class AsyncChatClient:
    """ChatClient for asyncio code; see ChatClient for the arguments."""

    def __init__(self, publishable_key: str, base_url: str, *, bundle_id: str | None = None,
                 timeout: float = 10.0, transport: httpx.BaseTransport | None = None,
                 realtime_options: RealtimeOptions | None = None) -> None:
        self.sync = ChatClient(publishable_key, base_url, bundle_id=bundle_id, timeout=timeout,
                               transport=transport, realtime_options=realtime_options)

    @classmethod
    def from_client(cls, client: ChatClient) -> AsyncChatClient:
        """Wrap an existing sync client (they share the HTTP client and sessions)."""
        wrapper = cls.__new__(cls)
        wrapper.sync = client
        return wrapper

    def __repr__(self) -> str:
        return f"AsyncChatClient(base_url={self.sync.base_url!r})"

    async def __aenter__(self) -> AsyncChatClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def fetch_config(self) -> ChatConfig:
        """Fetch branding, features, limits and presence."""
        return await asyncio.to_thread(self.sync.fetch_config)

    async def start_session(self, visitor_id: str, name: str | None = None,
                            email: str | None = None, phone: str | None = None, *,
                            identity_hash: str | None = None, identity_ts: int | None = None
                            ) -> AsyncChatSession:
        """Start or resume a visitor's session (identity_hash / identity_ts: see ChatClient)."""
        session = await asyncio.to_thread(self.sync.start_session, visitor_id, name, email,
                                          phone, identity_hash=identity_hash,
                                          identity_ts=identity_ts)
        return AsyncChatSession(session)

    async def close(self) -> None:
        """Close every session, then the HTTP client. Idempotent."""
        await asyncio.to_thread(self.sync.close)


class AsyncChatSession:
    """ChatSession for asyncio code; wraps (and exposes as `sync`) a ChatSession."""

    def __init__(self, session: ChatSession) -> None:
        self.sync = session

    def __repr__(self) -> str:
        return f"Async{self.sync!r}"

    async def __aenter__(self) -> AsyncChatSession:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()

    @property
    def details(self) -> SessionDetails:
        return self.sync.details

    @property
    def conversation_id(self) -> int:
        return self.sync.conversation_id

    @property
    def session_id(self) -> int:
        return self.sync.session_id

    @property
    def visitor_id(self) -> str:
        return self.sync.visitor_id

    @property
    def contact(self) -> Contact:
        return self.sync.contact

    @property
    def closed(self) -> bool:
        return self.sync.closed

    @property
    def connection_state(self) -> str:
        return self.sync.connection_state

    async def send(self, content: str, *, idempotency_key: str | None = None) -> ChatMessage:
        """Send a text message from the visitor (see ChatSession.send)."""
        return await asyncio.to_thread(self.sync.send, content, idempotency_key=idempotency_key)

    async def identify(self, name: str | None = None, email: str | None = None,
                       phone: str | None = None) -> Contact:
        """Update the contact behind this session."""
        return await asyncio.to_thread(self.sync.identify, name, email, phone)

    async def send_typing(self) -> None:
        """Tell the agents the visitor is typing."""
        await asyncio.to_thread(self.sync.send_typing)

    async def heartbeat(self) -> None:
        """Mark the visitor online for the agents."""
        await asyncio.to_thread(self.sync.heartbeat)

    async def load_history(self, cursor: str | None = None, limit: int = 30) -> MessagePage:
        """A page of messages, newest first."""
        return await asyncio.to_thread(self.sync.load_history, cursor, limit)

    def start_heartbeat(self, interval: float = 30.0) -> None:
        """Start the heartbeat timer thread (does not block, so not a coroutine)."""
        self.sync.start_heartbeat(interval)

    def stop_heartbeat(self) -> None:
        """Stop the heartbeat timer."""
        self.sync.stop_heartbeat()

    async def connect(self, wait: bool = True, timeout: float = 10.0) -> None:
        """Start realtime; with `wait`, until subscribed and caught up (see ChatSession)."""
        await asyncio.to_thread(self.sync.connect, wait, timeout)

    def on(self, callback: Listener) -> Callable[[], None]:
        """As ChatSession.on: `callback` runs on the session's event thread, not the loop."""
        return self.sync.on(callback)

    def events(self) -> AsyncIterator[Event]:
        """An async iterator over events, ending when the session closes."""
        return AsyncEvents(self.sync._add_listener, self.sync.connect)

    async def close(self) -> None:
        """Stop heartbeat and realtime; end event iterators. Idempotent."""
        await asyncio.to_thread(self.sync.close)


class AsyncEvents(AsyncIterator[Event]):
    """Events bridged from a sync client's event thread into this loop's queue; `connect`
    (called with wait=False) starts the source's realtime."""

    _END = object()

    def __init__(self, add_listener: AddListener, connect: Callable[..., None]) -> None:
        self._loop = asyncio.get_running_loop()
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self._done = False
        self._remove = add_listener(self._push, on_end=lambda: self._push(self._END))
        connect(wait=False)

    def _push(self, item: Any) -> None:
        try:
            self._loop.call_soon_threadsafe(self._queue.put_nowait, item)
        except RuntimeError:  # the loop is closed: nobody is listening any more
            self._remove()

    def __aiter__(self) -> AsyncEvents:
        return self

    async def __anext__(self) -> Event:
        if self._done:
            raise StopAsyncIteration
        item = await self._queue.get()
        if item is self._END:
            self._done = True
            raise StopAsyncIteration
        event: Event = item
        return event

    async def aclose(self) -> None:
        """Stop receiving events."""
        self._done = True
        self._remove()
