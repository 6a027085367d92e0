"""The ``calls`` table. The recordings/tickets work adds its tables on the same ``Base``."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hotline12345.db.base import Base, UtcDateTime


class CallRecord(Base):
    """One call, keyed by the Asterisk ``uniqueid`` of the caller's channel."""

    __tablename__ = "calls"
    __table_args__ = (
        CheckConstraint("survey_score IS NULL OR (survey_score BETWEEN 1 AND 5)",
                        name="ck_calls_survey_score"),
    )

    uniqueid: Mapped[str] = mapped_column(String(150), primary_key=True)
    caller: Mapped[str | None] = mapped_column(String(64))  # full number; masked only in logs
    caller_name: Mapped[str | None] = mapped_column(String(200))
    dialled: Mapped[str | None] = mapped_column(String(64), index=True)
    action: Mapped[str | None] = mapped_column(String(32))  # routing Action name
    target: Mapped[str | None] = mapped_column(String(200))
    priority: Mapped[int | None] = mapped_column(Integer)
    reasons: Mapped[str | None] = mapped_column(Text)  # the decision's explanation, one per line
    answer: Mapped[str | None] = mapped_column(String(32))  # DTMF answer to the one question
    outcome: Mapped[str | None] = mapped_column(String(16))  # routed / hangup / failed
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime, index=True)
    routed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    survey_score: Mapped[int | None] = mapped_column(Integer)
    survey_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # The linkage partner's number (110) when it transferred the call to 12345 (migration 0004)
    linked_from: Mapped[str | None] = mapped_column(String(16))
