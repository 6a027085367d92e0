"""agents_audit: supervisors' actions on seats (who, what, when, result)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29

Before this revision the wallboard made the table itself with ``create_all`` (its ``at``
column as ``TIMESTAMP WITH TIME ZONE`` on PostgreSQL); such a table is adopted, and on
PostgreSQL ``at`` becomes the UTC ``TIMESTAMP`` every other table uses.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    bind = op.get_bind()
    inspector = sa.inspect(bind)
    if inspector.has_table("agents_audit"):
        if bind.dialect.name == "postgresql":
            at = next(c for c in inspector.get_columns("agents_audit") if c["name"] == "at")
            if getattr(at["type"], "timezone", False):
                op.alter_column("agents_audit", "at", type_=sa.DateTime(),
                                existing_nullable=False,
                                postgresql_using="at AT TIME ZONE 'UTC'")
        return
    op.create_table(
        "agents_audit",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("user", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("queue", sa.String(length=128), nullable=False),
        sa.Column("interface", sa.String(length=128), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("result", sa.String(length=16), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_agents_audit_at", "agents_audit", ["at"])


def downgrade() -> None:
    op.drop_index("ix_agents_audit_at", table_name="agents_audit")
    op.drop_table("agents_audit")
