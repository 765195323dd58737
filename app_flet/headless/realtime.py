"""A Pusher protocol 7 client on websockets' threaded client: one reader thread per session.

The thread connects, waits for `pusher:connection_established`, signs the private channel
through the auth endpoint, subscribes, answers pings, pings after silence, and reconnects
with a capped backoff when the socket dies. It knows nothing about messages: the session
passes callbacks for channel events, for "subscribed" (where it catches up from history)
and for state changes.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from websockets.exceptions import ConnectionClosed, InvalidURI, WebSocketException
from websockets.sync.client import ClientConnection, connect

from app_flet.headless.errors import (
    AuthError,
    ChatConnectionError,
    ChatError,
    ForbiddenError,
    ProtocolError,
)
from app_flet.headless.models import ConnectionChanged, ConnectionState, RealtimeConfig

log = logging.getLogger("chatdock.client.realtime")

CLIENT_NAME = "chatdock-python"
# Pusher's close-code ranges: 4000-4099 never reconnect, 4100-4199 back off, 4200-4299 at once.
_AUTH_CLOSE_CODES = frozenset({4001, 4009})


@dataclass(frozen=True, slots=True)
class RealtimeOptions:
    """Timing of the socket; tests shorten it. `backoff` is the reconnect schedule (s), its
    last value repeating; it restarts after every successful subscribe."""

    backoff: tuple[float, ...] = (1.0, 2.0, 4.0, 8.0, 16.0, 30.0)
    ping_interval: float = 30.0
    pong_timeout: float = 10.0
    open_timeout: float = 10.0

    def delay(self, attempt: int) -> float:
        """Seconds to wait before reconnect attempt `attempt` (0-based)."""
        return self.backoff[min(attempt, len(self.backoff) - 1)] if self.backoff else 0.0


class _Retry(Exception):
    """This socket is done; connect again (at once when `immediate`)."""

    def __init__(self, error: ChatError, immediate: bool = False) -> None:
        super().__init__(error.message)
        self.error = error
        self.immediate = immediate


class _Fatal(Exception):
    """Stop for good: reconnecting cannot help (revoked or refused credentials)."""

    def __init__(self, error: ChatError) -> None:
        super().__init__(error.message)
        self.error = error


def _classify(err: ChatError) -> Exception:
    """A failed HTTP call made for the socket: fatal for credentials, else retry."""
    if err.is_auth_error or isinstance(err, AuthError | ForbiddenError):
        return _Fatal(err)
    return _Retry(err)


def _close_outcome(code: int | None, reason: str) -> Exception:
    if code in _AUTH_CLOSE_CODES:
        return _Fatal(AuthError(reason or "The server refused the realtime credentials.",
                                code="invalid_session" if code == 4009 else "invalid_api_key"))
    if code is not None and 4000 <= code < 4100:
        return _Fatal(ProtocolError(reason or f"Realtime connection refused ({code}).",
                                    code=f"pusher_{code}"))
    if code is None:
        message = "The realtime connection was lost."
    else:
        message = f"The realtime connection closed ({code}{': ' + reason if reason else ''})."
    return _Retry(ChatConnectionError(message), immediate=code is not None and code >= 4200)


class RealtimeConnection:
    """One private channel over one socket, kept alive by one reader thread."""

    def __init__(self, config: RealtimeConfig, *,
                 authorize: Callable[[str, str], dict[str, str]],
                 on_event: Callable[[str, Any], None], on_subscribed: Callable[[], None],
                 on_state: Callable[[ConnectionChanged], None],
                 options: RealtimeOptions | None = None, version: str = "0",
                 name: str = "chatdock-realtime") -> None:
        self.config = config
        self.options = options or RealtimeOptions()
        self._authorize = authorize
        self._on_event = on_event
        self._on_subscribed = on_subscribed
        self._on_state = on_state
        self._url = (f"{config.url}?protocol=7&client={CLIENT_NAME}&version={version}")
        self._stop = threading.Event()
        self._cond = threading.Condition()
        self._state: ConnectionState = "connecting"
        self._error: ChatError | None = None
        self._ws: ClientConnection | None = None
        self._subscribed_once = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    # ---------- control (any thread) ---------------------------------------

    @property
    def state(self) -> ConnectionState:
        return self._state

    def start(self) -> None:
        """Start the reader thread (once)."""
        if not self._thread.is_alive() and not self._stop.is_set():
            self._thread.start()

    def wait_connected(self, timeout: float) -> None:
        """Block until subscribed (and caught up); raise why not, or on timeout."""
        with self._cond:
            self._cond.wait_for(lambda: self._state in ("connected", "closed"), timeout)
            state, error = self._state, self._error
        if state == "connected":
            return
        if state == "closed":
            raise error or ChatError("The session was closed.", code="session_closed")
        raise ChatConnectionError(f"Realtime did not connect within {timeout:g} s"
                                  + (f": {error.message}" if error else "."))

    def close(self) -> None:
        """Stop reconnecting, close the socket and wait briefly for the thread."""
        self._stop.set()
        ws = self._ws
        if ws is not None:
            try:
                ws.close()
            except Exception:  # already broken: the reader will notice
                pass
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout=5)

    # ---------- the reader thread -----------------------------------------

    def _set_state(self, state: ConnectionState, retry_in: float | None = None,
                   error: ChatError | None = None) -> None:
        with self._cond:
            self._state, self._error = state, error
            self._cond.notify_all()
        self._on_state(ConnectionChanged(state, retry_in=retry_in, error=error))

    def _run(self) -> None:
        attempt = 0
        error: ChatError | None = None
        self._set_state("connecting")
        while not self._stop.is_set():
            immediate = False
            try:
                self._connect_once()
                error = ChatConnectionError("The realtime connection closed.")
            except _Fatal as fatal:
                log.warning("realtime stopped: %s", fatal.error)
                self._set_state("closed", error=fatal.error)
                return
            except _Retry as retry:
                error, immediate = retry.error, retry.immediate
            except (OSError, WebSocketException) as exc:
                error = ChatConnectionError(f"Realtime connection failed: {exc!s}")
            finally:
                self._ws = None
            if self._stop.is_set():
                break
            if self._subscribed_once:  # the last socket worked: start the schedule over
                attempt, self._subscribed_once = 0, False
            else:
                immediate = False
            delay = 0.0 if immediate else self.options.delay(attempt)
            attempt += 0 if immediate else 1
            log.info("realtime reconnecting in %.1f s: %s", delay, error)
            self._set_state("reconnecting", retry_in=delay, error=error)
            if self._stop.wait(delay):
                break
        self._set_state("closed")

    def _connect_once(self) -> None:
        try:
            ws = connect(self._url, open_timeout=self.options.open_timeout, close_timeout=1,
                         ping_interval=None, ping_timeout=None,
                         user_agent_header=f"{CLIENT_NAME} websockets")
        except InvalidURI as exc:
            raise _Fatal(ProtocolError(f"Bad realtime URL: {exc}")) from exc
        with ws:
            self._ws = ws
            if self._stop.is_set():
                return
            try:
                self._read(ws)
            except ConnectionClosed as closed:
                if self._stop.is_set():
                    return
                frame = closed.rcvd
                raise _close_outcome(frame.code if frame else None,
                                     frame.reason if frame else "") from closed

    def _read(self, ws: ClientConnection) -> None:
        """Handle frames; ping after `activity` s of silence, give up `pong_timeout` later."""
        activity = self.options.ping_interval
        last = time.monotonic()
        pinged_at: float | None = None
        while not self._stop.is_set():
            deadline = (pinged_at + self.options.pong_timeout if pinged_at is not None
                        else last + activity)
            try:
                raw = ws.recv(timeout=max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                if pinged_at is not None:
                    raise _Retry(ChatConnectionError("No pong from the server: the socket "
                                                     "is dead."), immediate=True) from None
                self._send(ws, "pusher:ping", {})
                pinged_at = time.monotonic()
                continue
            last, pinged_at = time.monotonic(), None
            timeout = self._handle(ws, raw)
            if timeout is not None:
                activity = min(self.options.ping_interval, timeout)

    def _send(self, ws: ClientConnection, event: str, data: dict[str, Any]) -> None:
        ws.send(json.dumps({"event": event, "data": data}))

    def _handle(self, ws: ClientConnection, raw: str | bytes) -> float | None:
        """Act on one frame; return the server's activity timeout when it tells us one."""
        try:
            frame = json.loads(raw)
            event = frame["event"]
        except (ValueError, TypeError, KeyError):
            log.debug("ignoring a frame that is not Pusher JSON: %r", raw[:200])
            return None
        data = frame.get("data")
        if isinstance(data, str):
            try:
                data = json.loads(data)
            except ValueError:
                pass
        channel = frame.get("channel")
        if event == "pusher:connection_established":
            return self._established(ws, data if isinstance(data, dict) else {})
        if event == "pusher:ping":
            self._send(ws, "pusher:pong", {})
        elif event == "pusher:error":
            self._pusher_error(data if isinstance(data, dict) else {})
        elif channel != self.config.channel or event == "pusher:pong":
            return None
        elif event == "pusher_internal:subscription_succeeded":
            self._subscribed()
        elif event in ("pusher:subscription_error", "pusher_internal:subscription_error"):
            self._subscription_error(data if isinstance(data, dict) else {})
        elif not event.startswith("pusher"):
            self._on_event(event, data)
        return None

    def _established(self, ws: ClientConnection, data: dict[str, Any]) -> float | None:
        socket_id = data.get("socket_id")
        if not isinstance(socket_id, str):
            raise _Retry(ProtocolError("connection_established without a socket_id"))
        try:
            auth = self._authorize(socket_id, self.config.channel)
        except ChatError as err:
            raise _classify(err) from err
        self._send(ws, "pusher:subscribe", {"channel": self.config.channel, **auth})
        timeout = data.get("activity_timeout")
        return float(timeout) if isinstance(timeout, int | float) and timeout > 0 else None

    def _subscribed(self) -> None:
        try:
            self._on_subscribed()  # catch-up: missed messages go out before "connected"
        except ChatError as err:
            raise _classify(err) from err
        self._subscribed_once = True
        self._set_state("connected")

    def _subscription_error(self, data: dict[str, Any]) -> None:
        status = data.get("status")
        message = str(data.get("error") or "The channel subscription was refused.")
        if status in (401, 403):
            cls = AuthError if status == 401 else ForbiddenError
            raise _Fatal(cls(message, code="subscription_refused", status=status))
        raise _Retry(ProtocolError(message, code="subscription_error",
                                   status=status if isinstance(status, int) else None))

    def _pusher_error(self, data: dict[str, Any]) -> None:
        code = data.get("code")
        if isinstance(code, int) and 4000 <= code < 4300:
            raise _close_outcome(code, str(data.get("message") or ""))
        log.warning("pusher:error from the server: %s", data)
