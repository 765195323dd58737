"""The hub: which local sockets listen on which channel, and fan-out to them.

Every write to a socket goes through its bounded queue and one writer
thread (a greenlet under gevent), so a slow client never blocks the
publisher and frames are never interleaved. A client whose queue overflows
is dropped.
"""

from __future__ import annotations

import json
import logging
import queue
import socket
import threading
from typing import Any

from wsproto.events import TextMessage

log = logging.getLogger("chatdock.realtime")

_STOP = object()


class Connection:
    """One client socket: its subscriptions, its outgoing queue and writer."""

    def __init__(self, ws: Any, socket_id: str, queue_frames: int) -> None:
        self.ws = ws
        self.socket_id = socket_id
        # channel -> (hub topic, id of the key that authorized it)
        self.channels: dict[str, tuple[str, int | None]] = {}
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=queue_frames)
        self._writer = threading.Thread(target=self._write_loop, daemon=True,
                                        name=f"ws-writer-{socket_id}")
        self._writer.start()

    def push(self, frame: str) -> None:
        """Queue a frame; drop the client if it cannot keep up."""
        try:
            self._queue.put_nowait(frame)
        except queue.Full:
            log.warning("dropping slow socket %s", self.socket_id)
            self.abort()

    def send_event(self, event: str, data: Any, channel: str | None = None) -> None:
        """Queue a Pusher frame; data is JSON-encoded into a string as the protocol wants."""
        frame: dict[str, Any] = {"event": event, "data": json.dumps(data)}
        if channel is not None:
            frame["channel"] = channel
        self.push(json.dumps(frame))

    def close(self, code: int, reason: str) -> None:
        """Send pusher:error then close with the same code, after what is queued."""
        self.send_event("pusher:error", {"code": code, "message": reason})
        self._put_control(("close", code, reason))

    def finish(self, timeout: float = 5.0) -> None:
        """Stop the writer once what is queued is written."""
        self._put_control(_STOP)
        self._writer.join(timeout)

    def abort(self) -> None:
        """Cut the TCP connection now (safe from any thread)."""
        try:
            self.ws.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.ws.event.set()

    def _put_control(self, item: Any) -> None:
        try:
            self._queue.put(item, timeout=1)
        except queue.Full:
            self.abort()

    def _write_loop(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            try:
                if isinstance(item, tuple):
                    _, code, reason = item
                    self.ws.close(reason=code, message=reason)
                    self.ws.event.set()  # close() alone does not wake receive()
                    return
                # sendall, not simple-websocket's send(): a partial send would corrupt the stream
                self.ws.sock.sendall(self.ws.ws.send(TextMessage(data=item)))
            except Exception:  # noqa: BLE001 - any failure means the client is gone
                log.debug("socket %s write failed", self.socket_id, exc_info=True)
                self.abort()
                return


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

    def subscribe(self, conn: Connection, channel: str, topic: str, key_id: int | None) -> None:
        with self._lock:
            conn.channels[channel] = (topic, key_id)
            self._topics.setdefault(topic, set()).add((conn, channel))

    def unsubscribe(self, conn: Connection, channel: str) -> None:
        with self._lock:
            topic, _ = conn.channels.pop(channel, (None, None))
            members = self._topics.get(topic) if topic is not None else None
            if members is not None:
                members.discard((conn, channel))
                if not members:
                    del self._topics[topic]  # type: ignore[arg-type]

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

    def kick_keys(self, key_ids: set[int]) -> None:
        """Close every socket holding a subscription authorized by a revoked key."""
        with self._lock:
            doomed = [c for c in self.connections
                      if any(key_id in key_ids for _, key_id in c.channels.values())]
        for conn in doomed:
            conn.close(4009, "The credential for this subscription was revoked.")

    def close_all(self, code: int, reason: str) -> None:
        """Close every local socket (graceful shutdown uses 4200: reconnect now)."""
        with self._lock:
            conns = list(self.connections)
        for conn in conns:
            conn.close(code, reason)
