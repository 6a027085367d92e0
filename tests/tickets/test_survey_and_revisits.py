"""The end-of-call survey on the ticket (either order, idempotent), the 差评回访 tasks, the
回访 list, and linking a placed callback to its task; on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from hotline12345.calls.store import RoutedCall, SqlCallStore, SurveyResult
from hotline12345.db.engine import make_engine
from hotline12345.db.migrate import upgrade
from hotline12345.tickets.enums import CallbackKind, Rating, TicketState, Urgency
from hotline12345.tickets.models import Ticket, TicketCallback
from hotline12345.tickets.revisit import (
    NotDue,
    callback_target,
    fill_missing_dues,
    link_callback_call,
    revisit_list,
)
from hotline12345.tickets.store import TicketDraft, save_ticket
from hotline12345.tickets.survey import (
    apply_survey,
    reconcile_surveys,
    surveys_written,
    upkeep,
)
from tests.databases import new_pg_database

AT = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)
SURVEYED = AT + timedelta(minutes=5)


@dataclass(frozen=True)
class FixedDue:
    at: datetime


class OneDayPolicy:
    """A stand-in for the DeadlinePolicy: every limit is one calendar day; it records what
    it was asked."""

    def __init__(self) -> None:
        self.asked: list[tuple[Any, str | None, Urgency, datetime]] = []

    def due(self, limit: Any, *, category: str | None, urgency: Urgency,
            start: datetime) -> FixedDue:
        self.asked.append((limit, category, urgency, start))
        return FixedDue(start + timedelta(days=1))


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'hotline12345.sqlite3'}"
        upgrade(url)
        yield url
        return
    with new_pg_database("revisit") as url:
        yield url


def routed(uniqueid: str, caller: str | None = "13800138000") -> RoutedCall:
    return RoutedCall(uniqueid=uniqueid, caller=caller, caller_name=None, dialled="12345",
                      action="queue", target="q-general", priority=0, reasons=(),
                      answer=None, outcome="routed", started_at=AT, routed_at=AT)


def make_ticket(session: Session, uniqueid: str, caller: str | None = "13800138000") -> int:
    ticket_id, created = save_ticket(session, TicketDraft(uniqueid=uniqueid, caller=caller,
                                                          category="消费投诉"))
    assert created
    return ticket_id


def tasks(session: Session, ticket_id: int) -> list[TicketCallback]:
    return list(session.scalars(select(TicketCallback).where(
        TicketCallback.ticket_id == ticket_id).order_by(TicketCallback.id)))


@pytest.mark.parametrize(("score", "rating"), [
    (5, Rating.VERY_SATISFIED), (4, Rating.SATISFIED), (3, Rating.BASIC),
    (2, Rating.UNSATISFIED), (1, Rating.VERY_UNSATISFIED), (None, None)])
def test_the_survey_before_the_ticket_becomes_its_first_rating(
        db_url: str, score: int | None, rating: Rating | None) -> None:
    store = SqlCallStore(db_url)
    try:
        store.write([routed("1.1"), SurveyResult("1.1", score, SURVEYED)])
        with Session(store.engine) as s, s.begin():
            ticket_id = make_ticket(s, "1.1")
        with Session(store.engine) as s:
            ticket = s.get(Ticket, ticket_id)
            assert ticket is not None and ticket.survey_rating == rating
            assert ticket.rating is None  # the survey is not a 评价
            found = tasks(s, ticket_id)
            if rating in (Rating.UNSATISFIED, Rating.VERY_UNSATISFIED):
                assert [(t.kind, t.created_at, t.done_at) for t in found] == [
                    (CallbackKind.COMPLAINT, SURVEYED, None)]
                assert found[0].note == f"来电满意度调查：{rating.value}"
            else:
                assert found == []
    finally:
        store.close()


def test_the_survey_after_the_ticket_through_the_call_stores_hook(db_url: str) -> None:
    policy = OneDayPolicy()
    store = SqlCallStore(db_url, after_surveys=partial(surveys_written, policy=policy))
    try:
        store.write([routed("2.1"), routed("2.2")])
        with Session(store.engine) as s, s.begin():
            first = make_ticket(s, "2.1")
            second = make_ticket(s, "2.2")
        store.write([SurveyResult("2.1", 1, SURVEYED), SurveyResult("2.2", 4, SURVEYED),
                     SurveyResult("2.3", 2, SURVEYED)])  # 2.3: no ticket (yet)
        with Session(store.engine) as s:
            t1, t2 = s.get(Ticket, first), s.get(Ticket, second)
            assert t1 is not None and t2 is not None
            assert (t1.survey_rating, t2.survey_rating) == (Rating.VERY_UNSATISFIED,
                                                            Rating.SATISFIED)
            found = tasks(s, first)
            assert [(t.kind, t.due) for t in found] == [
                (CallbackKind.COMPLAINT, SURVEYED + timedelta(days=1))]
            assert tasks(s, second) == []
        assert policy.asked == [("回访", "消费投诉", Urgency.NORMAL, SURVEYED)]
        # the same survey again, and its ticket made afterwards: nothing twice
        store.write([SurveyResult("2.1", 1, SURVEYED)])
        with Session(store.engine) as s, s.begin():
            third = make_ticket(s, "2.3")
        with Session(store.engine) as s, s.begin():
            assert apply_survey(s, "2.1", policy=policy) is None
            assert reconcile_surveys(s, now=SURVEYED, policy=policy) == 0
            assert len(tasks(s, first)) == 1
            t3 = s.get(Ticket, third)
            assert t3 is not None and t3.survey_rating == Rating.UNSATISFIED
            assert len(tasks(s, third)) == 1
    finally:
        store.close()


def test_a_survey_missed_by_both_writers_is_reconciled(db_url: str) -> None:
    """A survey written without the hook while its ticket existed (as when the ticket's
    transaction was still open): the sweep's reconcile puts it on the ticket, once."""
    store = SqlCallStore(db_url)  # no hook
    try:
        store.write([routed("3.1")])
        with Session(store.engine) as s, s.begin():
            ticket_id = make_ticket(s, "3.1")
        store.write([SurveyResult("3.1", 2, SURVEYED)])
        with Session(store.engine) as s:
            ticket = s.get(Ticket, ticket_id)
            assert ticket is not None and ticket.survey_rating is None
        policy = OneDayPolicy()
        with Session(store.engine) as s, s.begin():
            assert upkeep(s, now=SURVEYED, policy=policy) == 1  # the sweep's share
        with Session(store.engine) as s, s.begin():
            assert reconcile_surveys(s, now=SURVEYED, policy=policy) == 0
            ticket = s.get(Ticket, ticket_id)
            assert ticket is not None and ticket.survey_rating == Rating.UNSATISFIED
            assert len(tasks(s, ticket_id)) == 1
        # outside the window: not looked at
        with Session(store.engine) as s, s.begin():
            s.execute(text("UPDATE tickets SET survey_rating = NULL"))
            assert reconcile_surveys(s, now=SURVEYED + timedelta(days=30)) == 0
    finally:
        store.close()


def _task(session: Session, ticket_id: int, kind: CallbackKind, due: datetime | None,
          done: datetime | None = None, note: str = "") -> None:
    session.add(TicketCallback(ticket_id=ticket_id, kind=kind, created_at=AT, due=due,
                               done_at=done, note=note))


def _state(session: Session, ticket_id: int, state: TicketState,
           department: str = "市场监督管理局") -> None:
    """The state and the 回访 task the workflow leaves (written directly: these tests are
    about the list; the workflow's own path is the next test's)."""
    ticket = session.get(Ticket, ticket_id)
    assert ticket is not None
    ticket.state = state
    ticket.department = department


def test_the_revisit_list_and_linking_a_callback(db_url: str) -> None:
    engine = make_engine(db_url)
    policy = OneDayPolicy()
    try:
        with Session(engine) as s, s.begin():
            late = make_ticket(s, "4.1")
            soon = make_ticket(s, "4.2")
            bad = make_ticket(s, "4.3")  # a survey 差评 while still 受理
            answered = make_ticket(s, "4.4")  # 已答复: its 回访 waits for 办结
            anonymous = make_ticket(s, "4.5", caller=None)
            for ticket_id, state, due in ((late, TicketState.CLOSED, 3),
                                          (soon, TicketState.REVISITED, 1),
                                          (answered, TicketState.ANSWERED, 1),
                                          (anonymous, TicketState.CLOSED, 2)):
                _state(s, ticket_id, state)
                _task(s, ticket_id, CallbackKind.REVISIT, AT + timedelta(days=due))
            _task(s, bad, CallbackKind.COMPLAINT, None, note="来电满意度调查：不满意")
            _task(s, soon, CallbackKind.COMPLAINT, AT, done=AT, note="done")
        with Session(engine) as s, s.begin():
            items = revisit_list(s)
            # no due yet (a new 差评回访) first, then by due; done tasks and the 回访 of a
            # ticket not yet closed are not listed
            assert [(i.ticket_id, i.kind) for i in items] == [
                (bad, CallbackKind.COMPLAINT), (soon, CallbackKind.REVISIT),
                (anonymous, CallbackKind.REVISIT), (late, CallbackKind.REVISIT)]
            shown = items[1].to_dict(full_number=False)
            assert shown["caller"] != "13800138000" and "****" in shown["caller"]
            assert items[1].to_dict(full_number=True)["caller"] == "13800138000"
            assert fill_missing_dues(s, policy) == 1
        with Session(engine) as s, s.begin():
            assert [i.ticket_id for i in revisit_list(s)] == [soon, bad, anonymous, late]
            assert [i.ticket_id for i in revisit_list(s, limit=2)] == [soon, bad]
            assert revisit_list(s, where=Ticket.department == "无此单位") == []
            ticket = s.get(Ticket, answered)
            assert ticket is not None
            with pytest.raises(NotDue, match="已答复"):
                callback_target(s, ticket)
            with pytest.raises(NotDue):
                link_callback_call(s, ticket, uniqueid="cb0-0", seat="seat1")
            ticket = s.get(Ticket, anonymous)
            assert ticket is not None
            with pytest.raises(NotDue, match="no caller number"):
                callback_target(s, ticket)
            ticket = s.get(Ticket, bad)
            assert ticket is not None
            target = callback_target(s, ticket)
            assert (target.number, target.of_uniqueid) == ("13800138000", "4.3")
            task = link_callback_call(s, ticket, uniqueid="cb1-1", seat="seat1")
            assert (task.kind, task.call_uniqueid, task.seat) == (
                CallbackKind.COMPLAINT, "cb1-1", "seat1")
    finally:
        engine.dispose()
