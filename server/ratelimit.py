"""Request rate limits over a rolling window, shared across processes through Redis.

The window is a sliding-window counter (Cloudflare's): the current fixed window's
count plus the previous window's count weighted by how much of it still overlaps
the rolling window. It needs two counters per bucket in memory or in Redis, and
both backends answer identically. Rejected requests are not counted, so a client
that backs off for Retry-After seconds gets through again.

Buckets (SPEC "Limits": per key and per IP):
- visitor calls: the publishable key and the client address together, so one
  visitor cannot starve every other visitor of the same key;
- agent calls: the credential (secret key or logged-in agent);
- failed key and token checks: the client address, counted after the (cheap) check,
  so a valid credential is never refused for other callers' failures;
- failed logins (server/auth.py login_guard): per account and per address, checked
  before any argon2 work, with their own limits and window (LOGIN_FAILURES_*).

TypingDebouncer is the per-process throttle of visitors' typing events.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from typing import Any, Protocol

from flask import current_app, request

from server.errors import RateLimited

log = logging.getLogger("chatdock.ratelimit")
KINDS = ("visitor", "agent", "auth")  # which limit refused: the metrics' `kind` label

# Both counters in one round trip; a rejected request is not counted.
_REDIS_SCRIPT = """
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
local prev = tonumber(redis.call('GET', KEYS[2]) or '0')
local limit, window, elapsed = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
if ARGV[4] == '1' and prev * (window - elapsed) / window + cur < limit then
  cur = redis.call('INCR', KEYS[1])
  redis.call('PEXPIRE', KEYS[1], window * 2)
  return {cur, prev, 1}
end
return {cur, prev, 0}
"""


class _Counters(Protocol):
    def counts(self, bucket: str, index: int, elapsed: float,
               count: bool) -> tuple[int, int, bool]:
        """Return the current and previous windows' counts and whether this request was
        counted (only when `count` and it fits under the limit)."""


class MemoryCounters:
    """Per-process counters: the embedded single-process deployment."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit, self.window = limit, window
        self._windows: dict[str, tuple[int, int, int]] = {}  # bucket -> (index, cur, prev)
        self._lock = threading.Lock()

    def counts(self, bucket: str, index: int, elapsed: float,
               count: bool) -> tuple[int, int, bool]:
        with self._lock:
            seen, cur, prev = self._windows.get(bucket, (index, 0, 0))
            if seen != index:  # roll forward; a gap of two windows forgets everything
                cur, prev = 0, (cur if seen == index - 1 else 0)
            counted = count and _estimate(cur, prev, elapsed, self.window) < self.limit
            cur += counted
            self._windows[bucket] = (index, cur, prev)
            if len(self._windows) > 100_000:
                self._forget(index)
            return cur, prev, counted

    def _forget(self, index: int) -> None:
        """Drop buckets idle for two windows (they count as zero anyway)."""
        self._windows = {b: v for b, v in self._windows.items() if v[0] >= index - 1}


class RedisCounters:
    """Counters in Redis: every process of a deployment shares the same limits."""

    def __init__(self, url: str, namespace: str, limit: int, window: float) -> None:
        import redis

        self.limit, self.window, self.namespace = limit, window, namespace
        self.redis = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
        self.script = self.redis.register_script(_REDIS_SCRIPT)

    def counts(self, bucket: str, index: int, elapsed: float,
               count: bool) -> tuple[int, int, bool]:
        base = f"chatdock:{self.namespace}:rl:{bucket}:"
        try:
            cur, prev, counted = self.script(
                keys=[f"{base}{index}", f"{base}{index - 1}"],
                args=[self.limit, int(self.window * 1000), int(elapsed * 1000), int(count)])
        except Exception:  # Redis down: serve rather than refuse everyone
            log.exception("rate limit counters unavailable; allowing the request")
            return 0, 0, count
        return int(cur), int(prev), bool(counted)


def _estimate(cur: int, prev: int, elapsed: float, window: float) -> float:
    return prev * (window - elapsed) / window + cur


class RateLimiter:
    """`limit` requests per rolling `window` seconds per bucket; limit 0 turns it off."""

    def __init__(self, limit: int, window: float, redis_url: str = "",
                 namespace: str = "") -> None:
        self.limit, self.window = limit, float(window)
        self.counters: _Counters = (RedisCounters(redis_url, namespace, limit, self.window)
                                    if redis_url else MemoryCounters(limit, self.window))

    def retry_after(self, bucket: str, *, count: bool = True) -> int:
        """Seconds to wait (0 = allowed); counts the request when it is allowed and `count`."""
        if self.limit <= 0:
            return 0
        now = time.time()
        index, elapsed = int(now // self.window), now % self.window
        cur, prev, counted = self.counters.counts(bucket, index, elapsed, count)
        if counted or (not count and _estimate(cur, prev, elapsed, self.window) < self.limit):
            return 0
        return self._wait(cur, prev, elapsed)

    def _wait(self, cur: int, prev: int, elapsed: float) -> int:
        """Seconds until the rolling estimate falls below the limit."""
        if cur >= self.limit or prev == 0:  # only the next window frees a slot
            return max(1, math.ceil(self.window - elapsed))
        # prev * (window - t) / window + cur < limit  <=>  t > window * (1 - (limit - cur) / prev)
        return max(1, math.ceil(self.window * (1 - (self.limit - cur) / prev) - elapsed))


def client_address() -> str:
    """The caller's address (PROXY_HOPS makes it the one a load balancer saw)."""
    return request.remote_addr or "unknown"


def enforce(bucket: str, *, kind: str, count: bool = True,
            limiter_name: str = "rate_limiter") -> None:
    """Raise 429 rate_limited with Retry-After when the bucket is over its limit; `kind`
    (one of KINDS) names the limit in the metrics, `limiter_name` the app extension."""
    limiter: Any = current_app.extensions[limiter_name]
    wait = limiter.retry_after(bucket, count=count)
    if wait:
        metrics = current_app.extensions.get("metrics")
        if metrics is not None:
            metrics.refused(kind)
        raise RateLimited(headers={"Retry-After": str(wait)})


class TypingDebouncer:
    """At most one TypingStarted per session per interval, per process."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._last: dict[int, float] = {}
        self._lock = threading.Lock()

    def should_send(self, session_id: int) -> bool:
        now = time.monotonic()
        with self._lock:
            if now - self._last.get(session_id, -1e9) < self.interval:
                return False
            self._last[session_id] = now
            if len(self._last) > 100_000:
                self._last = {k: v for k, v in self._last.items() if now - v < self.interval}
            return True
