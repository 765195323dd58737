"""The asyncio flavour: the same API as coroutines, delegating to the sync implementation.

Each blocking call runs in `asyncio.to_thread`; events reach an async iterator through an
`asyncio.Queue` fed with `loop.call_soon_threadsafe`. There is one copy of the protocol,
parsing, reconnect and dedupe logic: the sync one.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any, Concatenate, Generic, ParamSpec, Protocol, Self, TypeVar

import httpx

from app_flet.headless.analytics import AnalyticsOptions
from app_flet.headless.client import ChatClient, ChatSession
from app_flet.headless.events import AddListener, Listener
from app_flet.headless.models import Contact, Event, SessionDetails
from app_flet.headless.realtime import RealtimeOptions

__all__ = ["AsyncChatClient", "AsyncChatSession", "AsyncEvents", "AsyncWrapper", "threaded"]

E = TypeVar("E")
P = ParamSpec("P")
S = TypeVar("S")
T = TypeVar("T")


def threaded(method: Callable[Concatenate[S, P], T]
             ) -> Callable[Concatenate[Any, P], Coroutine[Any, Any, T]]:
    """A sync class's method as a coroutine method of its async wrapper (which holds the
    sync object as `.sync`): the call runs in `asyncio.to_thread`."""
    @functools.wraps(method)
    async def run(self: Any, *args: P.args, **kwargs: P.kwargs) -> T:
        return await asyncio.to_thread(method, self.sync, *args, **kwargs)
    return run


class _Closable(Protocol):
    def close(self) -> None: ...


W = TypeVar("W", bound=_Closable)


class AsyncWrapper(Generic[W]):
    """What every async flavour shares: it wraps (and exposes as `sync`) one sync object;
    `close` (and leaving `async with`) closes that."""

    def __init__(self, sync: W) -> None:
        self.sync = sync

    @classmethod
    def from_client(cls, client: W) -> Self:
        """Wrap an existing sync object (they share its HTTP client, sessions, events)."""
        wrapper = cls.__new__(cls)
        wrapper.sync = client
        return wrapper

    def __repr__(self) -> str:
        return f"Async{self.sync!r}"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the sync object (idempotent), off the loop."""
        await asyncio.to_thread(self.sync.close)


class AsyncChatClient(AsyncWrapper[ChatClient]):
    """ChatClient for asyncio code; see ChatClient for the arguments."""

    def __init__(self, publishable_key: str, base_url: str, *, bundle_id: str | None = None,
                 timeout: float = 10.0, transport: httpx.BaseTransport | None = None,
                 realtime_options: RealtimeOptions | None = None,
                 analytics_options: AnalyticsOptions | None = None) -> None:
        super().__init__(ChatClient(publishable_key, base_url, bundle_id=bundle_id,
                                    timeout=timeout, transport=transport,
                                    realtime_options=realtime_options,
                                    analytics_options=analytics_options))

    fetch_config = threaded(ChatClient.fetch_config)
    track = threaded(ChatClient.track)
    flush = threaded(ChatClient.flush)

    def set_visitor_id(self, visitor_id: str | None) -> None:
        """As ChatClient.set_visitor_id (no I/O, so not a coroutine)."""
        self.sync.set_visitor_id(visitor_id)

    @property
    def pending_events(self) -> int:
        return self.sync.pending_events

    async def start_session(self, visitor_id: str, name: str | None = None,
                            email: str | None = None, phone: str | None = None, *,
                            identity_hash: str | None = None, identity_ts: int | None = None
                            ) -> AsyncChatSession:
        """Start or resume a visitor's session (identity_hash / identity_ts: see ChatClient)."""
        session = await asyncio.to_thread(self.sync.start_session, visitor_id, name, email,
                                          phone, identity_hash=identity_hash,
                                          identity_ts=identity_ts)
        return AsyncChatSession(session)


class AsyncChatSession(AsyncWrapper[ChatSession]):
    """ChatSession for asyncio code; wraps (and exposes as `sync`) a ChatSession."""

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

    send = threaded(ChatSession.send)
    upload = threaded(ChatSession.upload)
    identify = threaded(ChatSession.identify)
    send_typing = threaded(ChatSession.send_typing)
    heartbeat = threaded(ChatSession.heartbeat)
    load_history = threaded(ChatSession.load_history)
    connect = threaded(ChatSession.connect)

    def start_heartbeat(self, interval: float = 30.0) -> None:
        """Start the heartbeat timer thread (does not block, so not a coroutine)."""
        self.sync.start_heartbeat(interval)

    def stop_heartbeat(self) -> None:
        """Stop the heartbeat timer."""
        self.sync.stop_heartbeat()

    def on(self, callback: Listener) -> Callable[[], None]:
        """As ChatSession.on: `callback` runs on the session's event thread, not the loop."""
        return self.sync.on(callback)

    def events(self) -> AsyncIterator[Event]:
        """An async iterator over events, ending when the session closes."""
        events: AsyncEvents[Event] = AsyncEvents(self.sync._add_listener, self.sync.connect)
        return events


class AsyncEvents(AsyncIterator[E]):
    """Events bridged from a sync client's event thread into this loop's queue; `connect`
    (called with wait=False) starts the source's realtime."""

    _END = object()

    def __init__(self, add_listener: AddListener[E], connect: Callable[..., None]) -> None:
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

    def __aiter__(self) -> AsyncEvents[E]:
        return self

    async def __anext__(self) -> E:
        if self._done:
            raise StopAsyncIteration
        item = await self._queue.get()
        if item is self._END:
            self._done = True
            raise StopAsyncIteration
        event: E = item
        return event

    async def aclose(self) -> None:
        """Stop receiving events."""
        self._done = True
        self._remove()
