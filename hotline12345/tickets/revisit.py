"""回访: the callback tasks, the list of those due, linking a placed callback, recording
its result.

Two kinds of task (``ticket_callbacks``):

- **回访**, opened by the workflow at the department's answer (due ``revisit_due``); due a
  callback once the ticket is 已办结 (or 已回访 after a 未接通, which leaves it open).
- **差评回访**, after a 差评 (不满意 or 非常不满意), whatever the ticket's state: opened by the
  workflow at a 评价, and here (:func:`open_complaint`) at the end-of-call survey
  (:mod:`.survey`). A 实名 差评 is a 差评; the note says 实名. Its due is the
  DeadlinePolicy's 回访 limit from the rating; without a policy at hand (the recordings
  pipeline) it is filled in later (:func:`fill_missing_dues`).

:func:`revisit_list` lists the tasks due, the earliest first. :func:`link_callback_call`
writes a placed callback's uniqueid on the task; :func:`record_callback` records the result
through the workflow's 回访 (and 评价) where the lifecycle takes it, else on the task alone.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Protocol

from sqlalchemy import ColumnElement, and_, or_, select, true
from sqlalchemy.orm import Session

from hotline12345.logs import log_event, mask_number
from hotline12345.tickets.deadlines import Limit
from hotline12345.tickets.enums import (
    Action,
    CallbackKind,
    CallbackOutcome,
    Rating,
    TicketState,
    Urgency,
)
from hotline12345.tickets.events import TicketEvent
from hotline12345.tickets.history import Actor
from hotline12345.tickets.models import Ticket, TicketCallback
from hotline12345.tickets.workflow import Workflow

__all__ = ["BAD_RATINGS", "CallbackResult", "CallbackTarget", "DuePolicy", "NotDue",
           "RevisitItem", "TicketMissing", "callback_target", "complaint_due",
           "fill_missing_dues", "is_bad", "link_callback_call", "open_complaint", "open_tasks",
           "record_callback", "revisit_list"]

_log = logging.getLogger("hotline12345.tickets.revisit")

#: 差评: the grades that get a 差评回访.
BAD_RATINGS: Final = frozenset({Rating.UNSATISFIED, Rating.VERY_UNSATISFIED})
#: The 回访 limit of the DeadlinePolicy.
REVISIT_LIMIT: Final = Limit.REVISIT
#: How a 差评回访's note names the rating it answers.
SURVEY_SOURCE: Final = "来电满意度调查"
RATING_SOURCE: Final = "评价"


class _Due(Protocol):
    @property
    def at(self) -> datetime: ...


class DuePolicy(Protocol):
    """What this module needs of :class:`hotline12345.tickets.deadlines.DeadlinePolicy`."""

    def due(self, limit: Any, *, category: str | None, urgency: Urgency,
            start: datetime) -> _Due: ...


def is_bad(rating: Rating | None) -> bool:
    """A 差评: 不满意 or 非常不满意."""
    return rating in BAD_RATINGS


def complaint_due(policy: DuePolicy, ticket: Ticket, start: datetime) -> datetime:
    """A 差评回访's due: the 回访 limit of the ticket's category and urgency from ``start``."""
    return policy.due(REVISIT_LIMIT, category=ticket.category,
                      urgency=ticket.urgency or Urgency.NORMAL, start=start).at


def _note(source: str, rating: Rating, real_name: bool) -> str:
    return f"{source}：{rating.value}" + ("（实名）" if real_name else "")


def open_complaint(session: Session, ticket: Ticket, rating: Rating, *, source: str,
                   at: datetime, policy: DuePolicy | None) -> TicketCallback | None:
    """Open the 差评回访 for a 差评 from ``source`` (:data:`SURVEY_SOURCE`,
    :data:`RATING_SOURCE`) made at ``at``, in ``session`` (the caller commits). None when
    ``rating`` is no 差评, or the task for this rating is already there. Without ``policy``
    the due is left empty; :func:`fill_missing_dues` sets it (the revisit list does)."""
    if not is_bad(rating):
        return None
    note = _note(source, rating, ticket.real_name)
    already = session.scalar(select(TicketCallback.id).where(
        TicketCallback.ticket_id == ticket.id, TicketCallback.kind == CallbackKind.COMPLAINT,
        TicketCallback.note == note, TicketCallback.created_at == at).limit(1))
    if already is not None:
        return None
    task = TicketCallback(ticket_id=ticket.id, kind=CallbackKind.COMPLAINT, created_at=at,
                          due=complaint_due(policy, ticket, at) if policy else None, note=note)
    session.add(task)
    session.flush()
    log_event(_log, "tickets.callback.opened", ticket=ticket.id, kind=task.kind.value,
              source=source, rating=rating.value, real_name=ticket.real_name,
              due=task.due.isoformat() if task.due else None)
    return task


def fill_missing_dues(session: Session, policy: DuePolicy, limit: int = 1000) -> int:
    """Give every open task without a due (opened where no policy was at hand: the
    recordings pipeline) its due from its ``created_at``. Returns how many."""
    rows = session.execute(
        select(TicketCallback, Ticket).join(Ticket, Ticket.id == TicketCallback.ticket_id)
        .where(TicketCallback.due.is_(None), TicketCallback.done_at.is_(None))
        .order_by(TicketCallback.id).limit(limit)).all()
    for task, ticket in rows:
        task.due = complaint_due(policy, ticket, task.created_at)
    return len(rows)


@dataclass(frozen=True, slots=True)
class RevisitItem:
    """One line of the 回访 list."""

    ticket_id: int
    kind: CallbackKind
    due: datetime | None
    task_id: int | None  # None: a 回访 after the answer, not written yet
    state: TicketState
    caller: str | None  # FULL number: the caller is to be called back
    department: str | None
    category: str | None
    note: str
    created_at: datetime | None

    def to_dict(self, *, full_number: bool) -> dict[str, Any]:
        return {
            "ticket_id": self.ticket_id, "kind": self.kind.value,
            "due": self.due.isoformat() if self.due else None, "task_id": self.task_id,
            "state": self.state.value,
            "caller": self.caller if full_number else mask_number(self.caller),
            "department": self.department, "category": self.category, "note": self.note,
            "created_at": self.created_at.isoformat() if self.created_at else None,
        }


#: The states in which a 回访 is recorded (the workflow's 回访 action takes them); a 回访
#: task opened at the department's answer is listed from 已办结 on.
REVISIT_STATES: Final = (TicketState.CLOSED, TicketState.REVISITED)


def _due_now() -> ColumnElement[bool]:
    """An open task that is due a callback: a 差评回访 in any state, a 回访 once the ticket
    is 已办结 (or 已回访 and the caller was not reached)."""
    return and_(TicketCallback.done_at.is_(None),
                or_(TicketCallback.kind == CallbackKind.COMPLAINT,
                    Ticket.state.in_(REVISIT_STATES)))


def revisit_list(session: Session, *, limit: int = 100,
                 where: ColumnElement[bool] | None = None) -> list[RevisitItem]:
    """The tasks due a callback, the earliest due first (no due yet first), at most
    ``limit``: every open 差评回访, and the open 回访 tasks of tickets in 已办结 or 已回访.
    ``where``: an extra condition on :class:`Ticket` (e.g. the workflow's
    ``visible(actor)``). One indexed query."""
    visible = where if where is not None else true()
    rows = session.execute(
        select(TicketCallback, Ticket).join(Ticket, Ticket.id == TicketCallback.ticket_id)
        .where(_due_now(), visible)
        .order_by(TicketCallback.due.is_(None).desc(), TicketCallback.due, TicketCallback.id)
        .limit(limit)).all()
    return [RevisitItem(t.id, task.kind, task.due, task.id, t.state, t.caller, t.department,
                        t.category, task.note, task.created_at) for task, t in rows]


def open_tasks(session: Session, ticket_id: int) -> Sequence[TicketCallback]:
    """A ticket's tasks that are due a callback now (as :func:`revisit_list`), the earliest
    due first."""
    return session.scalars(
        select(TicketCallback).join(Ticket, Ticket.id == TicketCallback.ticket_id)
        .where(TicketCallback.ticket_id == ticket_id, _due_now())
        .order_by(TicketCallback.due.is_(None).desc(), TicketCallback.due,
                  TicketCallback.id)).all()


@dataclass(frozen=True, slots=True)
class CallbackResult:
    """What a seat records after a callback."""

    outcome: CallbackOutcome
    resolved: bool | None = None  # 已解决 / 未解决; None when the caller was not reached
    rating: Rating | None = None
    call_uniqueid: str | None = None
    note: str = ""


class TicketMissing(LookupError):
    """No ticket with that id."""


class NotDue(Exception):
    """The ticket is not due a callback (or cannot be called back); the message says why."""


@dataclass(frozen=True, slots=True)
class CallbackTarget:
    """Whom a callback of a ticket calls."""

    ticket_id: int
    number: str  # FULL
    of_uniqueid: str  # the call the ticket was made from


def callback_target(session: Session, ticket: Ticket) -> CallbackTarget:
    """The number to call back for ``ticket``, which must be due a callback: an open task,
    or state 已办结. :class:`NotDue` says why not."""
    if not open_tasks(session, ticket.id):
        raise NotDue(f"ticket {ticket.id} is not due a callback: it is {ticket.state.value} "
                     "with no open 差评回访, and no open 回访 in 已办结 or 已回访 (a 回访 "
                     "follows the department's answer once the ticket is closed; a 差评回访, "
                     "a 差评)")
    number = (ticket.caller or "").strip()
    if not number or not number.lstrip("+").isdigit():
        raise NotDue(f"ticket {ticket.id} has no caller number to call back (the call came "
                     "without caller ID)")
    return CallbackTarget(ticket.id, number, ticket.uniqueid)


def link_callback_call(session: Session, ticket: Ticket, *, uniqueid: str,
                       seat: str) -> TicketCallback:
    """Write a placed callback's uniqueid (its recording's name) on the ticket's task due
    first (:func:`open_tasks`; :class:`NotDue` without one). The caller commits."""
    tasks = open_tasks(session, ticket.id)
    if not tasks:
        raise NotDue(f"ticket {ticket.id} has no open callback task")
    task = tasks[0]
    task.call_uniqueid = uniqueid
    task.seat = seat[:64]
    session.flush()
    return task


def record_callback(session: Session, workflow: Workflow, ticket_id: int, actor: Actor,
                    result: CallbackResult, *, now: datetime) -> list[TicketEvent]:
    """Record a callback's result, in ``session`` (the caller commits); the events written.

    A ticket in 已办结 or 已回访: the workflow's 回访 action (history row, state 已回访, the
    task closed, unless 未接通, which leaves it open for another try), then, with a rating,
    its 评价 (state 已评价; a 差评 opens a 差评回访 there). Any other state (a 差评回访 after
    the survey, before the department answered): the task alone is closed, since the
    lifecycle has no 回访 there. The callback's uniqueid defaults to the one placed for the
    task (:func:`link_callback_call`). :class:`NotDue` without an open task;
    :class:`.workflow.TicketError` as the workflow refuses."""
    tasks = open_tasks(session, ticket_id)
    if not tasks:
        raise NotDue(f"ticket {ticket_id} has no open callback task")
    task = tasks[0]
    ticket = session.get(Ticket, ticket_id)
    assert ticket is not None
    uniqueid = result.call_uniqueid or task.call_uniqueid
    if ticket.state in REVISIT_STATES:
        fields: dict[str, Any] = {"outcome": result.outcome}
        if result.resolved is not None:
            fields["resolved"] = result.resolved
        if uniqueid:
            fields["call_uniqueid"] = uniqueid
        events = [workflow.apply(session, ticket_id, Action.REVISIT, actor, now=now,
                                 note=result.note, **fields)]
        if result.rating is not None and result.outcome is CallbackOutcome.REACHED:
            events.append(workflow.apply(session, ticket_id, Action.RATE, actor, now=now,
                                         rating=result.rating))
        return events
    if result.outcome is not CallbackOutcome.NO_ANSWER:
        task.done_at = now
    task.seat, task.outcome, task.resolved = actor.name[:64], result.outcome, result.resolved
    task.rating, task.call_uniqueid = result.rating, uniqueid
    if result.note:
        task.note = f"{task.note}；{result.note}" if task.note else result.note
    log_event(_log, "tickets.callback.recorded", ticket=ticket_id, task=task.id,
              kind=task.kind.value, outcome=result.outcome.value, state=ticket.state.value)
    return []
