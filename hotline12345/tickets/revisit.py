"""回访: the callback tasks, the list of tickets due a callback, and recording a callback.

Two kinds of task (``ticket_callbacks``):

- **回访**, after the department's answer: a ticket in state 已办结 is due one, by its
  ``revisit_due`` (the workflow sets it from the 回访 limit when it closes the ticket). It
  needs no row to be listed; a row is written when the callback is recorded.
- **差评回访**, after a 差评 (不满意 or 非常不满意): from the end-of-call survey
  (:mod:`.survey`) or from a 评价 (:func:`rating_listener`, a workflow listener), whatever
  the ticket's state. A 实名 差评 is a 差评 and gets one too; the task's note says 实名.
  Its due is the DeadlinePolicy's 回访 limit from the moment of the rating. A rating
  recorded *at* a callback makes no new task: the workflow reopens the ticket (重办).

Every task is opened once per rating (its note names the source), so applying the same
survey or event again changes nothing. :func:`revisit_list` lists both kinds, the earliest
due first. :func:`record_callback` records a callback's result: through the workflow's 回访
action when the ticket is in a state that takes it (its history row, its state), and always
on the task, which it closes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Protocol

from sqlalchemy import ColumnElement, and_, exists, select, true
from sqlalchemy.orm import Session

from hotline12345.logs import log_event, mask_number
from hotline12345.tickets.enums import CallbackKind, CallbackOutcome, Rating, TicketState, Urgency
from hotline12345.tickets.models import Ticket, TicketCallback

__all__ = ["BAD_RATINGS", "CallbackResult", "CallbackTarget", "DuePolicy", "NotDue",
           "RevisitItem", "TicketMissing", "callback_target", "complaint_due",
           "fill_missing_dues", "is_bad", "link_callback_call", "open_complaint", "open_tasks",
           "rating_listener", "revisit_list"]

_log = logging.getLogger("hotline12345.tickets.revisit")

#: 差评: the grades that get a 差评回访.
BAD_RATINGS: Final = frozenset({Rating.UNSATISFIED, Rating.VERY_UNSATISFIED})
#: The 回访 limit's name in the DeadlinePolicy (``Limit.REVISIT``, a StrEnum equal to it).
REVISIT_LIMIT: Final = "回访"
#: How a 差评回访's note names the rating it answers.
SURVEY_SOURCE: Final = "来电满意度调查"
RATING_SOURCE: Final = "评价"


class _Due(Protocol):
    @property
    def at(self) -> datetime: ...


class DuePolicy(Protocol):
    """What this module needs of the DeadlinePolicy (``tickets/deadlines.py``)."""

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


EventListener = Callable[[Session, Any], None]


def rating_listener(policy: DuePolicy) -> EventListener:
    """A workflow listener: a 评价 event (kind ``rated``) whose rating is a 差评 opens a
    差评回访, in the workflow's session."""

    def listen(session: Session, event: Any) -> None:
        if getattr(event, "kind", None) != "rated":
            return
        ticket = session.get(Ticket, event.ticket_id)
        if ticket is not None and ticket.rating is not None:
            open_complaint(session, ticket, ticket.rating, source=RATING_SOURCE,
                           at=event.at, policy=policy)

    return listen


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


def _due_key(item: RevisitItem) -> tuple[int, datetime | None, int]:
    # No due (not computed yet) first: it is new and its due is the nearest.
    return (0 if item.due is None else 1, item.due, item.ticket_id)


def revisit_list(session: Session, *, limit: int = 100,
                 where: ColumnElement[bool] | None = None) -> list[RevisitItem]:
    """The tickets due a callback, the earliest due first, at most ``limit``: the open
    差评回访 (and any open 回访) tasks, and the tickets in 已办结 that have no open 回访
    task. ``where``: an extra condition on :class:`Ticket` (e.g. the workflow's
    ``visible(actor)``). Two indexed queries, each ordered and cut to ``limit``."""
    visible = where if where is not None else true()
    tasks = session.execute(
        select(TicketCallback, Ticket).join(Ticket, Ticket.id == TicketCallback.ticket_id)
        .where(TicketCallback.done_at.is_(None), visible)
        .order_by(TicketCallback.due.is_(None).desc(), TicketCallback.due, TicketCallback.id)
        .limit(limit)).all()
    open_revisit = exists().where(and_(TicketCallback.ticket_id == Ticket.id,
                                       TicketCallback.kind == CallbackKind.REVISIT,
                                       TicketCallback.done_at.is_(None)))
    closed = session.scalars(
        select(Ticket).where(Ticket.state == TicketState.CLOSED, ~open_revisit, visible)
        .order_by(Ticket.revisit_due.is_(None).desc(), Ticket.revisit_due, Ticket.id)
        .limit(limit)).all()
    items = [RevisitItem(t.id, task.kind, task.due, task.id, t.state, t.caller, t.department,
                         t.category, task.note, task.created_at) for task, t in tasks]
    items += [RevisitItem(t.id, CallbackKind.REVISIT, t.revisit_due, None, t.state, t.caller,
                          t.department, t.category, "", t.closed_at) for t in closed]
    return sorted(items, key=_due_key)[:limit]


def open_tasks(session: Session, ticket_id: int) -> Sequence[TicketCallback]:
    """A ticket's open tasks, the earliest due first."""
    return session.scalars(
        select(TicketCallback).where(TicketCallback.ticket_id == ticket_id,
                                     TicketCallback.done_at.is_(None))
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
    if not open_tasks(session, ticket.id) and ticket.state is not TicketState.CLOSED:
        raise NotDue(f"ticket {ticket.id} is not due a callback: it is {ticket.state.value} "
                     "with no open 回访 or 差评回访 task (callbacks follow the department's "
                     "answer, 已办结, or a 差评)")
    number = (ticket.caller or "").strip()
    if not number or not number.lstrip("+").isdigit():
        raise NotDue(f"ticket {ticket.id} has no caller number to call back (the call came "
                     "without caller ID)")
    return CallbackTarget(ticket.id, number, ticket.uniqueid)


def link_callback_call(session: Session, ticket: Ticket, *, uniqueid: str, seat: str,
                       now: datetime) -> TicketCallback:
    """Write a placed callback's uniqueid (its recording's name) on the ticket's task: the
    open task due first, or, for a ticket in 已办结 without one, its 回访 task, opened now
    (due: the ticket's ``revisit_due``). The caller commits."""
    tasks = open_tasks(session, ticket.id)
    if tasks:
        task = tasks[0]
    else:
        task = TicketCallback(ticket_id=ticket.id, kind=CallbackKind.REVISIT, created_at=now,
                              due=ticket.revisit_due, note="")
        session.add(task)
    task.call_uniqueid = uniqueid
    task.seat = seat[:64]
    session.flush()
    return task
