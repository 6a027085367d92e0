"""Recording a callback through the workflow: the ticket goes round (派单, 签收, 答复, 办结)
by the product's own workflow, the 回访 task it opened at the answer is listed once the ticket
is 已办结, the placed call is linked to it, and the seat's result goes through 回访 (and 评价):
history, state, the task closed with the call's uniqueid; 未接通 keeps the task for another
try; a survey's 差评回访 before the answer is closed on its own."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hotline12345.calls.store import RoutedCall, SqlCallStore, SurveyResult
from hotline12345.tickets.enums import (
    Action,
    CallbackKind,
    CallbackOutcome,
    Rating,
    Role,
    TicketState,
)
from hotline12345.tickets.history import Actor
from hotline12345.tickets.models import Ticket, TicketCallback, TicketHistory
from hotline12345.tickets.revisit import (
    CallbackResult,
    link_callback_call,
    record_callback,
    revisit_list,
)
from hotline12345.tickets.survey import apply_survey
from hotline12345.tickets.sweeper import Sweeper
from hotline12345.tickets.workflow import Workflow

from .conftest import MONDAY_10, new_ticket

SEAT = Actor("seat1", Role.SEAT)
HANDLER = Actor("handler1", Role.HANDLER, "市场监督管理局")


def closed(session: Session, workflow: Workflow) -> Ticket:
    ticket = new_ticket(session, workflow)
    at = MONDAY_10
    for action, actor, fields in ((Action.DISPATCH, SEAT, {"department": "市场监督管理局"}),
                                  (Action.SIGN, HANDLER, {}),
                                  (Action.ANSWER, HANDLER, {"reply": "已责令整改"}),
                                  (Action.CLOSE, SEAT, {})):
        at += timedelta(hours=1)
        workflow.apply(session, ticket.id, action, actor, now=at, **fields)
    assert ticket.state is TicketState.CLOSED
    return ticket


def tasks(session: Session, ticket_id: int) -> list[TicketCallback]:
    return list(session.scalars(select(TicketCallback).where(
        TicketCallback.ticket_id == ticket_id).order_by(TicketCallback.id)))


def test_a_reached_callback_is_revisited_and_rated_through_the_workflow(
        loop_sessions: sessionmaker[Session], workflow: Workflow) -> None:
    later = MONDAY_10 + timedelta(days=1)
    with loop_sessions() as s, s.begin():
        ticket = closed(s, workflow)
        ticket_id = ticket.id
        assert ticket_id in [i.ticket_id for i in revisit_list(s, limit=1000)]
        link_callback_call(s, ticket, uniqueid="cb9-1", seat="seat1")
        events = record_callback(s, workflow, ticket_id, SEAT, CallbackResult(
            CallbackOutcome.REACHED, resolved=True, rating=Rating.SATISFIED,
            note="来电人认可处理结果"), now=later)
        assert [e.kind for e in events] == ["revisited", "rated"]
    with loop_sessions() as s:
        ticket = s.get(Ticket, ticket_id)
        assert ticket is not None
        assert (ticket.state, ticket.callback_outcome, ticket.resolved, ticket.rating) == (
            TicketState.RATED, CallbackOutcome.REACHED, True, Rating.SATISFIED)
        [task] = tasks(s, ticket.id)
        assert (task.kind, task.done_at, task.call_uniqueid, task.outcome) == (
            CallbackKind.REVISIT, later, "cb9-1", CallbackOutcome.REACHED)
        actions = [h.action for h in s.scalars(select(TicketHistory).where(
            TicketHistory.ticket_id == ticket.id).order_by(TicketHistory.seq))]
        assert actions[-2:] == [Action.REVISIT.value, Action.RATE.value]
        assert ticket.id not in [i.ticket_id for i in revisit_list(s, limit=1000)]


def test_no_answer_keeps_the_task_for_another_try(
        loop_sessions: sessionmaker[Session], workflow: Workflow) -> None:
    later = MONDAY_10 + timedelta(days=1)
    with loop_sessions() as s, s.begin():
        ticket_id = closed(s, workflow).id
        record_callback(s, workflow, ticket_id, SEAT,
                        CallbackResult(CallbackOutcome.NO_ANSWER, call_uniqueid="cb9-2"),
                        now=later)
    with loop_sessions() as s, s.begin():
        ticket = s.get(Ticket, ticket_id)
        assert ticket is not None and ticket.state is TicketState.REVISITED
        [task] = tasks(s, ticket.id)
        assert (task.done_at, task.call_uniqueid) == (None, "cb9-2")
        assert ticket.id in [i.ticket_id for i in revisit_list(s, limit=1000)]
        record_callback(s, workflow, ticket.id, SEAT,
                        CallbackResult(CallbackOutcome.REACHED, resolved=False),
                        now=later + timedelta(hours=2))
        [task] = tasks(s, ticket.id)
        assert task.done_at == later + timedelta(hours=2) and task.resolved is False


def test_a_survey_complaint_before_the_answer_is_closed_on_its_own(
        loop_sessions: sessionmaker[Session], workflow: Workflow) -> None:
    with loop_sessions() as s, s.begin():
        ticket = new_ticket(s, workflow)  # 受理
        ticket_id, uniqueid = ticket.id, ticket.uniqueid
    store = SqlCallStore(loop_sessions.kw["bind"])
    store.write([RoutedCall(uniqueid=uniqueid, caller="13800138000", caller_name=None,
                            dialled="12345", action="queue", target="q-general", priority=0,
                            reasons=(), answer=None, outcome="routed", started_at=MONDAY_10,
                            routed_at=MONDAY_10),
                 SurveyResult(uniqueid, 1, MONDAY_10)])
    later = MONDAY_10 + timedelta(hours=3)
    with loop_sessions() as s, s.begin():
        assert apply_survey(s, uniqueid, policy=workflow.policy) is Rating.VERY_UNSATISFIED
        events = record_callback(s, workflow, ticket_id, SEAT, CallbackResult(
            CallbackOutcome.REACHED, resolved=False, rating=Rating.UNSATISFIED,
            call_uniqueid="cb9-3", note="已致歉"), now=later)
        assert events == []
    with loop_sessions() as s:
        ticket = s.get(Ticket, ticket_id)
        assert ticket is not None and ticket.state is TicketState.ACCEPTED
        [task] = tasks(s, ticket.id)
        assert (task.kind, task.done_at, task.call_uniqueid, task.rating) == (
            CallbackKind.COMPLAINT, later, "cb9-3", Rating.UNSATISFIED)
        assert task.note == "来电满意度调查：非常不满意；已致歉"


def test_the_sweep_puts_a_missed_survey_on_its_ticket(
        loop_sessions: sessionmaker[Session], workflow: Workflow) -> None:
    """A survey written after its ticket without the call store's hook (a controller
    without it, or the ticket's transaction still open): the periodic sweep applies it."""
    with loop_sessions() as s, s.begin():
        ticket = new_ticket(s, workflow)
        ticket_id, uniqueid = ticket.id, ticket.uniqueid
    engine = loop_sessions.kw["bind"]
    SqlCallStore(engine).write([SurveyResult(uniqueid, 2, MONDAY_10)])
    Sweeper(loop_sessions, workflow).run_once(MONDAY_10 + timedelta(hours=1))
    with loop_sessions() as s:
        ticket = s.get(Ticket, ticket_id)
        assert ticket is not None and ticket.survey_rating is Rating.UNSATISFIED
        [task] = tasks(s, ticket_id)
        assert task.kind is CallbackKind.COMPLAINT and task.due is not None
