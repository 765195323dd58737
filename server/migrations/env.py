"""Alembic environment: run the revisions on the connection server.migrate hands over."""

from __future__ import annotations

from typing import Any, Literal

from alembic import context

from server.migrate import COMPARE
from server.models import Base, UTCDateTime


def render_item(kind: str, obj: Any, _context: Any) -> str | Literal[False]:
    """Write the models' UTCDateTime as the DateTime(timezone=True) it stores (no app import)."""
    if kind == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def run_online() -> None:
    """Migrate on the connection (in its transaction) that server.migrate hands over."""
    connection = context.config.attributes["connection"]
    context.configure(connection=connection, target_metadata=Base.metadata,
                      # SQLite alters most things by copying the table: batch mode does that
                      render_as_batch=connection.dialect.name == "sqlite",
                      render_item=render_item, **COMPARE)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("chatdock's migrations run on a connection: use `chatdock db upgrade`")
run_online()
