"""The 督办 sweep as ``serve`` and cron run it: page by page, idempotent, and the
``tickets sweep`` command's output and errors."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from hotline12345.cli import main
from hotline12345.db.engine import make_engine
from hotline12345.db.migrate import upgrade
from hotline12345.tickets.enums import Action, Role, Supervision
from hotline12345.tickets.models import Ticket
from hotline12345.tickets.sweeper import Sweeper
from hotline12345.tickets.workflow import Actor
from tests.tickets.conftest import MONDAY_10, make_workflow, new_ticket
from tests.waiting import until

SEAT = Actor("seat", Role.SEAT)


def _dispatched_tickets(url: str, count: int) -> list[int]:
    workflow = make_workflow()
    engine = make_engine(url)
    with Session(engine) as session, session.begin():
        ids = []
        for _ in range(count):
            ticket = new_ticket(session, workflow)
            workflow.apply(session, ticket.id, Action.DISPATCH, SEAT, now=MONDAY_10,
                           department="市场监督管理局")
            ids.append(ticket.id)
    engine.dispose()
    return ids


def _levels(url: str, ids: list[int]) -> list[Supervision | None]:
    engine = make_engine(url)
    with Session(engine) as session:
        levels = [session.get(Ticket, i).supervision for i in ids]  # type: ignore[union-attr]
    engine.dispose()
    return levels


def test_the_sweeper_pages_through_every_ticket_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'h.sqlite3'}"
    upgrade(url)
    ids = _dispatched_tickets(url, 7)
    engine = make_engine(url)
    late = MONDAY_10 + timedelta(days=30)
    # three pages: 3, 3, 1
    sweeper = Sweeper(sessionmaker(engine), make_workflow(), clock=lambda: late, batch=3)
    assert sweeper.run_once() == 7
    assert _levels(url, ids) == [Supervision.ORDER] * 7
    assert sweeper.run_once() == 0  # idempotent
    engine.dispose()


async def test_serve_s_loop_sweeps_and_survives_a_broken_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'h.sqlite3'}"
    upgrade(url)
    ids = _dispatched_tickets(url, 2)
    engine = make_engine(url)
    rounds: list[int] = []
    late = MONDAY_10 + timedelta(days=30)

    def clock() -> object:
        rounds.append(1)
        if len(rounds) == 1:
            raise RuntimeError("database went away")  # the first round fails, is logged
        return late

    sweeper = Sweeper(sessionmaker(engine), make_workflow(), clock=clock)  # type: ignore[arg-type]
    task = asyncio.create_task(sweeper.run_forever(0.01))
    try:
        await until(lambda: _levels(url, ids) == [Supervision.ORDER] * 2)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        engine.dispose()
    assert len(rounds) >= 2


def test_the_sweep_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'h.sqlite3'}"
    upgrade(url)
    ids = _dispatched_tickets(url, 2)
    assert main(["tickets", "sweep", "--database-url", url, "--now",
                 "2026-12-30T10:00+08:00"]) == 0
    assert capsys.readouterr().out.strip() == "督办 sweep: 2 ticket(s) raised"
    assert _levels(url, ids) == [Supervision.ORDER] * 2
    missing = f"sqlite:///{tmp_path / 'none.sqlite3'}"
    assert main(["tickets", "sweep", "--database-url", missing]) == 2
    err = capsys.readouterr().err
    assert "no database at" in err and "hotline12345 db upgrade" in err
    assert "Traceback" not in err
    with pytest.raises(SystemExit):
        main(["tickets", "sweep", "--now", "yesterday"])
    assert "is not an ISO time" in capsys.readouterr().err


def test_the_lifecycle_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tickets", "lifecycle"]) == 0
    assert capsys.readouterr().out.startswith("stateDiagram-v2")
