"""Alembic migrations: they agree with the models, keep 0.1.0's rows, and gate every start."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Engine

from server import create_app, migrate
from server.db import make_engine
from server.migrate import SchemaError
from server.models import Base
from server.security import hash_secret, new_api_key, token_digest
from tests.conftest import ROOT, auth
from tests.test_scaleout import postgres_url  # noqa: F401  (a fixture: a fresh database)

DATA = Path(__file__).resolve().parent / "data"
UPGRADE_LINE = ("chatdock: the database is at revision none (an empty database); this chatdock "
                f"needs {migrate.head()}: run `chatdock db upgrade`")


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database: a fresh SQLite file, or a uniquely named PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'm.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def engine(url: str) -> Iterator[Engine]:
    engine = make_engine(url)
    yield engine
    engine.dispose()


def differences(engine: Engine) -> list[Any]:
    """What autogenerate would write: the models against the database."""
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts=migrate.COMPARE)
        return list(compare_metadata(context, Base.metadata))


def tables(engine: Engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names())


def test_models_and_migrations_agree(engine: Engine) -> None:
    assert differences(engine)  # an empty database: every table is a difference
    migrate.upgrade(engine)
    assert differences(engine) == []
    assert migrate.current(engine) == migrate.head()


def test_downgrade_to_base_and_upgrade_again(engine: Engine) -> None:
    migrate.upgrade(engine)
    assert migrate.downgrade(engine, "base") == (migrate.head(), None)
    assert tables(engine) == {"alembic_version"}
    assert migrate.upgrade(engine) == (None, migrate.head())
    assert differences(engine) == []


# --- a database chatdock 0.1.0 made with create_all, with rows in it -------------------------

T0 = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(hours=1)
SK, SK_PREFIX = new_api_key("secret", "test")
PK, PK_PREFIX = new_api_key("publishable", "test")
SESSION_TOKEN = "cst_" + "s" * 43


def _key(id_: int, kind: str, prefix: str, plaintext: str, scopes: list[str]) -> dict[str, Any]:
    return {"id": id_, "business_id": 1, "kind": kind, "mode": "test", "prefix": prefix,
            "key_hash": hash_secret(plaintext), "name": "Default", "scopes": scopes,
            "allowed_origins": [], "allowed_bundle_ids": [], "created_at": T0}


def _message(id_: int, direction: str, content: str, role: str) -> dict[str, Any]:
    return {"id": id_, "conversation_id": 1, "direction": direction, "type": "text",
            "content": content, "sender_role": role, "created_at": T0}


OLD_ROWS: dict[str, list[dict[str, Any]]] = {
    "settings": [{"name": "secret_key", "value": "s3cret-from-0.1.0"}],
    "businesses": [{"id": 1, "name": "Acme", "slug": "acme", "primary_color": "#4F46E5",
                    "accent_color": "#111827", "welcome_message": "Hi!",
                    "require_identification": False, "suspended": False, "created_at": T0}],
    "users": [{"id": 1, "business_id": 1, "email": "owner@acme.test", "name": "Owner",
               "role": "owner", "created_at": T0}],
    "api_keys": [_key(1, "publishable", PK_PREFIX, PK, []),
                 _key(2, "secret", SK_PREFIX, SK, ["tickets:read", "tickets:write"])],
    "contacts": [{"id": 1, "business_id": 1, "mode": "test", "visitor_id": "v1",
                  "email": "ann@example.com", "created_at": T0}],
    "conversations": [{"id": 1, "business_id": 1, "mode": "test", "contact_id": 1,
                       "status": "open", "channel": "widget", "assigned_to": 1,
                       "last_message_preview": "Thanks", "created_at": T0, "updated_at": T0}],
    "ticket_tags": [{"conversation_id": 1, "tag": "billing"}],
    "chat_sessions": [{"id": 1, "business_id": 1, "mode": "test", "conversation_id": 1,
                       "key_id": 1, "token_hash": token_digest(SESSION_TOKEN),
                       "created_at": T0, "last_seen_at": T0}],
    "messages": [_message(1, "inbound", "Where is my invoice?", "visitor"),
                 {**_message(2, "outbound", "Attached. Thanks", "agent"), "sender_user_id": 1}],
    "idempotency_records": [{"id": 1, "credential": "key:2", "key": "k1", "fingerprint": "f",
                             "status": 201, "body": "{}", "created_at": T0}],
}


def _typed(name: str, value: Any) -> sa.ColumnClause[Any]:
    if isinstance(value, datetime):
        return sa.column(name, sa.DateTime(timezone=True))
    return sa.column(name, sa.JSON() if isinstance(value, list) else None)


def run_0_1_0_ddl(conn: sa.Connection) -> None:
    """Run the statements 0.1.0's create_all ran (committed, not today's models)."""
    path = DATA / f"schema_0.1.0_{conn.dialect.name}.sql"
    sql = "\n".join(line for line in path.read_text().splitlines() if not line.startswith("--"))
    for statement in filter(str.strip, sql.split(";")):
        conn.exec_driver_sql(statement)


def make_0_1_0_database(engine: Engine) -> None:
    """A database as 0.1.0 left it: its tables, no alembic_version, a row in every table."""
    with engine.begin() as conn:
        run_0_1_0_ddl(conn)
        for table, rows in OLD_ROWS.items():
            for row in rows:
                columns = [_typed(k, v) for k, v in row.items()]
                conn.execute(sa.insert(sa.table(table, *columns)).values(row))
        if engine.dialect.name == "postgresql":  # explicit ids: move the sequences past them
            for table, rows in OLD_ROWS.items():
                if "id" in rows[0]:
                    conn.exec_driver_sql(f"SELECT setval('{table}_id_seq', {len(rows)})")


@cache
def columns_of_0_1_0() -> dict[str, list[str]]:
    """0.1.0's tables and their columns (later revisions may add some)."""
    scratch = make_engine("sqlite://")
    with scratch.begin() as conn:
        run_0_1_0_ddl(conn)
        inspector = sa.inspect(conn)
        return {t: [c["name"] for c in inspector.get_columns(t)]
                for t in inspector.get_table_names()}


def old_rows(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of 0.1.0's tables, in 0.1.0's columns."""
    out = {}
    with engine.connect() as conn:
        for table, names in columns_of_0_1_0().items():
            columns: list[sa.ColumnClause[Any]] = [sa.column(name) for name in names]
            rows = conn.execute(sa.select(*columns).select_from(sa.table(table)))
            out[table] = sorted((tuple(row) for row in rows), key=repr)
    return out


def test_a_0_1_0_database_upgrades_without_losing_a_row(engine: Engine, url: str) -> None:
    make_0_1_0_database(engine)
    before = old_rows(engine)
    assert {t: len(rows) for t, rows in before.items()} == {t: len(rows)
                                                            for t, rows in OLD_ROWS.items()}
    if engine.dialect.name == "postgresql":
        with pytest.raises(SchemaError, match="tables made by chatdock 0.1.0"):
            create_app({"DATABASE_URL": url})
        migrate.upgrade(engine)  # what `chatdock db upgrade` runs
    app = create_app({"DATABASE_URL": url, "PUBLIC_URL": ""})  # SQLite: upgrades itself
    assert migrate.current(engine) == migrate.head()
    assert old_rows(engine) == before
    assert differences(engine) == []
    assert app.config["SECRET_KEY"] == "s3cret-from-0.1.0"
    # and 0.1.0's keys, session token and conversation still work
    client = app.test_client()
    ticket = client.get("/api/v1/tickets/1", headers=auth(SK)).get_json()["data"]
    assert ticket["tags"] == ["billing"]
    assert [m["content"] for m in ticket["messages"]] == ["Where is my invoice?",
                                                          "Attached. Thanks"]
    seen = client.get("/api/v1/chat/sessions/1/messages", headers=auth(PK, SESSION_TOKEN))
    assert seen.status_code == 200, seen.text
    reply = client.post("/api/v1/tickets/1/messages", headers=auth(SK), json={"content": "ok"})
    assert reply.status_code == 201 and reply.get_json()["data"]["id"] == 3
    app.extensions["engine"].dispose()


# --- the start: SQLite upgrades itself, PostgreSQL must be at head ---------------------------

def test_create_app_upgrades_a_fresh_sqlite_file(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    create_app({"DATABASE_URL": url}).extensions["engine"].dispose()
    assert migrate.current(make_engine(url)) == migrate.head()


def test_create_app_refuses_postgres_behind_head(postgres_url: str) -> None:  # noqa: F811
    with pytest.raises(SchemaError) as refused:
        create_app({"DATABASE_URL": postgres_url})
    assert f"chatdock: {refused.value.message}" == UPGRADE_LINE
    assert tables(make_engine(postgres_url)) == set()  # it did not touch the database
    migrate.upgrade(make_engine(postgres_url))
    assert create_app({"DATABASE_URL": postgres_url}).config["SECRET_KEY"]


def test_a_revision_this_code_does_not_know_is_refused(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'newer.db'}")
    migrate.upgrade(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '0099_from_the_future'")
    with pytest.raises(SchemaError, match="0099_from_the_future, which this chatdock does not"):
        create_app({"DATABASE_URL": str(engine.url)})


def chatdock(*args: str, url: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CHATDOCK_DATABASE_URL": url, "CHATDOCK_REDIS_URL": ""}
    return subprocess.run([sys.executable, "-m", "server.cli", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_serve_on_postgres_behind_head_says_one_line(postgres_url: str) -> None:  # noqa: F811
    refused = chatdock("serve", "--port", "1", url=postgres_url)
    assert refused.returncode != 0
    # one line naming the command; `serve` logs it as JSON like every line on its stderr
    (line,) = refused.stderr.splitlines()
    record = json.loads(line)
    assert refused.stdout == "" and record["msg"] == UPGRADE_LINE and record["level"] == "ERROR"
    assert chatdock("db", "current", url=postgres_url).stdout.startswith(
        "the database is at revision none (an empty database)")
    upgraded = chatdock("db", "upgrade", url=postgres_url)
    assert upgraded.returncode == 0, upgraded.stderr
    assert upgraded.stdout == (f"chatdock: the database is at revision {migrate.head()} "
                               "(was none)\n")
    assert chatdock("db", "current", url=postgres_url).stdout == (
        f"the database is at revision {migrate.head()} (head)\n")


def test_db_commands_downgrade_and_refuse_an_unknown_revision(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    assert chatdock("db", "upgrade", url=url).returncode == 0
    done = chatdock("db", "downgrade", "base", url=url)
    assert done.stdout == f"chatdock: the database is at revision base (was {migrate.head()})\n"
    wrong = chatdock("db", "upgrade", "nonsense", url=url)
    assert wrong.returncode == 2
    assert wrong.stderr == "chatdock: Can't locate revision identified by 'nonsense'\n"
    assert chatdock("db", "current", "--json", url=url).stdout == (
        f'{{"revision": null, "head": "{migrate.head()}", "at_head": false}}\n')


def test_a_connection_waits_for_a_fresh_files_write_lock_to_switch_to_wal(
        tmp_path: Path) -> None:
    """While another connection writes a file still in rollback mode, SQLite refuses the
    switch to WAL at once (no busy timeout): make_engine's connections wait for the lock."""
    path = tmp_path / "fresh.db"
    writer = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    writer.execute("CREATE TABLE t (x)")
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("INSERT INTO t VALUES (1)")
    threading.Timer(0.5, writer.execute, ["COMMIT"]).start()
    engine = make_engine(f"sqlite:///{path}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("SELECT x FROM t").scalar() == 1
    engine.dispose()
    writer.close()


def test_processes_starting_at_once_on_a_fresh_sqlite_file(tmp_path: Path) -> None:
    """gunicorn's master and workers (or several servers) all run create_app on one file."""
    env = {**os.environ, "CHATDOCK_DATABASE_URL": f"sqlite:///{tmp_path / 'race.db'}",
           "PYTHONPATH": str(ROOT)}
    code = ("from server import create_app; print('ready', flush=True); input(); "
            "print(create_app().config['SECRET_KEY'])")
    starts = [subprocess.Popen([sys.executable, "-c", code], env=env, text=True,
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE) for _ in range(4)]
    for p in starts:  # imports done everywhere
        assert p.stdout is not None and p.stdout.readline() == "ready\n"
    for p in starts:  # now all start at once
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.flush()
    results = [p.communicate(timeout=60) for p in starts]
    assert [p.returncode for p in starts] == [0, 0, 0, 0], results
    assert len({out for out, _err in results}) == 1  # one secret for every process
    assert migrate.current(make_engine(env["CHATDOCK_DATABASE_URL"])) == migrate.head()
