"""The broker hands committed events to the hubs that hold the subscribers.

The in-process broker serves the embedded single-process deployment.
"""

from __future__ import annotations

import json
from typing import Any

from server.realtime.hub import Hub


class MemoryBroker:
    """Publish straight into this process's hub."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    def publish(self, channels: list[str], event: str, payload: dict[str, Any]) -> None:
        """Encode once, deliver to every channel."""
        data = json.dumps(payload)
        for channel in channels:
            self.hub.deliver(channel, event, data)
