"""Alembic migrations: idempotent, equal to the models on SQLite and PostgreSQL, adopting a
``calls`` table made by ``create_all``, safe when several processes upgrade at once."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hotline12345.calls.models import CallRecord
from hotline12345.db.base import Base
from hotline12345.db.engine import make_engine
from hotline12345.db.migrate import current_revision, head_revision, upgrade
from hotline12345.db.models import load_models
from hotline12345.tickets.enums import Speaker, TicketState
from hotline12345.tickets.models import Ticket
from hotline12345.tickets.store import TicketDraft, UtteranceDraft, save_ticket

#: Every table on the shared Base (other parts add theirs: agents_audit in 0003).
TABLES = {*load_models().tables, "alembic_version"}
OURS = {"calls", "tickets", "ticket_utterances", "recording_jobs"}


def test_schema_equals_the_models(db_url: str) -> None:
    upgrade(db_url)  # again: nothing to do
    head = head_revision()
    assert head is not None and current_revision(db_url) == head
    assert OURS < TABLES
    engine = make_engine(db_url)
    with engine.connect() as conn:
        assert set(inspect(conn).get_table_names()) == TABLES
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}),
                                load_models())
    engine.dispose()
    assert diff == []
    assert set(Base.metadata.tables) == TABLES - {"alembic_version"}


def test_ticket_constraints(db_url: str) -> None:
    engine = make_engine(db_url)
    draft = TicketDraft(uniqueid="1.1", caller="13800138000", transcript="[00:00.0] 来电人：x",
                        utterances=[UtteranceDraft(Speaker.CALLER, 0.0, 0.5, "x",
                                                   [{"word": "x", "start": 0.0, "end": 0.5,
                                                     "conf": 0.25}])])
    with Session(engine) as s, s.begin():
        first = save_ticket(s, draft)
        assert first[1] is True
        assert save_ticket(s, draft) == (first[0], False)  # idempotent on the uniqueid
    with Session(engine) as s:
        ticket = s.get(Ticket, first[0])
        assert ticket is not None and ticket.state is TicketState.ACCEPTED
        assert ticket.utterances[0].words == [{"word": "x", "start": 0.0, "end": 0.5,
                                               "conf": 0.25}]
    with pytest.raises(IntegrityError), Session(engine) as s, s.begin():  # the unique constraint
        s.add(Ticket(uniqueid="1.1", transcript=""))
    engine.dispose()


def test_a_calls_table_made_by_create_all_is_adopted(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    engine = make_engine(url)
    Base.metadata.create_all(engine, tables=[CallRecord.__table__])  # type: ignore[list-item]
    with Session(engine) as s, s.begin():
        s.add(CallRecord(uniqueid="1.1", caller="13800138000"))
    upgrade(url, engine=engine)
    with Session(engine) as s:
        assert s.get(CallRecord, "1.1") is not None
    assert set(inspect(engine).get_table_names()) == TABLES
    engine.dispose()


def test_concurrent_upgrades(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new.sqlite3'}"
    errors: list[BaseException] = []

    def run() -> None:
        try:
            upgrade(url)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == [] and current_revision(url) == head_revision()
