"""What the ticket pages and API read and do, given to :func:`.web.build_app` by the wiring.

:class:`TicketsAccess` holds the lead's :class:`~hotline12345.tickets.workflow.Workflow`, a
session factory and the site's departments. Its methods block (they run in a worker thread)
and take the caller's :class:`~hotline12345.tickets.workflow.Actor`:

- every query is filtered by :func:`~hotline12345.tickets.workflow.visible`, so a
  承办单位 user reading, listing, searching or acting on another department's ticket finds
  nothing: :class:`~hotline12345.tickets.workflow.NotFound` (404), never 403;
- every action goes through :meth:`Workflow.apply`, which alone decides what is legal,
  and is committed here;
- the caller's number is masked (:func:`hotline12345.logs.mask_number`; free text with
  :func:`hotline12345.logs.mask_text`) in everything returned, except :meth:`reveal`,
  which the web layer allows only to the roles that call back and writes to the audit log.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session, sessionmaker

from hotline12345.logs import mask_name, mask_number, mask_text
from hotline12345.tickets.enums import Action, TicketState
from hotline12345.tickets.lifecycle import PERSON_ACTIONS as LIFECYCLE_ACTIONS
from hotline12345.tickets.lifecycle import transition
from hotline12345.tickets.models import (
    Ticket,
    TicketAssignment,
    TicketCallback,
    TicketExtension,
    TicketHistory,
    TicketPause,
)
from hotline12345.tickets.workflow import OPTIONAL_FIELDS, Actor, NotFound, Workflow, visible

from .actions import RequestError
from .ticket_roles import sees_full_number

__all__ = ["OPEN_STATES", "PERSON_ACTIONS", "QueueQuery", "TicketsAccess"]

#: States in which the department's deadlines run (sign for, answer).
OPEN_STATES = (TicketState.AWAITING_SIGN, TicketState.HANDLING)
#: The actions a person takes through ``POST /api/tickets/{id}/actions/{action}``: the
#: lifecycle's, but 回访, which has its own route (``/api/tickets/{id}/callback``).
PERSON_ACTIONS = tuple(a for a in LIFECYCLE_ACTIONS if a is not Action.REVISIT)


@dataclass(frozen=True, slots=True)
class QueueQuery:
    """``GET /api/tickets``'s filters, checked."""

    state: TicketState | None = None
    department: str | None = None
    q: str = ""
    overdue: bool = False
    page: int = 1


def _masked(data: dict[str, Any]) -> dict[str, Any]:
    """A history row's fields with every phone number in their texts masked."""
    return {k: mask_text(v) if isinstance(v, str) else v for k, v in data.items()}


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value is not None else None


class TicketsAccess:
    """The tickets as the web layer reads and changes them (see the module's docstring).

    ``departments``: the site file's, for checking a department named in a filter or an
    action (empty: not checked). ``recordings_dir``: the only directory recordings are
    served from. ``merge_window_hours``: how far apart two calls of the same caller and
    category are suggested for 并单. ``clock``: now, aware."""

    def __init__(self, workflow: Workflow, sessions: sessionmaker[Session],
                 departments: Sequence[str] = (), *, recordings_dir: Path | None = None,
                 merge_window_hours: float = 72.0,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 page_size: int = 50) -> None:
        self.workflow = workflow
        self.sessions = sessions
        self.departments = tuple(departments)
        self.recordings_dir = recordings_dir
        self.merge_window_hours = merge_window_hours
        self.clock = clock
        self.page_size = page_size

    def close(self) -> None:
        """Release the database connections of the sessions' engine."""
        bind = self.sessions.kw.get("bind")
        if bind is not None:
            bind.dispose()

    # --- reading ------------------------------------------------------------------------

    def _visible_ticket(self, session: Session, actor: Actor, ticket_id: int) -> Ticket:
        """The ticket if ``actor`` may see it; else the workflow's :class:`NotFound`, the
        same whether the ticket does not exist or is another department's."""
        ticket = session.scalar(select(Ticket).where(Ticket.id == ticket_id, visible(actor)))
        if ticket is None:
            raise NotFound(ticket_id)
        return ticket

    def _queue_select(self, actor: Actor, query: QueueQuery, now: datetime) -> Select[Any]:
        stmt = select(Ticket).where(visible(actor))
        if query.state is not None:
            stmt = stmt.where(Ticket.state == query.state)
        if query.department is not None:
            stmt = stmt.where(Ticket.department == query.department)
        if query.overdue:
            stmt = stmt.where(or_(
                (Ticket.state == TicketState.AWAITING_SIGN) & (Ticket.sign_due < now),
                Ticket.state.in_(OPEN_STATES) & (Ticket.answer_due < now)))
        text = query.q.strip()
        if text:
            like = f"%{text.replace('%', '').replace('_', '')}%"
            matches = [Ticket.summary.like(like), Ticket.transcript.like(like),
                       Ticket.category.like(like), Ticket.legacy_number.like(like),
                       Ticket.uniqueid == text]
            if text.isdigit():
                if int(text) < 2**31:  # a ticket id (PostgreSQL's integer)
                    matches.append(Ticket.id == int(text))
                if sees_full_number(actor):  # only who may see it may search by it
                    matches.append(Ticket.caller.like(like))
            stmt = stmt.where(or_(*matches))
        return stmt

    def queue(self, actor: Actor, query: QueueQuery) -> dict[str, Any]:
        """One page of the tickets ``actor`` may see, most urgent deadline first."""
        if query.department is not None:
            if actor.department is not None and query.department != actor.department:
                raise RequestError("department", f"no department {query.department!r} among "
                                   "your tickets", 404)
            if self.departments and query.department not in self.departments:
                raise RequestError("department", f"{query.department!r} is not a department "
                                   f"of the site file ({'、'.join(self.departments)})")
        now = self.clock()
        with self.sessions() as session:
            stmt = self._queue_select(actor, query, now)
            total = int(session.scalar(select(func.count()).select_from(stmt.subquery())) or 0)
            rows = session.scalars(
                stmt.order_by(Ticket.answer_due.is_(None), Ticket.answer_due, Ticket.id)
                .offset((query.page - 1) * self.page_size).limit(self.page_size)).all()
            return {"tickets": [self._row(t, now) for t in rows], "page": query.page,
                    "page_size": self.page_size, "total": total,
                    "pages": max(1, math.ceil(total / self.page_size))}

    def _overdue(self, ticket: Ticket, now: datetime) -> bool:
        if ticket.state == TicketState.AWAITING_SIGN and ticket.sign_due is not None \
                and ticket.sign_due < now:
            return True
        return (ticket.state in OPEN_STATES and ticket.answer_due is not None
                and ticket.answer_due < now)

    def _row(self, ticket: Ticket, now: datetime) -> dict[str, Any]:
        """A ticket as a queue row: no transcript, the caller masked."""
        return {
            "id": ticket.id, "uniqueid": ticket.uniqueid, "state": str(ticket.state),
            "urgency": str(ticket.urgency), "category": ticket.category,
            "department": ticket.department, "caller": mask_number(ticket.caller),
            "summary": mask_text(ticket.summary or "")[:120],
            "legacy_number": ticket.legacy_number, "created_at": _iso(ticket.created_at),
            "sign_due": _iso(ticket.sign_due), "answer_due": _iso(ticket.answer_due),
            "revisit_due": _iso(ticket.revisit_due),
            "supervision": ticket.supervision, "overdue": self._overdue(ticket, now),
            "merged_into": ticket.merged_into, "paused": ticket.paused_since is not None,
        }

    def ticket(self, actor: Actor, ticket_id: int) -> dict[str, Any]:
        """Everything a ticket's page shows: the ticket, its transcript (both legs), history,
        deadlines, 督办 level, assignments, extensions, pauses, callbacks, the tickets merged
        into it, and the actions ``actor`` may take now."""
        now = self.clock()
        with self.sessions() as session:
            t = self._visible_ticket(session, actor, ticket_id)
            mask = not sees_full_number(actor)
            view = self._row(t, now)
            view.update({
                "caller_name": mask_name(t.caller_name),
                "full_number_allowed": not mask,
                "summary": mask_text(t.summary or ""),
                "dialled": t.dialled, "legacy_mode": t.legacy_mode, "queue": t.queue,
                "seat": t.seat, "call_started_at": _iso(t.call_started_at),
                "call_ended_at": _iso(t.call_ended_at), "duration_s": t.duration_s,
                "reply": mask_text(t.reply or "") if t.reply else None,
                "rating": t.rating, "survey_rating": t.survey_rating, "resolved": t.resolved,
                "real_name": t.real_name,
                "supervision_reason": t.supervision_reason,
                "deadline_warning": t.deadline_warning,
                "deadlines": {"sign_due": _iso(t.sign_due), "answer_due": _iso(t.answer_due),
                              "revisit_due": _iso(t.revisit_due),
                              "return_due": _iso(t.return_due)},
                "times": {k: _iso(getattr(t, k)) for k in (
                    "dispatched_at", "signed_at", "answered_at", "closed_at", "revisited_at",
                    "rated_at")},
                "counts": {k: getattr(t, k) for k in (
                    "extensions_used", "returns_count", "unjust_returns", "reassign_count",
                    "reopen_count")},
                "extension_pending": t.extension_pending, "return_pending": t.return_pending,
                "recording": bool(t.recording_path),
                "transcript": mask_text(t.transcript or ""),
                "dialogue": [{"speaker": str(u.speaker), "start": u.start_s, "end": u.end_s,
                              "text": mask_text(u.text)} for u in t.utterances],
                "history": self._history(session, t.id),
                "assignments": [
                    {"department": a.department, "kind": str(a.kind),
                     "assigned_at": _iso(a.assigned_at), "answered_at": _iso(a.answered_at),
                     "answer": mask_text(a.answer) if a.answer else None, "active": a.active}
                    for a in session.scalars(select(TicketAssignment).where(
                        TicketAssignment.ticket_id == t.id).order_by(TicketAssignment.id))],
                "extensions": [
                    {"requested_at": _iso(e.requested_at), "requested_by": e.requested_by,
                     "working_days": e.working_days, "reason": e.reason,
                     "decision": str(e.decision), "decided_at": _iso(e.decided_at),
                     "decided_by": e.decided_by}
                    for e in session.scalars(select(TicketExtension).where(
                        TicketExtension.ticket_id == t.id).order_by(TicketExtension.id))],
                "pauses": [
                    {"started_at": _iso(p.started_at), "ended_at": _iso(p.ended_at),
                     "reason": p.reason}
                    for p in session.scalars(select(TicketPause).where(
                        TicketPause.ticket_id == t.id).order_by(TicketPause.id))],
                "callbacks": [
                    {"kind": str(c.kind), "created_at": _iso(c.created_at), "due": _iso(c.due),
                     "done_at": _iso(c.done_at), "seat": c.seat,
                     "outcome": str(c.outcome) if c.outcome else None, "resolved": c.resolved,
                     "rating": str(c.rating) if c.rating else None,
                     "call_uniqueid": c.call_uniqueid, "note": mask_text(c.note or "")}
                    for c in session.scalars(select(TicketCallback).where(
                        TicketCallback.ticket_id == t.id).order_by(TicketCallback.id))],
                "merged": list(session.scalars(
                    select(Ticket.id).where(Ticket.merged_into == t.id, visible(actor))
                    .order_by(Ticket.id))),
                "allowed_actions": self._allowed(t, actor),
            })
            return view

    def _allowed(self, ticket: Ticket, actor: Actor) -> list[dict[str, Any]]:
        """The actions ``actor`` may take on ``ticket`` now (the workflow's answer, from the
        lifecycle table), each with the fields its form asks for: ``fields`` (required
        first, then optional; never ``reason``) and whether a reason is required."""
        out = []
        for action in self.workflow.allowed(ticket, actor):
            row = transition(ticket.state, action)
            if action not in PERSON_ACTIONS or row is None:
                continue
            required = [f for f in row.required if f != "reason"]
            optional = [f for f in OPTIONAL_FIELDS.get(action, ()) if f not in required]
            out.append({"action": action.value, "fields": required + optional,
                        "required": required, "reason_required": "reason" in row.required})
        return out

    def _history(self, session: Session, ticket_id: int) -> list[dict[str, Any]]:
        rows = session.scalars(select(TicketHistory).where(TicketHistory.ticket_id == ticket_id)
                               .order_by(TicketHistory.seq)).all()
        return [{"seq": h.seq, "at": _iso(h.at), "actor": h.actor, "role": str(h.role),
                 "actor_department": h.actor_department, "action": str(h.action),
                 "from_state": str(h.from_state) if h.from_state else None,
                 "to_state": str(h.to_state) if h.to_state else None,
                 "reason": mask_text(h.reason or ""), "note": mask_text(h.note or ""),
                 "data": _masked(h.data or {})}
                for h in rows]

    def history(self, actor: Actor, ticket_id: int) -> list[dict[str, Any]]:
        """The ticket's history rows, oldest first (like RT's transactions)."""
        with self.sessions() as session:
            self._visible_ticket(session, actor, ticket_id)
            return self._history(session, ticket_id)

    def duplicates(self, actor: Actor, ticket_id: int) -> list[dict[str, Any]]:
        """并单 suggestions: the other tickets ``actor`` may see of the same caller and
        category whose calls came within the merge window of this one's, not merged
        themselves, nearest first (none for a ticket merged already). A person confirms
        one by POSTing 并单."""
        now = self.clock()
        window = timedelta(hours=self.merge_window_hours)
        with self.sessions() as session:
            t = self._visible_ticket(session, actor, ticket_id)
            if not t.caller or t.category is None or t.merged_into is not None:
                return []
            start = t.call_started_at or t.created_at
            rows = session.scalars(select(Ticket).where(
                visible(actor), Ticket.id != t.id, Ticket.caller == t.caller,
                Ticket.category == t.category, Ticket.merged_into.is_(None),
                Ticket.created_at >= start - window, Ticket.created_at <= start + window,
            ).order_by(Ticket.created_at).limit(20)).all()
            found = [self._row(r, now) for r in rows]
            return sorted(found, key=lambda r: abs(
                datetime.fromisoformat(r["created_at"]) - start))

    def reveal(self, actor: Actor, ticket_id: int) -> str | None:
        """The caller's full number (the web layer checks the role and audits it)."""
        with self.sessions() as session:
            return self._visible_ticket(session, actor, ticket_id).caller

    def recording(self, actor: Actor, ticket_id: int) -> Path:
        """The mixed recording's file, inside the recordings directory; else
        :class:`NotFound` saying why."""
        with self.sessions() as session:
            stored = self._visible_ticket(session, actor, ticket_id).recording_path
        if not stored:
            raise RequestError("recording", f"ticket {ticket_id} has no recording", 404)
        if self.recordings_dir is None:
            raise RequestError("recording", "recordings are not served: no recordings "
                               "directory is configured (HOTLINE12345_RECORDINGS_DIR)", 404)
        root = self.recordings_dir.resolve()
        path = Path(stored)
        resolved = (path if path.is_absolute() else root / path).resolve()
        if not resolved.is_relative_to(root) or not resolved.is_file():
            raise RequestError("recording", f"the recording of ticket {ticket_id} is not in "
                               "the recordings directory", 404)
        return resolved

    # --- acting -------------------------------------------------------------------------

    def apply(self, actor: Actor, ticket_id: int, action: Action, *, reason: str, note: str,
              fields: dict[str, Any]) -> dict[str, Any]:
        """Apply one action through the workflow (which finds the ticket only if ``actor``
        may see it, checks the table, the role and the fields) and commit; the event,
        numbers masked."""
        with self.sessions() as session:
            event = self.workflow.apply(session, ticket_id, action, actor, now=self.clock(),
                                        reason=reason, note=note, **fields)
            session.commit()
        payload = event.to_payload(full_number=False)
        payload["data"] = _masked(payload["data"])
        return payload

