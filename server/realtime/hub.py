"""The hub: which local sockets listen on which topic, and fan-out to them.

One greenlet per socket (its handler) reads; writes are queued on the
connection and drained by a writer that exists only while frames are pending,
so an idle socket costs one greenlet. A single drainer encodes and writes, so
frames never interleave, and it uses sendall (a partial send would corrupt the
stream). A client whose queue overflows is closed (4100: pusher-js backs off,
reconnects and catches up); publishers never block. The reader refuses a message
larger than its bound as soon as the part received passes it (4301), so a client
cannot make the server hold more than that bound for it.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

from wsproto.connection import Connection as WSConnection
from wsproto.events import BytesMessage, CloseConnection, Event, Ping, TextMessage
from wsproto.utilities import LocalProtocolError

from server.channels import Route

log = logging.getLogger("chatdock.realtime")
# Seconds a client we close has to take the close frame before the cut.
CLOSE_GRACE_SECONDS = 5.0


def spawn(fn: Callable[[], None]) -> None:
    """Run fn concurrently: a greenlet under gevent, a daemon thread otherwise."""
    try:
        from gevent import spawn_raw
        from gevent.monkey import is_module_patched
        if is_module_patched("threading"):
            # a raw greenlet: no Greenlet object, no spawn-tree state left on the spawner
            spawn_raw(fn)
            return
    except ImportError:  # pragma: no cover - gevent is a dependency
        pass
    threading.Thread(target=fn, daemon=True).start()


class ClientGone(Exception):
    """The client closed the connection or the socket broke."""


class Connection:
    """One client socket: its subscriptions, its wsproto state, its outgoing queue."""

    def __init__(self, sock: socket.socket, ws: WSConnection, socket_id: str,
                 max_frames: int, max_message_bytes: int) -> None:
        self.sock = sock
        self.ws = ws
        self.socket_id = socket_id
        self.channels: dict[str, Route] = {}
        self._out: deque[Event] = deque()
        self._max = max_frames
        self._lock = threading.Lock()
        self._writing = False
        self._partial: list[str] = []
        self._partial_bytes = 0
        self._max_bytes = max_message_bytes
        self.closing = False  # our close frame is queued: nothing else is sent or read
        self.closed = False
        self._shut = threading.Event()  # set with closed: the close frame is out, or cut

    # ---------- writing -----------------------------------------------------

    def push(self, frame: str) -> None:
        """Queue a text frame; drop the client if it cannot keep up."""
        self._enqueue(TextMessage(data=frame))

    def send_event(self, event: str, data: Any, channel: str | None = None) -> None:
        """Queue a Pusher frame; data is JSON-encoded into a string as the protocol wants."""
        frame: dict[str, Any] = {"event": event, "data": json.dumps(data)}
        if channel is not None:
            frame["channel"] = channel
        self.push(json.dumps(frame))

    def close(self, code: int, reason: str, *, drop_queued: bool = False) -> None:
        """Send pusher:error then close with the same code, once: after what is queued, or
        instead of it (drop_queued)."""
        error = json.dumps({"event": "pusher:error",
                            "data": json.dumps({"code": code, "message": reason})})
        with self._lock:
            if self.closed or self.closing:
                return
            self.closing = True
            if drop_queued:
                self._out.clear()
            self._out.extend((TextMessage(data=error), CloseConnection(code=code, reason=reason)))
            start_writer, self._writing = not self._writing, True
        if start_writer:
            spawn(self._drain)

    def abort(self) -> None:
        """Cut the TCP connection now (safe from any thread); the reader sees ClientGone."""
        self._shutdown(socket.SHUT_RDWR)

    def _shutdown(self, how: int) -> None:
        self.closed = True
        self._shut.set()
        try:
            self.sock.shutdown(how)
        except OSError:
            pass

    def _enqueue(self, event: Event, control: bool = False) -> None:
        with self._lock:
            if self.closed or self.closing:
                return
            overflow = len(self._out) >= self._max and not control
            if not overflow:
                self._out.append(event)
                start_writer, self._writing = not self._writing, True
        if overflow:
            self._overflow()
        elif start_writer:
            spawn(self._drain)

    def _overflow(self) -> None:
        # The queued frames would arrive too late anyway: the client catches up from history.
        log.warning("closing slow socket %s (4100)", self.socket_id)
        self.close(4100, "Over capacity: the client did not read its events in time",
                   drop_queued=True)
        spawn(self._abort_after_grace)  # a client that reads nothing never takes the close

    def _abort_after_grace(self) -> None:
        time.sleep(CLOSE_GRACE_SECONDS)
        self.abort()

    def _drain(self) -> None:
        while True:
            with self._lock:  # one encoder: wsproto's state is shared with the reader
                if not self._out or self.closed:
                    self._writing = False
                    return
                event = self._out.popleft()
                try:
                    data = self.ws.send(event)
                except LocalProtocolError:  # wsproto refuses: the connection is over
                    self.abort()
                    continue
            try:
                self.sock.sendall(data)
            except OSError:
                self.abort()
                continue
            if isinstance(event, CloseConnection):
                # our close frame is out: stop writing; the reader ends when the client hangs up
                self._shutdown(socket.SHUT_WR)

    # ---------- reading -----------------------------------------------------

    def receive(self, timeout: float) -> Iterator[str] | None:
        """Wait up to timeout for data; None on timeout, else the complete text messages."""
        if self.closing and not self._shut.wait(CLOSE_GRACE_SECONDS):
            # Let our close frame out before reading on (recv never waits while a client
            # streams a huge message, so reading would starve the writer); cut if it can't go.
            self.abort()
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(4096)
        except TimeoutError:
            return None
        except OSError:
            raise ClientGone() from None
        if not data or self.closed:
            raise ClientGone()
        with self._lock:
            self.ws.receive_data(data)
            events = list(self.ws.events())
        return self._messages(events)

    def _messages(self, events: list[Event]) -> Iterator[str]:
        for event in events:
            if isinstance(event, (TextMessage, BytesMessage)):
                if self._fits(event) and isinstance(event, TextMessage):  # Pusher is text-only
                    self._partial.append(event.data)
                    if event.message_finished:
                        yield "".join(self._partial)
                if event.message_finished:
                    self._partial.clear()
                    self._partial_bytes = 0
            elif isinstance(event, Ping):
                self._enqueue(event.response(), control=True)
            elif isinstance(event, CloseConnection):
                self._enqueue(event.response(), control=True)
                raise ClientGone()

    def _fits(self, event: TextMessage | BytesMessage) -> bool:
        """Count this part of a message; close the socket once the message passes the bound."""
        if self.closing:
            return False
        data = event.data
        self._partial_bytes += len(data.encode() if isinstance(data, str) else data)
        if self._partial_bytes <= self._max_bytes:
            return True
        self._partial.clear()
        self.close(4301, f"Message too large: the limit is {self._max_bytes} bytes")
        return False


class Hub:
    """Topic -> local (connection, channel) pairs, and the fan-out of one event to them.

    Events are published to topics: a conversation's topic reaches the session
    channels of all its visitor's devices; other channels are their own topic.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._topics: dict[str, set[tuple[Connection, str]]] = {}
        self.connections: set[Connection] = set()

    def add(self, conn: Connection) -> None:
        with self._lock:
            self.connections.add(conn)

    def subscribe(self, conn: Connection, channel: str, route: Route) -> None:
        with self._lock:
            conn.channels[channel] = route
            for topic in route.topics:
                self._topics.setdefault(topic, set()).add((conn, channel))

    def unsubscribe(self, conn: Connection, channel: str) -> None:
        with self._lock:
            route = conn.channels.pop(channel, None)
            for topic in route.topics if route is not None else ():
                members = self._topics.get(topic)
                if members is not None:
                    members.discard((conn, channel))
                    if not members:
                        del self._topics[topic]

    def remove(self, conn: Connection) -> None:
        for channel in list(conn.channels):
            self.unsubscribe(conn, channel)
        with self._lock:
            self.connections.discard(conn)

    def deliver(self, topic: str, event: str, data: str, exclude: Connection | None = None,
                only_channel: str | None = None) -> int:
        """Send an already JSON-encoded payload to the topic's local subscribers; count them."""
        with self._lock:
            members = list(self._topics.get(topic, ()))
        if not members:
            return 0
        head = '{"event":' + json.dumps(event) + ',"data":' + json.dumps(data) + ',"channel":'
        for conn, channel in members:
            if conn is not exclude and only_channel in (None, channel):
                conn.push(head + json.dumps(channel) + "}")
        return len(members)

    def channels_by_topic(self) -> dict[str, set[str]]:
        """Every topic with local subscribers, and their channels."""
        with self._lock:
            return {topic: {channel for _, channel in members}
                    for topic, members in self._topics.items()}

    def kick(self, key_ids: set[int], session_ids: set[int],
             user_ids: set[int] | None = None, client_ids: set[int] | None = None) -> None:
        """Close every socket holding a subscription through a revoked key, session or OAuth2
        client, or of a deactivated agent."""
        users, clients = user_ids or set(), client_ids or set()
        with self._lock:
            doomed = [c for c in self.connections
                      if any(r.key_id in key_ids or r.session_id in session_ids
                             or r.user_id in users or r.client_id in clients
                             for r in c.channels.values())]
        for conn in doomed:
            conn.close(4009, "The credential for this subscription was revoked.")

    def agents_here(self) -> set[int]:
        """Users holding a business-channel subscription on this process."""
        with self._lock:
            return {r.user_id for c in self.connections for r in c.channels.values()
                    if r.user_id is not None}

    def close_all(self, code: int, reason: str) -> None:
        """Close every local socket (graceful shutdown uses 4200: reconnect now)."""
        with self._lock:
            conns = list(self.connections)
        for conn in conns:
            conn.close(code, reason)
