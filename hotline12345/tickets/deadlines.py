"""The ticket deadlines: 签收, 答复, the 退单 window and 回访, by category and urgency.

The site file's ``tickets.limits`` rules are read in order; for each limit the first rule
that matches the ticket (its urgency and/or category) and sets that limit wins, else the
``tickets`` defaults. A limit in ``*_working_days`` runs on working time (see
:mod:`hotline12345.tickets.workdays`); one in ``*_hours`` on the wall clock, 7×24 (紧急).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from hotline12345.config.schema import LimitRule, SiteFile, TicketLoopSettings, Urgency
from hotline12345.tickets.workdays import Due, WorkCalendar

__all__ = ["DeadlinePolicy", "Due", "Limit", "LimitSpan"]


class Limit(enum.StrEnum):
    """A deadline a ticket runs against. 签收, 答复 and 退单 count from the 派单; 回访 from
    the 答复."""

    SIGN = "签收"
    ANSWER = "答复"
    RETURN_WINDOW = "退单"
    REVISIT = "回访"

    @property
    def key(self) -> str:
        """The site file's name for it: ``sign``, ``answer``, ``return_window``, ``revisit``."""
        return _KEYS[self]


_KEYS = {Limit.SIGN: "sign", Limit.ANSWER: "answer", Limit.RETURN_WINDOW: "return_window",
         Limit.REVISIT: "revisit"}


@dataclass(frozen=True, slots=True)
class LimitSpan:
    """How long a limit is: ``amount`` hours on the wall clock, or working days."""

    amount: float
    wall_clock: bool

    def __str__(self) -> str:
        return f"{self.amount:g} 小时" if self.wall_clock else f"{self.amount:g} 个工作日"


def rule_matches(rule: LimitRule, *, category: str | None, urgency: Urgency) -> bool:
    """Whether ``rule`` applies to a ticket of this category and urgency (a rule with neither
    applies to none: the loader refuses it)."""
    if rule.urgency is None and rule.category is None:
        return False
    return ((rule.urgency is None or rule.urgency == urgency)
            and (rule.category is None or rule.category == category))


class DeadlinePolicy:
    """The site's deadline rules on a working calendar."""

    def __init__(self, tickets: TicketLoopSettings, calendar: WorkCalendar) -> None:
        self.tickets = tickets
        self.calendar = calendar

    @classmethod
    def for_site(cls, site: SiteFile) -> DeadlinePolicy:
        """The policy of a (checked) site file: its ``tickets:`` on its ``calendar:``."""
        return cls(site.tickets, WorkCalendar.from_settings(site.calendar))

    def span(self, limit: Limit, *, category: str | None, urgency: Urgency) -> LimitSpan:
        """The length of ``limit`` for a ticket: the first rule that matches and sets it
        (hours win over working days within one rule), else the default in working days."""
        for rule in self.tickets.limits:
            if not rule_matches(rule, category=category, urgency=urgency):
                continue
            hours = getattr(rule, f"{limit.key}_hours")
            if hours is not None:
                return LimitSpan(float(hours), wall_clock=True)
            days = getattr(rule, f"{limit.key}_working_days")
            if days is not None:
                return LimitSpan(float(days), wall_clock=False)
        return LimitSpan(float(getattr(self.tickets, f"{limit.key}_working_days")),
                         wall_clock=False)

    def due(self, limit: Limit, *, category: str | None, urgency: Urgency,
            start: datetime) -> Due:
        """When ``limit`` falls due for a ticket whose clock starts at ``start`` (the 派单;
        for 回访 the 答复)."""
        span = self.span(limit, category=category, urgency=urgency)
        if span.wall_clock:
            return Due(start + timedelta(hours=span.amount), None)
        return self.calendar.add(start, span.amount)

    def extend(self, due: datetime, working_days: float) -> Due:
        """The deadline after an approved 延期 of ``working_days``."""
        return self.calendar.add(due, working_days)

    def after_pause(self, due: datetime, paused_from: datetime, paused_to: datetime, *,
                    wall_clock: bool = False) -> Due:
        """The deadline after the ticket's clock stopped from ``paused_from`` to ``paused_to``
        (挂起, waiting on the caller): later by the working time paused, or for a wall-clock
        limit (``span(...).wall_clock``) by the clock time paused."""
        if wall_clock:
            return Due(due + (paused_to - paused_from), None)
        return self.calendar.add_time(due, self.calendar.working_time(paused_from, paused_to))

    def yellow_at(self, due: datetime, *, start: datetime | None = None) -> Due:
        """When a ticket gets its 黄牌: one working day before ``due`` (the earliest such
        instant: a deadline on Monday morning warns on Friday evening), never before
        ``start`` when given (a limit shorter than a working day is yellow from its start)."""
        yellow = self.calendar.add(due, -1)
        if start is not None and yellow.at < start:
            return Due(start, yellow.warning)
        return yellow

    def handling_working_days(self, start: datetime, end: datetime,
                              pauses: Iterable[tuple[datetime, datetime | None]] = ()) -> float:
        """Working days from ``start`` (the 派单) to ``end`` (the 答复), less the working time
        of the pauses in between (one at a time; a pause still open runs to ``end``)."""
        total = self.calendar.working_time(start, end)
        for paused_from, paused_to in pauses:
            lo, hi = max(paused_from, start), min(paused_to or end, end)
            if hi > lo:
                total -= self.calendar.working_time(lo, hi)
        return total / self.calendar.day_length

    def overdue_working_days(self, due: datetime, now: datetime) -> int:
        """Which overdue working day ``now`` is in: 0 up to ``due``, 1 from just after it
        until a full working day of office time has passed, 2 in the next, and so on
        (红牌 from 1)."""
        if now <= due:
            return 0
        whole, rest = divmod(self.calendar.working_time(due, now), self.calendar.day_length)
        return max(1, whole + (1 if rest else 0))
