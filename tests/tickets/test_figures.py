"""The ticket figures (tickets/figures.py) on a hand-built set of tickets, on SQLite and
PostgreSQL: every figure's numerator and denominator written out by hand from the rows
below, by department, category, legacy number and local day/week/month, with the date
range, the isolation clause and the CSV export.

NOW (the moment "overdue" is judged) is 2026-12-05 04:00Z. Local time is Asia/Shanghai
(UTC+8). 2026-11-01 is a Sunday, 2026-11-02 a Monday.
"""

from __future__ import annotations

import base64
import contextlib
import csv
import io
import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import ColumnElement, Engine, select, text
from sqlalchemy.orm import Session, sessionmaker

from hotline12345.agents.audit import AuditLog
from hotline12345.agents.runtime import AgentsRuntime
from hotline12345.agents.ticket_figures_views import (
    FIGURES_KEY,
    FiguresAccess,
    Visibility,
    user_visibility,
)
from hotline12345.agents.users import User, UserStore
from hotline12345.agents.web import build_app, start_site
from hotline12345.agents.web_settings import WebSettings
from hotline12345.db.engine import make_engine
from hotline12345.db.migrate import alembic_config, upgrade
from hotline12345.tickets.enums import AssignmentKind, CallbackOutcome, Rating, Role, TicketState
from hotline12345.tickets.figures import (
    FIGURES,
    Count,
    FigureError,
    FigureQuery,
    FigureTable,
    GroupBy,
    Period,
    compute_figures,
    figure_statement,
    fixed_offset_s,
)
from hotline12345.tickets.models import Ticket, TicketAssignment
from hotline12345.tickets.workflow import Actor, visible
from tests.databases import new_pg_database

A = "市场监督管理局"
B = "住房和城乡建设局"
NOW = datetime(2026, 12, 5, 4, 0, tzinfo=UTC)
NOVEMBER = {"start": date(2026, 11, 1), "end": date(2026, 11, 30)}
FIGURES_REVISION = "0008"  # the figures' planner statistics


def z(stamp: str) -> datetime:
    """'MM-DD HH:MM[:SS]' in 2026, UTC."""
    return datetime.fromisoformat(f"2026-{stamp}").replace(tzinfo=UTC)


def _tickets() -> list[dict[str, Any]]:
    """The hand-built tickets. t9 is merged into t1 (its merged_into is set on insert)."""
    return [
        # t1: A 消费投诉 12315; created 10-31 17:00Z = 11-01 01:00 local (Sunday, week
        # 10-26). Signed in time, answered in time, closed, revisited and resolved,
        # 非常满意, no 退单/重办/改派, 2.0 working days.
        dict(uniqueid="t1", department=A, category="消费投诉", legacy_number="12315",
             created_at=z("10-31 17:00"), state=TicketState.RATED,
             dispatched_at=z("11-02 01:00"), sign_due=z("11-02 05:00"),
             signed_at=z("11-02 02:00"), answer_due=z("11-09 10:00"),
             answered_at=z("11-05 08:00"), closed_at=z("11-05 09:00"),
             revisit_due=z("11-06 09:00"), revisited_at=z("11-06 03:00"), resolved=True,
             rating=Rating.VERY_SATISFIED, handling_wd=2.0),
        # t2: A 消费投诉, no legacy number; created 11-01 15:59:59Z = 11-01 23:59:59 local
        # (still Sunday 11-01). Signed late, answered late, closed, revisited, not resolved,
        # 不满意, returned once (退单), 6.0 working days.
        dict(uniqueid="t2", department=A, category="消费投诉", legacy_number=None,
             created_at=z("11-01 15:59:59"), state=TicketState.RATED,
             dispatched_at=z("11-02 01:00"), sign_due=z("11-02 05:00"),
             signed_at=z("11-02 06:00"), answer_due=z("11-09 10:00"),
             answered_at=z("11-10 02:00"), closed_at=z("11-10 03:00"),
             revisit_due=z("11-11 03:00"), revisited_at=z("11-11 02:00"), resolved=False,
             rating=Rating.UNSATISFIED, returns_count=1, handling_wd=6.0),
        # t3: A 物业 12315; created 11-01 16:00Z = 11-02 00:00 local (Monday, week 11-02).
        # Never signed, sign_due and answer_due passed: overdue for both.
        dict(uniqueid="t3", department=A, category="物业", legacy_number="12315",
             created_at=z("11-01 16:00"), state=TicketState.AWAITING_SIGN,
             dispatched_at=z("11-02 01:00"), sign_due=z("11-02 05:00"),
             answer_due=z("11-09 10:00")),
        # t4: A 物业; created 11-10 (local 11-10), dispatched just before NOW: sign_due and
        # answer_due still ahead, so in neither denominator; dispatched (退单率's).
        dict(uniqueid="t4", department=A, category="物业", legacy_number=None,
             created_at=z("11-10 02:00"), state=TicketState.AWAITING_SIGN,
             dispatched_at=z("12-05 03:00"), sign_due=z("12-05 07:00"),
             answer_due=z("12-12 10:00")),
        # t5: B 消费投诉 12315; local 11-10. Signed in time; answered 11-19, after the first
        # answer_due (11-17) but before the one an approved 延期 set (11-20): on time.
        # Reassigned once (改派): not 一次办结. revisit_due passed, not revisited.
        # 基本满意, 4.5 working days.
        dict(uniqueid="t5", department=B, category="消费投诉", legacy_number="12315",
             created_at=z("11-10 03:00"), state=TicketState.CLOSED,
             dispatched_at=z("11-10 04:00"), sign_due=z("11-10 08:00"),
             signed_at=z("11-10 05:00"), answer_due=z("11-20 10:00"), extensions_used=1,
             answered_at=z("11-19 02:00"), closed_at=z("11-19 03:00"),
             revisit_due=z("11-20 03:00"), reassign_count=1,
             rating=Rating.BASIC, handling_wd=4.5),
        # t6: B 物业; local 11-15 (Sunday, week 11-09). Signed in time; paused (挂起)
        # 11-18, before its answer_due 11-22 passed: its clock is stopped, not overdue.
        dict(uniqueid="t6", department=B, category="物业", legacy_number=None,
             created_at=z("11-15 03:00"), state=TicketState.HANDLING,
             dispatched_at=z("11-15 04:00"), sign_due=z("11-15 08:00"),
             signed_at=z("11-15 07:00"), answer_due=z("11-22 10:00"),
             paused_since=z("11-18 00:00")),
        # t7: B 物业 12315; local 11-16 (Monday). Signed exactly at sign_due (in time);
        # paused 11-25, after answer_due 11-23 had passed: overdue.
        dict(uniqueid="t7", department=B, category="物业", legacy_number="12315",
             created_at=z("11-16 03:00"), state=TicketState.HANDLING,
             dispatched_at=z("11-16 04:00"), sign_due=z("11-16 08:00"),
             signed_at=z("11-16 08:00"), answer_due=z("11-23 10:00"),
             paused_since=z("11-25 00:00")),
        # t8: no department, 咨询; local 11-20. 直接办结 by the seat (never dispatched),
        # survey 满意.
        dict(uniqueid="t8", department=None, category="咨询", legacy_number=None,
             created_at=z("11-20 03:00"), state=TicketState.CLOSED,
             closed_at=z("11-20 03:05"), rating=Rating.SATISFIED),
        # t9: merged into t1 (并单): counted nowhere, although it would count everywhere.
        dict(uniqueid="t9", department=A, category="消费投诉", legacy_number="12315",
             created_at=z("11-20 04:00"), state=TicketState.CLOSED,
             dispatched_at=z("11-20 05:00"), sign_due=z("11-20 09:00"),
             signed_at=z("11-20 06:00"), answer_due=z("11-27 10:00"),
             answered_at=z("11-21 02:00"), closed_at=z("11-21 03:00"),
             revisit_due=z("11-22 03:00"), revisited_at=z("11-21 05:00"), resolved=True,
             rating=Rating.VERY_UNSATISFIED, returns_count=1, handling_wd=1.0),
        # t10: A 消费投诉 12315; created 10-31 15:59Z = 10-31 23:59 local: October, outside
        # November. Signed in time, 满意.
        dict(uniqueid="t10", department=A, category="消费投诉", legacy_number="12315",
             created_at=z("10-31 15:59"), state=TicketState.HANDLING,
             dispatched_at=z("10-31 16:30"), sign_due=z("10-31 20:00"),
             signed_at=z("10-31 17:00"), rating=Rating.SATISFIED),
        # t11: B 消费投诉; created 11-30 15:00Z = 11-30 23:00 local (Monday, week 11-30).
        # Signed and answered in time, closed after a 重办 (reopen_count 1); revisited but
        # the caller did not answer (resolved unknown); 非常不满意; 2.5 working days.
        dict(uniqueid="t11", department=B, category="消费投诉", legacy_number=None,
             created_at=z("11-30 15:00"), state=TicketState.RATED,
             dispatched_at=z("11-30 15:10"), sign_due=z("11-30 19:00"),
             signed_at=z("11-30 15:20"), answer_due=z("12-04 10:00"),
             answered_at=z("12-03 02:00"), closed_at=z("12-03 03:00"), reopen_count=1,
             revisit_due=z("12-04 03:00"), revisited_at=z("12-03 06:00"),
             callback_outcome=CallbackOutcome.NO_ANSWER,
             rating=Rating.VERY_UNSATISFIED, handling_wd=2.5),
        # t12: A; created 11-30 16:00Z = 12-01 00:00 local: December, outside November.
        dict(uniqueid="t12", department=A, category=None, legacy_number=None,
             created_at=z("11-30 16:00"), state=TicketState.ACCEPTED),
    ]


# Per group, in November (t1..t8, t11): (numerator, denominator) of every figure.
A_COUNTS = {  # t1, t2, t3, t4
    "timely_sign": (1, 3),  # t1 in time; t2 late; t3 overdue; t4 not yet due
    "on_time": (1, 3),  # t1 in time; t2 late; t3 overdue; t4 not yet due
    "satisfaction": (1, 2),  # t1 非常满意; t2 不满意
    "resolution": (1, 2),  # t1 resolved; t2 not
    "revisit": (2, 2),  # t1, t2 revisited
    "first_time": (1, 2),  # t1 clean; t2 returned once
    "return_rate": (1, 4),  # t2 of the 4 dispatched
    "handling_wd": (8.0, 2),  # t1 2.0 + t2 6.0
}
B_COUNTS = {  # t5, t6, t7, t11
    "timely_sign": (4, 4),  # all in time (t7 exactly at the due)
    "on_time": (2, 3),  # t5 (extended) and t11 in time; t7 overdue; t6 paused, not due
    "satisfaction": (1, 2),  # t5 基本满意; t11 非常不满意
    "resolution": (0, 0),  # t11's callback got no answer
    "revisit": (1, 2),  # t11 revisited; t5 overdue
    "first_time": (0, 2),  # t5 reassigned; t11 reopened
    "return_rate": (0, 4),
    "handling_wd": (7.0, 2),  # t5 4.5 + t11 2.5
}
NO_DEPARTMENT_COUNTS = {  # t8, closed directly
    "timely_sign": (0, 0), "on_time": (0, 0), "satisfaction": (1, 1), "resolution": (0, 0),
    "revisit": (0, 0), "first_time": (1, 1), "return_rate": (0, 0), "handling_wd": (0.0, 0),
}
TOTAL_COUNTS = {  # the sums, and the fractions they make
    "timely_sign": (5, 7),
    "on_time": (3, 6),
    "satisfaction": (3, 5),
    "resolution": (1, 2),
    "revisit": (3, 4),
    "first_time": (2, 5),
    "return_rate": (1, 8),
    "handling_wd": (15.0, 4),
}


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'hotline12345.sqlite3'}"
        return
    with new_pg_database("figures", migrate=False) as url:
        yield url


def insert_tickets(engine: Engine) -> None:
    rows = _tickets()
    with Session(engine) as session, session.begin():
        by_uid = {row["uniqueid"]: Ticket(**row) for row in rows}
        session.add_all(by_uid.values())
        session.flush()
        by_uid["t9"].merged_into = by_uid["t1"].id


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    upgrade(db_url)
    eng = make_engine(db_url)
    insert_tickets(eng)
    try:
        yield eng
    finally:
        eng.dispose()


def run(engine: Engine, **kwargs: Any) -> FigureTable:
    kwargs.setdefault("now", NOW)
    where = kwargs.pop("where", None)
    with engine.connect() as conn:
        return compute_figures(conn, FigureQuery(**kwargs), where)


def as_pairs(counts: dict[str, Count]) -> dict[str, tuple[float, int]]:
    return {key: (c.numerator, c.denominator) for key, c in counts.items()}


def test_every_figure_by_department_against_the_hand_counts(engine: Engine) -> None:
    table = run(engine, by=GroupBy.DEPARTMENT, **NOVEMBER)
    assert [(r.group, r.tickets) for r in table.rows] == [(B, 4), (A, 4), (None, 1)]
    got = {r.group: as_pairs(dict(r.counts)) for r in table.rows}
    assert got == {A: A_COUNTS, B: B_COUNTS, None: NO_DEPARTMENT_COUNTS}
    assert table.total.tickets == 9
    assert as_pairs(dict(table.total.counts)) == TOTAL_COUNTS


def test_the_values_are_the_hand_computed_fractions(engine: Engine) -> None:
    total = run(engine, **NOVEMBER).total.counts
    assert {key: c.value for key, c in total.items()} == pytest.approx({
        "timely_sign": 5 / 7,  # t1 t5 t6 t7 t11 of t1 t2 t3 t5 t6 t7 t11
        "on_time": 3 / 6,  # t1 t5 t11 of t1 t2 t3 t5 t7 t11
        "satisfaction": 3 / 5,  # 非常满意 t1, 基本满意 t5, 满意 t8 of t1 t2 t5 t8 t11
        "resolution": 1 / 2,  # t1 of t1 t2
        "revisit": 3 / 4,  # t1 t2 t11 of t1 t2 t5 t11
        "first_time": 2 / 5,  # t1 t8 of t1 t2 t5 t8 t11
        "return_rate": 1 / 8,  # t2 of t1..t7 t11
        "handling_wd": 15.0 / 4,  # (2.0 + 6.0 + 4.5 + 2.5) / 4
    })
    no_department = run(engine, **NOVEMBER).rows[-1]
    assert no_department.group is None
    assert no_department.counts["timely_sign"].value is None  # 0/0 has no value, not 0 %


def test_by_category_and_by_legacy_number(engine: Engine) -> None:
    by_category = run(engine, by=GroupBy.CATEGORY, **NOVEMBER)
    assert {r.group: r.tickets for r in by_category.rows} == {
        "消费投诉": 4,  # t1 t2 t5 t11
        "物业": 4,  # t3 t4 t6 t7
        "咨询": 1}  # t8
    consumer = next(r for r in by_category.rows if r.group == "消费投诉").counts
    assert as_pairs(dict(consumer)) == {
        "timely_sign": (3, 4),  # t1 t5 t11 in time; t2 late
        "on_time": (3, 4),  # t1 t5 t11; t2 late
        "satisfaction": (2, 4),  # t1 t5 of t1 t2 t5 t11
        "resolution": (1, 2),  # t1 of t1 t2
        "revisit": (3, 4),  # t1 t2 t11 of t1 t2 t5 t11
        "first_time": (1, 4),  # t1 of t1 t2 t5 t11
        "return_rate": (1, 4),  # t2
        "handling_wd": (15.0, 4),  # all four answered
    }
    by_legacy = run(engine, by=GroupBy.LEGACY_NUMBER, **NOVEMBER)
    assert [(r.group, r.tickets) for r in by_legacy.rows] == [
        ("12315", 4),  # t1 t3 t5 t7
        (None, 5)]  # t2 t4 t6 t8 t11
    legacy = by_legacy.rows[0].counts
    assert (legacy["timely_sign"].numerator, legacy["timely_sign"].denominator) == (3, 4)
    assert (legacy["on_time"].numerator, legacy["on_time"].denominator) == (2, 4)  # t1 t5


def test_days_weeks_and_months_are_local_time(engine: Engine) -> None:
    days = run(engine, by=GroupBy.PERIOD, period=Period.DAY, **NOVEMBER)
    assert [(r.group, r.tickets) for r in days.rows] == [
        ("2026-11-01", 2),  # t1 (10-31 17:00Z), t2 (11-01 15:59:59Z)
        ("2026-11-02", 1),  # t3 (11-01 16:00Z = local midnight)
        ("2026-11-10", 2),  # t4 t5
        ("2026-11-15", 1),  # t6
        ("2026-11-16", 1),  # t7
        ("2026-11-20", 1),  # t8 (t9 merged)
        ("2026-11-30", 1)]  # t11 (11-30 15:00Z); t12 (16:00Z) is December
    weeks = run(engine, by=GroupBy.PERIOD, period=Period.WEEK, **NOVEMBER)
    assert [(r.group, r.tickets) for r in weeks.rows] == [
        ("2026-10-26", 2),  # t1 t2: Sunday 11-01 local belongs to the week of Monday 10-26
        ("2026-11-02", 1),  # t3
        ("2026-11-09", 3),  # t4 t5 t6 (Sunday 11-15)
        ("2026-11-16", 2),  # t7 t8
        ("2026-11-30", 1)]  # t11
    assert as_pairs(dict(weeks.rows[0].counts))["timely_sign"] == (1, 2)  # t1 yes, t2 late
    months = run(engine, by=GroupBy.PERIOD, period=Period.MONTH)  # no range: all
    assert [(r.group, r.tickets) for r in months.rows] == [
        ("2026-10-01", 1),  # t10 (10-31 23:59 local)
        ("2026-11-01", 9),  # t1..t8 t11
        ("2026-12-01", 1)]  # t12 (12-01 00:00 local)


def test_the_date_range_is_local_dates_both_included(engine: Engine) -> None:
    assert run(engine, start=date(2026, 11, 1), end=date(2026, 11, 1)).total.tickets == 2
    assert run(engine, end=date(2026, 10, 31)).total.tickets == 1  # t10 only
    assert run(engine, start=date(2026, 12, 1)).total.tickets == 1  # t12 only
    assert run(engine).total.tickets == 11  # all but the merged t9


def test_the_isolation_clause_is_applied_to_every_count(engine: Engine) -> None:
    only_a = run(engine, where=Ticket.department == A, **NOVEMBER)
    assert [r.group for r in only_a.rows] == [A]
    assert as_pairs(dict(only_a.total.counts)) == A_COUNTS
    by_day = run(engine, by=GroupBy.PERIOD, where=Ticket.department == B, **NOVEMBER)
    assert [(r.group, r.tickets) for r in by_day.rows] == [
        ("2026-11-10", 1), ("2026-11-15", 1), ("2026-11-16", 1), ("2026-11-30", 1)]


def test_a_handler_counts_what_the_workflow_lets_it_see(engine: Engine) -> None:
    with Session(engine) as session, session.begin():  # A assists on B's t6 (协办)
        t6 = session.scalars(select(Ticket.id).where(Ticket.uniqueid == "t6")).one()
        session.add(TicketAssignment(ticket_id=t6, department=A, kind=AssignmentKind.ASSIST,
                                     assigned_at=z("11-15 04:00"), active=True))
    handler = visible(Actor("a1", Role.HANDLER, A))
    seen = run(engine, where=handler, **NOVEMBER)
    assert [(r.group, r.tickets) for r in seen.rows] == [(B, 1), (A, 4)]  # t6; t1..t4
    # A's own counts, plus t6: signed in time, paused (not due), dispatched, not returned.
    expected = {**A_COUNTS, "timely_sign": (2, 4), "return_rate": (1, 5)}
    assert as_pairs(dict(seen.total.counts)) == expected
    nowhere = run(engine, where=visible(Actor("x", Role.HANDLER, None)), **NOVEMBER)
    assert nowhere.rows == () and nowhere.total.tickets == 0
    centre = run(engine, where=visible(Actor("c", Role.SUPERVISOR)), **NOVEMBER)
    assert as_pairs(dict(centre.total.counts)) == TOTAL_COUNTS


def test_the_web_users_visibility(engine: Engine) -> None:
    def counted(user: User) -> int:
        return run(engine, where=user_visibility(user), **NOVEMBER).total.tickets

    assert counted(User("boss", Role.SUPERVISOR.value)) == 9  # the centre: every ticket
    assert counted(User("v", "观察员")) == 9  # the wallboard's viewer: the centre's figures
    assert counted(User("a1", Role.HANDLER.value, department=A)) == 4  # t1..t4
    assert counted(User("b1", Role.HANDLER.value, department=B)) == 4  # t5 t6 t7 t11
    assert counted(User("h", Role.HANDLER.value)) == 0  # no department: nothing


def test_one_figure_alone_counts_the_same(engine: Engine) -> None:
    alone = run(engine, figures=("on_time",), **NOVEMBER)
    assert list(alone.total.counts) == ["on_time"]
    assert as_pairs(dict(alone.total.counts)) == {"on_time": TOTAL_COUNTS["on_time"]}


def test_overdue_is_judged_at_now(engine: Engine) -> None:
    # Before t3's sign_due (11-02 05:00Z): t3 is not yet overdue, so not counted.
    early = run(engine, by=GroupBy.PERIOD, now=z("11-02 04:00"),
                start=date(2026, 11, 2), end=date(2026, 11, 2))
    assert as_pairs(dict(early.total.counts))["timely_sign"] == (0, 0)
    late = run(engine, by=GroupBy.PERIOD, now=z("11-02 06:00"),
               start=date(2026, 11, 2), end=date(2026, 11, 2))
    assert as_pairs(dict(late.total.counts))["timely_sign"] == (0, 1)


def test_bad_queries_name_their_field() -> None:
    with pytest.raises(FigureError) as exc:
        FigureQuery(start=date(2026, 12, 1), end=date(2026, 11, 1))
    assert exc.value.field == "from"
    with pytest.raises(FigureError) as exc:
        FigureQuery(by=GroupBy.DEPARTMENT, period=Period.WEEK)
    assert exc.value.field == "period"
    with pytest.raises(FigureError) as exc:
        FigureQuery(figures=("speed",))
    assert exc.value.field == "figures" and "timely_sign" in exc.value.message
    assert {f.key for f in FIGURES} == set(TOTAL_COUNTS)
    # Periods are computed with one UTC offset: a zone with daylight saving is refused.
    berlin = FigureQuery(by=GroupBy.PERIOD, zone=ZoneInfo("Europe/Berlin"), now=NOW)
    with pytest.raises(FigureError) as exc:
        figure_statement(berlin, "postgresql")
    assert exc.value.field == "period" and "Europe/Berlin" in exc.value.message
    assert fixed_offset_s(ZoneInfo("Asia/Shanghai")) == 8 * 3600


# --- over HTTP: /api/figures (JSON, CSV) and the page ---------------------------------

def _basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@contextlib.asynccontextmanager
async def served(engine: Engine | None, tmp_path: Path,
                 visibility: Visibility | None = None) -> AsyncIterator[str]:
    """The wallboard app with the figure routes on ``engine``, its clock at NOW; yields
    its base URL. User ``boss`` (password ``boss-pass-1``)."""
    users = UserStore.in_data_dir(tmp_path, rounds=4)
    users.set("boss", "boss-pass-1", "supervisor")
    audit = AuditLog(f"sqlite:///{tmp_path / 'audit.sqlite3'}")
    upgrade(f"sqlite:///{tmp_path / 'audit.sqlite3'}")
    app = build_app(AgentsRuntime(), users, audit, tickets_db=engine,
                    settings=WebSettings(clock=NOW.timestamp))
    if visibility is not None:
        app[FIGURES_KEY] = FiguresAccess(sessionmaker(engine), visibility)
    runner, port = await start_site(app, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()
        audit.close()


async def get(url: str, **params: str) -> tuple[int, bytes, dict[str, str]]:
    async with aiohttp.ClientSession(headers=_basic("boss", "boss-pass-1")) as s, \
            s.get(url, params=params) as r:
        return r.status, await r.read(), dict(r.headers)


async def test_the_api_answers_the_hand_counts_as_json(engine: Engine, tmp_path: Path) -> None:
    async with served(engine, tmp_path) as base:
        status, body, _ = await get(f"{base}/api/figures", by="department",
                                    **{"from": "2026-11-01", "to": "2026-11-30"})
    assert status == 200
    answer = json.loads(body)
    assert (answer["by"], answer["from"], answer["to"]) == ("department", "2026-11-01",
                                                           "2026-11-30")
    rows = {r["group"]: r for r in answer["rows"]}
    assert set(rows) == {A, B, None}
    for group, expected in ((A, A_COUNTS), (B, B_COUNTS), (None, NO_DEPARTMENT_COUNTS)):
        got = {k: (v["numerator"], v["denominator"]) for k, v in rows[group]["figures"].items()}
        assert got == expected
    total = answer["total"]["figures"]
    assert {k: (v["numerator"], v["denominator"]) for k, v in total.items()} == TOTAL_COUNTS
    assert total["timely_sign"]["value"] == pytest.approx(5 / 7)
    assert rows[None]["figures"]["on_time"]["value"] is None
    assert [f["label"] for f in answer["figures"]][:2] == ["及时签收率", "按时办结率"]


async def test_the_csv_parses_back_to_the_same_counts(engine: Engine, tmp_path: Path) -> None:
    async with served(engine, tmp_path) as base:
        status, body, headers = await get(f"{base}/api/figures", by="period", period="week",
                                          format="csv",
                                          **{"from": "2026-11-01", "to": "2026-11-30"})
    assert status == 200 and headers["Content-Type"].startswith("text/csv")
    assert "figures-period-week-2026-11-01-2026-11-30.csv" in headers["Content-Disposition"]
    assert body.startswith(b"\xef\xbb\xbf")  # the BOM: Excel reads UTF-8
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    header, *groups, total = rows
    assert header[:5] == ["时段", "工单数", "及时签收率", "及时签收率分子", "及时签收率分母"]
    assert [(r[0], int(r[1])) for r in groups] == [
        ("2026-10-26", 2), ("2026-11-02", 1), ("2026-11-09", 3), ("2026-11-16", 2),
        ("2026-11-30", 1)]
    assert total[0] == "合计" and int(total[1]) == 9
    for f in FIGURES:
        at = header.index(f.label)
        num, den = TOTAL_COUNTS[f.key]
        assert (float(total[at + 1]), int(total[at + 2])) == (num, den)
        shown = total[at]
        expected = num / den
        assert (float(shown) if f.unit == "working_days" else float(shown.rstrip("%")) / 100) \
            == pytest.approx(expected, abs=0.001)


async def test_the_api_applies_the_visibility_clause(engine: Engine, tmp_path: Path) -> None:
    def only_b(user: User) -> ColumnElement[bool] | None:
        return Ticket.department == B

    async with served(engine, tmp_path, visibility=only_b) as base:
        status, body, _ = await get(f"{base}/api/figures",
                                    **{"from": "2026-11-01", "to": "2026-11-30"})
    assert status == 200
    answer = json.loads(body)
    assert [r["group"] for r in answer["rows"]] == [B]
    assert answer["total"]["tickets"] == 4


@pytest.mark.parametrize(("params", "field"), [
    ({"by": "caller"}, "by"),
    ({"by": "period", "period": "year"}, "period"),
    ({"by": "department", "period": "week"}, "period"),
    ({"from": "2026-13-01"}, "from"),
    ({"to": "yesterday"}, "to"),
    ({"from": "2026-12-01", "to": "2026-11-01"}, "from"),
    ({"format": "xlsx"}, "format"),
])
async def test_bad_parameters_are_a_400_naming_the_field(
        engine: Engine, tmp_path: Path, params: dict[str, str], field: str) -> None:
    async with served(engine, tmp_path) as base:
        status, body, _ = await get(f"{base}/api/figures", **params)
    assert status == 400
    assert json.loads(body)["field"] == field


async def test_without_a_database_the_figures_are_a_503_saying_what_to_set(
        tmp_path: Path) -> None:
    async with served(None, tmp_path) as base:
        status, body, _ = await get(f"{base}/api/figures")
        page_status, _, _ = await get(f"{base}/figures")
    assert status == 503 and page_status == 503
    assert "HOTLINE12345_DATABASE_URL" in json.loads(body)["error"]


async def test_the_page_shows_the_table_and_a_chart_per_figure(
        engine: Engine, tmp_path: Path) -> None:
    async with served(engine, tmp_path) as base:
        status, body, headers = await get(f"{base}/figures", by="department", period="day",
                                          **{"from": "2026-11-01", "to": "2026-11-30"})
        css_status, css, _ = await get(f"{base}/figures/figures.css")
        bad_status, bad, _ = await get(f"{base}/figures", to="never")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    page = body.decode("utf-8")
    assert "统计报表" in page and "<script" not in page and "style=" not in page
    assert page.count("<svg") == len(FIGURES)
    assert A in page and "71.4%" in page and "5/7" in page  # 合计 及时签收率 5/7
    assert 'href="/api/figures?by=department&amp;from=2026-11-01&amp;to=2026-11-30&amp;' \
           'format=csv"' in page  # the form's period is dropped unless by=period
    assert css_status == 200 and b".charts" in css
    assert bad_status == 400 and "YYYY-MM-DD" in bad.decode("utf-8")


async def test_the_figures_need_a_login(engine: Engine, tmp_path: Path) -> None:
    async with served(engine, tmp_path) as base, aiohttp.ClientSession() as s, \
            s.get(f"{base}/api/figures") as r:
        assert r.status == 401


# --- PostgreSQL's plan: migration 0007's statistics match the period expressions --------

@pytest.fixture
def pg_url(db_url: str) -> str:
    if not db_url.startswith("postgresql"):
        pytest.skip("expression statistics are PostgreSQL's")
    return db_url


def _estimated_groups(engine: Engine, period: Period) -> int:
    query = FigureQuery(by=GroupBy.PERIOD, period=period, now=NOW)
    statement = figure_statement(query, "postgresql")
    compiled = statement.compile(dialect=engine.dialect,
                                 compile_kwargs={"literal_binds": True})
    with engine.connect() as conn:
        plan = conn.execute(text(f"EXPLAIN (FORMAT JSON) {compiled}")).scalar_one()
    return int(plan[0]["Plan"]["Plan Rows"])


def test_the_planner_knows_how_many_periods_there_are(pg_url: str) -> None:
    upgrade(pg_url)
    engine = make_engine(pg_url)
    try:
        with engine.begin() as conn:  # 3000 tickets over 3 local days (11-02 .. 11-04)
            conn.execute(text(
                "INSERT INTO tickets (uniqueid, state, created_at, transcript, summary, urgency,"
                " extensions_used, extension_pending, return_pending, returns_count,"
                " unjust_returns, reassign_count, reopen_count, real_name, history_seq)"
                " SELECT 'p.' || g, '受理', TIMESTAMP '2026-11-01 16:00' + g * interval '86 s',"
                " '', '', '一般', 0, false, false, 0, 0, 0, 0, false, 1"
                " FROM generate_series(1, 3000) AS g"))
            conn.execute(text("ANALYZE tickets"))
        # One group per ticket (3000) is PostgreSQL's guess without the statistics.
        assert _estimated_groups(engine, Period.DAY) <= 10
        assert _estimated_groups(engine, Period.WEEK) <= 10
        assert _estimated_groups(engine, Period.MONTH) <= 10
        with engine.begin() as conn:
            config = alembic_config(pg_url)
            config.attributes["connection"] = conn
            own = ScriptDirectory.from_config(config).get_revision(FIGURES_REVISION)
            assert own is not None and isinstance(own.down_revision, str)
            command.downgrade(config, own.down_revision)  # back to before 0007
            conn.execute(text("ANALYZE tickets"))
        assert _estimated_groups(engine, Period.DAY) > 100  # the test can tell
    finally:
        engine.dispose()


async def test_the_api_is_in_the_openapi_document_and_handlers_see_their_own(
        engine: Engine, tmp_path: Path) -> None:
    async with served(engine, tmp_path) as base:
        users = UserStore.in_data_dir(tmp_path, rounds=4)
        users.set("a1", "handler-pass-1", "handler", department=A)
        status, body, _ = await get(f"{base}/api/openapi.json")
        async with aiohttp.ClientSession(headers=_basic("a1", "handler-pass-1")) as s, \
                s.get(f"{base}/api/figures", params={"from": "2026-11-01",
                                                     "to": "2026-11-30"}) as r:
            handler_status, handler_answer = r.status, await r.json()
    assert status == 200
    operation = json.loads(body)["paths"]["/api/figures"]["get"]
    assert {p["name"] for p in operation["parameters"]} == {"by", "period", "from", "to",
                                                             "format"}
    assert handler_status == 200
    assert [r["group"] for r in handler_answer["rows"]] == [A]
    got = {k: (v["numerator"], v["denominator"])
           for k, v in handler_answer["total"]["figures"].items()}
    assert got == A_COUNTS
