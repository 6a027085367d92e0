"""the ticket figures' planner statistics: the local day, week and month of created_at

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07

The figures (``tickets/figures.py``) group by the local period of ``created_at``, computed
as ``date_trunc(period, created_at + interval '28800 seconds')`` (Asia/Shanghai, UTC+8).
Without statistics on that expression PostgreSQL guesses one group per ticket, and so
plans a single-process hash aggregate (with JIT) instead of the parallel partial aggregate
it uses for departments: on a year of a million tickets the period queries took twice as
long (bench/tickets_bench.py). Expression statistics (PostgreSQL 14+) give it the real
number of days, weeks and months; ``ANALYZE`` (and autovacuum) keep them. The filters need
no new index: the date range uses ``ix_tickets_created_at`` and a handler's department
``ix_tickets_department`` (both from 0005). SQLite has no such statistics: nothing to do.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The module's expressions, character for character in meaning: the planner matches them.
OFFSET_S = 28800  # Asia/Shanghai
PERIODS = ("day", "week", "month")


def _name(period: str) -> str:
    return f"st_tickets_created_local_{period}"


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    for period in PERIODS:
        op.execute(f"CREATE STATISTICS IF NOT EXISTS {_name(period)} ON "
                   f"(date_trunc('{period}', created_at + interval '{OFFSET_S} seconds')) "
                   "FROM tickets")
    op.execute("ANALYZE tickets")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for period in PERIODS:
        op.execute(f"DROP STATISTICS IF EXISTS {_name(period)}")
