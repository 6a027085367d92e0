"""tickets, their transcripts, and the SQL recording-job queue

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TICKET_STATUSES = ("受理", "派单", "办理", "答复", "督办", "办结", "回访", "评价")
SPEAKERS = ("来电人", "坐席", "混音")
JOB_STATES = ("queued", "running", "done", "failed")


def _enum(values: tuple[str, ...], name: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=8)


def upgrade() -> None:
    op.create_table(
        "recording_jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uniqueid", sa.String(length=150), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("state", _enum(JOB_STATES, "ck_recording_jobs_state"), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("deliveries", sa.Integer(), nullable=False),
        sa.Column("not_before", sa.Float(), nullable=False),
        sa.Column("lease_until", sa.Float(), nullable=True),
        sa.Column("worker", sa.String(length=200), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("uniqueid", name="uq_recording_jobs_uniqueid"),
    )
    op.create_index("ix_recording_jobs_state_not_before", "recording_jobs",
                    ["state", "not_before"])

    op.create_table(
        "tickets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uniqueid", sa.String(length=150), nullable=False),
        sa.Column("status", _enum(TICKET_STATUSES, "ck_tickets_status"), nullable=False),
        sa.Column("caller", sa.String(length=64), nullable=True),
        sa.Column("caller_name", sa.String(length=200), nullable=True),
        sa.Column("dialled", sa.String(length=64), nullable=True),
        sa.Column("legacy_number", sa.String(length=64), nullable=True),
        sa.Column("legacy_mode", sa.String(length=16), nullable=True),
        sa.Column("route", sa.String(length=300), nullable=True),
        sa.Column("queue", sa.String(length=100), nullable=True),
        sa.Column("seat", sa.String(length=200), nullable=True),
        sa.Column("call_started_at", sa.DateTime(), nullable=True),
        sa.Column("call_ended_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("recording_path", sa.String(length=1024), nullable=True),
        sa.Column("caller_leg_path", sa.String(length=1024), nullable=True),
        sa.Column("seat_leg_path", sa.String(length=1024), nullable=True),
        sa.Column("duration_s", sa.Float(), nullable=True),
        sa.Column("language", sa.String(length=32), nullable=True),
        sa.Column("model", sa.String(length=200), nullable=True),
        sa.Column("transcript", sa.Text(), nullable=False),
        sa.Column("department", sa.String(length=100), nullable=True),
        sa.Column("category", sa.String(length=100), nullable=True),
        sa.Column("matched_keywords", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("uniqueid", name="uq_tickets_uniqueid"),
    )
    op.create_index("ix_tickets_created_at", "tickets", ["created_at"])
    op.create_index("ix_tickets_department", "tickets", ["department"])
    op.create_index("ix_tickets_dialled", "tickets", ["dialled"])
    op.create_index("ix_tickets_status", "tickets", ["status"])

    op.create_table(
        "ticket_utterances",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("speaker", _enum(SPEAKERS, "ck_ticket_utterances_speaker"), nullable=False),
        sa.Column("start_s", sa.Float(), nullable=False),
        sa.Column("end_s", sa.Float(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("words", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("ticket_id", "seq", name="uq_ticket_utterances_seq"),
    )
    op.create_index("ix_ticket_utterances_ticket_id", "ticket_utterances", ["ticket_id"])


def downgrade() -> None:
    op.drop_index("ix_ticket_utterances_ticket_id", table_name="ticket_utterances")
    op.drop_table("ticket_utterances")
    for name in ("ix_tickets_status", "ix_tickets_dialled", "ix_tickets_department",
                 "ix_tickets_created_at"):
        op.drop_index(name, table_name="tickets")
    op.drop_table("tickets")
    op.drop_index("ix_recording_jobs_state_not_before", table_name="recording_jobs")
    op.drop_table("recording_jobs")
