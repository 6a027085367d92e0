"""The ticket loop's vocabulary. Values are the Chinese terms shown to users and written in
the site file and the database; identifiers are English."""

from __future__ import annotations

import enum

from hotline12345.config.schema import Urgency

__all__ = ["Action", "AssignmentKind", "CallbackKind", "CallbackOutcome", "ExtensionDecision",
           "Rating", "Role", "Speaker", "Supervision", "TicketState", "Urgency"]


class TicketState(enum.StrEnum):
    """Where a ticket is in the closed loop. 督办 is not a state: see :class:`Supervision`."""

    ACCEPTED = "受理"  # taken by the seat; back here after a 退单
    AWAITING_SIGN = "待签收"  # dispatched, waiting for the department to sign for it
    HANDLING = "办理中"  # signed for by the department
    ANSWERED = "已答复"  # the department answered
    CLOSED = "已办结"
    REVISITED = "已回访"  # the callback was made
    RATED = "已评价"


class Action(enum.StrEnum):
    """What a person (or the system) does to a ticket; the lifecycle table says where."""

    DISPATCH = "派单"
    SIGN = "签收"
    ANSWER = "答复"
    CLOSE = "办结"
    REVISIT = "回访"
    RATE = "评价"
    CLOSE_DIRECTLY = "直接办结"  # a 咨询 answered by the seat during the call
    RETURN = "退单"  # the department sends it back to the centre
    REJECT_RETURN = "驳回退单"  # the centre refuses the return (无理退单)
    REASSIGN = "改派"
    ADD_ASSIST = "协办"  # add an assisting department
    ASSIST_ANSWER = "协办答复"
    REQUEST_EXTENSION = "申请延期"
    APPROVE_EXTENSION = "批准延期"
    REFUSE_EXTENSION = "驳回延期"
    MERGE = "并单"
    REOPEN = "重办"
    SUPERVISE = "督办"
    PAUSE = "挂起"  # waiting on the caller (补充材料): the clock stops
    RESUME = "恢复"
    # system actions: no person chooses them
    CREATE = "创建"
    FOLLOW_MAIN = "随主单"  # a merged ticket follows its main ticket
    SWEEP = "自动督办"  # the periodic job raised the 督办 level


class Role(enum.StrEnum):
    SEAT = "话务员"
    SUPERVISOR = "班长"
    HANDLER = "承办单位"
    INSPECTOR = "督办员"
    AUDITOR = "审计员"
    ADMIN = "管理员"
    SYSTEM = "系统"


class Supervision(enum.StrEnum):
    """督办 levels, lowest first; computed from the deadlines (or raised by hand)."""

    YELLOW = "黄牌"  # one working day before the deadline
    RED = "红牌"  # the first overdue working day
    ORDER = "督办单"  # overdue, or still 不满意 after 重办

    @property
    def rank(self) -> int:
        return list(Supervision).index(self) + 1


class Rating(enum.StrEnum):
    """好差评's five grades, best first."""

    VERY_SATISFIED = "非常满意"
    SATISFIED = "满意"
    BASIC = "基本满意"
    UNSATISFIED = "不满意"
    VERY_UNSATISFIED = "非常不满意"

    @classmethod
    def from_survey(cls, score: int | None) -> Rating | None:
        """The grade of the end-of-call survey's digit: 5 非常满意 ... 1 非常不满意."""
        if score is None or not 1 <= score <= 5:
            return None
        return list(cls)[5 - score]

    @property
    def satisfied(self) -> bool:
        """Counts towards 满意率 (非常满意, 满意, 基本满意)."""
        return self in (Rating.VERY_SATISFIED, Rating.SATISFIED, Rating.BASIC)


class CallbackOutcome(enum.StrEnum):
    REACHED = "联系上"
    NO_ANSWER = "未接通"
    REFUSED = "拒绝回访"


class CallbackKind(enum.StrEnum):
    REVISIT = "回访"  # after the department's answer
    COMPLAINT = "差评回访"  # after a 不满意/非常不满意 rating or a 实名 差评


class AssignmentKind(enum.StrEnum):
    MAIN = "主办"
    ASSIST = "协办"


class ExtensionDecision(enum.StrEnum):
    PENDING = "待批"
    APPROVED = "批准"
    REFUSED = "驳回"


class Speaker(enum.StrEnum):
    CALLER = "来电人"
    SEAT = "坐席"
    MIXED = "混音"  # only the mixed recording exists: both parties, unseparated
