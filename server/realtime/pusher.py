"""The Pusher protocol 7 socket at /app/{app_key} (what pusher-js and Tickki's SDK speak)."""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from server.channels import Route
from server.realtime.hub import ClientGone, Connection, Hub
from server.security import channel_signature, same

CHANNEL_RE = re.compile(r"[-a-zA-Z0-9_=@,.;]{1,200}")
SUPPORTED_PROTOCOLS = range(5, 8)


@dataclass(frozen=True)
class SocketSettings:
    app_key: str
    app_secret: str
    activity_timeout: int
    pong_grace: int
    queue_frames: int


# For a private channel and its signed channel_data: where its events come from,
# or None when the channel's resource is gone (revoked session or key, erased contact).
ChannelRoute = Callable[[str, "str | None"], "Route | None"]


def new_socket_id() -> str:
    """Return a Pusher socket id (two integers, as client libraries require)."""
    return f"{secrets.randbelow(10**9)}.{secrets.randbelow(10**9)}"


def protocol_error(query: dict[str, str]) -> tuple[int, str] | None:
    """Check the ?protocol= parameter the way Pusher does."""
    raw = query.get("protocol")
    if raw is None:
        return 4008, "No protocol version supplied"
    if not raw.isdigit():
        return 4006, "Invalid version string format"
    if int(raw) not in SUPPORTED_PROTOCOLS:
        return 4007, "Unsupported protocol version"
    return None


class PusherSession:
    """Runs one client connection from handshake to close."""

    def __init__(self, sock: Any, ws: Any, hub: Hub, settings: SocketSettings,
                 route: ChannelRoute) -> None:
        self.hub = hub
        self.settings = settings
        self.route = route
        self.conn = Connection(sock, ws, new_socket_id(), settings.queue_frames)

    def run(self, app_key: str, query: dict[str, str]) -> None:
        """Handshake, then handle frames until the client leaves or is closed."""
        refusal = None
        if not same(app_key, self.settings.app_key):
            refusal = (4001, f"App key {app_key[:40]} not in this cluster")
        refusal = refusal or protocol_error(query)
        self.hub.add(self.conn)
        try:
            if refusal:
                self.conn.close(*refusal)
            else:
                self.conn.send_event("pusher:connection_established", {
                    "socket_id": self.conn.socket_id,
                    "activity_timeout": self.settings.activity_timeout})
            self._loop()
        except ClientGone:
            pass
        finally:
            self.hub.remove(self.conn)
            self.conn.abort()

    def _loop(self) -> None:
        pinged = False
        while True:
            timeout = self.settings.pong_grace if pinged else self.settings.activity_timeout
            messages = self.conn.receive(timeout)
            if messages is None:  # silence
                if self.conn.closed:
                    return
                if pinged:
                    self.conn.close(4201, "Pong reply not received")
                    continue  # the client may still answer the close
                self.conn.send_event("pusher:ping", {})
                pinged = True
                continue
            pinged = False  # any frame from the client counts as activity
            for raw in messages:
                if not self.conn.closed:
                    self._handle(raw)

    def _handle(self, raw: str | bytes) -> None:
        try:
            frame = json.loads(raw)
            event = frame["event"]
        except (ValueError, TypeError, KeyError):
            self.conn.send_event("pusher:error",
                                 {"code": None, "message": "Invalid message format"})
            return
        data = frame.get("data")
        if isinstance(data, str):
            try:
                data = json.loads(data)
            except ValueError:
                pass
        if event == "pusher:ping":
            self.conn.send_event("pusher:pong", {})
        elif event == "pusher:subscribe" and isinstance(data, dict):
            self._subscribe(data)
        elif event == "pusher:unsubscribe" and isinstance(data, dict):
            self.hub.unsubscribe(self.conn, str(data.get("channel", "")))
        elif isinstance(event, str) and event.startswith("client-"):
            self._client_event(event, frame.get("channel"), frame.get("data"))

    def _subscribe(self, data: dict[str, Any]) -> None:
        channel = str(data.get("channel", ""))
        if not CHANNEL_RE.fullmatch(channel):
            self._sub_error(channel, 400, "Invalid channel name")
            return
        route = Route((channel,))  # a public channel is its own topic
        if channel.startswith("presence-"):
            self._sub_error(channel, 403, "Presence channels are not offered by chatdock")
            return
        if channel.startswith("private-"):
            channel_data = data.get("channel_data")
            channel_data = None if channel_data is None else str(channel_data)
            expected = f"{self.settings.app_key}:" + channel_signature(
                self.settings.app_secret, self.conn.socket_id, channel, channel_data)
            if not same(str(data.get("auth", "")), expected):
                self._sub_error(channel, 401, "Invalid signature")
                return
            found = self.route(channel, channel_data)
            if found is None:
                self._sub_error(channel, 403, "This channel is no longer available")
                return
            route = found
        self.hub.subscribe(self.conn, channel, route)
        self.conn.send_event("pusher_internal:subscription_succeeded", {}, channel)

    def _sub_error(self, channel: str, status: int, message: str) -> None:
        # Channel-scoped, as pusher-js expects; a connection-level 4009 would leave it hanging.
        self.conn.send_event("pusher:subscription_error",
                             {"type": "AuthError", "error": message, "status": status}, channel)

    def _client_event(self, event: str, channel: Any, data: Any) -> None:
        if not isinstance(channel, str) or not channel.startswith("private-") \
                or channel not in self.conn.channels:
            self.conn.send_event("pusher:error", {
                "code": 4301, "message": "Client events need a private channel you joined"})
            return
        payload = data if isinstance(data, str) else json.dumps(data)
        topic = self.conn.channels[channel].topics[0]
        self.hub.deliver(topic, event, payload, exclude=self.conn, only_channel=channel)
