"""seed: bulk-load contacts, conversations and messages straight into chatdock's database.

    python -m bench.seed sqlite:////tmp/chatdock.db --conversations 10000 --messages 1000000

The server must have created the schema and the business first (`chatdock serve` does both
on an empty database; its demo business is id 1, mode "test"). Core executemany in large
batches, a few transactions; SQLite runs with synchronous=OFF during the load.
"""

from __future__ import annotations

import argparse
import secrets
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import Connection, create_engine, insert

from server.models import Contact, Conversation, Message

BATCH = 50_000  # rows per executemany
PER_TRANSACTION = 250_000  # messages per commit
LINES = {"inbound": "Hi, where is my order? It was due last week. Any news?",
         "outbound": "Sorry about that, let me check the tracking for you."}


def seed(database_url: str, conversations: int, messages_total: int, business_id: int = 1,
         mode: str = "test") -> None:
    """Insert `conversations` contacts + conversations and spread `messages_total` over them."""
    engine = create_engine(database_url)
    base = datetime.now(timezone.utc) - timedelta(seconds=messages_total + 60)
    try:
        with engine.begin() as conn:
            _fast_sqlite(conn)
            ids = _conversations(conn, conversations, messages_total, business_id, mode, base)
        for start in range(0, messages_total, PER_TRANSACTION):
            stop = min(messages_total, start + PER_TRANSACTION)
            with engine.begin() as conn:
                _fast_sqlite(conn)
                for chunk in _batches(_messages(ids, start, stop, base), BATCH):
                    conn.execute(insert(Message), chunk)
        _checkpoint(engine)
    finally:
        engine.dispose()


def _fast_sqlite(conn: Connection) -> None:
    """No fsync and WAL on this connection while loading (SQLite only)."""
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("PRAGMA journal_mode=WAL")
        conn.exec_driver_sql("PRAGMA synchronous=OFF")
        conn.exec_driver_sql("PRAGMA cache_size=-262144")  # 256 MiB for the index pages


def _checkpoint(engine: Any) -> None:
    """Fold the WAL into the database so the server reads a settled file."""
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


def _conversations(conn: Connection, count: int, messages_total: int, business_id: int,
                   mode: str, base: datetime) -> list[int]:
    """Insert one contact and one open widget conversation each; the conversation ids."""
    run = secrets.token_hex(4)  # visitor ids stay unique if a database is seeded twice
    contact_ids = conn.execute(
        insert(Contact).returning(Contact.id, sort_by_parameter_order=True),
        [{"business_id": business_id, "mode": mode, "visitor_id": f"seed-{run}-{c}",
          "created_at": base + timedelta(seconds=c)} for c in range(count)]).scalars().all()
    return list(conn.execute(
        insert(Conversation).returning(Conversation.id, sort_by_parameter_order=True),
        [{"business_id": business_id, "mode": mode, "contact_id": contact_id,
          "status": "open", "channel": "widget", "created_at": base + timedelta(seconds=c),
          "updated_at": base + timedelta(seconds=_last_index(c, count, messages_total))}
         for c, contact_id in enumerate(contact_ids)]).scalars().all())


def _last_index(c: int, count: int, messages_total: int) -> int:
    """Index of conversation c's last message under round-robin spreading."""
    return c + count * max(0, (messages_total - 1 - c) // count)


def _messages(ids: list[int], start: int, stop: int, base: datetime) -> Iterator[dict[str, Any]]:
    """Messages start..stop, round-robin over the conversations, one second apart."""
    for i in range(start, stop):
        direction = "outbound" if (i // len(ids)) % 2 else "inbound"
        agent = direction == "outbound"
        yield {"conversation_id": ids[i % len(ids)], "direction": direction, "type": "text",
               "content": f"{i:08d} {LINES[direction]}",
               "sender_role": "agent" if agent else "visitor",
               "sender_name": "Demo Agent" if agent else None,
               "created_at": base + timedelta(seconds=i)}


def _batches(rows: Iterator[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    """Group rows into lists of at most size."""
    chunk: list[dict[str, Any]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("database_url")
    parser.add_argument("--conversations", type=int, default=10_000)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--business-id", type=int, default=1)
    parser.add_argument("--mode", default="test")
    args = parser.parse_args()
    t0 = time.perf_counter()
    seed(args.database_url, args.conversations, args.messages, args.business_id, args.mode)
    print(f"seeded {args.messages} messages over {args.conversations} conversations "
          f"in {time.perf_counter() - t0:.1f}s")


if __name__ == "__main__":
    main()
