"""Readiness (/readyz): the database answers, and Redis when REDIS_URL is set, in bounded time.

Each check has its own small client with short timeouts, so a dependency that hangs makes
the probe answer 503 within about two seconds instead of holding it (the app's own pool
waits up to 30 s for a connection).
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.engine import Engine

log = logging.getLogger("chatdock.readiness")

TIMEOUT = 1.0  # seconds: Redis connect/reply, waiting for the probe's database connection
PG_CONNECT_TIMEOUT = 2  # libpq's smallest useful connect_timeout
OK, NOT_CONFIGURED, UNREACHABLE = "ok", "not_configured", "unreachable"


def _probe_engine(app: Flask) -> Engine:
    """SQLite: the app's engine (a local file). PostgreSQL: one connection, short timeouts."""
    url = app.config["DATABASE_URL"]
    if make_url(url).get_backend_name() != "postgresql":
        return app.extensions["engine"]  # type: ignore[no-any-return]
    return create_engine(url, pool_size=1, max_overflow=0, pool_timeout=TIMEOUT,
                         pool_pre_ping=True,
                         connect_args={"connect_timeout": PG_CONNECT_TIMEOUT,
                                       "options": "-c statement_timeout=2000"})


def _probe_redis(url: str) -> Any:
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    return redis.Redis.from_url(url, socket_connect_timeout=TIMEOUT, socket_timeout=TIMEOUT,
                                retry=Retry(NoBackoff(), 0))


class Readiness:
    """The checks behind /readyz, with their own clients."""

    def __init__(self, app: Flask) -> None:
        self.engine = _probe_engine(app)
        self.redis = _probe_redis(app.config["REDIS_URL"]) if app.config["REDIS_URL"] else None

    def checks(self) -> dict[str, str]:
        """{"database": ok|unreachable, "redis": ok|unreachable|not_configured}."""
        return {"database": self._check("database", self._database),
                "redis": self._check("redis", self.redis.ping) if self.redis else NOT_CONFIGURED}

    def _database(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    @staticmethod
    def _check(name: str, probe: Any) -> str:
        try:
            probe()
        except Exception as err:  # any failure means "not ready"; say why, once per probe
            log.warning("readiness: %s is not reachable: %s", name, err)
            return UNREACHABLE
        return OK


def failures(checks: dict[str, str]) -> list[str]:
    """The names of the checks that failed."""
    return [name for name, state in checks.items() if state == UNREACHABLE]
