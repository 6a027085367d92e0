"""The ticket loop's wiring for a site: its workflow, its database, its sweep. ``serve``
and the ``tickets`` commands use these; the CLI only parses arguments."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import sessionmaker

from hotline12345.config.schema import Site
from hotline12345.db.engine import make_engine
from hotline12345.db.migrate import SchemaMissing, check_schema, resolve_url
from hotline12345.tickets.sweeper import Sweeper
from hotline12345.tickets.workflow import Workflow

__all__ = ["SweepFailed", "sweep_once"]


class SweepFailed(Exception):
    """The sweep could not run; the message says why and what to do."""


def database_url_for(data_dir: str | None, database_url: str | None) -> str:
    from hotline12345 import paths

    if database_url:
        return database_url
    return paths.database_url(paths.data_dir(data_dir)) if data_dir else resolve_url(None)


def sweep_once(site: Site, *, data_dir: str | None = None, database_url: str | None = None,
               now: datetime | None = None) -> int:
    """Run the 督办 sweep once on the site's database; the number of tickets raised."""
    url = database_url_for(data_dir, database_url)
    try:
        check_schema(url)
    except SchemaMissing as exc:
        raise SweepFailed(str(exc)) from None
    except SQLAlchemyError as exc:
        raise SweepFailed(f"cannot read the database: {type(exc).__name__}: "
                          f"{str(exc).splitlines()[0][:200]}") from None
    from hotline12345.sharing.outbox import Outbox  # the 督办 events reach the feeds too

    engine = make_engine(url)
    workflow = Workflow.for_site(site, [Outbox(site.file.feeds).record])
    try:
        return Sweeper(sessionmaker(engine), workflow).run_once(now)
    except SQLAlchemyError as exc:
        raise SweepFailed(f"the sweep failed: {type(exc).__name__}: "
                          f"{str(exc).splitlines()[0][:200]}") from None
    finally:
        engine.dispose()
