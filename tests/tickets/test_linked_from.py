"""A call that 110 transferred to 12345 is marked on its call record (calls.linked_from,
migration 0004) and in its ticket view, on SQLite and PostgreSQL; an existing database at
0003 keeps its calls when the column is added."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.orm import Session

from hotline12345.calls.store import RoutedCall, SqlCallStore
from hotline12345.db.engine import make_engine
from hotline12345.db.migrate import current_revision, head_revision, upgrade
from hotline12345.tickets.store import TicketDraft, get_ticket, save_ticket, ticket_view

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
AT = datetime(2026, 11, 28, 6, 30, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'hotline12345.sqlite3'}"
        return
    name = f"hotline12345_tickets_{uuid.uuid4().hex[:12]}"
    admin = make_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def routed(uniqueid: str, linked_from: str | None) -> RoutedCall:
    return RoutedCall(uniqueid=uniqueid, caller="057187654321", caller_name=None,
                      dialled="12345110", action="queue", target="q-general", priority=5,
                      reasons=("transferred to 12345 by 公安110 110",), answer=None,
                      outcome="routed", started_at=AT, routed_at=AT, linked_from=linked_from)


def test_the_ticket_view_marks_a_call_110_transferred(db_url: str) -> None:
    upgrade(db_url)
    store = SqlCallStore(db_url)
    try:
        store.write([routed("7.1", "110"), routed("7.2", None)])
        view = store.get("7.1")
        assert view is not None and view.linked_from == "110"
        engine = store.engine
        with Session(engine) as s, s.begin():
            for uid in ("7.1", "7.2", "7.3"):  # 7.3: a ticket without a call record
                save_ticket(s, TicketDraft(uniqueid=uid, caller="057187654321",
                                           dialled="12345110"))
        with Session(engine) as s:
            shown = {uid: ticket_view(t)["linked_from"] for uid in ("7.1", "7.2", "7.3")
                     if (t := get_ticket(s, uid)) is not None}
        assert shown == {"7.1": "110", "7.2": None, "7.3": None}
    finally:
        store.close()


def test_0004_adds_the_column_to_a_database_at_0003(db_url: str) -> None:
    upgrade(db_url, "0003")
    engine = make_engine(db_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO calls (uniqueid, caller) VALUES ('1.1', '13800138000')"))
        assert "linked_from" not in {c["name"] for c in inspect(engine).get_columns("calls")}
        upgrade(db_url, engine=engine)
        assert current_revision(db_url) == head_revision()
        assert "linked_from" in {c["name"] for c in inspect(engine).get_columns("calls")}
        with engine.connect() as conn:
            assert conn.execute(text("SELECT caller, linked_from FROM calls")).all() == [
                ("13800138000", None)]
    finally:
        engine.dispose()
