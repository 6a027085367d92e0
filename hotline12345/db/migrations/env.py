"""Alembic environment: every table declared on ``hotline12345.db.base.Base``.

Run through :func:`hotline12345.db.migrate.upgrade`, which passes an open connection in
``config.attributes["connection"]``; from the command line the URL comes from
``-x url=...`` or the embedded SQLite database.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from hotline12345.db.migrate import resolve_url
from hotline12345.db.models import load_models

config = context.config
target_metadata = load_models()


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters by copying
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    from hotline12345.db.engine import make_engine

    engine = make_engine(resolve_url(context.get_x_argument(as_dictionary=True).get("url")))
    try:
        with engine.connect() as conn:
            _run(conn)
            conn.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    context.configure(url=resolve_url(context.get_x_argument(as_dictionary=True).get("url")),
                      target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations_online()
