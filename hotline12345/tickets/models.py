"""Tickets (工单): one per recorded call, created in state 受理 with the call's transcript,
then carried round the closed loop by :mod:`hotline12345.tickets.workflow`.

The caller's number is stored in full (the ticket workflow calls back) and shown masked
(:attr:`Ticket.caller_masked`); ``repr`` masks it too. ``uniqueid`` is unique: the same
recording never makes two tickets, whatever the number of workers or retries.

Beside the ticket: its history (:class:`TicketHistory`, append-only, one row per
transition, like Request Tracker's transactions), its departments (:class:`TicketAssignment`:
one 主办, any 协办), extension requests, pauses (补充材料) and callbacks (回访).
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from hotline12345.calls.models import CallRecord
from hotline12345.db.base import Base, UtcDateTime
from hotline12345.logs import mask_number
from hotline12345.tickets.enums import (
    AssignmentKind,
    CallbackKind,
    CallbackOutcome,
    ExtensionDecision,
    Rating,
    Speaker,
    Supervision,
    TicketState,
    Urgency,
)


def _values(enum_cls: type[enum.StrEnum]) -> list[str]:
    return [member.value for member in enum_cls]


def _enum(enum_cls: type[enum.StrEnum], name: str, length: int = 8) -> Enum:
    """A column holding one of the enum's (Chinese) values, checked by the database."""
    return Enum(enum_cls, native_enum=False, values_callable=_values, length=length,
                create_constraint=True, name=name, validate_strings=True)


def _now() -> datetime:
    return datetime.now(UTC)


class Ticket(Base):
    __tablename__ = "tickets"
    __table_args__ = (UniqueConstraint("uniqueid", name="uq_tickets_uniqueid"),
                      Index("ix_tickets_department_dispatched_at", "department",
                            "dispatched_at"),
                      Index("ix_tickets_caller_created_at", "caller", "created_at"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uniqueid: Mapped[str] = mapped_column(String(150))
    state: Mapped[TicketState] = mapped_column(
        _enum(TicketState, "ck_tickets_state"), default=TicketState.ACCEPTED, index=True)
    caller: Mapped[str | None] = mapped_column(String(64))
    caller_name: Mapped[str | None] = mapped_column(String(200))
    dialled: Mapped[str | None] = mapped_column(String(64), index=True)
    legacy_number: Mapped[str | None] = mapped_column(String(64), index=True)
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
    category: Mapped[str | None] = mapped_column(String(100), index=True)
    matched_keywords: Mapped[list[str] | None] = mapped_column(JSON)

    # --- the closed loop (tickets/workflow.py writes these; nothing else does) ---
    urgency: Mapped[Urgency] = mapped_column(_enum(Urgency, "ck_tickets_urgency"),
                                             default=Urgency.NORMAL)
    summary: Mapped[str] = mapped_column(Text, default="")  # the seat's 诉求 text
    dispatched_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    signed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    answered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    revisited_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    rated_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    sign_due: Mapped[datetime | None] = mapped_column(UtcDateTime)
    answer_due: Mapped[datetime | None] = mapped_column(UtcDateTime)
    revisit_due: Mapped[datetime | None] = mapped_column(UtcDateTime)
    return_due: Mapped[datetime | None] = mapped_column(UtcDateTime)
    deadline_warning: Mapped[str | None] = mapped_column(String(300))
    supervision: Mapped[Supervision | None] = mapped_column(
        _enum(Supervision, "ck_tickets_supervision"))
    supervision_reason: Mapped[str | None] = mapped_column(Text)
    paused_since: Mapped[datetime | None] = mapped_column(UtcDateTime)
    extensions_used: Mapped[int] = mapped_column(Integer, default=0)
    extension_pending: Mapped[bool] = mapped_column(Boolean, default=False)
    return_pending: Mapped[bool] = mapped_column(Boolean, default=False)
    returns_count: Mapped[int] = mapped_column(Integer, default=0)
    unjust_returns: Mapped[int] = mapped_column(Integer, default=0)  # 无理退单, rejected
    reassign_count: Mapped[int] = mapped_column(Integer, default=0)
    reopen_count: Mapped[int] = mapped_column(Integer, default=0)
    merged_into: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"), index=True)
    reply: Mapped[str | None] = mapped_column(Text)  # the 主办 department's answer
    rating: Mapped[Rating | None] = mapped_column(_enum(Rating, "ck_tickets_rating", 8))
    survey_rating: Mapped[Rating | None] = mapped_column(
        _enum(Rating, "ck_tickets_survey_rating", 8))  # the end-of-call survey's grade
    resolved: Mapped[bool | None] = mapped_column(Boolean)
    callback_outcome: Mapped[CallbackOutcome | None] = mapped_column(
        _enum(CallbackOutcome, "ck_tickets_callback_outcome"))
    real_name: Mapped[bool] = mapped_column(Boolean, default=False)  # 实名: the caller named
    handling_wd: Mapped[float | None] = mapped_column(Float)  # working days dispatch→answer
    history_seq: Mapped[int] = mapped_column(Integer, default=0)  # the last history row's seq

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
        return (f"Ticket(id={self.id!r}, uniqueid={self.uniqueid!r}, state={self.state!r}, "
                f"caller={self.caller_masked!r}, department={self.department!r})")


class TicketUtterance(Base):
    """One utterance of the transcript: who, when, what, and every word with its timing."""

    __tablename__ = "ticket_utterances"
    __table_args__ = (UniqueConstraint("ticket_id", "seq", name="uq_ticket_utterances_seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"),
                                           index=True)
    seq: Mapped[int] = mapped_column(Integer)
    speaker: Mapped[Speaker] = mapped_column(_enum(Speaker, "ck_ticket_utterances_speaker"))
    start_s: Mapped[float] = mapped_column(Float)
    end_s: Mapped[float] = mapped_column(Float)
    text: Mapped[str] = mapped_column(Text)
    words: Mapped[list[dict[str, Any]]] = mapped_column(JSON)  # [{word, start, end, conf}]

    ticket: Mapped[Ticket] = relationship(back_populates="utterances")


class TicketHistory(Base):
    """One transition of a ticket: who, in which role, when, from which state to which, by
    which action, why. Append-only: rows are never updated or deleted. ``seq`` numbers a
    ticket's rows from 1 without gaps."""

    __tablename__ = "ticket_history"
    __table_args__ = (UniqueConstraint("ticket_id", "seq", name="uq_ticket_history_seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    actor: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(8))  # Role value
    actor_department: Mapped[str | None] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(8))  # Action value
    from_state: Mapped[str | None] = mapped_column(String(8))  # None for 创建
    to_state: Mapped[str] = mapped_column(String(8))
    reason: Mapped[str] = mapped_column(Text, default="")
    note: Mapped[str] = mapped_column(Text, default="")
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # the action's fields


class TicketAssignment(Base):
    """A department on a ticket: the 主办 (one active at a time) or a 协办 with its part."""

    __tablename__ = "ticket_assignments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    department: Mapped[str] = mapped_column(String(100), index=True)
    kind: Mapped[AssignmentKind] = mapped_column(_enum(AssignmentKind,
                                                       "ck_ticket_assignments_kind"))
    assigned_at: Mapped[datetime] = mapped_column(UtcDateTime)
    answered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    answer: Mapped[str | None] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class TicketExtension(Base):
    """A 延期 request by the department and the centre's decision."""

    __tablename__ = "ticket_extensions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    requested_at: Mapped[datetime] = mapped_column(UtcDateTime)
    requested_by: Mapped[str] = mapped_column(String(64))
    working_days: Mapped[float] = mapped_column(Float)
    reason: Mapped[str] = mapped_column(Text)
    decision: Mapped[ExtensionDecision] = mapped_column(
        _enum(ExtensionDecision, "ck_ticket_extensions_decision"),
        default=ExtensionDecision.PENDING)
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    decided_by: Mapped[str | None] = mapped_column(String(64))


class TicketPause(Base):
    """A time the ticket waited on the caller (补充材料): its clock stopped."""

    __tablename__ = "ticket_pauses"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    reason: Mapped[str] = mapped_column(Text)


class TicketCallback(Base):
    """A callback task (回访 after the answer, 差评回访 after a bad rating) and its result."""

    __tablename__ = "ticket_callbacks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    kind: Mapped[CallbackKind] = mapped_column(_enum(CallbackKind, "ck_ticket_callbacks_kind"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    due: Mapped[datetime | None] = mapped_column(UtcDateTime, index=True)
    done_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    seat: Mapped[str | None] = mapped_column(String(64))
    outcome: Mapped[CallbackOutcome | None] = mapped_column(
        _enum(CallbackOutcome, "ck_ticket_callbacks_outcome"))
    resolved: Mapped[bool | None] = mapped_column(Boolean)
    rating: Mapped[Rating | None] = mapped_column(_enum(Rating, "ck_ticket_callbacks_rating"))
    call_uniqueid: Mapped[str | None] = mapped_column(String(150))
    note: Mapped[str] = mapped_column(Text, default="")
