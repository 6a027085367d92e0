"""calls.linked_from: the linkage partner (110, ...) that transferred the call to 12345

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07

12345 <-> 110 linkage works both ways (国办发〔2022〕12号): a call that 110 transfers to 12345
is recognised by a DID or a caller prefix the site file names (``linkage[].transfers_in``),
routed with the linkage priority and marked with the partner's number. A ``calls`` table
made by ``create_all`` after this column existed already has it, and is adopted.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    columns = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("calls")}
    if "linked_from" in columns:
        return
    with op.batch_alter_table("calls") as batch:
        batch.add_column(sa.Column("linked_from", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.drop_column("linked_from")
