"""The synchronous client: ChatClient (the business's publishable key) and ChatSession (one
visitor conversation: REST calls, heartbeat, realtime events with catch-up and dedupe).

Threading: HTTP calls run on the caller's thread. Realtime runs on one reader thread per
session; listeners (`on`, `events`) are called on the session's event thread, one event
at a time and in order, never on the caller's or the UI's thread.
"""

from __future__ import annotations

import logging
import queue
import threading
import uuid
import weakref
from collections.abc import Callable, Iterator
from dataclasses import replace
from types import TracebackType
from typing import Any, TypeVar

import httpx

from app_flet.headless.errors import ChatConnectionError, ChatError, ProtocolError
from app_flet.headless.errors import error_from_response as _error_from_response
from app_flet.headless.models import (
    ChatConfig,
    ChatMessage,
    Contact,
    Event,
    MessageCreated,
    MessagePage,
    SessionDetails,
    decode_event,
)
from app_flet.headless.realtime import RealtimeConnection, RealtimeOptions

__all__ = ["VERSION", "ChatClient", "ChatSession", "Listener"]

log = logging.getLogger("chatdock.client")

T = TypeVar("T")
Listener = Callable[[Event], None]

try:
    from importlib.metadata import version as _dist_version

    VERSION = _dist_version("chatdock")
except Exception:  # running from a checkout that is not installed
    VERSION = "0"
USER_AGENT = f"chatdock-python/{VERSION}"
CATCH_UP_PAGE = 100


def _parse(build: Callable[[Any], T], value: Any) -> T:
    """Build a model, turning a shape mismatch into ProtocolError."""
    try:
        return build(value)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ProtocolError(f"Unexpected response shape: {exc!r}") from exc


def _fields(**values: str | None) -> dict[str, str]:
    return {k: v for k, v in values.items() if v is not None}


class ChatClient:
    """A business's visitor-side client: configuration and sessions, over one httpx.Client.

    `transport` replaces the network (e.g. `httpx.WSGITransport(app=flask_app)` in tests);
    realtime still needs a real socket. `realtime_options` tunes reconnect timing.
    """

    def __init__(self, publishable_key: str, base_url: str, *, bundle_id: str | None = None,
                 timeout: float = 10.0, transport: httpx.BaseTransport | None = None,
                 realtime_options: RealtimeOptions | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.realtime_options = realtime_options or RealtimeOptions()
        headers = {"Authorization": f"Bearer {publishable_key}", "Accept": "application/json",
                   "User-Agent": USER_AGENT}
        if bundle_id:
            headers["X-Tickki-Bundle-Id"] = bundle_id
        self._http = httpx.Client(base_url=self.base_url + "/api/v1/", headers=headers,
                                  timeout=timeout, transport=transport)
        self._sessions: weakref.WeakSet[ChatSession] = weakref.WeakSet()
        self._config: tuple[str, ChatConfig] | None = None
        self._closed = False

    def __repr__(self) -> str:
        return f"ChatClient(base_url={self.base_url!r})"

    def __enter__(self) -> ChatClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Close every session of this client, then the HTTP client. Idempotent."""
        if self._closed:
            return
        self._closed = True
        for session in list(self._sessions):
            session.close()
        self._http.close()

    # ---------- HTTP -------------------------------------------------------

    def request(self, method: str, path: str, *, session_token: str | None = None,
                json: Any = None, data: dict[str, str] | None = None,
                params: dict[str, str] | None = None, idempotency_key: str | None = None,
                headers: dict[str, str] | None = None, retries: int = 0) -> httpx.Response:
        """Send one request; return the 2xx/304 response or raise the matching ChatError.

        `retries` re-sends after a network failure; only for calls that are safe to
        repeat (reads, or writes carrying an Idempotency-Key).
        """
        if self._closed:
            raise ChatError("The client is closed.", code="client_closed")
        extra = dict(headers or {})
        if session_token is not None:
            extra["X-Tickki-Session"] = session_token
        if idempotency_key is not None:
            extra["Idempotency-Key"] = idempotency_key
        for attempt in range(retries + 1):
            try:
                response = self._http.request(method, path, json=json, data=data,
                                              params=params, headers=extra)
                break
            except httpx.TransportError as exc:
                if attempt == retries:
                    raise ChatConnectionError(f"{method} {path} failed: {exc!s}") from exc
                log.info("retrying %s %s after a network error: %s", method, path, exc)
        if response.status_code >= 400:
            raise _error_from_response(response)
        return response

    def call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        """`request`, then the JSON body as a dict (ProtocolError when it is not one)."""
        response = self.request(method, path, **kwargs)
        try:
            body = response.json()
        except ValueError as exc:
            raise ProtocolError(f"{method} {path}: the body is not JSON.",
                                status=response.status_code) from exc
        if not isinstance(body, dict):
            raise ProtocolError(f"{method} {path}: the body is not a JSON object.",
                                status=response.status_code)
        return body

    # ---------- the API ----------------------------------------------------

    def fetch_config(self) -> ChatConfig:
        """Fetch branding, features, limits and presence (revalidated with the ETag)."""
        cached = self._config
        headers = {"If-None-Match": cached[0]} if cached else None
        response = self.request("GET", "chat/config", headers=headers, retries=1)
        if response.status_code == 304 and cached:
            return cached[1]
        body = _parse(lambda r: r.json(), response)
        config = _parse(ChatConfig.from_json, body.get("data") if isinstance(body, dict) else None)
        etag = response.headers.get("ETag")
        self._config = (etag, config) if etag else None
        return config

    def start_session(self, visitor_id: str, name: str | None = None, email: str | None = None,
                      phone: str | None = None, *, identity_hash: str | None = None,
                      identity_ts: int | None = None) -> ChatSession:
        """Start or resume a visitor's session (the same visitor_id resumes the conversation).

        identity_hash / identity_ts come from the business's own server (README "Identity
        verification"); without them a verified visitor cannot be resumed (AuthError
        identity_required), and the answer's contact holds only what this call sent."""
        proof = {"identity_hash": identity_hash, "identity_ts": identity_ts}
        body = self.call("POST", "chat/sessions",
                         json={"visitor_id": visitor_id, **_fields(name=name, email=email,
                                                                    phone=phone),
                               **{k: v for k, v in proof.items() if v is not None}})
        session = ChatSession(self, _parse(SessionDetails.from_json, body.get("data")))
        self._sessions.add(session)
        return session


class _Dispatcher:
    """The session's event thread: calls listeners one event at a time, in order."""

    _STOP = object()

    def __init__(self, name: str) -> None:
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._listeners: list[tuple[Listener, Callable[[], None] | None]] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._closed = False

    def add(self, listener: Listener, on_end: Callable[[], None] | None = None
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

    def put(self, event: Event) -> None:
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


class _EventIterator(Iterator[Event]):
    """A blocking iterator over a session's events; ends when the session closes."""

    _END = object()

    def __init__(self, session: ChatSession) -> None:
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._done = False
        self._remove = session._add_listener(self._queue.put,
                                             on_end=lambda: self._queue.put(self._END))

    def __next__(self) -> Event:
        if self._done:
            raise StopIteration
        item = self._queue.get()
        if item is self._END:
            self._done = True
            raise StopIteration
        event: Event = item
        return event

    def get(self, timeout: float | None = None) -> Event | None:
        """The next event, or None on timeout or after the session closed."""
        if self._done:
            return None
        try:
            item = self._queue.get(timeout=timeout)
        except queue.Empty:
            return None
        if item is self._END:
            self._done = True
            return None
        event: Event = item
        return event

    def close(self) -> None:
        """Stop receiving events."""
        self._done = True
        self._remove()


class ChatSession:
    """One visitor conversation. Create it with `ChatClient.start_session`."""

    def __init__(self, client: ChatClient, details: SessionDetails) -> None:
        self._client = client
        self._details = details
        self._base = f"chat/sessions/{details.conversation_id}"
        self._lock = threading.RLock()
        self._seen: set[int] = set()  # every message id given to the consumer
        self._mark: int | None = None  # all ids up to this one are known (caught up)
        self._origin: int | None = None  # the watermark at the first subscribe: older is history
        self._dispatcher = _Dispatcher(f"chatdock-events-{details.session_id}")
        self._realtime: RealtimeConnection | None = None
        self._heartbeat: tuple[threading.Thread, threading.Event] | None = None
        self._closed = False

    def __repr__(self) -> str:
        return (f"ChatSession(session_id={self.session_id}, "
                f"conversation_id={self.conversation_id}, closed={self._closed})")

    def __enter__(self) -> ChatSession:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # ---------- identity ---------------------------------------------------

    @property
    def details(self) -> SessionDetails:
        return self._details

    @property
    def conversation_id(self) -> int:
        return self._details.conversation_id

    @property
    def session_id(self) -> int:
        return self._details.session_id

    @property
    def visitor_id(self) -> str:
        return self._details.visitor_id

    @property
    def contact(self) -> Contact:
        return self._details.contact

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def connection_state(self) -> str:
        """The realtime state: idle (never started), connecting, connected, reconnecting,
        closed."""
        if self._closed:
            return "closed"
        return self._realtime.state if self._realtime else "idle"

    # ---------- REST -------------------------------------------------------

    def _call(self, method: str, path: str = "", **kwargs: Any) -> dict[str, Any]:
        if self._closed:
            raise ChatError("The session is closed.", code="session_closed")
        return self._client.call(method, self._base + path,
                                 session_token=self._details.session_token, **kwargs)

    def send(self, content: str, *, idempotency_key: str | None = None) -> ChatMessage:
        """Send a text message from the visitor.

        Always sent with an Idempotency-Key (a fresh uuid4 unless given) and re-sent once
        with the same key after a network failure, so a retry never duplicates. Pass
        your own key to retry safely across calls. Subscribers see the message once.
        """
        key = idempotency_key or str(uuid.uuid4())
        body = self._call("POST", "/messages", json={"content": content},
                          idempotency_key=key, retries=1)
        message = _parse(ChatMessage.from_json, body.get("data"))
        self._deliver([message], advance=False)
        return message

    def identify(self, name: str | None = None, email: str | None = None,
                 phone: str | None = None) -> Contact:
        """Update the contact behind this session; return it as this session knows it.

        A verified session gets the contact as stored; an unverified one only what it sent
        (the server never echoes stored email or phone to it), merged here with what this
        session sent before."""
        body = self._call("POST", "/identify", json=_fields(name=name, email=email, phone=phone))
        contact = _parse(Contact.from_json, body.get("data"))
        if not self._details.verified:
            known = self._details.contact
            contact = Contact(name=contact.name or known.name, email=contact.email or known.email,
                              phone=contact.phone or known.phone)
        self._details = replace(self._details, contact=contact)
        return contact

    def send_typing(self) -> None:
        """Tell the agents the visitor is typing (the server debounces)."""
        self._call("POST", "/typing")

    def heartbeat(self) -> None:
        """Mark the visitor online for the agents (see start_heartbeat)."""
        self._call("POST", "/heartbeat")

    def load_history(self, cursor: str | None = None, limit: int = 30) -> MessagePage:
        """A page of messages, newest first; `next_cursor` pages to older ones.

        Returned messages count as seen: realtime will not deliver them again.
        """
        page = self._fetch_page(cursor, limit)
        with self._lock:
            self._seen.update(m.id for m in page.messages)
            if cursor is None and page.messages:  # the newest page: nothing newer exists
                self._mark = max(self._mark or 0, page.messages[0].id)
        return page

    def _fetch_page(self, cursor: str | None, limit: int) -> MessagePage:
        params = {"limit": str(limit), **({"cursor": cursor} if cursor else {})}
        return _parse(MessagePage.from_json, self._call("GET", "/messages", params=params))

    # ---------- heartbeat ----------------------------------------------------

    def start_heartbeat(self, interval: float = 30.0) -> None:
        """Send a heartbeat now and every `interval` s on a timer thread (failures are logged).
        Calling it again restarts the timer with the new interval."""
        self.stop_heartbeat()
        stop = threading.Event()
        thread = threading.Thread(target=self._beat, args=(interval, stop), daemon=True,
                                  name=f"chatdock-heartbeat-{self.session_id}")
        self._heartbeat = (thread, stop)
        thread.start()

    def stop_heartbeat(self) -> None:
        """Stop the heartbeat timer (no-op when it is not running)."""
        if self._heartbeat is not None:
            self._heartbeat[1].set()
            self._heartbeat = None

    def _beat(self, interval: float, stop: threading.Event) -> None:
        while not stop.is_set() and not self._closed:
            try:
                self.heartbeat()
            except ChatError as err:
                log.warning("heartbeat failed: %s", err)
            if stop.wait(interval):
                return

    # ---------- realtime -----------------------------------------------------

    def connect(self, wait: bool = True, timeout: float = 10.0) -> None:
        """Start realtime (idempotent). With `wait`, block until subscribed and caught up,
        or raise (AuthError when refused, ChatConnectionError on timeout)."""
        with self._lock:
            if self._closed:
                raise ChatError("The session is closed.", code="session_closed")
            if self._realtime is None:
                self._realtime = self._new_realtime()
                self._realtime.start()
            realtime = self._realtime
        if wait:
            realtime.wait_connected(timeout)

    def on(self, callback: Listener) -> Callable[[], None]:
        """Call `callback(event)` for every event; return a function that unsubscribes.

        Callbacks run on the session's event thread (not the caller's): a UI must hop
        to its own loop (Flet: `page.run_task`). Starts realtime if needed.
        """
        remove = self._add_listener(callback)
        self.connect(wait=False)
        return remove

    def events(self) -> _EventIterator:
        """A blocking iterator over events; it ends when the session closes.
        Starts realtime if needed."""
        iterator = _EventIterator(self)
        self.connect(wait=False)
        return iterator

    def _add_listener(self, callback: Listener, on_end: Callable[[], None] | None = None
                      ) -> Callable[[], None]:
        if self._closed:
            raise ChatError("The session is closed.", code="session_closed")
        return self._dispatcher.add(callback, on_end)

    def _new_realtime(self) -> RealtimeConnection:
        return RealtimeConnection(
            self._details.realtime, authorize=self._authorize, on_event=self._on_channel_event,
            on_subscribed=self._catch_up, on_state=self._dispatcher.put,
            options=self._client.realtime_options, version=VERSION,
            name=f"chatdock-realtime-{self.session_id}")

    def _authorize(self, socket_id: str, channel: str) -> str:
        body = self._client.call("POST", self._details.realtime.auth_endpoint,
                                 session_token=self._details.session_token,
                                 data={"socket_id": socket_id, "channel_name": channel})
        auth = body.get("auth")
        if not isinstance(auth, str):
            raise ProtocolError("The auth endpoint answered without an auth signature.")
        return auth

    def _on_channel_event(self, name: str, data: Any) -> None:
        try:
            event = decode_event(name, data)
        except (KeyError, TypeError, ValueError) as exc:
            log.warning("dropping a malformed %s event: %r", name, exc)
            return
        if isinstance(event, MessageCreated):
            self._deliver([event.message], advance=True)
        elif event is not None:
            self._dispatcher.put(event)

    def _deliver(self, messages: list[ChatMessage], *, advance: bool) -> None:
        """Hand messages not seen before to listeners, oldest first (the one dedupe path).

        `advance` moves the watermark: only for sources that leave no gap below them
        (the socket, catch-up), not for send results.
        """
        with self._lock:
            fresh = sorted({m.id: m for m in messages if m.id not in self._seen}.values(),
                           key=lambda m: m.id)
            self._seen.update(m.id for m in fresh)
            if advance and messages:
                self._mark = max(self._mark or 0, *(m.id for m in messages))
            for message in fresh:
                self._dispatcher.put(MessageCreated(message))

    def _catch_up(self) -> None:
        """After every subscribe: deliver what was written while we were not listening.

        The first time, with nothing seen, only note the newest id: the consumer loads
        history itself. Runs on the reader thread, before "connected" is announced.
        """
        with self._lock:
            floor = self._mark
            if self._origin is None:
                self._origin = floor
        if floor is None:
            page = self._fetch_page(None, 1)
            with self._lock:
                newest = page.messages[0].id if page.messages else 0
                self._mark = self._origin = max(self._mark or 0, newest)
            return
        # Page back to the watermark, delivering every unseen message newer than the origin:
        # also ids below the watermark whose event never came (a process killed between
        # commit and publish, found by bench/chaos.py): the newest page is read whole.
        missed: list[ChatMessage] = []
        cursor: str | None = None
        while True:
            page = self._fetch_page(cursor, CATCH_UP_PAGE)
            with self._lock:
                origin = self._origin or 0
                missed += [m for m in page.messages if m.id > origin and m.id not in self._seen]
            if page.next_cursor is None or any(m.id <= floor for m in page.messages):
                break
            cursor = page.next_cursor
        self._deliver(missed, advance=True)
        if missed:
            log.info("caught up %d message(s) after subscribing", len(missed))

    # ---------- lifecycle ----------------------------------------------------

    def close(self) -> None:
        """Stop heartbeat and realtime and end event iterators. Idempotent. The conversation
        stays open on the server: start_session with the same visitor_id resumes it."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            realtime, self._realtime = self._realtime, None
        self.stop_heartbeat()
        if realtime is not None:
            realtime.close()
        self._dispatcher.close()

