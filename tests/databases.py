"""PostgreSQL databases of their own for tests: each suite's fixtures make one, migrated by
the product's own Alembic revisions (or left empty), and drop it afterwards, so that
several suites can run at once on one server."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import text

from hotline12345.db.engine import make_engine
from hotline12345.db.migrate import upgrade

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


@contextmanager
def new_pg_database(prefix: str, *, migrate: bool = True) -> Iterator[str]:
    """A new database ``hotline12345_<prefix>_<random>`` (migrated unless ``migrate`` is
    false): its URL; dropped at the end. Fails the test, saying how to fix it, without a
    reachable server."""
    name = f"hotline12345_{prefix}_{uuid.uuid4().hex[:12]}"
    admin = make_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        admin.dispose()
        pytest.fail(f"PostgreSQL at 127.0.0.1:5432 (user postgres, trust auth) is needed: "
                    f"{exc}; run scripts/system-deps.sh")
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    try:
        if migrate:
            upgrade(url)
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
