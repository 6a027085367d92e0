"""Engines: SQLite (embedded default) in WAL mode with foreign keys on; other URLs as given.

Every engine hides statement parameters in its errors (``hide_parameters=True``): a failed
insert of a ticket would otherwise carry the caller's number and the transcript into logs,
the dead-letter list and ``jobs failed``. :func:`error_text` is the one way to turn a
database error into a message: the exception class and the first line of the driver's
message, never the statement, its parameters or the driver's ``DETAIL`` (PostgreSQL's
"Failing row contains (...)" holds the row).

An SQLite database holds callers' full numbers: its file is created 0600 whatever the
umask (:func:`private_file`), before SQLite opens it, and an existing one, or its ``-wal``,
``-shm`` or ``-journal`` file, that others may read is tightened to 0600 on every new
connection (SQLite gives those files the database file's mode when it creates them).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import StatementError

_MAX_ERROR = 300

#: Mode of every file that holds callers' data: the owner's alone.
PRIVATE_MODE = 0o600
#: Files SQLite keeps beside a database.
SQLITE_SIDECARS = ("-wal", "-shm", "-journal")


def private_file(path: Path) -> None:
    """Make ``path`` an owner-only (0600) file: created empty with that mode (whatever the
    umask) if it does not exist, tightened if it does and others may read it."""
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, PRIVATE_MODE)
    except FileExistsError:
        tighten(path)
        return
    try:
        os.fchmod(fd, PRIVATE_MODE)  # exactly 0600, whatever the umask took away
    finally:
        os.close(fd)


def tighten(path: Path) -> None:
    """Remove the group's and others' permissions from ``path``, if it exists."""
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
        if mode & 0o077:
            os.chmod(path, mode & 0o700)
    except FileNotFoundError:
        pass


def sqlite_file(url: Any) -> Path | None:
    """The database file of an SQLite URL, or None (in memory, or a ``file:`` URI)."""
    database = url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


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
        database = sqlite_file(engine.url)
        if database is not None and database.parent.is_dir():
            private_file(database)  # before SQLite creates it with the umask's mode

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
            if database is not None:
                for path in (database, *(Path(f"{database}{s}") for s in SQLITE_SIDECARS)):
                    tighten(path)

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

