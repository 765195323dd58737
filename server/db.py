"""Engine and sessions: one Session per request, session_scope() for threads.

Services record realtime events on the Session (``emit``); they are handed to
the broker only after the transaction commits, and dropped on rollback.
"""

from __future__ import annotations

import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask, current_app, g
from sqlalchemy import Select, create_engine, event, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

from server import migrate
from server.models import Setting

PENDING = "pending_events"
CONNECTION = "connection"
WAKE = "wake_outbox"
SQLITE_BUSY_SECONDS = 15  # how long a SQLite connection waits for another's lock


def make_engine(url: str) -> Engine:
    """Create an engine; SQLite gets WAL, foreign keys and a busy timeout."""
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)
    kwargs: dict[str, Any] = {"connect_args": {"check_same_thread": False,
                                               "timeout": SQLITE_BUSY_SECONDS}}
    if url in ("sqlite://", "sqlite:///:memory:"):
        kwargs["poolclass"] = StaticPool
    engine = create_engine(url, **kwargs)

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
        cur = dbapi_conn.cursor()
        _use_wal(cur)
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    return engine


def _use_wal(cursor: Any) -> None:
    """PRAGMA journal_mode=WAL, retried while the file is locked. Switching a file still in
    rollback mode needs its write lock, and SQLite answers "database is locked" at once,
    not after the busy timeout, while another connection holds it: processes starting
    together on a fresh file (gunicorn's workers, tests/test_migrations.py) met that."""
    deadline = time.monotonic() + SQLITE_BUSY_SECONDS
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as err:
            if "locked" not in str(err) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def upsert(session: Session) -> Any:
    """The dialect's insert() that has on_conflict_do_nothing (SQLite and PostgreSQL)."""
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert
        return pg_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert
    return sqlite_insert


def emit(session: Session, topics: list[str], name: str, payload: dict[str, Any]) -> None:
    """Queue a realtime event for these hub topics, published once the transaction commits."""
    session.info.setdefault(PENDING, []).append((list(topics), name, payload))


def flush_unique(session: Session, row: Any, clash: Select[Any],
                 taken: Callable[[], Exception]) -> None:
    """Flush a new or changed row whose name must be unique: `clash` selects rows holding it
    (the row itself left out here once it has an id); `taken()` is raised, also when a
    concurrent write of the same name wins."""
    if row.id is not None:
        clash = clash.where(type(row).id != row.id)
    with session.no_autoflush:  # ask before the row itself is written
        found = session.scalar(clash) is not None
    if found:
        raise taken()
    try:
        session.flush()
    except IntegrityError:
        raise taken() from None


def wake_outbox(session: Session) -> None:
    """Wake this process's outbox worker once the transaction commits (a job is due now)."""
    session.info[WAKE] = True


def pending_events(session: Session) -> list[tuple[list[str], str, dict[str, Any]]]:
    """The events this transaction will publish once it commits."""
    return list(session.info.get(PENDING, []))


def connection(session: Session) -> Connection:
    """The session's connection for this transaction, remembered (asking costs ~20 us)."""
    conn = session.info.get(CONNECTION)
    if conn is None:
        conn = session.info[CONNECTION] = session.connection()
    return conn  # type: ignore[no-any-return]


def _bind_events(factory: sessionmaker[Session], publish: Any, wake: Any) -> None:
    @event.listens_for(factory, "after_transaction_end")
    def _forget_connection(session: Session, transaction: Any) -> None:
        if transaction.parent is None:
            session.info.pop(CONNECTION, None)

    @event.listens_for(factory, "after_commit")
    def _publish(session: Session) -> None:
        for topics, name, payload in session.info.pop(PENDING, []):
            publish(topics, name, payload)
        if session.info.pop(WAKE, False):
            wake()

    @event.listens_for(factory, "after_soft_rollback")
    def _drop(session: Session, _previous: Any) -> None:
        session.info.pop(PENDING, None)
        session.info.pop(WAKE, None)


def init_app(app: Flask, publish: Any) -> None:
    """Create the engine (its schema at head: server.migrate) and the session factory."""
    engine = make_engine(app.config["DATABASE_URL"])
    migrate.ensure_head(engine)
    factory = sessionmaker(engine, expire_on_commit=False)
    app.extensions["outbox_wake"] = wake = threading.Event()
    _bind_events(factory, publish, wake.set)
    app.extensions["db"] = factory
    app.extensions["engine"] = engine
    app.teardown_appcontext(_close_request_session)


def get_session() -> Session:
    """Return the request's Session, opening it on first use."""
    if "db_session" not in g:
        g.db_session = current_app.extensions["db"]()
    return g.db_session  # type: ignore[no-any-return]


def _close_request_session(_exc: BaseException | None) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        session.close()


@contextmanager
def session_scope(app: Flask | None = None) -> Iterator[Session]:
    """A short transaction outside a request: commit on success, roll back on error."""
    factory = (app or current_app).extensions["db"]
    with factory() as session, session.begin():
        yield session


def ensure_secret(factory: sessionmaker[Session]) -> str:
    """Return the deployment's generated secret, creating it once for every process."""
    with factory() as session:
        found = session.scalar(select(Setting.value).where(Setting.name == "secret_key"))
        if found:
            return found
        session.add(Setting(name="secret_key", value=secrets.token_urlsafe(48)))
        try:
            session.commit()
        except IntegrityError:  # another process won the race
            session.rollback()
        return session.scalar(select(Setting.value).where(Setting.name == "secret_key")) or ""
