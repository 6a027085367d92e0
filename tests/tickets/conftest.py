"""Databases and a workflow for the ticket-loop tests: SQLite and PostgreSQL, migrated by
the product's own Alembic revisions."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from hotline12345.config.schema import TicketLoopSettings
from hotline12345.db.engine import make_engine
from hotline12345.db.migrate import upgrade
from hotline12345.tickets.deadlines import DeadlinePolicy
from hotline12345.tickets.models import Ticket
from hotline12345.tickets.store import TicketDraft, save_ticket
from hotline12345.tickets.workdays import WorkCalendar
from hotline12345.tickets.workflow import Workflow
from tests.databases import new_pg_database

DEPARTMENTS = ("市场监督管理局", "住房和城乡建设局", "交通运输局", "生态环境局")
#: Monday 2026-11-30, 10:00 in Shanghai: a working day, in office hours.
MONDAY_10 = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def postgresql_tickets_database() -> Iterator[str]:
    with new_pg_database("loop") as url:
        yield url


@pytest.fixture(scope="session")
def sqlite_tickets_database(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('loop') / 'hotline12345.sqlite3'}"
    upgrade(url)
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def loop_sessions(request: pytest.FixtureRequest) -> Iterator[sessionmaker[Session]]:
    """Sessions on a migrated database (each test adds its own tickets; ids never clash)."""
    url: str = request.getfixturevalue(f"{request.param}_tickets_database")
    engine = make_engine(url)
    yield sessionmaker(engine)
    engine.dispose()


def make_workflow(**settings: Any) -> Workflow:
    return Workflow(DeadlinePolicy(TicketLoopSettings(**settings), WorkCalendar()),
                    TicketLoopSettings(**settings), departments=DEPARTMENTS)


@pytest.fixture
def workflow() -> Workflow:
    return make_workflow()


_serial = itertools.count()


def new_ticket(session: Session, workflow: Workflow, *, at: datetime = MONDAY_10,
               caller: str = "13800138000", category: str | None = "消费投诉",
               department: str | None = "市场监督管理局") -> Ticket:
    """A ticket as the recordings pipeline makes it (受理), with its first history row."""
    uniqueid = f"t{uuid.uuid4().hex[:8]}.{next(_serial)}"
    ticket_id, created = save_ticket(session, TicketDraft(
        uniqueid=uniqueid, caller=caller, category=category, department=department,
        transcript="来电人：楼下餐馆噪音扰民", call_started_at=at), now=at)
    assert created
    ticket = session.get(Ticket, ticket_id)
    assert ticket is not None
    return ticket


def tmp_sqlite(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'hotline12345.sqlite3'}"
