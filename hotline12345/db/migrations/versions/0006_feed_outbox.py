"""feed_outbox, feed_deliveries, feed_cursors, feed_audit, feed_leases: departments' feeds

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07

One outbox row per ticket event, written in the transition's transaction, and one delivery
row per subscription that receives it (see hotline12345/sharing/models.py).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "feed_outbox",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("event_id", sa.String(length=80), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=True),
        sa.Column("history_seq", sa.Integer(), nullable=True),
        sa.Column("department", sa.String(length=100), nullable=True),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("body_full", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("event_id", name="uq_feed_outbox_event_id"),
    )
    op.create_index("ix_feed_outbox_ticket_id", "feed_outbox", ["ticket_id"])
    op.create_index("ix_feed_outbox_department", "feed_outbox", ["department"])
    op.create_table(
        "feed_deliveries",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("outbox_id", sa.Integer(), nullable=False),
        sa.Column("subscription", sa.String(length=64), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=False),
        sa.Column("last_attempt_at", sa.DateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("delivered_at", sa.DateTime(), nullable=True),
        sa.Column("position", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["outbox_id"], ["feed_outbox.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("subscription", "outbox_id", name="uq_feed_deliveries_event"),
    )
    op.create_index("ix_feed_deliveries_due", "feed_deliveries",
                    ["subscription", "status", "outbox_id"])
    op.create_index("ix_feed_deliveries_ticket", "feed_deliveries",
                    ["subscription", "ticket_id", "status"])
    op.create_index("ix_feed_deliveries_position", "feed_deliveries",
                    ["subscription", "position"])
    op.create_table(
        "feed_cursors",
        sa.Column("subscription", sa.String(length=64), nullable=False),
        sa.Column("last_position", sa.Integer(), nullable=False),
        sa.Column("acked_position", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("subscription"),
    )
    op.create_table(
        "feed_audit",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("subscription", sa.String(length=64), nullable=False),
        sa.Column("department", sa.String(length=100), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("event_id", sa.String(length=80), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=True),
        sa.Column("reader", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_feed_audit_at", "feed_audit", ["at"])
    op.create_table(
        "feed_leases",
        sa.Column("subscription", sa.String(length=64), nullable=False),
        sa.Column("owner", sa.String(length=120), nullable=False),
        sa.Column("until", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("subscription"),
    )


def downgrade() -> None:
    op.drop_table("feed_leases")
    op.drop_index("ix_feed_audit_at", table_name="feed_audit")
    op.drop_table("feed_audit")
    op.drop_table("feed_cursors")
    op.drop_index("ix_feed_deliveries_position", table_name="feed_deliveries")
    op.drop_index("ix_feed_deliveries_ticket", table_name="feed_deliveries")
    op.drop_index("ix_feed_deliveries_due", table_name="feed_deliveries")
    op.drop_table("feed_deliveries")
    op.drop_index("ix_feed_outbox_department", table_name="feed_outbox")
    op.drop_index("ix_feed_outbox_ticket_id", table_name="feed_outbox")
    op.drop_table("feed_outbox")
