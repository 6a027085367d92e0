"""Tickets (工单): one per recorded call, created in state 受理 with the call's transcript.

The caller's number is stored in full (the ticket workflow calls back) and shown masked
(:attr:`Ticket.caller_masked`); ``repr`` masks it too. ``uniqueid`` is unique: the same
recording never makes two tickets, whatever the number of workers or retries.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Enum, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from hotline12345.calls.models import CallRecord
from hotline12345.db.base import Base, UtcDateTime
from hotline12345.logs import mask_number
from hotline12345.tickets.enums import Speaker, TicketState


def _values(enum_cls: type[TicketState] | type[Speaker]) -> list[str]:
    return [member.value for member in enum_cls]


def _now() -> datetime:
    return datetime.now(UTC)


class Ticket(Base):
    __tablename__ = "tickets"
    __table_args__ = (UniqueConstraint("uniqueid", name="uq_tickets_uniqueid"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uniqueid: Mapped[str] = mapped_column(String(150))
    status: Mapped[TicketState] = mapped_column(
        Enum(TicketState, native_enum=False, values_callable=_values, length=8,
             create_constraint=True, name="ck_tickets_status", validate_strings=True),
        default=TicketState.ACCEPTED, index=True)
    caller: Mapped[str | None] = mapped_column(String(64))
    caller_name: Mapped[str | None] = mapped_column(String(200))
    dialled: Mapped[str | None] = mapped_column(String(64), index=True)
    legacy_number: Mapped[str | None] = mapped_column(String(64))
    legacy_mode: Mapped[str | None] = mapped_column(String(16))  # Mode value, e.g. 双号并行
    route: Mapped[str | None] = mapped_column(String(300))  # e.g. "queue market" / the rule
    queue: Mapped[str | None] = mapped_column(String(100))
    seat: Mapped[str | None] = mapped_column(String(200))
    call_started_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    call_ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=_now, index=True)
    recording_path: Mapped[str | None] = mapped_column(String(1024))  # the mixed recording
    caller_leg_path: Mapped[str | None] = mapped_column(String(1024))
    seat_leg_path: Mapped[str | None] = mapped_column(String(1024))
    duration_s: Mapped[float | None] = mapped_column(Float)
    language: Mapped[str | None] = mapped_column(String(32))
    model: Mapped[str | None] = mapped_column(String(200))
    transcript: Mapped[str] = mapped_column(Text, default="")  # the dialogue as text
    department: Mapped[str | None] = mapped_column(String(100), index=True)
    category: Mapped[str | None] = mapped_column(String(100))
    matched_keywords: Mapped[list[str] | None] = mapped_column(JSON)

    utterances: Mapped[list[TicketUtterance]] = relationship(
        back_populates="ticket", order_by="TicketUtterance.seq", cascade="all, delete-orphan",
        lazy="selectin")
    # The call's record (same uniqueid), read-only: the routing facts the ticket view shows,
    # such as the linkage partner that transferred the call (calls.linked_from).
    call: Mapped[CallRecord | None] = relationship(
        CallRecord, primaryjoin="foreign(Ticket.uniqueid) == CallRecord.uniqueid",
        viewonly=True, uselist=False, lazy="selectin")

    @property
    def linked_from(self) -> str | None:
        """The linkage partner's number (110) when it transferred the call to 12345."""
        return self.call.linked_from if self.call is not None else None

    @property
    def caller_masked(self) -> str:
        return mask_number(self.caller)

    def __repr__(self) -> str:
        return (f"Ticket(id={self.id!r}, uniqueid={self.uniqueid!r}, status={self.status!r}, "
                f"caller={self.caller_masked!r}, department={self.department!r})")


class TicketUtterance(Base):
    """One utterance of the transcript: who, when, what, and every word with its timing."""

    __tablename__ = "ticket_utterances"
    __table_args__ = (UniqueConstraint("ticket_id", "seq", name="uq_ticket_utterances_seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"),
                                           index=True)
    seq: Mapped[int] = mapped_column(Integer)
    speaker: Mapped[Speaker] = mapped_column(
        Enum(Speaker, native_enum=False, values_callable=_values, length=8,
             create_constraint=True, name="ck_ticket_utterances_speaker", validate_strings=True))
    start_s: Mapped[float] = mapped_column(Float)
    end_s: Mapped[float] = mapped_column(Float)
    text: Mapped[str] = mapped_column(Text)
    words: Mapped[list[dict[str, Any]]] = mapped_column(JSON)  # [{word, start, end, conf}]

    ticket: Mapped[Ticket] = relationship(back_populates="utterances")
