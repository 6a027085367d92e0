"""The ticket deadlines (tickets/deadlines.py): limits by category and urgency, the urgent
wall-clock limits, extensions, pauses, 黄牌 and the overdue working days."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import chinese_calendar
import pytest

from hotline12345.config.schema import LimitRule, TicketLoopSettings, Urgency
from hotline12345.tickets.deadlines import DeadlinePolicy, Limit, LimitSpan
from hotline12345.tickets.workdays import WorkCalendar

CST = ZoneInfo("Asia/Shanghai")
NORMAL, URGENT = Urgency.NORMAL, Urgency.URGENT


def at(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=CST)


def policy(settings: TicketLoopSettings | None = None) -> DeadlinePolicy:
    return DeadlinePolicy(settings or TicketLoopSettings(), WorkCalendar())


def nth_workday_after(day: date, n: int) -> date:
    """The n-th working day after ``day``, per chinesecalendar alone."""
    return chinese_calendar.get_workdays(day + timedelta(days=1), day + timedelta(days=90))[n - 1]


def test_the_default_limits_are_the_issues() -> None:
    p = policy()
    assert p.span(Limit.SIGN, category=None, urgency=NORMAL) == LimitSpan(0.5, wall_clock=False)
    assert p.span(Limit.ANSWER, category="消费投诉", urgency=NORMAL) == LimitSpan(5, False)
    assert p.span(Limit.ANSWER, category="咨询", urgency=NORMAL) == LimitSpan(3, False)
    assert p.span(Limit.ANSWER, category="复杂", urgency=NORMAL) == LimitSpan(15, False)
    assert p.span(Limit.RETURN_WINDOW, category=None, urgency=NORMAL) == LimitSpan(1, False)
    assert p.span(Limit.REVISIT, category=None, urgency=NORMAL) == LimitSpan(1, False)
    assert p.span(Limit.SIGN, category="咨询", urgency=URGENT) == LimitSpan(0.5, True)
    assert p.span(Limit.ANSWER, category="咨询", urgency=URGENT) == LimitSpan(2, True)
    # the urgent rule sets no 回访: the next rule that sets it, else the default
    assert p.span(Limit.REVISIT, category=None, urgency=URGENT) == LimitSpan(1, False)
    assert str(LimitSpan(2, True)) == "2 小时" and str(LimitSpan(0.5, False)) == "0.5 个工作日"


def test_urgent_limits_run_on_the_wall_clock_at_3am_on_a_holiday() -> None:
    assert chinese_calendar.get_holiday_detail(date(2026, 10, 1)) == (True, "National Day")
    p = policy()
    start = at(2026, 10, 1, 3)
    sign = p.due(Limit.SIGN, category="消费投诉", urgency=URGENT, start=start)
    answer = p.due(Limit.ANSWER, category="消费投诉", urgency=URGENT, start=start)
    assert sign.at == at(2026, 10, 1, 3, 30) and sign.warning is None
    assert answer.at == at(2026, 10, 1, 5) and answer.warning is None
    # the same ticket, not urgent, waits for the first working day after the holidays
    normal_sign = p.due(Limit.SIGN, category="消费投诉", urgency=NORMAL, start=start)
    first = nth_workday_after(date(2026, 9, 30), 1)
    assert first > date(2026, 10, 7)
    assert normal_sign.at == datetime.combine(first, time(14), CST)  # 3 h to noon, 0.5 after


def test_answer_deadlines_across_the_spring_festival() -> None:
    p = policy()
    start = at(2026, 2, 13, 10)  # Friday before the festival
    for category, days in (("消费投诉", 5), ("咨询", 3), ("复杂", 15)):
        due = p.due(Limit.ANSWER, category=category, urgency=NORMAL, start=start)
        assert due.at == datetime.combine(nth_workday_after(date(2026, 2, 13), days),
                                          time(10, 0), CST), category
        assert due.warning is None
    # 退单 window: one working day is the 调休 Saturday 14 Feb
    window = p.due(Limit.RETURN_WINDOW, category=None, urgency=NORMAL, start=start)
    assert window.at == at(2026, 2, 14, 10)


def test_revisit_counts_from_the_answer() -> None:
    answered = at(2026, 2, 14, 16)  # the 调休 Saturday, 16:00
    due = policy().due(Limit.REVISIT, category=None, urgency=NORMAL, start=answered)
    assert due.at == datetime.combine(nth_workday_after(date(2026, 2, 14), 1), time(16), CST)


def test_the_first_matching_rule_that_sets_a_limit_wins() -> None:
    settings = TicketLoopSettings(limits=(
        LimitRule(category="咨询", answer_working_days=3),
        LimitRule(urgency=URGENT, category="咨询", answer_hours=1, sign_hours=0.25),
        LimitRule(urgency=URGENT, answer_hours=2, revisit_working_days=0.5),
    ), answer_working_days=7)
    p = policy(settings)
    assert p.span(Limit.ANSWER, category="咨询", urgency=URGENT) == LimitSpan(3, False)
    assert p.span(Limit.SIGN, category="咨询", urgency=URGENT) == LimitSpan(0.25, True)
    assert p.span(Limit.ANSWER, category="投诉", urgency=URGENT) == LimitSpan(2, True)
    assert p.span(Limit.REVISIT, category="投诉", urgency=URGENT) == LimitSpan(0.5, False)
    assert p.span(Limit.ANSWER, category="投诉", urgency=NORMAL) == LimitSpan(7, False)
    assert p.span(Limit.SIGN, category="投诉", urgency=NORMAL) == LimitSpan(0.5, False)


def test_a_year_the_calendar_does_not_know_falls_back_with_a_warning() -> None:
    with pytest.raises(NotImplementedError):
        chinese_calendar.is_workday(date(2031, 3, 3))
    due = policy().due(Limit.ANSWER, category=None, urgency=NORMAL, start=at(2031, 3, 7, 10))
    assert due.at == at(2031, 3, 14, 10)  # Friday + 5 working days, Mon-Fri: next Friday
    assert due.warning == "2031 年无节假日数据，按周一至周五计算（2031-03-07 至 2031-03-14）"
    urgent = policy().due(Limit.ANSWER, category=None, urgency=URGENT, start=at(2031, 3, 8, 3))
    assert urgent == type(due)(at(2031, 3, 8, 5), None)  # the wall clock needs no calendar


def test_extension_adds_working_days_across_the_festival() -> None:
    p = policy()
    due = at(2026, 2, 13, 15)
    extended = p.extend(due, 3)
    assert extended.at == datetime.combine(nth_workday_after(date(2026, 2, 13), 3), time(15),
                                           CST)
    assert extended.warning is None


def test_a_pause_moves_the_deadline_by_the_working_time_paused() -> None:
    p = policy()
    due = at(2026, 3, 11, 10)  # Wednesday
    # paused Friday 6 March 16:00 to Monday 9 March 10:00: 1.5 h + 1 h of working time
    moved = p.after_pause(due, at(2026, 3, 6, 16), at(2026, 3, 9, 10))
    assert moved.at == at(2026, 3, 11, 12, 30) + timedelta(hours=1, minutes=30)  # lunch
    assert p.calendar.working_time(due, moved.at) == timedelta(hours=2, minutes=30)
    # a pause over the Spring Festival holidays costs nothing but the working hours in it
    festival = p.after_pause(due, at(2026, 2, 14, 17, 30), at(2026, 2, 24, 9))
    assert festival.at == due
    # a wall-clock limit moves by the clock time paused
    urgent = p.after_pause(at(2026, 10, 1, 5), at(2026, 10, 1, 3, 10), at(2026, 10, 1, 4),
                           wall_clock=True)
    assert urgent.at == at(2026, 10, 1, 5, 50)


def test_yellow_one_working_day_before_the_deadline() -> None:
    p = policy()
    assert p.yellow_at(at(2026, 3, 10, 10)).at == at(2026, 3, 9, 10)  # Tuesday -> Monday
    # a deadline on Monday 17:30 warns on the Friday evening
    assert p.yellow_at(at(2026, 3, 9, 17, 30)).at == at(2026, 3, 6, 17, 30)
    # across the festival: the working day before Tuesday 24 Feb is the 调休 Saturday
    before = max(chinese_calendar.get_workdays(date(2026, 2, 1), date(2026, 2, 23)))
    assert before == date(2026, 2, 14)
    assert p.yellow_at(at(2026, 2, 24, 10)).at == datetime.combine(before, time(10), CST)
    # a limit shorter than a day is yellow from its start
    start = at(2026, 3, 9, 9)
    sign = p.due(Limit.SIGN, category=None, urgency=NORMAL, start=start)
    assert p.yellow_at(sign.at, start=start).at == start


def test_overdue_working_days() -> None:
    p = policy()
    due = at(2026, 3, 9, 10)  # Monday
    assert p.overdue_working_days(due, due) == 0
    assert p.overdue_working_days(due, at(2026, 3, 9, 9)) == 0
    assert p.overdue_working_days(due, due + timedelta(minutes=1)) == 1
    assert p.overdue_working_days(due, at(2026, 3, 10, 10)) == 1
    assert p.overdue_working_days(due, at(2026, 3, 10, 10, 1)) == 2
    # Friday 10:01 is the 5th; the weekend adds nothing
    assert p.overdue_working_days(due, at(2026, 3, 13, 10, 1)) == 5
    assert p.overdue_working_days(due, at(2026, 3, 15, 23)) == 5
    # overdue in the evening of a deadline at 17:30: the first overdue day already
    assert p.overdue_working_days(at(2026, 3, 9, 17, 30), at(2026, 3, 9, 20)) == 1
    # over the festival, only working days count
    assert p.overdue_working_days(at(2026, 2, 14, 10), at(2026, 2, 24, 9, 30)) == 1
    assert p.overdue_working_days(at(2026, 2, 14, 10).astimezone(UTC),
                                  at(2026, 2, 24, 10, 30).astimezone(UTC)) == 2


def test_handling_time_excludes_the_pauses() -> None:
    p = policy()
    start, end = at(2026, 3, 9, 9), at(2026, 3, 13, 17, 30)  # Monday to Friday: 5 days
    assert p.handling_working_days(start, end) == 5
    pauses = [(at(2026, 3, 10, 9), at(2026, 3, 11, 9)),  # one working day
              (at(2026, 3, 6, 9), at(2026, 3, 9, 12)),  # 3 h of it after the start
              (at(2026, 3, 13, 13, 30), None)]  # still open: 4 h to the end
    assert p.handling_working_days(start, end, pauses) == pytest.approx(5 - 1 - 1)
