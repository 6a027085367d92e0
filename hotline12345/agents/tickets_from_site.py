"""The :class:`.tickets_access.TicketsAccess` that ``serve`` gives the wallboard: the site's
workflow (:meth:`hotline12345.tickets.workflow.Workflow.for_site`: its deadline rules,
calendar and departments), sessions on the database, and the recordings directory the
recordings are served from."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from sqlalchemy.orm import sessionmaker

from hotline12345.config.schema import Site
from hotline12345.db.engine import make_engine
from hotline12345.tickets.events import EventListener
from hotline12345.tickets.workflow import Workflow

from .tickets_access import TicketsAccess

__all__ = ["tickets_from_site"]


def tickets_from_site(site: Site, database_url: str, *, recordings_dir: Path | None,
                      listeners: Sequence[EventListener] = ()) -> TicketsAccess:
    """The ticket loop of ``site`` on the (migrated) database at ``database_url``;
    ``listeners`` get every transition's event in its session (the feeds' outbox).
    ``close()`` the result to release its connections."""
    workflow = Workflow.for_site(site, listeners)
    engine = make_engine(database_url)
    return TicketsAccess(workflow, sessionmaker(engine, expire_on_commit=False),
                         [d.name for d in site.file.departments],
                         recordings_dir=recordings_dir,
                         merge_window_hours=site.file.tickets.merge_window_hours)
