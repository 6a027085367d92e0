"""What a transition tells the rest of the world: one :class:`TicketEvent` per history row.

The workflow hands each event to its listeners inside the transition's own database
session (the information-sharing outbox writes it there, so an event exists exactly when
its transition does). The caller's number travels in full and is masked by
:meth:`TicketEvent.to_payload` unless the receiver may see full numbers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from hotline12345.logs import mask_number

__all__ = ["EventListener", "TicketEvent"]


@dataclass(frozen=True, slots=True)
class TicketEvent:
    kind: str  # created, dispatched, signed, returned, answered, supervised, closed, ...
    ticket_id: int
    history_seq: int  # the history row's seq: events of one ticket are ordered by it
    at: datetime
    action: str  # the Action value, e.g. 派单
    state: str  # the ticket's state after the transition
    department: str | None
    category: str | None
    legacy_number: str | None
    caller: str | None  # the FULL number: mask it (to_payload) unless allowed
    deadlines: dict[str, str | None] = field(default_factory=dict)  # ISO times
    supervision: str | None = None
    urgency: str | None = None
    actor_role: str | None = None
    data: dict[str, Any] = field(default_factory=dict)  # the action's fields (no numbers)

    @property
    def event_id(self) -> str:
        """Stable and unique: the same transition always has the same id."""
        return f"ticket-{self.ticket_id}-{self.history_seq}"

    def to_payload(self, *, full_number: bool = False) -> dict[str, Any]:
        """The event as JSON-ready data; the caller's number masked unless ``full_number``."""
        return {
            "id": self.event_id, "type": f"ticket.{self.kind}", "ticket_id": self.ticket_id,
            "seq": self.history_seq, "at": self.at.isoformat(), "action": self.action,
            "state": self.state, "department": self.department, "category": self.category,
            "legacy_number": self.legacy_number,
            "caller": self.caller if full_number else mask_number(self.caller),
            "deadlines": dict(self.deadlines), "supervision": self.supervision,
            "urgency": self.urgency, "actor_role": self.actor_role, "data": dict(self.data),
        }


#: Called with the transition's session and its event, before the caller commits.
EventListener = Callable[[Session, TicketEvent], None]
