"""Analytics like the Tickki SDK's TickkiAnalytics: events buffered per client, keyed by the
visitor id, flushed to POST /chat/events every `interval` seconds or at `buffer_limit`
events, at most `max_batch` per call; a batch that fails for a retryable reason (network,
429, 5xx) goes back to the head of the buffer.

Threading: `track` only appends (it never waits on the network); one flusher thread per
client sends. `flush` sends on the caller's thread; one flush runs at a time.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from app_flet.headless.errors import ChatConnectionError, ChatError, RateLimitedError, ServerError

__all__ = ["Analytics", "AnalyticsOptions"]

log = logging.getLogger("chatdock.client")

RETRYABLE = (ChatConnectionError, RateLimitedError, ServerError)


@dataclass(frozen=True)
class AnalyticsOptions:
    """The SDK's defaults; max_buffered bounds memory while the server is unreachable (the
    oldest events are dropped first)."""

    interval: float = 5.0
    buffer_limit: int = 20
    max_batch: int = 50
    max_buffered: int = 1000


def _now() -> str:
    """ISO 8601 UTC with milliseconds and Z (the server's own form)."""
    now = datetime.now(timezone.utc)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


class Analytics:
    """The buffer and its flusher; `send(visitor_id, events)` posts one batch."""

    def __init__(self, send: Callable[[str, list[dict[str, Any]]], int],
                 options: AnalyticsOptions) -> None:
        self._send = send
        self.options = options
        self.visitor_id: str | None = None
        self._queue: deque[dict[str, Any]] = deque(maxlen=options.max_buffered)
        self._lock = threading.Lock()  # guards the queue
        self._flushing = threading.Lock()  # one flush at a time
        self._wake = threading.Event()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def pending(self) -> int:
        """How many events wait in the buffer."""
        with self._lock:
            return len(self._queue)

    def track(self, type: str, **fields: Any) -> None:
        """Buffer one event (dropped, as the SDK drops it, while no visitor id is set)."""
        if self._stopped.is_set() or self.visitor_id is None:
            log.info("analytics event %r dropped: %s", type,
                     "closed" if self._stopped.is_set() else "no visitor id yet")
            return
        event = {"type": type, "occurred_at": _now(),
                 **{k: v for k, v in fields.items() if v is not None and v != ""}}
        with self._lock:
            self._queue.append(event)
            full = len(self._queue) >= self.options.buffer_limit
        self._start()
        if full:
            self._wake.set()

    def flush(self) -> int:
        """Send everything buffered, a batch at a time; return how many the server accepted.
        Stops at the first retryable failure (those events stay buffered)."""
        accepted = 0
        with self._flushing:
            while (batch := self._take()) is not None:
                visitor_id, events = batch
                try:
                    accepted += self._send(visitor_id, events)
                except RETRYABLE as exc:
                    self._requeue(events)
                    log.info("analytics flush failed, %d events kept: %s", len(events), exc)
                    break
                except ChatError as exc:  # refused as sent: sending it again cannot help
                    log.warning("analytics batch of %d events refused: %s", len(events), exc)
        return accepted

    def close(self) -> None:
        """Stop the flusher after a final flush. Idempotent."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
        self.flush()

    # ---------- internals --------------------------------------------------

    def _take(self) -> tuple[str, list[dict[str, Any]]] | None:
        with self._lock:
            if not self._queue or self.visitor_id is None:
                return None
            n = min(len(self._queue), self.options.max_batch)
            return self.visitor_id, [self._queue.popleft() for _ in range(n)]

    def _requeue(self, events: list[dict[str, Any]]) -> None:
        with self._lock:
            room = self.options.max_buffered - len(self._queue)
            keep = events[-room:] if room > 0 else []  # the bound drops the oldest first
            self._queue.extendleft(reversed(keep))

    def _start(self) -> None:
        with self._lock:
            if self._thread is not None or self._stopped.is_set():
                return
            self._thread = threading.Thread(target=self._run, name="chatdock-analytics",
                                            daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stopped.is_set():
            self._wake.wait(self.options.interval)
            self._wake.clear()
            if not self._stopped.is_set():
                self.flush()
