"""Schema migrations (Alembic) for every table on :class:`hotline12345.db.base.Base`
(the list is :func:`hotline12345.db.models.load_models`).

``upgrade(url)`` brings a database to the newest schema; it is idempotent and safe to call
from several processes at once (PostgreSQL: an advisory lock; SQLite: a lock file beside
the database). Tables made earlier by ``Base.metadata.create_all`` are adopted by the first
revision rather than created twice. Read-only commands call ``check_schema(url)``
instead, which changes nothing and says how to create a missing schema. Migrations run
where a command starts (``serve``, ``db upgrade``, the worker, the wallboard), never when
an object such as a store or the audit log is constructed.

A new table or column needs a new revision in ``hotline12345/db/migrations/versions``:
``.venv/bin/alembic -c hotline12345/db/alembic.ini -x url=sqlite:////tmp/x.db revision
--autogenerate -m "what changed"`` against a database at head, then review the file.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
from collections.abc import Iterator
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Engine, make_url

from hotline12345 import paths
from hotline12345.db.engine import make_engine, private_file
from hotline12345.env import DATABASE_URL_ENV, redact_url

HERE = Path(__file__).resolve().parent
_PG_LOCK_KEY = 0x1234_5ABC  # advisory lock id for migrations


def resolve_url(url: str | None) -> str:
    return url or os.environ.get(DATABASE_URL_ENV) or paths.database_url(paths.data_dir())


def alembic_config(url: str | None = None) -> Config:
    cfg = Config(str(HERE / "alembic.ini"))
    cfg.set_main_option("script_location", str(HERE / "migrations"))
    if url:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


@contextlib.contextmanager
def _sqlite_lock(url: str) -> Iterator[None]:
    database = make_url(url).database
    if not database or database == ":memory:":
        yield
        return
    lock_path = Path(database).with_name(Path(database).name + ".migrate-lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    private_file(lock_path)  # empty, but beside the database: 0600 as it is
    with lock_path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def upgrade(url: str, revision: str = "head", engine: Engine | None = None) -> None:
    """Migrate the database at ``url`` to ``revision`` (default: the newest)."""
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)  # start-up noise
    own = engine is None
    eng = engine if engine is not None else make_engine(url)
    cfg = alembic_config(url)
    try:
        lock = _sqlite_lock(url) if eng.dialect.name == "sqlite" else contextlib.nullcontext()
        with lock, eng.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
    finally:
        if own:
            eng.dispose()


class DatabaseUnusable(Exception):
    """The database cannot be opened or migrated: a bad URL, a server that cannot be
    reached, a SQLite path that cannot be made. The message names the URL (password
    redacted), the reason and where to fix it."""


def upgrade_or_explain(url: str) -> None:
    """:func:`upgrade` for the commands that start from a URL the user gave: what is wrong
    with the URL or the database becomes one :class:`DatabaseUnusable`, never a traceback."""
    from sqlalchemy.exc import ArgumentError, OperationalError

    where = f"database {redact_url(url)}"
    fix = f"check --database-url or {DATABASE_URL_ENV}"
    try:
        upgrade(url)
    except ArgumentError as exc:
        raise DatabaseUnusable(f"{where} is no database URL ({exc}); write it as "
                               "postgresql+psycopg://user@host/db or sqlite:///path") from None
    except OSError as exc:  # the SQLite file's directory cannot be made or written
        raise DatabaseUnusable(f"{where}: cannot use it ({exc.strerror or exc}: "
                               f"{exc.filename}); {fix}") from None
    except OperationalError as exc:
        reason = str(exc.orig or exc).strip().splitlines()[0]
        raise DatabaseUnusable(f"{where}: cannot use it ({reason}); {fix}") from None


def current_revision(url: str) -> str | None:
    eng = make_engine(url)
    try:
        with eng.connect() as conn:
            rev: str | None = MigrationContext.configure(conn).get_current_revision()
            return rev
    finally:
        eng.dispose()


def head_revision() -> str | None:
    head: str | None = ScriptDirectory.from_config(alembic_config()).get_current_head()
    return head


class SchemaMissing(Exception):
    """The database has no hotline12345 schema, or an older one; the message says how to
    create or upgrade it."""


def check_schema(url: str) -> None:
    """For read-only commands, which never migrate: raise :class:`SchemaMissing` unless the
    database at ``url`` exists and is at the newest revision. An SQLite file that does not
    exist is not created."""
    from hotline12345.env import redact_url

    fix = "create it with: hotline12345 db upgrade (serve and worker do it at start-up too)"
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:" and not Path(database).exists():
            raise SchemaMissing(f"no database at {database}; {fix}")
    current = current_revision(url)
    head = head_revision()
    if current is None:
        raise SchemaMissing(f"database {redact_url(url)} has no hotline12345 schema; {fix}")
    if current != head:
        raise SchemaMissing(f"database {redact_url(url)} is at schema revision {current}, this "
                            f"version needs {head}; upgrade it with: hotline12345 db upgrade")
