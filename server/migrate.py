"""Schema migrations: Alembic configured in code, and the check every start runs.

SQLite (the embedded default) upgrades itself at start; any other database must
already be at the code's head (`chatdock db upgrade`), else the app refuses to start.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import JSON, Column, create_engine, inspect
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import StaticPool

from server.errors import ApiError

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
BASELINE = "0001_baseline"
# What chatdock 0.1.0's create_all made, before any revision was recorded.
BASELINE_TABLES = frozenset({
    "settings", "businesses", "users", "api_keys", "contacts", "conversations", "ticket_tags",
    "chat_sessions", "messages", "idempotency_records"})
# What opens the migration's transaction: concurrent upgrades run one after the other.
LOCKS = {"sqlite": "BEGIN IMMEDIATE", "postgresql": "SELECT pg_advisory_xact_lock(7243001)"}
UPGRADE = "run `chatdock db upgrade`"

log = logging.getLogger("chatdock")


def json_default_differs(_context: object, _inspected: object, column: Column[object],
                         found: str | None, _default: object, wanted: str | None) -> bool | None:
    """Compare a JSON column's server default as text: PostgreSQL has no json = json, which
    alembic's own comparison needs (sqlalchemy/alembic#1119); others: alembic decides."""
    if not isinstance(column.type, JSON):
        return None
    return _unquoted(found) != _unquoted(wanted)


def _unquoted(default: str | None) -> str:
    """'{}'::json (PostgreSQL), '{}' (SQLite), {} (the model): all {}."""
    return re.sub(r"^'(.*)'(::jsonb?)?$", r"\1", default or "")


# The full-text index the knowledge service writes with SQL of its own dialect (not mapped):
# SQLite's FTS5 table (and its shadow tables), PostgreSQL's tsvector column and GIN index.
UNMAPPED_SEARCH_INDEX = re.compile(r"knowledge_fts(_\w+)?|search_vector|ix_knowledge_chunks_search")


def mapped_only(name: str | None, kind: str, _parent: dict[str, Any]) -> bool:
    """Leave the knowledge full-text index out of the models' comparison."""
    return not (name and kind in ("table", "column", "index")
                and UNMAPPED_SEARCH_INDEX.fullmatch(name))


# How autogenerate and the tests compare the models with a database.
COMPARE: dict[str, Any] = {"compare_type": True, "compare_server_default": json_default_differs,
                           "include_name": mapped_only}


class SchemaError(ApiError):
    """The database is not at the schema this code needs, or a migration cannot run."""

    status = 503
    code = "schema_error"


def _config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("file_template", "%%(rev)s")  # versions/0002_name.py
    config.attributes["connection"] = connection
    return config


@cache
def _script() -> ScriptDirectory:
    return ScriptDirectory.from_config(_config())


def head() -> str:
    """Return the revision this code needs."""
    return _script().get_current_head() or ""


@cache
def known() -> frozenset[str]:
    """Return every revision this code has."""
    return frozenset(rev.revision for rev in _script().walk_revisions())


def _recorded(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


def _unstamped(conn: Connection) -> bool:
    """Tell whether this is a database chatdock 0.1.0 made: its tables, no revision."""
    tables = set(inspect(conn).get_table_names())
    return "alembic_version" not in tables and BASELINE_TABLES <= tables


def current(engine: Engine) -> str | None:
    """Return the revision recorded in the database (None: empty, or made by 0.1.0)."""
    with engine.connect() as conn:
        return _recorded(conn)


def describe(engine: Engine) -> str:
    """Say where the database is compared with this code's head."""
    with engine.connect() as conn:
        found, legacy = _recorded(conn), _unstamped(conn)
    if found == head():
        return f"the database is at revision {found} (head)"
    shown = found or ("none (tables made by chatdock 0.1.0: the baseline)" if legacy
                      else "none (an empty database)")
    return f"the database is at revision {shown}; this chatdock needs {head()}"


@contextmanager
def _locked(engine: Engine) -> Iterator[Connection]:
    """One transaction holding the migration lock (the database's write lock on SQLite)."""
    with engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:  # batch mode copies tables: no foreign-key actions while it does
            conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
            conn.commit()
        try:
            with conn.begin():
                if conn.dialect.name in LOCKS:
                    conn.exec_driver_sql(LOCKS[conn.dialect.name])
                yield conn
        except CommandError as err:  # e.g. an unknown revision: one line, no traceback
            raise SchemaError(str(err)) from err
        finally:
            if sqlite:
                conn.exec_driver_sql("PRAGMA foreign_keys=ON")
                conn.commit()


def _stamp_unstamped(conn: Connection) -> str | None:
    """Record a 0.1.0 database as the baseline; return the revision recorded before."""
    found = _recorded(conn)
    if found is None and _unstamped(conn):
        command.stamp(_config(conn), BASELINE)
    return found


def upgrade(engine: Engine, rev: str = "head") -> tuple[str | None, str | None]:
    """Upgrade to `rev` (a 0.1.0 database is stamped as the baseline first); return from, to."""
    with _locked(engine) as conn:
        before = _stamp_unstamped(conn)
        command.upgrade(_config(conn), rev)
        return before, _recorded(conn)


def downgrade(engine: Engine, rev: str) -> tuple[str | None, str | None]:
    """Downgrade to `rev` ("base" drops every table); return from, to."""
    with _locked(engine) as conn:
        before = _stamp_unstamped(conn)
        command.downgrade(_config(conn), rev)
        return before, _recorded(conn)


def ensure_head(engine: Engine) -> None:
    """At start: on SQLite upgrade to head; elsewhere refuse unless already there."""
    found = current(engine)
    if found == head():  # every start after the first (gunicorn's workers too): one read
        return
    if found is not None and found not in known():
        raise SchemaError(f"the database is at revision {found}, which this chatdock does "
                          "not know (was it made by a newer release?)")
    if engine.dialect.name != "sqlite":
        raise SchemaError(f"{describe(engine)}: {UPGRADE}")
    before, after = upgrade(engine)
    if before != after:
        log.info("upgraded the database from revision %s to %s", before or "none", after)


def revision(message: str, autogenerate: bool) -> str:
    """Write the next revision file; autogenerate compares the models with a scratch head
    (an in-memory database migrated here, not the user's)."""
    engine = create_engine("sqlite://", poolclass=StaticPool)
    upgrade(engine)
    slug = re.sub(r"[^a-z0-9]+", "_", message.lower()).strip("_")[:40]
    rev_id = f"{len(known()) + 1:04d}_{slug}"
    with _locked(engine) as conn:
        script = command.revision(_config(conn), message=message, rev_id=rev_id,
                                  autogenerate=autogenerate)
    return str(script.path) if script and not isinstance(script, list) else ""
