"""Engines: SQLite (embedded default) in WAL mode with foreign keys on; other URLs as given.

Every engine hides statement parameters in its errors (``hide_parameters=True``): a failed
insert of a ticket would otherwise carry the caller's number and the transcript into logs,
the dead-letter list and ``jobs failed``. :func:`error_text` is the one way to turn a
database error into a message: the exception class and the first line of the driver's
message, never the statement, its parameters or the driver's ``DETAIL`` (PostgreSQL's
"Failing row contains (...)" holds the row).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import StatementError

_MAX_ERROR = 300


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine, with statement parameters hidden from its errors and logs (pass
    ``hide_parameters=False`` to see them while debugging on test data). For SQLite every
    connection gets ``journal_mode=WAL`` (readers do not block the writer),
    ``foreign_keys=ON`` (SQLite's default is off), ``synchronous=NORMAL`` (safe with WAL;
    only the last commits can be lost on power failure) and a 5 s ``busy_timeout`` (several
    processes, e.g. classic AGI, share the file)."""
    kwargs.setdefault("hide_parameters", True)
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


def _first_line(text: str) -> str:
    for line in text.strip().splitlines():
        if line.strip():
            line = line.strip()
            return line if len(line) <= _MAX_ERROR else line[:_MAX_ERROR - 1] + "…"
    return ""


def error_text(exc: BaseException) -> str:
    """A database error as ``Class: first line of the driver's message`` (e.g.
    ``DataError: value too long for type character varying(200)``), without the SQL, its
    parameters or the driver's detail lines; safe for logs and stored job errors."""
    name = exc.__class__.__name__
    if isinstance(exc, StatementError):
        orig = exc.orig
        message = _first_line(str(orig)) if orig is not None else ""
        if not message and orig is not None:
            message = orig.__class__.__name__
        return f"{name}: {message}" if message else name
    message = _first_line(str(exc))
    return f"{name}: {message}" if message else name

