"""Creating tickets, idempotently on the call's uniqueid, and reading them back."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import String, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hotline12345.logs import mask_name
from hotline12345.tickets.enums import Action, Speaker, TicketState
from hotline12345.tickets.events import EventListener
from hotline12345.tickets.history import SYSTEM, event_of, history_row
from hotline12345.tickets.models import Ticket, TicketUtterance


@dataclass(frozen=True, slots=True)
class UtteranceDraft:
    speaker: Speaker
    start_s: float
    end_s: float
    text: str
    words: list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class TicketDraft:
    """Everything a new ticket holds; built by the recordings pipeline."""

    uniqueid: str
    caller: str | None = None
    caller_name: str | None = None
    dialled: str | None = None
    legacy_number: str | None = None
    legacy_mode: str | None = None
    route: str | None = None
    queue: str | None = None
    seat: str | None = None
    call_started_at: datetime | None = None
    call_ended_at: datetime | None = None
    recording_path: str | None = None
    caller_leg_path: str | None = None
    seat_leg_path: str | None = None
    duration_s: float | None = None
    language: str | None = None
    model: str | None = None
    transcript: str = ""
    department: str | None = None
    category: str | None = None
    matched_keywords: tuple[str, ...] = ()
    utterances: Sequence[UtteranceDraft] = field(default_factory=tuple)


def _limits() -> dict[str, int]:
    """The length of every bounded string column of ``tickets`` that a draft fills."""
    names = {f.name for f in fields(TicketDraft)}
    out: dict[str, int] = {}
    for column in Ticket.__table__.columns:
        if (column.name in names and isinstance(column.type, String)
                and column.type.length is not None):
            out[column.name] = column.type.length
    return out


#: Column lengths a draft is fitted to (caller_name 200, seat 200, legacy_mode 16, ...).
DRAFT_LIMITS: dict[str, int] = _limits()


def fit_draft(draft: TicketDraft) -> tuple[TicketDraft, list[str]]:
    """The draft with every string that a column would refuse made to fit: NUL characters
    (PostgreSQL refuses them) removed, values longer than their column cut to its length.
    Returns the draft and the names of the fields changed (for a log line; never the
    values). Call facts come from AMI and the dialplan, so a 300-character seat name still
    makes a ticket, just with the name cut."""
    changes: dict[str, Any] = {}
    for name, limit in DRAFT_LIMITS.items():
        value = getattr(draft, name)
        if not isinstance(value, str):
            continue
        fitted = value.replace("\x00", "")
        if len(fitted) > limit:
            fitted = fitted[:limit]
        if fitted != value:
            changes[name] = fitted
    if "\x00" in draft.transcript:
        changes["transcript"] = draft.transcript.replace("\x00", "")
    if not changes:
        return draft, []
    return replace(draft, **changes), sorted(changes)


def ticket_id_for(session: Session, uniqueid: str) -> int | None:
    found = session.scalar(select(Ticket.id).where(Ticket.uniqueid == uniqueid))
    return int(found) if found is not None else None


def save_ticket(session: Session, draft: TicketDraft, *,
                listeners: Sequence[EventListener] = (),
                now: datetime | None = None) -> tuple[int, bool]:
    """Add the ticket in ``session`` (the caller commits), in state 受理 with its first
    history row (创建, by 系统); each listener gets the ``created`` event in the same
    session. Returns ``(id, created)``; if a ticket for the uniqueid exists, or another
    worker inserts one concurrently, that one's id is returned and nothing is added. Values
    too long for their columns are cut (:func:`fit_draft`)."""
    draft, _changed = fit_draft(draft)
    existing = ticket_id_for(session, draft.uniqueid)
    if existing is not None:
        return existing, False
    at = now or datetime.now(UTC)
    ticket = Ticket(
        uniqueid=draft.uniqueid, state=TicketState.ACCEPTED, created_at=at, caller=draft.caller,
        caller_name=draft.caller_name, dialled=draft.dialled, legacy_number=draft.legacy_number,
        legacy_mode=draft.legacy_mode, route=draft.route, queue=draft.queue, seat=draft.seat,
        call_started_at=draft.call_started_at, call_ended_at=draft.call_ended_at,
        recording_path=draft.recording_path, caller_leg_path=draft.caller_leg_path,
        seat_leg_path=draft.seat_leg_path, duration_s=draft.duration_s,
        language=draft.language, model=draft.model, transcript=draft.transcript,
        department=draft.department, category=draft.category,
        matched_keywords=list(draft.matched_keywords) or None,
        utterances=[TicketUtterance(seq=i, speaker=u.speaker, start_s=u.start_s, end_s=u.end_s,
                                    text=u.text, words=u.words)
                    for i, u in enumerate(draft.utterances)],
    )
    try:
        with session.begin_nested():
            session.add(ticket)
            session.flush()
            row = history_row(ticket, at=at, actor=SYSTEM, action=Action.CREATE,
                              from_state=None)
            session.add(row)
            session.flush()
            for listener in listeners:
                listener(session, event_of(ticket, row, "created"))
    except IntegrityError:
        existing = ticket_id_for(session, draft.uniqueid)
        if existing is None:
            raise
        return existing, False
    return ticket.id, True


def get_ticket(session: Session, uniqueid: str) -> Ticket | None:
    return session.scalar(select(Ticket).where(Ticket.uniqueid == uniqueid))


def ticket_view(ticket: Ticket) -> dict[str, Any]:
    """The ticket as shown to users and the API: the caller's number and name masked (as the
    wallboard shows them), times as ISO strings."""

    def iso(value: datetime | None) -> str | None:
        return value.isoformat() if value is not None else None

    return {
        "id": ticket.id, "uniqueid": ticket.uniqueid, "state": ticket.state.value,
        "caller": ticket.caller_masked, "caller_name": mask_name(ticket.caller_name),
        "dialled": ticket.dialled, "legacy_number": ticket.legacy_number,
        # 协同联动 both ways: the partner (110) that transferred the call to 12345, or None
        "linked_from": ticket.linked_from,
        "legacy_mode": ticket.legacy_mode, "route": ticket.route, "queue": ticket.queue,
        "seat": ticket.seat, "call_started_at": iso(ticket.call_started_at),
        "call_ended_at": iso(ticket.call_ended_at), "created_at": iso(ticket.created_at),
        "recording_path": ticket.recording_path, "caller_leg_path": ticket.caller_leg_path,
        "seat_leg_path": ticket.seat_leg_path, "duration_s": ticket.duration_s,
        "language": ticket.language, "model": ticket.model,
        "department": ticket.department, "category": ticket.category,
        "matched_keywords": ticket.matched_keywords or [],
        "transcript": ticket.transcript,
        "dialogue": [{"speaker": u.speaker.value, "start": u.start_s, "end": u.end_s,
                      "text": u.text, "words": u.words} for u in ticket.utterances],
    }
