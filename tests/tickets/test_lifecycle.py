"""Every (state, action) pair of the lifecycle: the table's rows move the ticket where the
table says, every other pair is refused naming the state, the action and what is allowed
there — on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hotline12345.tickets.enums import Action, Role, TicketState
from hotline12345.tickets.lifecycle import (
    PERSON_ACTIONS,
    TABLE,
    Guard,
    Transition,
    actions_from,
    lifecycle_page,
    markdown_table,
    mermaid,
    transition,
)
from hotline12345.tickets.models import Ticket, TicketHistory
from hotline12345.tickets.workflow import Actor, IllegalAction, Workflow
from tests.tickets.conftest import MONDAY_10, new_ticket

S, A = TicketState, Action
MAIN_DEPT, ASSIST_DEPT = "市场监督管理局", "住房和城乡建设局"
SEAT = Actor("seat1", Role.SEAT)
CHIEF = Actor("chief", Role.SUPERVISOR)
HANDLER = Actor("h1", Role.HANDLER, MAIN_DEPT)
ASSISTANT = Actor("h2", Role.HANDLER, ASSIST_DEPT)

#: Fields that satisfy each required field name.
FIELDS: dict[str, Any] = {
    "department": MAIN_DEPT, "reply": "已处理", "reason": "理由", "working_days": 2,
    "assist_departments": [ASSIST_DEPT], "outcome": "联系上", "rating": "不满意",
}

Step = tuple[Action, Actor, dict[str, Any]]
DISPATCH: Step = (A.DISPATCH, SEAT, {"department": MAIN_DEPT,
                                     "assist_departments": [ASSIST_DEPT]})
SIGN: Step = (A.SIGN, HANDLER, {})
ANSWER: Step = (A.ANSWER, HANDLER, {"reply": "已处理"})
CLOSE: Step = (A.CLOSE, SEAT, {})
REVISIT: Step = (A.REVISIT, SEAT, {"outcome": "联系上", "resolved": False})
RATE_BAD: Step = (A.RATE, SEAT, {"rating": "不满意"})

#: How to bring a fresh ticket into each state (and the extra condition some rows need).
PATHS: dict[TicketState, list[Step]] = {
    S.ACCEPTED: [],
    S.AWAITING_SIGN: [DISPATCH],
    S.HANDLING: [DISPATCH, SIGN],
    S.ANSWERED: [DISPATCH, SIGN, ANSWER],
    S.CLOSED: [DISPATCH, SIGN, ANSWER, CLOSE],
    S.REVISITED: [DISPATCH, SIGN, ANSWER, CLOSE, REVISIT],
    S.RATED: [DISPATCH, SIGN, ANSWER, CLOSE, REVISIT, RATE_BAD],
}
#: Rows whose guards need more than the state: the steps that make them hold.
EXTRA: dict[tuple[TicketState, Action], list[Step]] = {
    (S.ACCEPTED, A.REJECT_RETURN): [DISPATCH, (A.RETURN, HANDLER, {"reason": "非本单位职责"})],
    (S.HANDLING, A.APPROVE_EXTENSION): [(A.REQUEST_EXTENSION, HANDLER,
                                        {"reason": "需现场核查", "working_days": 2})],
    (S.HANDLING, A.REFUSE_EXTENSION): [(A.REQUEST_EXTENSION, HANDLER,
                                       {"reason": "需现场核查", "working_days": 2})],
    (S.HANDLING, A.RESUME): [(A.PAUSE, HANDLER, {"reason": "等待来电人补充材料"})],
}


def _run(workflow: Workflow, session: Session, ticket: Ticket, steps: list[Step],
         at: datetime) -> datetime:
    for action, actor, fields in steps:
        at += timedelta(minutes=10)
        extra = dict(fields)
        reason = extra.pop("reason", "")
        workflow.apply(session, ticket.id, action, actor, now=at, reason=reason, **extra)
    return at


def _actor_for(row: Transition) -> Actor:
    if row.action is A.ASSIST_ANSWER:
        return ASSISTANT
    for actor in (SEAT, CHIEF, HANDLER, Actor("insp", Role.INSPECTOR)):
        if actor.role in row.roles:
            return actor
    raise AssertionError(row)


PERSON_ROWS = [r for r in TABLE if r.roles != frozenset({Role.SYSTEM})]


@pytest.mark.parametrize("row", PERSON_ROWS, ids=[f"{r.state.value}-{r.action.value}"
                                                  for r in PERSON_ROWS])
def test_every_row_of_the_table_moves_the_ticket_where_it_says(
        row: Transition, workflow: Workflow, loop_sessions: sessionmaker[Session]) -> None:
    with loop_sessions.begin() as session:
        ticket = new_ticket(session, workflow)
        at = _run(workflow, session, ticket, PATHS[row.state], MONDAY_10)
        at = _run(workflow, session, ticket, EXTRA.get((row.state, row.action), []), at)
        assert ticket.state is row.state
        main = None
        if row.action is A.MERGE:
            main = new_ticket(session, workflow)
        fields = {name: FIELDS[name] for name in row.required
                  if name not in ("reason", "main_ticket_id")}
        if main is not None:
            fields["main_ticket_id"] = main.id
        before = ticket.history_seq
        event = workflow.apply(session, ticket.id, row.action, _actor_for(row),
                               now=at + timedelta(minutes=5), reason="理由", **fields)
        expected = row.to if row.to is not None else S.ACCEPTED  # the main ticket's state
        assert ticket.state is expected
        assert event.state == expected.value and event.action == row.action.value
        last = session.scalars(select(TicketHistory).where(
            TicketHistory.ticket_id == ticket.id).order_by(TicketHistory.seq.desc())).first()
        assert last is not None and last.seq == before + 1
        assert (last.from_state, last.to_state, last.action) == (
            row.state.value, expected.value, row.action.value)


@pytest.mark.parametrize("state", list(TicketState), ids=[s.value for s in TicketState])
def test_every_pair_outside_the_table_is_refused_with_state_and_allowed(
        state: TicketState, workflow: Workflow, loop_sessions: sessionmaker[Session]) -> None:
    with loop_sessions.begin() as session:
        ticket = new_ticket(session, workflow)
        at = _run(workflow, session, ticket, PATHS[state], MONDAY_10)
        seq = ticket.history_seq
        refused = [a for a in PERSON_ACTIONS if transition(state, a) is None]
        assert refused, state
        for action in refused:
            # a handler cannot even see a ticket not yet dispatched (404, tested elsewhere)
            for actor in (SEAT, CHIEF) + ((HANDLER,) if state is not S.ACCEPTED else ()):
                with pytest.raises(IllegalAction) as caught:
                    workflow.apply(session, ticket.id, action, actor, now=at, reason="x",
                                   **{k: v for k, v in FIELDS.items() if k != "reason"})
                error = caught.value
                assert error.status == 409
                assert error.payload["state"] == state.value
                assert error.payload["allowed"] == [a.value for a in
                                                    actions_from(state, actor.role)
                                                    if a is not A.SWEEP]
                assert state.value in error.message and action.value in error.message
        assert ticket.state is state and ticket.history_seq == seq  # nothing changed


def test_the_table_has_one_row_per_pair_and_every_state_is_reachable() -> None:
    keys = [(r.state, r.action) for r in TABLE]
    assert len(keys) == len(set(keys))
    reached = {S.ACCEPTED} | {r.to for r in TABLE if r.to is not None}
    assert reached == set(TicketState)
    assert all(Guard.NOT_MERGED in r.guards for r in TABLE)
    # the roles that never act on tickets appear in no row
    assert not any(Role.AUDITOR in r.roles for r in TABLE)


def test_the_diagram_and_the_markdown_come_from_the_table() -> None:
    diagram = mermaid()
    for row in PERSON_ROWS:
        assert row.action.value in diagram
    assert diagram.startswith("stateDiagram-v2")
    table = markdown_table()
    assert table.count("\n") == len(TABLE) + 2



def test_the_shipped_lifecycle_page_is_generated_from_the_table() -> None:
    page = Path(__file__).resolve().parents[2] / "docs" / "ticket-lifecycle.md"
    assert page.read_text(encoding="utf-8") == lifecycle_page(), (
        "regenerate it: hotline12345 tickets lifecycle --format page > docs/ticket-lifecycle.md")
