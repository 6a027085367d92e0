"""A ticket's history rows and the events made from them.

Every change of a ticket — its creation by the recordings pipeline
(:func:`hotline12345.tickets.store.save_ticket`) and every transition
(:mod:`hotline12345.tickets.workflow`) — appends one :class:`TicketHistory` row through
:func:`history_row`, and hands one :class:`~hotline12345.tickets.events.TicketEvent` made by
:func:`event_of` to the listeners, in the same session.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hotline12345.tickets.enums import Action, Role, TicketState
from hotline12345.tickets.events import TicketEvent
from hotline12345.tickets.models import Ticket, TicketHistory

__all__ = ["SYSTEM", "Actor", "event_of", "history_row", "iso"]


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acts: a user's name, role and (for a 承办单位 handler) department."""

    name: str
    role: Role
    department: str | None = None


#: The system itself: the pipeline creating tickets, the sweep, merged tickets following.
SYSTEM = Actor("system", Role.SYSTEM)


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _jsonable(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def history_row(ticket: Ticket, *, at: datetime, actor: Actor, action: Action,
                from_state: TicketState | None, reason: str = "", note: str = "",
                data: Mapping[str, Any] | None = None) -> TicketHistory:
    """The ticket's next history row (its ``seq`` follows the last one)."""
    ticket.history_seq = (ticket.history_seq or 0) + 1
    return TicketHistory(
        ticket_id=ticket.id, seq=ticket.history_seq, at=at, actor=actor.name[:64],
        role=actor.role.value, actor_department=actor.department, action=action.value,
        from_state=from_state.value if from_state is not None else None,
        to_state=ticket.state.value, reason=reason, note=note,
        data={k: _jsonable(v) for k, v in (data or {}).items()})




def event_of(ticket: Ticket, row: TicketHistory, kind: str) -> TicketEvent:
    """The event of ``row`` (just added for ``ticket``), for the feeds."""
    return TicketEvent(
        kind=kind, ticket_id=ticket.id, history_seq=row.seq, at=row.at, action=row.action,
        state=ticket.state.value, department=ticket.department, category=ticket.category,
        legacy_number=ticket.legacy_number, caller=ticket.caller,
        deadlines={"sign_due": iso(ticket.sign_due), "answer_due": iso(ticket.answer_due),
                   "revisit_due": iso(ticket.revisit_due)},
        supervision=ticket.supervision.value if ticket.supervision else None,
        urgency=ticket.urgency.value if ticket.urgency else None, actor_role=row.role,
        data=dict(row.data))
