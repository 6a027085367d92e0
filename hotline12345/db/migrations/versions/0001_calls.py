"""calls: the call store (one row per call, keyed by Asterisk's uniqueid)

Revision ID: 0001
Revises:
Create Date: 2026-11-28

The call store created this table with ``create_all`` before migrations existed; such a
table is adopted as it is.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if sa.inspect(op.get_bind()).has_table("calls"):
        return
    op.create_table(
        "calls",
        sa.Column("uniqueid", sa.String(length=150), nullable=False),
        sa.Column("caller", sa.String(length=64), nullable=True),
        sa.Column("caller_name", sa.String(length=200), nullable=True),
        sa.Column("dialled", sa.String(length=64), nullable=True),
        sa.Column("action", sa.String(length=32), nullable=True),
        sa.Column("target", sa.String(length=200), nullable=True),
        sa.Column("priority", sa.Integer(), nullable=True),
        sa.Column("reasons", sa.Text(), nullable=True),
        sa.Column("answer", sa.String(length=32), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("started_at", sa.DateTime(), nullable=True),
        sa.Column("routed_at", sa.DateTime(), nullable=True),
        sa.Column("survey_score", sa.Integer(), nullable=True),
        sa.Column("survey_at", sa.DateTime(), nullable=True),
        sa.CheckConstraint("survey_score IS NULL OR (survey_score BETWEEN 1 AND 5)",
                           name="ck_calls_survey_score"),
        sa.PrimaryKeyConstraint("uniqueid"),
    )
    op.create_index("ix_calls_dialled", "calls", ["dialled"])
    op.create_index("ix_calls_started_at", "calls", ["started_at"])


def downgrade() -> None:
    op.drop_index("ix_calls_started_at", table_name="calls")
    op.drop_index("ix_calls_dialled", table_name="calls")
    op.drop_table("calls")
