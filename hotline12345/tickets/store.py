"""Creating tickets, idempotently on the call's uniqueid, and reading them back."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hotline12345.tickets.enums import Speaker, TicketStatus
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


def ticket_id_for(session: Session, uniqueid: str) -> int | None:
    found = session.scalar(select(Ticket.id).where(Ticket.uniqueid == uniqueid))
    return int(found) if found is not None else None


def save_ticket(session: Session, draft: TicketDraft) -> tuple[int, bool]:
    """Add the ticket in ``session`` (the caller commits). Returns ``(id, created)``; if a
    ticket for the uniqueid exists, or another worker inserts one concurrently, that one's id
    is returned and nothing is added."""
    existing = ticket_id_for(session, draft.uniqueid)
    if existing is not None:
        return existing, False
    ticket = Ticket(
        uniqueid=draft.uniqueid, status=TicketStatus.ACCEPTED, caller=draft.caller,
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
    except IntegrityError:
        existing = ticket_id_for(session, draft.uniqueid)
        if existing is None:
            raise
        return existing, False
    return ticket.id, True


def get_ticket(session: Session, uniqueid: str) -> Ticket | None:
    return session.scalar(select(Ticket).where(Ticket.uniqueid == uniqueid))


def ticket_view(ticket: Ticket) -> dict[str, Any]:
    """The ticket as shown to users and the API: the caller masked, times as ISO strings."""

    def iso(value: datetime | None) -> str | None:
        return value.isoformat() if value is not None else None

    return {
        "id": ticket.id, "uniqueid": ticket.uniqueid, "status": ticket.status.value,
        "caller": ticket.caller_masked, "caller_name": ticket.caller_name,
        "dialled": ticket.dialled, "legacy_number": ticket.legacy_number,
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
