"""The ticket's lifecycle, as one table in the style of Request Tracker's lifecycles.

Each row says: in ``state``, ``action`` leads to ``to``; these ``roles`` may do it; it does
this to the deadlines (:class:`DeadlineEffect`); these fields must be given; and these conditions
(:class:`Guard`) must hold. :mod:`hotline12345.tickets.workflow` applies a row and nothing
else decides whether an action is legal. ``hotline12345 tickets lifecycle`` renders the
table as a Mermaid diagram (docs/ticket-lifecycle.md is generated from it).

The main path: 受理 →派单→ 待签收 →签收→ 办理中 →答复→ 已答复 →办结→ 已办结 →回访→ 已回访
→评价→ 已评价. Side actions keep the state (协办, 延期, 挂起/恢复, 督办) or send the ticket
back (退单 → 受理, 重办 → 待签收, 改派 → 待签收). 督办 is not a state: it is a level on the
ticket (:class:`~hotline12345.tickets.enums.Supervision`), raised by hand or by the sweep.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

from hotline12345.tickets.enums import Action, Role, TicketState

__all__ = ["CENTRE", "CHASERS", "PERSON_ACTIONS", "TABLE", "DeadlineEffect", "Guard",
           "Transition", "actions_from", "lifecycle_page", "markdown_table", "mermaid",
           "transition"]

S = TicketState
A = Action

#: The 12345 centre's people: they take, dispatch, re-dispatch, close and call back.
CENTRE = frozenset({Role.SEAT, Role.SUPERVISOR, Role.ADMIN})
#: Who decides on extensions and raises 督办 by hand.
CHASERS = frozenset({Role.SUPERVISOR, Role.INSPECTOR, Role.ADMIN})
HANDLER = frozenset({Role.HANDLER})
SYSTEM = frozenset({Role.SYSTEM})


class DeadlineEffect(enum.Enum):
    """What an action does to the ticket's deadlines."""

    KEEP = "—"
    START = "起算签收、答复、退单时限"  # 派单, 改派, 重办: a department's clock starts
    SIGNED = "签收时限停止"
    ANSWERED = "答复时限停止，起算回访时限"
    CLOSED = "办结"
    EXTEND = "答复时限顺延"
    PAUSE = "时限暂停"
    RESUME = "时限恢复并顺延"


class Guard(enum.Enum):
    """A condition an action needs beyond the state and the role; the value is what the
    refusal says."""

    NOT_MERGED = "工单已并入主单，请在主单上操作"
    OWN_DEPARTMENT = "只有主办单位可以这样做"
    ASSIST_DEPARTMENT = "只有尚未答复的协办单位可以这样做"
    RETURN_WINDOW = "退单时限已过"
    RETURN_PENDING = "没有待处理的退单"
    NEVER_DISPATCHED = "已派过单的工单不能直接办结"
    EXTENSION_ALLOWED = "延期次数或天数超出限制，或已有待批的延期"
    EXTENSION_PENDING = "没有待批的延期申请"
    PAUSED = "工单未挂起"
    NOT_PAUSED = "工单已挂起"
    UNSATISFIED = "只有不满意或非常不满意的评价可以重办"
    REOPEN_LEFT = "重办次数已用完（转督办）"


@dataclass(frozen=True, slots=True)
class Transition:
    state: TicketState
    action: Action
    to: TicketState | None  # None: the main ticket's state (并单)
    roles: frozenset[Role]
    deadlines: DeadlineEffect = DeadlineEffect.KEEP
    required: tuple[str, ...] = ()  # fields that must be given, "reason" included
    guards: tuple[Guard, ...] = ()
    event: str = ""  # the feed event's kind


def _rows() -> tuple[Transition, ...]:
    t, D = Transition, DeadlineEffect
    reason = ("reason",)
    merge = ("reason", "main_ticket_id")
    rows: list[Transition] = [
        # 受理: the seat's ticket
        t(S.ACCEPTED, A.DISPATCH, S.AWAITING_SIGN, CENTRE, D.START, ("department",),
          (), "dispatched"),
        t(S.ACCEPTED, A.CLOSE_DIRECTLY, S.CLOSED, CENTRE, D.CLOSED, ("reason", "reply"),
          (Guard.NEVER_DISPATCHED,), "closed"),
        t(S.ACCEPTED, A.REJECT_RETURN, S.AWAITING_SIGN, CENTRE, D.KEEP, reason,
          (Guard.RETURN_PENDING,), "return_rejected"),
        t(S.ACCEPTED, A.MERGE, None, CENTRE, D.KEEP, merge, (), "merged"),
        # 待签收: waiting for the department
        t(S.AWAITING_SIGN, A.SIGN, S.HANDLING, HANDLER, D.SIGNED, (),
          (Guard.OWN_DEPARTMENT,), "signed"),
        t(S.AWAITING_SIGN, A.RETURN, S.ACCEPTED, HANDLER, D.KEEP, reason,
          (Guard.OWN_DEPARTMENT, Guard.RETURN_WINDOW), "returned"),
        t(S.AWAITING_SIGN, A.REASSIGN, S.AWAITING_SIGN, CENTRE, D.START,
          ("department", "reason"), (), "reassigned"),
        t(S.AWAITING_SIGN, A.ADD_ASSIST, S.AWAITING_SIGN, CENTRE, D.KEEP,
          ("assist_departments", "reason"), (), "assist_added"),
        t(S.AWAITING_SIGN, A.SUPERVISE, S.AWAITING_SIGN, CHASERS, D.KEEP, reason, (),
          "supervised"),
        t(S.AWAITING_SIGN, A.MERGE, None, CENTRE, D.KEEP, merge, (), "merged"),
        # 办理中: the department works on it
        t(S.HANDLING, A.ANSWER, S.ANSWERED, HANDLER, D.ANSWERED, ("reply",),
          (Guard.OWN_DEPARTMENT,), "answered"),
        t(S.HANDLING, A.ASSIST_ANSWER, S.HANDLING, HANDLER, D.KEEP, ("reply",),
          (Guard.ASSIST_DEPARTMENT,), "assist_answered"),
        t(S.HANDLING, A.RETURN, S.ACCEPTED, HANDLER, D.KEEP, reason,
          (Guard.OWN_DEPARTMENT, Guard.RETURN_WINDOW), "returned"),
        t(S.HANDLING, A.REQUEST_EXTENSION, S.HANDLING, HANDLER, D.KEEP,
          ("reason", "working_days"), (Guard.OWN_DEPARTMENT, Guard.EXTENSION_ALLOWED),
          "extension_requested"),
        t(S.HANDLING, A.APPROVE_EXTENSION, S.HANDLING, CHASERS, D.EXTEND, (),
          (Guard.EXTENSION_PENDING,), "extended"),
        t(S.HANDLING, A.REFUSE_EXTENSION, S.HANDLING, CHASERS, D.KEEP, reason,
          (Guard.EXTENSION_PENDING,), "extension_refused"),
        t(S.HANDLING, A.PAUSE, S.HANDLING, HANDLER, D.PAUSE, reason,
          (Guard.OWN_DEPARTMENT, Guard.NOT_PAUSED), "paused"),
        t(S.HANDLING, A.RESUME, S.HANDLING, HANDLER | CENTRE, D.RESUME, (),
          (Guard.PAUSED,), "resumed"),
        t(S.HANDLING, A.REASSIGN, S.AWAITING_SIGN, CENTRE, D.START,
          ("department", "reason"), (), "reassigned"),
        t(S.HANDLING, A.ADD_ASSIST, S.HANDLING, CENTRE, D.KEEP,
          ("assist_departments", "reason"), (), "assist_added"),
        t(S.HANDLING, A.SUPERVISE, S.HANDLING, CHASERS, D.KEEP, reason, (),
          "supervised"),
        t(S.HANDLING, A.MERGE, None, CENTRE, D.KEEP, merge, (), "merged"),
        # 已答复: the centre reviews the answer
        t(S.ANSWERED, A.CLOSE, S.CLOSED, CENTRE, D.CLOSED, (), (), "closed"),
        t(S.ANSWERED, A.SUPERVISE, S.ANSWERED, CHASERS, D.KEEP, reason, (), "supervised"),
        # 已办结 → 回访 → 评价
        t(S.CLOSED, A.REVISIT, S.REVISITED, CENTRE, D.KEEP, ("outcome",), (),
          "revisited"),
        t(S.CLOSED, A.RATE, S.RATED, CENTRE, D.KEEP, ("rating",), (), "rated"),
        t(S.REVISITED, A.REVISIT, S.REVISITED, CENTRE, D.KEEP, ("outcome",), (),
          "revisited"),
        t(S.REVISITED, A.RATE, S.RATED, CENTRE, D.KEEP, ("rating",), (), "rated"),
        t(S.RATED, A.REOPEN, S.AWAITING_SIGN, CENTRE, D.START, reason,
          (Guard.UNSATISFIED, Guard.REOPEN_LEFT), "reopened"),
        t(S.RATED, A.SUPERVISE, S.RATED, CHASERS, D.KEEP, reason, (), "supervised"),
    ]
    # system rows: the sweep raises 督办 wherever a deadline runs
    for state in (S.AWAITING_SIGN, S.HANDLING):
        rows.append(t(state, A.SWEEP, state, SYSTEM, D.KEEP, (), (), "supervised"))
    # a person's action on a merged ticket is refused: act on the main ticket
    return tuple(Transition(r.state, r.action, r.to, r.roles, r.deadlines, r.required,
                            (Guard.NOT_MERGED, *r.guards), r.event) for r in rows)


#: The lifecycle: every legal (state, action), and nothing else.
TABLE: tuple[Transition, ...] = _rows()
_BY_KEY: dict[tuple[TicketState, Action], Transition] = {(r.state, r.action): r for r in TABLE}
assert len(_BY_KEY) == len(TABLE), "one row per (state, action)"

#: Actions a person chooses (the system's own are 创建, 随主单, 自动督办).
PERSON_ACTIONS: tuple[Action, ...] = tuple(
    a for a in Action if a not in (Action.CREATE, Action.FOLLOW_MAIN, Action.SWEEP))


def transition(state: TicketState, action: Action) -> Transition | None:
    """The table's row for ``(state, action)``; None when the action is not legal there."""
    return _BY_KEY.get((state, action))


def actions_from(state: TicketState, role: Role | None = None) -> list[Action]:
    """The actions legal in ``state`` (for ``role``, when given), in the table's order."""
    return [r.action for r in TABLE
            if r.state is state and (role is None or role in r.roles)]


def _role_list(roles: Iterable[Role]) -> str:
    return "、".join(r.value for r in Role if r in set(roles))


def mermaid() -> str:
    """The lifecycle as a Mermaid state diagram, generated from :data:`TABLE`."""
    ids = {s: f"s{i}" for i, s in enumerate(TicketState)}
    lines = ["stateDiagram-v2"]
    lines += [f"    {ids[s]} : {s.value}" for s in TicketState]
    lines.append(f"    [*] --> {ids[TicketState.ACCEPTED]} : 创建")
    for row in TABLE:
        if row.roles == SYSTEM:
            continue
        to = row.to if row.to is not None else row.state
        label = row.action.value + ("（随主单）" if row.to is None else "")
        lines.append(f"    {ids[row.state]} --> {ids[to]} : {label}")
    return "\n".join(lines) + "\n"


def markdown_table() -> str:
    """The table as Markdown: state, action, next state, roles, deadlines, fields, guards."""
    out = ["| 状态 | 动作 | 下一状态 | 角色 | 时限 | 必填 | 条件 |",
           "|---|---|---|---|---|---|---|"]
    for r in TABLE:
        guards = "；".join(g.value for g in r.guards if g is not Guard.NOT_MERGED) or "—"
        out.append(f"| {r.state.value} | {r.action.value} | "
                   f"{r.to.value if r.to is not None else '（主单的状态）'} | "
                   f"{_role_list(r.roles)} | {r.deadlines.value} | "
                   f"{', '.join(r.required) or '—'} | {guards} |")
    return "\n".join(out) + "\n"


def lifecycle_page() -> str:
    """docs/ticket-lifecycle.md: the diagram and the table, generated from :data:`TABLE`
    (``hotline12345 tickets lifecycle --format page``; a test keeps the file in step)."""
    return ("# The ticket lifecycle (generated)\n\n"
            "Generated from `hotline12345/tickets/lifecycle.py` by "
            "`hotline12345 tickets lifecycle --format page > docs/ticket-lifecycle.md`; "
            "do not edit by hand. Every legal (state, action) is a row; anything else is "
            "refused with HTTP 409 naming the state and the actions allowed there. Every row "
            "also needs the ticket not to be merged into another (act on the main ticket). "
            "System rows (自动督办 by the sweep, 随主单 for merged tickets, 创建) are not "
            "drawn.\n\n```mermaid\n" + mermaid() + "```\n\n" + markdown_table())
