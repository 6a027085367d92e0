"""Engines: SQLite (embedded default) in WAL mode with foreign keys on; other URLs as given."""

from __future__ import annotations

from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine. For SQLite every connection gets ``journal_mode=WAL`` (readers do
    not block the writer), ``foreign_keys=ON`` (SQLite's default is off),
    ``synchronous=NORMAL`` (safe with WAL; only the last commits can be lost on power
    failure) and a 5 s ``busy_timeout`` (several processes, e.g. classic AGI, share the file)."""
    engine = create_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            try:
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA foreign_keys=ON")
                cur.execute("PRAGMA synchronous=NORMAL")
                cur.execute("PRAGMA busy_timeout=5000")
            finally:
                cur.close()

    return engine
