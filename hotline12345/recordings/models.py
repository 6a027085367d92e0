"""The SQL job queue's table (the queue used without Redis; SQLite by default)."""

from __future__ import annotations

import enum

from sqlalchemy import Enum, Float, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from hotline12345.db.base import Base


class JobState(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class RecordingJobRow(Base):
    """One recording job. Times are Unix seconds (lease arithmetic in SQL stays portable)."""

    __tablename__ = "recording_jobs"
    __table_args__ = (
        UniqueConstraint("uniqueid", name="uq_recording_jobs_uniqueid"),
        Index("ix_recording_jobs_state_not_before", "state", "not_before"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uniqueid: Mapped[str] = mapped_column(String(150))
    payload: Mapped[str] = mapped_column(Text)  # RecordingJob JSON
    state: Mapped[JobState] = mapped_column(
        Enum(JobState, native_enum=False, values_callable=lambda e: [m.value for m in e],
             length=8, create_constraint=True, name="ck_recording_jobs_state",
             validate_strings=True), default=JobState.QUEUED)
    attempts: Mapped[int] = mapped_column(Integer, default=0)  # failed processing attempts
    deliveries: Mapped[int] = mapped_column(Integer, default=0)  # claims without an outcome
    not_before: Mapped[float] = mapped_column(Float, default=0.0)
    lease_until: Mapped[float | None] = mapped_column(Float)
    worker: Mapped[str | None] = mapped_column(String(200))
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)
