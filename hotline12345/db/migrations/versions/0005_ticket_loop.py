"""the ticket's closed loop: states 受理..已评价, deadlines, 督办, history, departments,
extensions, pauses and callbacks

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07

``tickets.status`` (the old eight-step list, of which only 受理 was ever written) becomes
``tickets.state`` with the loop's seven states; a ticket in an old state is mapped to the
new one. Every existing ticket gets its first history row (创建 → 受理, by 系统), so that
each ticket's history starts at seq 1.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_STATUSES = ("受理", "派单", "办理", "答复", "督办", "办结", "回访", "评价")
STATES = ("受理", "待签收", "办理中", "已答复", "已办结", "已回访", "已评价")
OLD_TO_NEW = {"受理": "受理", "派单": "待签收", "办理": "办理中", "答复": "已答复",
              "督办": "办理中", "办结": "已办结", "回访": "已回访", "评价": "已评价"}
URGENCIES = ("紧急", "一般")
SUPERVISIONS = ("黄牌", "红牌", "督办单")
RATINGS = ("非常满意", "满意", "基本满意", "不满意", "非常不满意")
OUTCOMES = ("联系上", "未接通", "拒绝回访")
ASSIGNMENT_KINDS = ("主办", "协办")
DECISIONS = ("待批", "批准", "驳回")
CALLBACK_KINDS = ("回访", "差评回访")


def _enum(values: tuple[str, ...], name: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=8)


def _loop_columns() -> list[sa.Column[object]]:
    dt = sa.DateTime()
    return [
        sa.Column("urgency", _enum(URGENCIES, "ck_tickets_urgency"), nullable=False,
                  server_default="一般"),
        sa.Column("summary", sa.Text(), nullable=False, server_default=""),
        sa.Column("dispatched_at", dt, nullable=True),
        sa.Column("signed_at", dt, nullable=True),
        sa.Column("answered_at", dt, nullable=True),
        sa.Column("closed_at", dt, nullable=True),
        sa.Column("revisited_at", dt, nullable=True),
        sa.Column("rated_at", dt, nullable=True),
        sa.Column("sign_due", dt, nullable=True),
        sa.Column("answer_due", dt, nullable=True),
        sa.Column("revisit_due", dt, nullable=True),
        sa.Column("return_due", dt, nullable=True),
        sa.Column("deadline_warning", sa.String(length=300), nullable=True),
        sa.Column("supervision", _enum(SUPERVISIONS, "ck_tickets_supervision"), nullable=True),
        sa.Column("supervision_reason", sa.Text(), nullable=True),
        sa.Column("paused_since", dt, nullable=True),
        sa.Column("extensions_used", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("extension_pending", sa.Boolean(), nullable=False,
                  server_default=sa.false()),
        sa.Column("return_pending", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("returns_count", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("unjust_returns", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("reassign_count", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("reopen_count", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("merged_into", sa.Integer(), sa.ForeignKey("tickets.id",
                                                             name="fk_tickets_merged_into"),
                  nullable=True),
        sa.Column("reply", sa.Text(), nullable=True),
        sa.Column("rating", _enum(RATINGS, "ck_tickets_rating"), nullable=True),
        sa.Column("survey_rating", _enum(RATINGS, "ck_tickets_survey_rating"), nullable=True),
        sa.Column("resolved", sa.Boolean(), nullable=True),
        sa.Column("callback_outcome", _enum(OUTCOMES, "ck_tickets_callback_outcome"),
                  nullable=True),
        sa.Column("real_name", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("handling_wd", sa.Float(), nullable=True),
        sa.Column("history_seq", sa.Integer(), nullable=False, server_default="0"),
    ]


TICKET_INDEXES = {
    "ix_tickets_state": ["state"],
    "ix_tickets_category": ["category"],
    "ix_tickets_legacy_number": ["legacy_number"],
    "ix_tickets_merged_into": ["merged_into"],
    "ix_tickets_department_dispatched_at": ["department", "dispatched_at"],
    "ix_tickets_caller_created_at": ["caller", "created_at"],
}


def upgrade() -> None:
    # status -> state: a new column filled from the old one, then the old one dropped
    with op.batch_alter_table("tickets") as batch:
        batch.add_column(sa.Column("state", sa.String(length=8), nullable=True))
        for column in _loop_columns():
            batch.add_column(column)
    tickets = sa.table("tickets", sa.column("status", sa.String()),
                       sa.column("state", sa.String()))
    for old, new in OLD_TO_NEW.items():
        op.execute(tickets.update().where(tickets.c.status == old).values(state=new))
    op.drop_index("ix_tickets_status", table_name="tickets")
    with op.batch_alter_table("tickets") as batch:
        batch.drop_constraint("ck_tickets_status", type_="check")
        batch.drop_column("status")
        batch.alter_column("state", existing_type=sa.String(length=8), nullable=False)
        batch.create_check_constraint("ck_tickets_state",
                                      sa.column("state").in_(STATES))
    for name, columns in TICKET_INDEXES.items():
        op.create_index(name, "tickets", columns)

    op.create_table(
        "ticket_history",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), sa.ForeignKey("tickets.id"), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=8), nullable=False),
        sa.Column("actor_department", sa.String(length=100), nullable=True),
        sa.Column("action", sa.String(length=8), nullable=False),
        sa.Column("from_state", sa.String(length=8), nullable=True),
        sa.Column("to_state", sa.String(length=8), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("ticket_id", "seq", name="uq_ticket_history_seq"),
    )
    op.create_index("ix_ticket_history_ticket_id", "ticket_history", ["ticket_id"])
    op.create_index("ix_ticket_history_at", "ticket_history", ["at"])

    op.create_table(
        "ticket_assignments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), sa.ForeignKey("tickets.id"), nullable=False),
        sa.Column("department", sa.String(length=100), nullable=False),
        sa.Column("kind", _enum(ASSIGNMENT_KINDS, "ck_ticket_assignments_kind"),
                  nullable=False),
        sa.Column("assigned_at", sa.DateTime(), nullable=False),
        sa.Column("answered_at", sa.DateTime(), nullable=True),
        sa.Column("answer", sa.Text(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_ticket_assignments_ticket_id", "ticket_assignments", ["ticket_id"])
    op.create_index("ix_ticket_assignments_department", "ticket_assignments", ["department"])

    op.create_table(
        "ticket_extensions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), sa.ForeignKey("tickets.id"), nullable=False),
        sa.Column("requested_at", sa.DateTime(), nullable=False),
        sa.Column("requested_by", sa.String(length=64), nullable=False),
        sa.Column("working_days", sa.Float(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("decision", _enum(DECISIONS, "ck_ticket_extensions_decision"),
                  nullable=False),
        sa.Column("decided_at", sa.DateTime(), nullable=True),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_ticket_extensions_ticket_id", "ticket_extensions", ["ticket_id"])

    op.create_table(
        "ticket_pauses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), sa.ForeignKey("tickets.id"), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("ended_at", sa.DateTime(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_ticket_pauses_ticket_id", "ticket_pauses", ["ticket_id"])

    op.create_table(
        "ticket_callbacks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), sa.ForeignKey("tickets.id"), nullable=False),
        sa.Column("kind", _enum(CALLBACK_KINDS, "ck_ticket_callbacks_kind"), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("due", sa.DateTime(), nullable=True),
        sa.Column("done_at", sa.DateTime(), nullable=True),
        sa.Column("seat", sa.String(length=64), nullable=True),
        sa.Column("outcome", _enum(OUTCOMES, "ck_ticket_callbacks_outcome"), nullable=True),
        sa.Column("resolved", sa.Boolean(), nullable=True),
        sa.Column("rating", _enum(RATINGS, "ck_ticket_callbacks_rating"), nullable=True),
        sa.Column("call_uniqueid", sa.String(length=150), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_ticket_callbacks_ticket_id", "ticket_callbacks", ["ticket_id"])
    op.create_index("ix_ticket_callbacks_due", "ticket_callbacks", ["due"])

    # every existing ticket's history starts: 创建 -> 受理, by the system, at its creation
    op.execute(sa.text(
        "INSERT INTO ticket_history (ticket_id, seq, at, actor, role, actor_department, "
        "action, from_state, to_state, reason, note, data) "
        "SELECT id, 1, created_at, 'system', '系统', NULL, '创建', NULL, state, '', "
        "'迁移 0005：已有工单的历史从此开始', '{}' FROM tickets"))
    op.execute(sa.text("UPDATE tickets SET history_seq = 1"))


def downgrade() -> None:
    for table in ("ticket_callbacks", "ticket_pauses", "ticket_extensions",
                  "ticket_assignments", "ticket_history"):
        op.drop_table(table)
    for name in TICKET_INDEXES:
        op.drop_index(name, table_name="tickets")
    with op.batch_alter_table("tickets") as batch:
        batch.add_column(sa.Column("status", sa.String(length=8), nullable=True))
    tickets = sa.table("tickets", sa.column("status", sa.String()),
                       sa.column("state", sa.String()))
    for state, status in (("受理", "受理"), ("待签收", "派单"), ("办理中", "办理"),
                          ("已答复", "答复"), ("已办结", "办结"), ("已回访", "回访"),
                          ("已评价", "评价")):
        op.execute(tickets.update().where(tickets.c.state == state).values(status=status))
    with op.batch_alter_table("tickets") as batch:
        batch.drop_constraint("ck_tickets_state", type_="check")
        for name in ("urgency", "supervision", "rating", "survey_rating", "callback_outcome"):
            batch.drop_constraint(f"ck_tickets_{name}", type_="check")
        batch.drop_constraint("fk_tickets_merged_into", type_="foreignkey")
        batch.drop_column("state")
        for column in reversed(_loop_columns()):
            batch.drop_column(column.name)
        batch.alter_column("status", existing_type=sa.String(length=8), nullable=False)
        batch.create_check_constraint("ck_tickets_status",
                                      sa.column("status").in_(OLD_STATUSES))
    op.create_index("ix_tickets_status", "tickets", ["status"])
