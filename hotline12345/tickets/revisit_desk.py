"""The 回访 list and callbacks over a database URL, for the web layer: blocking methods,
one short transaction each (the web layer runs them in a worker thread)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import sessionmaker

from hotline12345.db.engine import make_engine
from hotline12345.tickets.models import Ticket
from hotline12345.tickets.revisit import (
    CallbackTarget,
    DuePolicy,
    TicketMissing,
    callback_target,
    fill_missing_dues,
    link_callback_call,
    revisit_list,
)

__all__ = ["RevisitDesk"]


def _utcnow() -> datetime:
    return datetime.now(UTC)


class RevisitDesk:
    """``policy``: the DeadlinePolicy, for the dues of tasks opened without one (the
    recordings pipeline's 差评回访); the list fills them in before it reads."""

    def __init__(self, url: str, policy: DuePolicy | None = None, *,
                 clock: Callable[[], datetime] = _utcnow) -> None:
        self.engine = make_engine(url)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self.policy = policy
        self.clock = clock

    def close(self) -> None:
        self.engine.dispose()

    def revisits(self, limit: int, *, full_number: bool) -> list[dict[str, Any]]:
        """The 回访 list (:func:`.revisit.revisit_list`) as JSON-ready dicts."""
        with self.sessions() as session:
            if self.policy is not None and fill_missing_dues(session, self.policy):
                session.commit()
            items = revisit_list(session, limit=limit)
            return [item.to_dict(full_number=full_number) for item in items]

    def _ticket(self, session: Any, ticket_id: int) -> Ticket:
        ticket = session.get(Ticket, ticket_id)
        if ticket is None:
            raise TicketMissing(f"no ticket {ticket_id}")
        assert isinstance(ticket, Ticket)
        return ticket

    def target(self, ticket_id: int) -> CallbackTarget:
        """Whom to call for ``ticket_id``; :class:`.revisit.TicketMissing` or
        :class:`.revisit.NotDue` when there is nobody to call."""
        with self.sessions() as session:
            return callback_target(session, self._ticket(session, ticket_id))

    def link(self, ticket_id: int, uniqueid: str, seat: str) -> dict[str, Any]:
        """Write a placed callback's uniqueid on the ticket's task (committed)."""
        with self.sessions() as session:
            task = link_callback_call(session, self._ticket(session, ticket_id),
                                      uniqueid=uniqueid, seat=seat, now=self.clock())
            session.commit()
            return {"task_id": task.id, "kind": task.kind.value,
                    "call_uniqueid": task.call_uniqueid,
                    "due": task.due.isoformat() if task.due else None}
