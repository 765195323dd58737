"""The broker hands committed events to the hubs that hold the subscribers.

The in-process broker serves the embedded single-process deployment; the
Redis broker lets N processes behind a load balancer act as one.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any

from server.realtime.hub import Hub

log = logging.getLogger("chatdock.realtime")


class MemoryBroker:
    """Publish straight into this process's hub."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    def start(self) -> None:
        """Nothing to start in-process."""

    def publish(self, topics: list[str], event: str, payload: dict[str, Any]) -> None:
        """Encode once, deliver to every topic."""
        data = json.dumps(payload)
        for topic in topics:
            self.hub.deliver(topic, event, data)


class RedisBroker:
    """Publish through Redis pub/sub so every server process's hub hears every event.

    One subscriber thread (a greenlet under gevent) per process feeds the local
    hub. If Redis is unreachable the data is still committed; clients recover
    it from history when they reconnect.
    """

    def __init__(self, hub: Hub, url: str, namespace: str) -> None:
        import redis

        self.hub = hub
        # One topic per deployment: two deployments sharing a Redis never cross-deliver.
        self.topic = f"chatdock:events:{namespace}"
        self.redis = redis.Redis.from_url(url, socket_connect_timeout=2, health_check_interval=30)
        self._listener: threading.Thread | None = None
        self._lock = threading.Lock()

    def publish(self, topics: list[str], event: str, payload: dict[str, Any]) -> None:
        """Send one envelope for all topics; local delivery happens in the listener."""
        envelope = json.dumps({"topics": topics, "event": event, "data": json.dumps(payload)})
        try:
            self.redis.publish(self.topic, envelope)
        except Exception:
            log.exception("publishing %s to redis failed", event)

    def start(self) -> None:
        """Start listening (once per process, after any fork)."""
        with self._lock:
            if self._listener is None:
                self._listener = threading.Thread(target=self._listen, daemon=True,
                                                  name="redis-broker")
                self._listener.start()

    def _listen(self) -> None:
        backoff = 0.5
        while True:
            try:
                pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
                pubsub.subscribe(self.topic)
                backoff = 0.5
                for message in pubsub.listen():
                    self._deliver(message["data"])
            except Exception:
                log.exception("redis subscriber lost; retrying in %.1fs", backoff)
                time.sleep(backoff)
                backoff = min(backoff * 2, 10.0)

    def _deliver(self, raw: bytes) -> None:
        envelope = json.loads(raw)
        for topic in envelope["topics"]:
            self.hub.deliver(topic, envelope["event"], envelope["data"])


def make_broker(hub: Hub, redis_url: str, namespace: str) -> MemoryBroker | RedisBroker:
    """The in-process broker, or Redis when a URL is configured."""
    return RedisBroker(hub, redis_url, namespace) if redis_url else MemoryBroker(hub)
