"""The Pusher protocol 7 socket at /app/{app_key} (what pusher-js and Tickki's SDK speak)."""

from __future__ import annotations

import json
import re
import secrets
import time
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
    max_message_bytes: int
    max_channels: int
    subscribes_per_second: float


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


class SubscribeBudget:
    """A token bucket per socket: `burst` subscribes at once (a reconnecting client
    resubscribes everything it held), then `rate` a second."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, max(burst, 1)
        self.tokens, self.at = float(self.burst), time.monotonic()

    def take(self) -> bool:
        """Spend one subscribe if the budget allows it."""
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


class PusherSession:
    """Runs one client connection from handshake to close."""

    def __init__(self, sock: Any, ws: Any, hub: Hub, settings: SocketSettings,
                 route: ChannelRoute) -> None:
        self.hub = hub
        self.settings = settings
        self.route = route
        self.conn = Connection(sock, ws, new_socket_id(), settings.queue_frames,
                               settings.max_message_bytes)
        self.budget = SubscribeBudget(settings.subscribes_per_second, settings.max_channels)

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
                if not self.conn.closing:
                    self._handle(raw)

    def _handle(self, raw: str) -> None:
        """Answer one client message; JSON nested deeper than Python can parse or re-encode
        is malformed like any other: pusher:error, and the socket stays open."""
        try:
            parsed = self._parse(raw)
            if parsed is not None:
                self._dispatch(*parsed)
        except RecursionError:
            self._invalid()

    def _parse(self, raw: str) -> tuple[dict[str, Any], Any, Any] | None:
        try:
            frame = json.loads(raw)
            event = frame["event"]
        except (ValueError, TypeError, KeyError):
            self._invalid()
            return None
        data = frame.get("data")
        if isinstance(data, str):
            try:
                data = json.loads(data)
            except ValueError:
                pass
        return frame, event, data

    def _invalid(self) -> None:
        self.conn.send_event("pusher:error", {"code": None, "message": "Invalid message format"})

    def _dispatch(self, frame: dict[str, Any], event: Any, data: Any) -> None:
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
        refusal = self._refusal(channel)
        if refusal is not None:
            self._sub_error(channel, *refusal)
            return
        channel_data = data.get("channel_data")
        channel_data = None if channel_data is None else str(channel_data)
        expected = f"{self.settings.app_key}:" + channel_signature(
            self.settings.app_secret, self.conn.socket_id, channel, channel_data)
        if not same(str(data.get("auth", "")), expected):
            self._sub_error(channel, 401, "AuthError", "Invalid signature")
            return
        route = self.route(channel, channel_data)
        if route is None:
            self._sub_error(channel, 403, "AuthError", "This channel is no longer available")
            return
        self.hub.subscribe(self.conn, channel, route)
        self.conn.send_event("pusher_internal:subscription_succeeded", {}, channel)

    def _refusal(self, channel: str) -> tuple[int, str, str] | None:
        """What refuses this subscribe before any signature check or database read."""
        if not self.budget.take():
            return 429, "LimitReached", (f"Too many subscribes: at most "
                                         f"{self.settings.subscribes_per_second:g} a second")
        if not CHANNEL_RE.fullmatch(channel):
            return 400, "AuthError", "Invalid channel name"
        if channel.startswith("presence-"):
            return 403, "AuthError", "Presence channels are not offered by chatdock"
        if not channel.startswith("private-"):
            return 403, "AuthError", "Public channels are not offered by chatdock: nothing " \
                                     "is published on them"
        if channel not in self.conn.channels \
                and len(self.conn.channels) >= self.settings.max_channels:
            return 403, "LimitReached", (f"Too many channels: at most "
                                         f"{self.settings.max_channels} on one connection")
        return None

    def _sub_error(self, channel: str, status: int, kind: str, message: str) -> None:
        # Channel-scoped, as pusher-js expects; a connection-level 4009 would leave it hanging.
        self.conn.send_event("pusher:subscription_error",
                             {"type": kind, "error": message, "status": status}, channel)

    def _client_event(self, event: str, channel: Any, data: Any) -> None:
        if not isinstance(channel, str) or not channel.startswith("private-") \
                or channel not in self.conn.channels:
            self.conn.send_event("pusher:error", {
                "code": 4301, "message": "Client events need a private channel you joined"})
            return
        payload = data if isinstance(data, str) else json.dumps(data)
        topic = self.conn.channels[channel].topics[0]
        self.hub.deliver(topic, event, payload, exclude=self.conn, only_channel=channel)
