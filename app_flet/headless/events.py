"""The event plumbing both clients share: the event thread (Dispatcher), the blocking
iterator over it (EventIterator), and the one dedupe path for messages (MessageLedger)."""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Generic, Protocol, TypeVar

from app_flet.headless.models import ChatMessage, Event, MessageCreated

__all__ = ["AddListener", "Dispatcher", "EventIterator", "Listener", "MessageLedger",
           "dispatch_channel_event"]

log = logging.getLogger("chatdock.client")

E = TypeVar("E")
E_co = TypeVar("E_co", covariant=True)
Listener = Callable[[Event], None]  # a visitor session's listener (AgentListener: agent.py)


class AddListener(Protocol[E_co]):
    """Register a listener (and what to call when events end); return its remover."""

    def __call__(self, callback: Callable[[E_co], None],
                 on_end: Callable[[], None] | None = None) -> Callable[[], None]: ...


class Dispatcher(Generic[E]):
    """An event thread: calls listeners one event at a time, in order."""

    _STOP = object()

    def __init__(self, name: str) -> None:
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._listeners: list[tuple[Callable[[E], None], Callable[[], None] | None]] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._closed = False

    def add(self, listener: Callable[[E], None], on_end: Callable[[], None] | None = None
            ) -> Callable[[], None]:
        entry = (listener, on_end)
        with self._lock:
            self._listeners.append(entry)
            if not self._thread.is_alive() and not self._closed:
                self._thread.start()

        def remove() -> None:
            with self._lock:
                if entry in self._listeners:
                    self._listeners.remove(entry)
        return remove

    def put(self, event: E) -> None:
        if self._listeners:
            self._queue.put(event)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            started = self._thread.is_alive()
        self._queue.put(self._STOP)
        if started and threading.current_thread() is not self._thread:
            self._thread.join(timeout=5)
        elif not started:
            self._end_all()

    def _run(self) -> None:
        while (event := self._queue.get()) is not self._STOP:
            with self._lock:
                listeners = [listener for listener, _ in self._listeners]
            for listener in listeners:
                try:
                    listener(event)
                except Exception:
                    log.exception("a chat event listener raised")
        self._end_all()

    def _end_all(self) -> None:
        with self._lock:
            ends = [end for _, end in self._listeners if end is not None]
            self._listeners.clear()
        for end in ends:
            end()


class EventIterator(Iterator[E]):
    """A blocking iterator over a source's events; ends when the source closes."""

    _END = object()

    def __init__(self, add_listener: AddListener[E]) -> None:
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._done = False
        self._remove = add_listener(self._queue.put, on_end=lambda: self._queue.put(self._END))

    def __next__(self) -> E:
        if self._done:
            raise StopIteration
        item = self._queue.get()
        if item is self._END:
            self._done = True
            raise StopIteration
        event: E = item
        return event

    def get(self, timeout: float | None = None) -> E | None:
        """The next event, or None on timeout or after the source closed."""
        if self._done:
            return None
        try:
            item = self._queue.get(timeout=timeout)
        except queue.Empty:
            return None
        if item is self._END:
            self._done = True
            return None
        event: E = item
        return event

    def close(self) -> None:
        """Stop receiving events."""
        self._done = True
        self._remove()


class MessageLedger:
    """Which messages the consumer was given, and the watermark: the highest id known to
    leave no gap below it. `deliver` is the one path from any source (socket, catch-up,
    a send's answer) to `emit`: each message id goes out once, oldest first."""

    def __init__(self, lock: threading.RLock, emit: Callable[[MessageCreated], None]) -> None:
        self.lock = lock
        self.seen: set[int] = set()
        self.mark: int | None = None
        self._emit = emit

    def deliver(self, messages: Iterable[ChatMessage], *, advance: bool) -> int:
        """Emit MessageCreated for the messages not seen before; return how many.

        `advance` moves the watermark: only for sources that leave no gap below them
        (the socket, catch-up), not for send results.
        """
        batch = list(messages)
        with self.lock:
            fresh = sorted({m.id: m for m in batch if m.id not in self.seen}.values(),
                           key=lambda m: m.id)
            self.seen.update(m.id for m in fresh)
            if advance and batch:
                self.mark = max(self.mark or 0, *(m.id for m in batch))
            for message in fresh:  # under the lock: two sources never interleave
                self._emit(MessageCreated(message))
        return len(fresh)


def dispatch_channel_event(decode: Callable[[str, Any], Any], name: str, data: Any,
                           ledger: MessageLedger, put: Callable[[Any], None]) -> None:
    """One channel event to the consumer: a MessageCreated through the ledger (once per id),
    any other known event straight on; a malformed payload is logged and dropped."""
    try:
        event = decode(name, data)
    except (KeyError, TypeError, ValueError) as exc:
        log.warning("dropping a malformed %s event: %r", name, exc)
        return
    if isinstance(event, MessageCreated):
        ledger.deliver([event.message], advance=True)
    elif event is not None:
        put(event)
