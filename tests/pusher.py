"""A minimal Pusher-protocol test client over the `websockets` sync client."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.conftest import auth

# what the realtime watcher sends each newly subscribed visitor channel once, on its own clock
WATCHER_EVENTS = frozenset({"PresenceUpdated", "AvailabilityUpdated"})


class PusherTestClient:
    """Connects, answers nothing on its own, and lets a test read decoded frames."""

    def __init__(self, ws_url: str) -> None:
        self.ws = connect(ws_url, compression=None, open_timeout=5, legacy=True)
        self.closed_with: int | None = None
        self.frames: list[dict[str, Any]] = []
        self._socket_id: str | None = None

    @classmethod
    def for_session(cls, started: dict[str, Any]) -> PusherTestClient:
        rt = started["realtime"]
        scheme = "wss" if rt["scheme"] == "https" else "ws"
        return cls(f"{scheme}://{rt['host']}:{rt['port']}/app/{rt['key']}"
                   "?protocol=7&client=python-test&version=1.0")

    def recv(self, timeout: float = 5.0) -> dict[str, Any] | None:
        """Return the next frame with its data decoded, or None on timeout."""
        try:
            raw = self.ws.recv(timeout=max(timeout, 0))
        except TimeoutError:
            return None
        except ConnectionClosed as closed:
            self.closed_with = closed.rcvd.code if closed.rcvd else None
            raise
        frame = json.loads(raw)
        if isinstance(frame.get("data"), str):
            frame["data_raw"] = frame["data"]
            try:
                frame["data"] = json.loads(frame["data"])
            except ValueError:
                pass
        self.frames.append(frame)
        return frame

    def expect(self, event: str, timeout: float = 5.0) -> dict[str, Any]:
        """Read frames until one named event arrives."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            frame = self.recv(deadline - time.monotonic())
            if frame is not None and frame["event"] == event:
                return frame
        raise AssertionError(f"no {event} within {timeout}s; got {self.frames}")

    def quiet(self, timeout: float) -> bool:
        """Whether nothing arrives within timeout but what the watcher sends every newly
        subscribed visitor channel on its own 2 s clock (WATCHER_EVENTS)."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            frame = self.recv(left)
            if frame is not None and frame["event"] not in WATCHER_EVENTS:
                return False
        return True

    def socket_id(self) -> str:
        """The socket id from the handshake (read once, then remembered)."""
        if self._socket_id is None:
            frame = self.expect("pusher:connection_established")
            self._socket_id = str(frame["data"]["socket_id"])
        return self._socket_id

    def send(self, event: str, data: Any, channel: str | None = None) -> None:
        frame: dict[str, Any] = {"event": event, "data": data}
        if channel:
            frame["channel"] = channel
        self.ws.send(json.dumps(frame))

    def subscribe_session(self, started: dict[str, Any], pk: str) -> None:
        """Authorize through the real endpoint and subscribe, as the Tickki SDK does."""
        rt = started["realtime"]
        resp = httpx.post(rt["auth_endpoint"], data={"socket_id": self.socket_id(),
                                                     "channel_name": rt["channel"]},
                          headers=auth(pk, started["session_token"]))
        assert resp.status_code == 200, resp.text
        self.send("pusher:subscribe", {"auth": resp.json()["auth"], "channel": rt["channel"]})
        self.expect("pusher_internal:subscription_succeeded")

    @property
    def connected(self) -> bool:
        return self.closed_with is None and self.ws.close_code is None

    def close_code(self, timeout: float = 5.0) -> int | None:
        """Wait for the server to close; return its close code (None if still open)."""
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                received = self.ws.protocol.close_rcvd  # the close frame is what clients act on
                if received is not None:
                    return received.code
                self.recv(min(0.2, deadline - time.monotonic()))
        except ConnectionClosed:
            return self.closed_with
        return None

    def close(self) -> None:
        try:
            self.ws.close()
        except Exception:
            pass
