"""The workflow's rules beyond the table's shape: refusals and their bodies, department
isolation, the 退单 window, extensions, pauses, 并单, 重办 then 督办单, the sweep, events
and history — on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from hotline12345.db.engine import make_engine
from hotline12345.db.migrate import alembic_config, upgrade
from hotline12345.tickets.deadlines import Limit
from hotline12345.tickets.enums import (
    Action,
    CallbackKind,
    Rating,
    Role,
    Supervision,
    TicketState,
)
from hotline12345.tickets.events import TicketEvent
from hotline12345.tickets.models import (
    Ticket,
    TicketAssignment,
    TicketCallback,
    TicketExtension,
    TicketHistory,
    TicketPause,
)
from hotline12345.tickets.store import TicketDraft, save_ticket
from hotline12345.tickets.workflow import (
    Actor,
    Forbidden,
    IllegalAction,
    MissingField,
    NotFound,
    Workflow,
    visible,
)
from tests.databases import new_pg_database
from tests.tickets.conftest import MONDAY_10, make_workflow, new_ticket

A, S = Action, TicketState
MARKET, HOUSING, TRANSPORT = "市场监督管理局", "住房和城乡建设局", "交通运输局"
SEAT = Actor("seat1", Role.SEAT)
CHIEF = Actor("chief", Role.SUPERVISOR)
INSPECTOR = Actor("insp", Role.INSPECTOR)
MARKET_H = Actor("m1", Role.HANDLER, MARKET)
HOUSING_H = Actor("h1", Role.HANDLER, HOUSING)
H = timedelta(hours=1)


def dispatched(session: Session, workflow: Workflow, at: datetime = MONDAY_10,
               **fields: object) -> Ticket:
    ticket = new_ticket(session, workflow, at=at - H)
    workflow.apply(session, ticket.id, A.DISPATCH, SEAT, now=at,
                   department=fields.pop("department", MARKET), **fields)  # type: ignore[arg-type]
    return ticket


def test_refusals_carry_status_and_body(workflow: Workflow,
                                        loop_sessions: sessionmaker[Session]) -> None:
    with loop_sessions.begin() as session:
        ticket = new_ticket(session, workflow)
        with pytest.raises(MissingField) as missing:
            workflow.apply(session, ticket.id, A.DISPATCH, SEAT, now=MONDAY_10)
        assert missing.value.status == 400 and missing.value.payload["field"] == "department"
        with pytest.raises(MissingField) as unknown:
            workflow.apply(session, ticket.id, A.DISPATCH, SEAT, now=MONDAY_10,
                           department="不存在的局")
        assert "不存在的局" in unknown.value.message and MARKET in unknown.value.message
        with pytest.raises(MissingField) as extra:
            workflow.apply(session, ticket.id, A.DISPATCH, SEAT, now=MONDAY_10,
                           department=MARKET, colour="red")
        assert extra.value.payload["field"] == "colour"
        with pytest.raises(Forbidden) as forbidden:
            workflow.apply(session, ticket.id, A.DISPATCH, Actor("a", Role.AUDITOR),
                           now=MONDAY_10, department=MARKET)
        assert forbidden.value.status == 403 and "审计员" in forbidden.value.message
        with pytest.raises(IllegalAction) as illegal:
            workflow.apply(session, ticket.id, A.ANSWER, SEAT, now=MONDAY_10, reply="x")
        assert illegal.value.status == 409
        assert illegal.value.payload == {"error": illegal.value.message, "state": "受理",
                                         "allowed": ["派单", "直接办结", "驳回退单", "并单"]}
        with pytest.raises(MissingField):
            workflow.apply(session, ticket.id, "飞单", SEAT, now=MONDAY_10)
        with pytest.raises(NotFound):
            workflow.apply(session, 10**9, A.DISPATCH, SEAT, now=MONDAY_10, department=MARKET)
        assert ticket.state is S.ACCEPTED and ticket.history_seq == 1


def test_a_handler_sees_and_acts_on_its_own_department_only(
        workflow: Workflow, loop_sessions: sessionmaker[Session]) -> None:
    with loop_sessions.begin() as session:
        ticket = dispatched(session, workflow)
        undispatched = new_ticket(session, workflow, department=HOUSING)
        for actor in (HOUSING_H, Actor("x", Role.HANDLER, None)):
            with pytest.raises(NotFound):
                workflow.apply(session, ticket.id, A.SIGN, actor, now=MONDAY_10 + H)
        # the classifier's department is a suggestion: no handler sees an undispatched ticket
        with pytest.raises(NotFound):
            workflow.apply(session, undispatched.id, A.SIGN, HOUSING_H, now=MONDAY_10)
        seen = set(session.scalars(select(Ticket.id).where(
            Ticket.id.in_([ticket.id, undispatched.id]), visible(HOUSING_H))))
        assert seen == set()
        seen = set(session.scalars(select(Ticket.id).where(
            Ticket.id.in_([ticket.id, undispatched.id]), visible(MARKET_H))))
        assert seen == {ticket.id}
        # 协办: the assisting department sees it, leaves its part, cannot answer for the 主办
        workflow.apply(session, ticket.id, A.SIGN, MARKET_H, now=MONDAY_10 + H)
        workflow.apply(session, ticket.id, A.ADD_ASSIST, SEAT, now=MONDAY_10 + 2 * H,
                       reason="涉及物业", assist_departments=[HOUSING])
        assert session.scalars(select(Ticket.id).where(Ticket.id == ticket.id,
                                                       visible(HOUSING_H))).all()
        with pytest.raises(IllegalAction, match="主办单位"):
            workflow.apply(session, ticket.id, A.ANSWER, HOUSING_H, now=MONDAY_10 + 3 * H,
                           reply="x")
        workflow.apply(session, ticket.id, A.ASSIST_ANSWER, HOUSING_H, now=MONDAY_10 + 3 * H,
                       reply="物业已约谈")
        with pytest.raises(IllegalAction, match="协办单位"):  # its part is left, once
            workflow.apply(session, ticket.id, A.ASSIST_ANSWER, HOUSING_H,
                           now=MONDAY_10 + 4 * H, reply="again")
        workflow.apply(session, ticket.id, A.ANSWER, MARKET_H, now=MONDAY_10 + 4 * H,
                       reply="已处理")
        assert ticket.state is S.ANSWERED
        parts = {(a.department, a.kind.value, a.answer) for a in session.scalars(
            select(TicketAssignment).where(TicketAssignment.ticket_id == ticket.id))}
        assert parts == {(MARKET, "主办", "已处理"), (HOUSING, "协办", "物业已约谈")}


def test_return_within_its_window_then_rejected_counts_against_the_department(
        workflow: Workflow, loop_sessions: sessionmaker[Session]) -> None:
    with loop_sessions.begin() as session:
        ticket = dispatched(session, workflow)
        assert ticket.return_due is not None
        # one working day: Monday 10:00 -> Tuesday 10:00
        assert ticket.return_due == MONDAY_10 + timedelta(days=1)
        late = dispatched(session, workflow)
        with pytest.raises(IllegalAction, match="退单时限已过"):
            workflow.apply(session, late.id, A.RETURN, MARKET_H,
                           now=MONDAY_10 + timedelta(days=1, minutes=1), reason="不归我们管")
        workflow.apply(session, ticket.id, A.RETURN, MARKET_H, now=MONDAY_10 + 2 * H,
                       reason="不归我们管")
        assert ticket.state is S.ACCEPTED and ticket.return_pending
        with pytest.raises(IllegalAction, match="已派过单"):  # re-dispatch or reject
            workflow.apply(session, ticket.id, A.CLOSE_DIRECTLY, SEAT, now=MONDAY_10 + 3 * H,
                           reason="x", reply="y")
        workflow.apply(session, ticket.id, A.REJECT_RETURN, CHIEF, now=MONDAY_10 + 3 * H,
                       reason="属于市场监管职责")
        assert ticket.state is S.AWAITING_SIGN and not ticket.return_pending
        assert (ticket.returns_count, ticket.unjust_returns) == (1, 1)
        workflow.apply(session, ticket.id, A.SIGN, MARKET_H, now=MONDAY_10 + 4 * H)
        assert ticket.state is S.HANDLING


def test_extensions_are_limited_and_move_the_deadline(
        loop_sessions: sessionmaker[Session]) -> None:
    workflow = make_workflow(max_extensions=2, max_extension_working_days=3)
    with loop_sessions.begin() as session:
        ticket = dispatched(session, workflow)
        workflow.apply(session, ticket.id, A.SIGN, MARKET_H, now=MONDAY_10 + H)
        with pytest.raises(MissingField, match="at most 3"):
            workflow.apply(session, ticket.id, A.REQUEST_EXTENSION, MARKET_H,
                           now=MONDAY_10 + H, reason="x", working_days=4)
        due = ticket.answer_due
        assert due is not None
        for i in range(2):
            workflow.apply(session, ticket.id, A.REQUEST_EXTENSION, MARKET_H,
                           now=MONDAY_10 + (2 + i) * H, reason="需现场核查", working_days=1)
            with pytest.raises(IllegalAction):  # one request at a time
                workflow.apply(session, ticket.id, A.REQUEST_EXTENSION, MARKET_H,
                               now=MONDAY_10 + (2 + i) * H, reason="again", working_days=1)
            workflow.apply(session, ticket.id, A.APPROVE_EXTENSION, INSPECTOR,
                           now=MONDAY_10 + (2 + i) * H)
        assert ticket.extensions_used == 2
        assert ticket.answer_due == workflow.policy.extend(
            workflow.policy.extend(due, 1).at, 1).at
        with pytest.raises(IllegalAction, match="延期次数"):
            workflow.apply(session, ticket.id, A.REQUEST_EXTENSION, MARKET_H,
                           now=MONDAY_10 + 5 * H, reason="third", working_days=1)
        with pytest.raises(Forbidden):  # the department cannot approve its own request
            workflow.apply(session, ticket.id, A.APPROVE_EXTENSION, MARKET_H,
                           now=MONDAY_10 + 5 * H)


def test_a_pause_stops_the_clock_and_history_shows_it(
        workflow: Workflow, loop_sessions: sessionmaker[Session]) -> None:
    with loop_sessions.begin() as session:
        ticket = dispatched(session, workflow)
        workflow.apply(session, ticket.id, A.SIGN, MARKET_H, now=MONDAY_10 + H)
        due = ticket.answer_due
        assert due is not None
        paused_at, resumed_at = MONDAY_10 + 2 * H, MONDAY_10 + timedelta(days=1, hours=2)
        workflow.apply(session, ticket.id, A.PAUSE, MARKET_H, now=paused_at,
                       reason="等待来电人补充材料")
        swept = workflow.sweep(session, due + timedelta(days=10))
        assert [e for e in swept if e.ticket_id == ticket.id] == []  # paused: no 督办
        workflow.apply(session, ticket.id, A.RESUME, MARKET_H, now=resumed_at)
        assert ticket.answer_due == workflow.policy.after_pause(due, paused_at, resumed_at).at
        assert ticket.answer_due > due
        pauses = session.scalars(select(TicketPause).where(
            TicketPause.ticket_id == ticket.id)).all()
        assert [(p.started_at, p.ended_at, p.reason) for p in pauses] == [
            (paused_at, resumed_at, "等待来电人补充材料")]
        actions = session.scalars(select(TicketHistory.action).where(
            TicketHistory.ticket_id == ticket.id).order_by(TicketHistory.seq)).all()
        assert actions == ["创建", "派单", "签收", "挂起", "恢复"]
        workflow.apply(session, ticket.id, A.ANSWER, MARKET_H,
                       now=MONDAY_10 + timedelta(days=2), reply="已处理")
        worked = workflow.policy.calendar.between(MONDAY_10, MONDAY_10 + timedelta(days=2))
        paused = workflow.policy.calendar.between(paused_at, resumed_at)
        assert ticket.handling_wd == pytest.approx(worked - paused, abs=1e-3)


def test_merged_tickets_follow_their_main_ticket(
        workflow: Workflow, loop_sessions: sessionmaker[Session]) -> None:
    with loop_sessions.begin() as session:
        main = new_ticket(session, workflow)
        dup = new_ticket(session, workflow)
        dup2 = new_ticket(session, workflow)
        workflow.apply(session, dup2.id, A.MERGE, SEAT, now=MONDAY_10, reason="重复来电",
                       main_ticket_id=dup.id)
        workflow.apply(session, dup.id, A.MERGE, SEAT, now=MONDAY_10, reason="重复来电",
                       main_ticket_id=main.id)
        assert dup2.merged_into == main.id  # groups stay flat: one main ticket
        with pytest.raises(MissingField, match="itself merged"):
            workflow.apply(session, new_ticket(session, workflow).id, A.MERGE, SEAT,
                           now=MONDAY_10, reason="x", main_ticket_id=dup.id)
        with pytest.raises(IllegalAction, match="并入主单"):
            workflow.apply(session, dup.id, A.DISPATCH, SEAT, now=MONDAY_10, department=MARKET)
        workflow.apply(session, main.id, A.DISPATCH, SEAT, now=MONDAY_10 + H,
                       department=MARKET)
        workflow.apply(session, main.id, A.SIGN, MARKET_H, now=MONDAY_10 + 2 * H)
        for follower in (dup, dup2):
            assert follower.state is S.HANDLING
            rows = session.scalars(select(TicketHistory).where(
                TicketHistory.ticket_id == follower.id).order_by(TicketHistory.seq)).all()
            assert [r.action for r in rows][-2:] == ["随主单", "随主单"]
            assert rows[-1].data == {"main_ticket_id": main.id}


def test_unsatisfied_after_reopen_becomes_a_supervision_order(
        workflow: Workflow, loop_sessions: sessionmaker[Session]) -> None:
    with loop_sessions.begin() as session:
        ticket = dispatched(session, workflow)
        at = MONDAY_10
        for round_ in range(2):
            for action, actor, fields in ((A.SIGN, MARKET_H, {}),
                                          (A.ANSWER, MARKET_H, {"reply": "已处理"}),
                                          (A.CLOSE, SEAT, {}),
                                          (A.REVISIT, SEAT, {"outcome": "联系上",
                                                             "resolved": False}),
                                          (A.RATE, SEAT, {"rating": "非常不满意"})):
                at += H
                workflow.apply(session, ticket.id, action, actor, now=at, **fields)
            tasks = session.scalars(select(TicketCallback).where(
                TicketCallback.ticket_id == ticket.id,
                TicketCallback.kind == CallbackKind.COMPLAINT)).all()
            assert len(tasks) == round_ + 1  # every 差评 gets its callback task
            if round_ == 0:
                assert ticket.supervision is None
                at += H
                workflow.apply(session, ticket.id, A.REOPEN, SEAT, now=at, reason="仍未解决")
                assert ticket.state is S.AWAITING_SIGN and ticket.department == MARKET
                assert ticket.rating is None and ticket.reopen_count == 1
        assert ticket.rating is Rating.VERY_UNSATISFIED
        assert ticket.supervision is Supervision.ORDER
        with pytest.raises(IllegalAction, match="重办次数已用完"):
            workflow.apply(session, ticket.id, A.REOPEN, SEAT, now=at + H, reason="again")


def test_the_sweep_raises_levels_once_each(
        workflow: Workflow, loop_sessions: sessionmaker[Session]) -> None:
    with loop_sessions.begin() as session:
        ticket = dispatched(session, workflow, category="一般诉求")
        workflow.apply(session, ticket.id, A.SIGN, MARKET_H, now=MONDAY_10 + H)
        due = ticket.answer_due
        assert due == workflow.policy.due(Limit.ANSWER, category="一般诉求",
                                          urgency=ticket.urgency, start=MONDAY_10).at
        yellow = workflow.policy.yellow_at(due, start=MONDAY_10).at
        mine = [ticket.id]

        def levels(now: datetime) -> list[TicketEvent]:
            return [e for e in workflow.sweep(session, now) if e.ticket_id in mine]

        assert levels(yellow - timedelta(minutes=1)) == []
        first = levels(yellow)
        assert [e.supervision for e in first] == ["黄牌"]
        assert levels(yellow) == []  # idempotent
        assert [e.supervision for e in levels(due + timedelta(minutes=1))] == ["红牌"]
        order_at = workflow.policy.calendar.add(due, 1).at + timedelta(minutes=1)
        assert [e.supervision for e in levels(order_at)] == ["督办单"]
        assert levels(order_at + timedelta(days=30)) == []
        rows = session.scalars(select(TicketHistory).where(
            TicketHistory.ticket_id == ticket.id, TicketHistory.action == "自动督办")).all()
        assert [(r.role, r.data["level"]) for r in rows] == [
            ("系统", "黄牌"), ("系统", "红牌"), ("系统", "督办单")]


def test_a_supervisor_raises_supervision_by_hand_only_upwards(
        workflow: Workflow, loop_sessions: sessionmaker[Session]) -> None:
    with loop_sessions.begin() as session:
        ticket = dispatched(session, workflow)
        with pytest.raises(MissingField, match="reason"):
            workflow.apply(session, ticket.id, A.SUPERVISE, INSPECTOR, now=MONDAY_10)
        workflow.apply(session, ticket.id, A.SUPERVISE, INSPECTOR, now=MONDAY_10,
                       reason="媒体关注", level="红牌")
        assert ticket.supervision is Supervision.RED and ticket.supervision_reason == "媒体关注"
        with pytest.raises(IllegalAction, match="只能升级"):
            workflow.apply(session, ticket.id, A.SUPERVISE, INSPECTOR, now=MONDAY_10,
                           reason="x", level="黄牌")
        with pytest.raises(Forbidden):
            workflow.apply(session, ticket.id, A.SUPERVISE, SEAT, now=MONDAY_10, reason="x")


def test_listeners_get_one_event_per_history_row_in_the_same_session(
        loop_sessions: sessionmaker[Session]) -> None:
    seen: list[tuple[Session, TicketEvent]] = []
    base = make_workflow()
    workflow = Workflow(base.policy, base.settings, departments=base.departments,
                        listeners=[lambda s, e: seen.append((s, e))])
    with loop_sessions.begin() as session:
        ticket_id, _ = save_ticket(session, TicketDraft(uniqueid=f"ev.{id(seen)}",
                                                        caller="13900139000"),
                                   listeners=workflow.listeners, now=MONDAY_10)
        event = workflow.apply(session, ticket_id, A.DISPATCH, SEAT, now=MONDAY_10 + H,
                               department=MARKET)
        assert [e.kind for _, e in seen] == ["created", "dispatched"]
        assert all(s is session for s, _ in seen)
        assert [e.history_seq for _, e in seen] == [1, 2]
        assert event.event_id == f"ticket-{ticket_id}-2"
        payload = event.to_payload()
        assert payload["caller"] == "139****9000" and payload["department"] == MARKET
        assert event.to_payload(full_number=True)["caller"] == "13900139000"
        assert payload["deadlines"]["answer_due"] is not None


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database with no schema yet, of each kind."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.sqlite3'}"
        return
    with new_pg_database("mig", migrate=False) as url:
        yield url


def test_migration_0005_starts_the_history_of_existing_tickets(empty_db_url: str) -> None:
    url = empty_db_url
    upgrade(url, "0004")
    engine = make_engine(url)
    created = datetime(2026, 11, 1, 8, 0)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO tickets (uniqueid, status, transcript, created_at) "
                          "VALUES ('old.1', '受理', '旧工单', :at)"), {"at": created})
    upgrade(url, engine=engine)
    with Session(engine) as session:
        ticket = session.scalars(select(Ticket).where(Ticket.uniqueid == "old.1")).one()
        assert ticket.state is S.ACCEPTED and ticket.history_seq == 1
        row = session.scalars(select(TicketHistory).where(
            TicketHistory.ticket_id == ticket.id)).one()
        assert (row.seq, row.action, row.from_state, row.to_state, row.role) == (
            1, "创建", None, "受理", "系统")
        assert row.at == created.replace(tzinfo=UTC)
        # and it goes round the loop like any other
        workflow = make_workflow()
        workflow.apply(session, ticket.id, A.DISPATCH, SEAT, now=MONDAY_10, department=MARKET)
        session.commit()
        assert ticket.history_seq == 2
    config = alembic_config(url)  # and back: the old column returns
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0004")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT status FROM tickets")).scalars().all() == ["派单"]
    engine.dispose()


def test_a_callback_closes_the_task_it_was_placed_for(
        workflow: Workflow, loop_sessions: sessionmaker[Session]) -> None:
    with loop_sessions.begin() as session:
        ticket = dispatched(session, workflow)
        for action, actor, fields in ((A.SIGN, MARKET_H, {}), (A.ANSWER, MARKET_H,
                                                                {"reply": "已处理"}),
                                      (A.CLOSE, SEAT, {})):
            workflow.apply(session, ticket.id, action, actor, now=MONDAY_10 + H, **fields)
        placed = TicketCallback(ticket_id=ticket.id, kind=CallbackKind.COMPLAINT,
                                created_at=MONDAY_10, due=None, call_uniqueid="cb.1", note="")
        session.add(placed)
        session.flush()
        workflow.apply(session, ticket.id, A.REVISIT, SEAT, now=MONDAY_10 + 2 * H,
                       outcome="联系上", resolved=True, call_uniqueid="cb.1")
        tasks = session.scalars(select(TicketCallback).where(
            TicketCallback.ticket_id == ticket.id).order_by(TicketCallback.id)).all()
        assert [(t.kind, t.done_at is not None) for t in tasks] == [
            (CallbackKind.REVISIT, False), (CallbackKind.COMPLAINT, True)]
        assert placed.outcome is not None and placed.outcome.value == "联系上"


def test_an_answer_settles_an_undecided_extension(
        workflow: Workflow, loop_sessions: sessionmaker[Session]) -> None:
    """Found by the random walk: a ticket answered with its 延期 still 待批 reached 已办结
    with a pending request."""
    with loop_sessions.begin() as session:
        ticket = dispatched(session, workflow)
        workflow.apply(session, ticket.id, A.SIGN, MARKET_H, now=MONDAY_10 + H)
        workflow.apply(session, ticket.id, A.REQUEST_EXTENSION, MARKET_H,
                       now=MONDAY_10 + 2 * H, reason="需现场核查", working_days=1)
        workflow.apply(session, ticket.id, A.ANSWER, MARKET_H, now=MONDAY_10 + 3 * H,
                       reply="已处理")
        assert not ticket.extension_pending and ticket.extensions_used == 0
        request = session.scalars(select(TicketExtension).where(
            TicketExtension.ticket_id == ticket.id)).one()
        assert (request.decision.value, request.decided_by) == ("驳回", "system")
