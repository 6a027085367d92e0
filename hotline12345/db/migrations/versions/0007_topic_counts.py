"""topic_counts, topic_tickets, topic_places: the hot-topic index (analytics/)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07

Counts of tickets per UTC hour and term, the indexed tickets, and the places each ticket
mentions (hotline12345/analytics/models.py). Only new tables: the downgrade drops them.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "topic_counts",
        sa.Column("hour", sa.DateTime(), nullable=False),
        sa.Column("term", sa.String(length=64), nullable=False),
        sa.Column("tickets", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("hour", "term"),
    )
    op.create_table(
        "topic_tickets",
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("hour", sa.DateTime(), nullable=False),
        sa.Column("digest", sa.String(length=32), nullable=False),
        sa.Column("terms", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("ticket_id"),
    )
    op.create_index("ix_topic_tickets_hour", "topic_tickets", ["hour"])
    op.create_table(
        "topic_places",
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("place", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("ticket_id", "place"),
    )
    op.create_index("ix_topic_places_created_at", "topic_places", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_topic_places_created_at", table_name="topic_places")
    op.drop_table("topic_places")
    op.drop_index("ix_topic_tickets_hour", table_name="topic_tickets")
    op.drop_table("topic_tickets")
    op.drop_table("topic_counts")
