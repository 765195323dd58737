"""The synchronous client: ChatClient (the business's publishable key) and ChatSession (one
visitor conversation: REST calls, heartbeat, realtime events with catch-up and dedupe).

Threading: HTTP calls run on the caller's thread. Realtime runs on one reader thread per
session; listeners (`on`, `events`) are called on the session's event thread, one event
at a time and in order, never on the caller's or the UI's thread.
"""

from __future__ import annotations

import logging
import threading
import uuid
import weakref
from collections.abc import Callable
from dataclasses import replace
from types import TracebackType
from typing import Any

import httpx

from app_flet.headless.analytics import Analytics, AnalyticsOptions
from app_flet.headless.api import VERSION, ApiClient, Uploadable, parse, present
from app_flet.headless.errors import ChatError
from app_flet.headless.events import (
    Dispatcher,
    EventIterator,
    Listener,
    MessageLedger,
    dispatch_channel_event,
)
from app_flet.headless.models import (
    ChatConfig,
    ChatMessage,
    Contact,
    Event,
    MessagePage,
    SessionDetails,
    decode_event,
)
from app_flet.headless.realtime import RealtimeConnection, RealtimeOptions

__all__ = ["VERSION", "ChatClient", "ChatSession", "Listener"]

log = logging.getLogger("chatdock.client")

CATCH_UP_PAGE = 100


class ChatClient(ApiClient):
    """A business's visitor-side client: configuration and sessions, over one httpx.Client.

    `transport` replaces the network (e.g. `httpx.WSGITransport(app=flask_app)` in tests);
    realtime still needs a real socket. `realtime_options` tunes reconnect timing,
    `analytics_options` the `track` buffer's flushing.
    """

    def __init__(self, publishable_key: str, base_url: str, *, bundle_id: str | None = None,
                 timeout: float = 10.0, transport: httpx.BaseTransport | None = None,
                 realtime_options: RealtimeOptions | None = None,
                 analytics_options: AnalyticsOptions | None = None) -> None:
        super().__init__(base_url, publishable_key, timeout=timeout, transport=transport,
                         headers={"X-Tickki-Bundle-Id": bundle_id} if bundle_id else None)
        self.realtime_options = realtime_options or RealtimeOptions()
        self._sessions: weakref.WeakSet[ChatSession] = weakref.WeakSet()
        self._config: tuple[str, ChatConfig] | None = None
        self._analytics = Analytics(self._post_events, analytics_options or AnalyticsOptions())

    def __repr__(self) -> str:
        return f"ChatClient(base_url={self.base_url!r})"

    def close(self) -> None:
        """Flush the analytics buffer, close every session of this client, then the HTTP
        client. Idempotent."""
        if self._closed:
            return
        self._analytics.close()
        for session in list(self._sessions):
            session.close()
        super().close()

    # ---------- the API ----------------------------------------------------

    def fetch_config(self) -> ChatConfig:
        """Fetch branding, features, limits and presence (revalidated with the ETag)."""
        cached = self._config
        headers = {"If-None-Match": cached[0]} if cached else None
        response = self.request("GET", "chat/config", headers=headers, retries=1)
        if response.status_code == 304 and cached:
            return cached[1]
        body = parse(lambda r: r.json(), response)
        config = parse(ChatConfig.from_json, body.get("data") if isinstance(body, dict) else None)
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
        body = self.call("POST", "chat/sessions",
                         json={"visitor_id": visitor_id, **present(name=name, email=email,
                                                                   phone=phone),
                               **present(identity_hash=identity_hash,
                                         identity_ts=identity_ts)})
        session = ChatSession(self, parse(SessionDetails.from_json, body.get("data")))
        self._sessions.add(session)
        self.set_visitor_id(session.visitor_id)
        return session

    # ---------- analytics (the Tickki SDK's TickkiAnalytics) ----------------

    def set_visitor_id(self, visitor_id: str | None) -> None:
        """Whose events `track` records (start_session sets it); None pauses delivery."""
        self._analytics.visitor_id = visitor_id

    def track(self, type: str, *, title: str | None = None, url: str | None = None,
              element_label: str | None = None, element_type: str | None = None,
              element_key: str | None = None, value: float | str | None = None,
              meta: dict[str, Any] | None = None) -> None:
        """Buffer an analytics event (sent within `interval` seconds, at once at
        `buffer_limit` events, or by `flush`); dropped while no visitor id is set."""
        self._analytics.track(type, title=title, url=url, element_label=element_label,
                              element_type=element_type, element_key=element_key,
                              value=value, meta=meta or None)

    def flush(self) -> int:
        """Send the buffered events now; return how many the server accepted."""
        return self._analytics.flush()

    @property
    def pending_events(self) -> int:
        """How many tracked events wait to be sent."""
        return self._analytics.pending

    def _post_events(self, visitor_id: str, events: list[dict[str, Any]]) -> int:
        body = self.call("POST", "chat/events", json={"visitor_id": visitor_id,
                                                      "events": events})
        return parse(lambda d: int(d["accepted"]), body.get("data"))


class ChatSession:
    """One visitor conversation. Create it with `ChatClient.start_session`."""

    def __init__(self, client: ChatClient, details: SessionDetails) -> None:
        self._client = client
        self._details = details
        self._base = f"chat/sessions/{details.conversation_id}"
        self._lock = threading.RLock()
        self._origin: int | None = None  # the watermark at the first subscribe: older is history
        self._dispatcher: Dispatcher[Event] = Dispatcher(f"chatdock-events-{details.session_id}")
        self._ledger = MessageLedger(self._lock, self._dispatcher.put)
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
        message = parse(ChatMessage.from_json, body.get("data"))
        self._ledger.deliver([message], advance=False)
        return message

    def upload(self, path_or_bytes: Uploadable, file_name: str | None = None) -> ChatMessage:
        """Send a file (a path, or bytes named by file_name) as an `attachment` message; the
        server sniffs its type. Returns the message; `.attachments[0].signed_url` links to
        the file for 60 minutes. Too large: PayloadTooLargeError; a refused type:
        ValidationError with code unsupported_media_type."""
        if self._closed:
            raise ChatError("The session is closed.", code="session_closed")
        body = self._client.upload_form(self._base + "/attachments", path_or_bytes, file_name,
                                   session_token=self._details.session_token)
        message = parse(lambda d: ChatMessage.from_json(d["message"]), body.get("data"))
        self._ledger.deliver([message], advance=False)
        return message

    def identify(self, name: str | None = None, email: str | None = None,
                 phone: str | None = None) -> Contact:
        """Update the contact behind this session; return it as this session knows it.

        A verified session gets the contact as stored; an unverified one only what it sent
        (the server never echoes stored email or phone to it), merged here with what this
        session sent before."""
        body = self._call("POST", "/identify", json=present(name=name, email=email, phone=phone))
        contact = parse(Contact.from_json, body.get("data"))
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
            self._ledger.seen.update(m.id for m in page.messages)
            if cursor is None and page.messages:  # the newest page: nothing newer exists
                self._ledger.mark = max(self._ledger.mark or 0, page.messages[0].id)
        return page

    def _fetch_page(self, cursor: str | None, limit: int) -> MessagePage:
        params = {"limit": str(limit), **({"cursor": cursor} if cursor else {})}
        return parse(MessagePage.from_json, self._call("GET", "/messages", params=params))

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

    def events(self) -> EventIterator[Event]:
        """A blocking iterator over events; it ends when the session closes.
        Starts realtime if needed."""
        iterator: EventIterator[Event] = EventIterator(self._add_listener)
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

    def _authorize(self, socket_id: str, channel: str) -> dict[str, str]:
        return self._client.authorize_channel(self._details.realtime.auth_endpoint, socket_id,
                                              channel, self._details.session_token)

    def _on_channel_event(self, name: str, data: Any) -> None:
        dispatch_channel_event(decode_event, name, data, self._ledger, self._dispatcher.put)

    def _catch_up(self) -> None:
        """After every subscribe: deliver what was written while we were not listening.

        The first time, with nothing seen, only note the newest id: the consumer loads
        history itself. Runs on the reader thread, before "connected" is announced.
        """
        with self._lock:
            floor = self._ledger.mark
            if self._origin is None:
                self._origin = floor
        if floor is None:
            page = self._fetch_page(None, 1)
            with self._lock:
                newest = page.messages[0].id if page.messages else 0
                self._ledger.mark = self._origin = max(self._ledger.mark or 0, newest)
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
                missed += [m for m in page.messages
                           if m.id > origin and m.id not in self._ledger.seen]
            if page.next_cursor is None or any(m.id <= floor for m in page.messages):
                break
            cursor = page.next_cursor
        if delivered := self._ledger.deliver(missed, advance=True):
            log.info("caught up %d message(s) after subscribing", delivered)

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

