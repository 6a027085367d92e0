"""The 回访 list and callbacks over a database URL, for the web layer: blocking methods,
one short transaction each (the web layer runs them in a worker thread)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import sessionmaker

from hotline12345.config.schema import Site
from hotline12345.db.engine import make_engine
from hotline12345.tickets.history import Actor
from hotline12345.tickets.models import Ticket
from hotline12345.tickets.revisit import (
    CallbackResult,
    CallbackTarget,
    DuePolicy,
    TicketMissing,
    callback_target,
    fill_missing_dues,
    link_callback_call,
    record_callback,
    revisit_list,
)
from hotline12345.tickets.workflow import Workflow

__all__ = ["RevisitDesk"]


def _utcnow() -> datetime:
    return datetime.now(UTC)


class RevisitDesk:
    """``policy``: the DeadlinePolicy, for the dues of tasks opened without one (the
    recordings pipeline's 差评回访); the list fills them in before it reads. ``workflow``:
    for :meth:`record` (its policy is the default ``policy``)."""

    def __init__(self, url: str, policy: DuePolicy | None = None, *,
                 workflow: Workflow | None = None,
                 clock: Callable[[], datetime] = _utcnow) -> None:
        self.engine = make_engine(url)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self.workflow = workflow
        self.policy = policy if policy is not None or workflow is None else workflow.policy
        self.clock = clock

    @classmethod
    def for_site(cls, url: str, site: Site) -> RevisitDesk:
        """The desk of a site: its workflow (deadlines, departments) on the database."""
        return cls(url, workflow=Workflow.for_site(site))

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
                                      uniqueid=uniqueid, seat=seat)
            session.commit()
            return {"task_id": task.id, "kind": task.kind.value,
                    "call_uniqueid": task.call_uniqueid,
                    "due": task.due.isoformat() if task.due else None}

    def record(self, ticket_id: int, actor: Actor, result: CallbackResult) -> dict[str, Any]:
        """Record a callback's result (:func:`.revisit.record_callback`), committed; the
        ticket's state and the history events written. Raises what that raises, and
        :class:`.revisit.TicketMissing`."""
        if self.workflow is None:
            raise RuntimeError("RevisitDesk needs a workflow to record callbacks")
        with self.sessions() as session:
            self._ticket(session, ticket_id)
            events = record_callback(session, self.workflow, ticket_id, actor, result,
                                     now=self.clock())
            session.commit()
            ticket = self._ticket(session, ticket_id)
            return {"ticket_id": ticket_id, "state": ticket.state.value,
                    "events": [{"kind": e.kind, "action": e.action, "seq": e.history_seq}
                               for e in events]}
