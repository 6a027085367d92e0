"""A Hypothesis random walk of actions over a few tickets keeps the loop's invariants:
every ticket's history is complete and ordered (seq 1..n, each row starting where the
previous one ended, the last one ending in the ticket's state), no closed ticket has a
running deadline, and every merge group has one main ticket."""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hotline12345.db.engine import make_engine
from hotline12345.tickets.enums import Action, Rating, Role, TicketState
from hotline12345.tickets.lifecycle import PERSON_ACTIONS
from hotline12345.tickets.models import Ticket, TicketHistory
from hotline12345.tickets.workflow import Actor, TicketError, Workflow
from tests.tickets.conftest import DEPARTMENTS, MONDAY_10, make_workflow, new_ticket

ACTORS = [Actor("seat", Role.SEAT), Actor("chief", Role.SUPERVISOR),
          Actor("insp", Role.INSPECTOR), Actor("audit", Role.AUDITOR)] + [
    Actor(f"h{i}", Role.HANDLER, d) for i, d in enumerate(DEPARTMENTS[:2])]
CLOSED = (TicketState.CLOSED, TicketState.REVISITED, TicketState.RATED)

def _fields(action: Action, department: str, rating: Rating, main_id: int,
            outcome: str) -> dict[str, Any]:
    return {
        Action.DISPATCH: {"department": department},
        Action.REASSIGN: {"department": department},
        Action.ADD_ASSIST: {"assist_departments": [department]},
        Action.ANSWER: {"reply": "答复"}, Action.ASSIST_ANSWER: {"reply": "协办意见"},
        Action.CLOSE_DIRECTLY: {"reply": "当场解答"},
        Action.REQUEST_EXTENSION: {"working_days": 2},
        Action.RATE: {"rating": rating.value}, Action.REVISIT: {"outcome": outcome},
        Action.MERGE: {"main_ticket_id": main_id},
    }.get(action, {})


def check_invariants(session: Session, ids: list[int]) -> None:
    for ticket_id in ids:
        ticket = session.get(Ticket, ticket_id)
        assert ticket is not None
        rows = list(session.scalars(select(TicketHistory).where(
            TicketHistory.ticket_id == ticket_id).order_by(TicketHistory.seq)))
        assert [r.seq for r in rows] == list(range(1, len(rows) + 1))
        assert rows[0].action == Action.CREATE.value and rows[0].from_state is None
        for before, after in itertools.pairwise(rows):
            assert after.from_state == before.to_state
            assert after.at >= before.at
        assert rows[-1].to_state == ticket.state.value
        assert ticket.history_seq == len(rows)
        if ticket.state in CLOSED:  # no running deadline on a closed ticket
            assert ticket.sign_due is None or ticket.signed_at is not None
            assert ticket.answer_due is None or ticket.answered_at is not None
            assert ticket.paused_since is None
            assert not ticket.extension_pending and not ticket.return_pending
        if ticket.merged_into is not None:  # one main ticket per group
            main = session.get(Ticket, ticket.merged_into)
            assert main is not None and main.merged_into is None
            assert ticket.state is main.state


def walk(data: st.DataObject, url: str) -> list[Action]:
    """One random walk over three new tickets; the actions that were carried out."""
    engine = make_engine(url)
    sessions = sessionmaker(engine)
    workflow: Workflow = make_workflow(max_reopens=1)
    applied: list[Action] = []
    try:
        with sessions.begin() as session:
            ids = [new_ticket(session, workflow).id for _ in range(3)]
        at = MONDAY_10
        for _ in range(data.draw(st.integers(5, 40), label="steps")):
            # mostly the first ticket, so that walks go far round the loop
            which = data.draw(st.sampled_from([0, 0, 0, 0, 1, 2]), label="ticket")
            actor = data.draw(st.sampled_from(ACTORS), label="actor")
            with sessions() as session:
                ticket = session.get(Ticket, ids[which])
                assert ticket is not None
                if actor.role is Role.HANDLER and ticket.department and data.draw(
                        st.booleans(), label="own department"):
                    actor = Actor(actor.name, Role.HANDLER, ticket.department)
                legal = workflow.allowed(ticket, actor)
            # mostly what the table allows this actor, often its main path (the state's
            # first row), so that walks go round the loop; sometimes anything at all
            bias = data.draw(st.integers(0, 4), label="bias")
            pool = list(PERSON_ACTIONS) if not legal or bias == 0 else \
                legal[:1] if bias <= 2 else legal
            action = data.draw(st.sampled_from(pool), label="action")
            at += timedelta(minutes=data.draw(st.integers(1, 60 * 30), label="minutes"))
            fields = _fields(action, data.draw(st.sampled_from(DEPARTMENTS[:2])),
                             data.draw(st.sampled_from(list(Rating))),
                             ids[data.draw(st.integers(0, 2), label="main")],
                             data.draw(st.sampled_from(["联系上", "未接通", "拒绝回访"])))
            with sessions() as session:
                try:
                    workflow.apply(session, ids[which], action, actor, now=at, reason="理由",
                                   **fields)
                    session.commit()
                    applied.append(action)
                except TicketError:
                    session.rollback()
            with sessions() as session:
                if data.draw(st.integers(0, 4), label="sweep") == 0:
                    workflow.sweep(session, at)
                    session.commit()
                check_invariants(session, ids)
    finally:
        engine.dispose()
    return applied


def test_random_walks_keep_the_invariants_and_go_round_the_loop(
        sqlite_tickets_database: str) -> None:
    walked: set[Action] = set()

    @settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(data=st.data())
    def walks(data: st.DataObject) -> None:
        walked.update(walk(data, sqlite_tickets_database))

    walks()
    # the walks were not stuck at the start: they went round the loop
    assert {Action.DISPATCH, Action.SIGN, Action.ANSWER, Action.CLOSE} <= walked, walked
