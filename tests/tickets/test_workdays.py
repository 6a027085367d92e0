"""Working days and working time (tickets/workdays.py): chinesecalendar's holidays and 调休
Saturdays, the site's overrides, office hours, and the Monday-to-Friday fallback (with its
warning) for a year the calendar has no data for. Expected days are read from
chinesecalendar's own data, not typed in."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import chinese_calendar
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hotline12345.config.schema import CalendarSettings
from hotline12345.tickets.workdays import WorkCalendar, calendar_knows_year, fallback_warning

CST = ZoneInfo("Asia/Shanghai")
#: A year chinesecalendar has no data for (it publishes one year at a time).
UNKNOWN_YEAR = 2031
#: The last year it knows; the year after is the first it does not.
LAST_KNOWN = max(y for y in range(2004, 2100) if calendar_knows_year(y))


def at(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=CST)


def workdays_after(day: date, count: int) -> list[date]:
    """The ``count`` working days after ``day``, per chinesecalendar alone."""
    found = chinese_calendar.get_workdays(day + timedelta(days=1), day + timedelta(days=90))
    return list(found[:count])


def test_chinesecalendar_knows_the_2026_spring_festival_and_its_saturdays() -> None:
    """The test data itself: 15-23 Feb 2026 off, Saturdays 14 and 28 Feb working days."""
    for offset in range(9):
        day = date(2026, 2, 15) + timedelta(days=offset)
        assert chinese_calendar.get_holiday_detail(day) == (True, "Spring Festival")
    for saturday in (date(2026, 2, 14), date(2026, 2, 28)):
        assert saturday.weekday() == 5
        assert chinese_calendar.get_holiday_detail(saturday) == (False, "Spring Festival")


def test_is_workday_follows_chinesecalendar_around_the_spring_festival() -> None:
    calendar = WorkCalendar()
    for offset in range(40):
        day = date(2026, 2, 1) + timedelta(days=offset)
        assert calendar.known(day)
        assert calendar.is_workday(day) == chinese_calendar.is_workday(day), day
    assert calendar.is_workday(date(2026, 2, 14)) and calendar.is_workday(date(2026, 2, 28))
    assert not calendar.is_workday(date(2026, 2, 16))  # a Monday in the festival


@pytest.mark.parametrize("working_days", [1, 2, 3, 5, 10, 15])
def test_whole_working_days_across_the_spring_festival(working_days: int) -> None:
    """Dispatched Friday 13 Feb 2026 at 10:00: day 1 is the 调休 Saturday 14 Feb, then the
    festival is skipped; each deadline is the n-th working day chinesecalendar lists, 10:00."""
    start = at(2026, 2, 13, 10)
    due = WorkCalendar().add(start, working_days)
    expected_day = workdays_after(date(2026, 2, 13), working_days)[-1]
    assert due.at == datetime.combine(expected_day, time(10, 0), CST)
    assert due.warning is None
    assert due.at.tzinfo is CST


def test_the_second_working_day_after_the_14th_is_after_the_festival() -> None:
    due = WorkCalendar().add(at(2026, 2, 13, 10), 2)
    assert due.at == at(2026, 2, 24, 10)  # 14 Feb (Saturday, 调休), then Tuesday 24 Feb


def test_a_deadline_runs_through_the_working_saturday_28_feb() -> None:
    # Friday 27 Feb 16:00 + 1 working day: Saturday 28 Feb is a working day (调休)
    due = WorkCalendar().add(at(2026, 2, 27, 16), 1)
    assert due.at == at(2026, 2, 28, 16)


def test_half_a_working_day_is_half_the_office_hours() -> None:
    calendar = WorkCalendar()  # 09:00-12:00 + 13:30-17:30: 7 hours
    assert calendar.day_length == timedelta(hours=7)
    # Monday 2 March 2026, 09:00: 3 hours to noon, 30 minutes after lunch
    assert calendar.add(at(2026, 3, 2, 9), 0.5).at == at(2026, 3, 2, 14)
    assert calendar.add(at(2026, 3, 2, 11), 0.5).at == at(2026, 3, 2, 16)
    # at 20:00 nothing runs until Tuesday 09:00
    assert calendar.add(at(2026, 3, 2, 20), 0.5).at == at(2026, 3, 3, 14)
    # during lunch the clock waits until 13:30; from 15:00, 2.5 h today and 1 h tomorrow
    assert calendar.add(at(2026, 3, 2, 12, 45), 0.5).at == at(2026, 3, 2, 17)
    assert calendar.add(at(2026, 3, 2, 15), 0.5).at == at(2026, 3, 3, 10)
    assert calendar.between(at(2026, 3, 2, 9), at(2026, 3, 2, 14)) == 0.5


def test_half_a_working_day_with_the_sites_office_hours() -> None:
    calendar = WorkCalendar.from_settings(
        CalendarSettings(office_hours=("14:00-18:00", "08:30-12:00")))
    assert calendar.day_length == timedelta(hours=7, minutes=30)
    # 08:30-12:00 is 3.5 h; 0.25 h more after 14:00
    assert calendar.add(at(2026, 3, 2, 8, 30), 0.5).at == at(2026, 3, 2, 14, 15)
    # a whole day ends at the end of the office hours, not the next morning
    assert calendar.add(at(2026, 3, 2, 8, 30), 1).at == at(2026, 3, 2, 18)


def test_overrides_turn_days_off_and_on() -> None:
    plain = WorkCalendar()
    monday, saturday = date(2026, 3, 2), date(2026, 3, 7)
    assert plain.is_workday(monday) and not plain.is_workday(saturday)
    calendar = WorkCalendar(holidays=[monday], workdays=[saturday])
    assert not calendar.is_workday(monday) and calendar.is_workday(saturday)
    # Friday 27 Feb 10:00 + 1: Saturday 28 Feb (调休), + 2: Monday is off now, so Tuesday
    assert calendar.add(at(2026, 2, 27, 10), 2).at == at(2026, 3, 3, 10)
    assert plain.add(at(2026, 2, 27, 10), 2).at == at(2026, 3, 2, 10)
    # Friday 6 March 10:00 + 1: the Saturday now works
    assert calendar.add(at(2026, 3, 6, 10), 1).at == at(2026, 3, 7, 10)
    assert plain.add(at(2026, 3, 6, 10), 1).at == at(2026, 3, 9, 10)


def test_office_hours_must_not_overlap_nor_run_backwards() -> None:
    for spans in ([(time(9), time(12)), (time(11), time(17))], [(time(12), time(9))], []):
        with pytest.raises(ValueError, match="office hours must be"):
            WorkCalendar(office_hours=spans)


def test_a_day_cannot_be_both_a_holiday_and_a_workday() -> None:
    with pytest.raises(ValueError, match="both holidays and workdays"):
        WorkCalendar(holidays=[date(2026, 3, 2)], workdays=[date(2026, 3, 2)])


def test_an_unknown_year_counts_monday_to_friday_and_warns() -> None:
    with pytest.raises(NotImplementedError):  # the premise: chinesecalendar lacks the year
        chinese_calendar.is_workday(date(UNKNOWN_YEAR, 3, 3))
    calendar = WorkCalendar()
    assert not calendar.known(date(UNKNOWN_YEAR, 3, 3))
    week = [date(UNKNOWN_YEAR, 3, 3) + timedelta(days=i) for i in range(7)]  # Mon..Sun
    assert week[0].weekday() == 0
    assert [calendar.is_workday(d) for d in week] == [True] * 5 + [False] * 2
    due = calendar.add(at(UNKNOWN_YEAR, 3, 3, 10), 5)
    assert due.at == at(UNKNOWN_YEAR, 3, 10, 10)
    assert due.warning == (f"{UNKNOWN_YEAR} 年无节假日数据，按周一至周五计算"
                           f"（{UNKNOWN_YEAR}-03-03 至 {UNKNOWN_YEAR}-03-10）")


def test_a_deadline_running_into_the_first_unknown_year_warns_with_its_days() -> None:
    """Set on 28 Dec of the last known year, 15 working days run into the next year: the
    warning names that year and its days counted (from 1 January to the deadline)."""
    calendar = WorkCalendar()
    start = at(LAST_KNOWN, 12, 28, 10)
    due = calendar.add(start, 15)
    first = date(LAST_KNOWN + 1, 1, 1)
    assert due.at.year == LAST_KNOWN + 1
    assert due.warning == (f"{LAST_KNOWN + 1} 年无节假日数据，按周一至周五计算"
                           f"（{first:%Y-%m-%d} 至 {due.at:%Y-%m-%d}）")
    # the days before 1 January come from chinesecalendar, those after from Mon-Fri
    known_left = [d for d in chinese_calendar.get_workdays(date(LAST_KNOWN, 12, 29),
                                                           date(LAST_KNOWN, 12, 31))]
    unknown_days = [first + timedelta(days=i) for i in range((due.at.date() - first).days + 1)]
    counted = len(known_left) + sum(1 for d in unknown_days if d.weekday() < 5)
    assert counted == 15
    # overrides covering those days make the calendar sure again
    covered = WorkCalendar(holidays=[d for d in unknown_days if d.weekday() >= 5],
                           workdays=[d for d in unknown_days if d.weekday() < 5])
    assert covered.add(start, 15) == type(due)(due.at, None)


def test_the_warning_names_every_year_and_the_range() -> None:
    days = [date(2031, 12, 30), date(2031, 12, 31), date(2032, 1, 2)]
    assert fallback_warning(days) == ("2031、2032 年无节假日数据，按周一至周五计算"
                                      "（2031-12-30 至 2032-01-02）")
    assert fallback_warning([date(2031, 5, 6)]) == ("2031 年无节假日数据，按周一至周五计算"
                                                    "（2031-05-06）")
    assert fallback_warning([]) is None


def test_unknown_days_ahead_of_a_given_today() -> None:
    calendar = WorkCalendar()
    assert calendar.unknown_days_ahead(date(2026, 3, 1)) == []
    today = date(LAST_KNOWN, 12, 1)
    ahead = calendar.unknown_days_ahead(today, days=60)
    first = date(LAST_KNOWN + 1, 1, 1)
    assert ahead[0] == first
    assert ahead[-1] == today + timedelta(days=59)
    covered = WorkCalendar(holidays=[first], workdays=[first + timedelta(days=1)])
    assert covered.unknown_days_ahead(today)[0] == first + timedelta(days=2)


def test_results_keep_the_zone_they_were_given_in() -> None:
    calendar = WorkCalendar()
    start_utc = at(2026, 2, 13, 10).astimezone(UTC)
    due = calendar.add(start_utc, 2)
    assert due.at.tzinfo is UTC
    assert due.at == at(2026, 2, 24, 10)


def test_a_naive_datetime_is_refused() -> None:
    with pytest.raises(ValueError, match="naive datetime"):
        WorkCalendar().add(datetime(2026, 3, 2, 9), 1)
    with pytest.raises(ValueError, match="out of range"):
        WorkCalendar().add(at(2026, 3, 2, 9), 1e9)


def test_going_back_ends_at_the_previous_evening() -> None:
    calendar = WorkCalendar()
    # Tuesday 24 Feb 2026, 17:30, less one working day: the whole Tuesday; the earliest
    # such instant is the end of the working day before (the 调休 Saturday 14 Feb)
    before = workdays_after(date(2026, 2, 1), 40)
    previous = max(d for d in before if d < date(2026, 2, 24))
    assert calendar.add(at(2026, 2, 24, 17, 30), -1).at == datetime.combine(
        previous, time(17, 30), CST)
    assert calendar.add(at(2026, 2, 24, 10), -1).at == datetime.combine(
        previous, time(10, 0), CST)


def test_working_time_across_a_weekend_and_lunch() -> None:
    calendar = WorkCalendar()
    # Friday 6 March 2026 16:00 to Monday 9 March 10:00: 1.5 h + 1 h
    assert calendar.working_time(at(2026, 3, 6, 16), at(2026, 3, 9, 10)) == timedelta(
        hours=2, minutes=30)
    assert calendar.working_time(at(2026, 3, 9, 10), at(2026, 3, 6, 16)) == -timedelta(
        hours=2, minutes=30)
    assert calendar.working_time(at(2026, 3, 9, 12), at(2026, 3, 9, 13, 30)) == timedelta()


_STARTS = st.datetimes(min_value=datetime(LAST_KNOWN - 1, 1, 1),
                       max_value=datetime(LAST_KNOWN + 1, 6, 30),
                       timezones=st.just(UTC))
_AMOUNTS = st.floats(min_value=-40, max_value=40, allow_nan=False).map(lambda x: round(x, 3))


@settings(max_examples=150, deadline=None)
@given(start=_STARTS, n=_AMOUNTS, more=st.floats(min_value=0, max_value=10).map(
    lambda x: round(x, 3)))
def test_add_then_between_gives_back_the_amount_and_is_monotonic(
        start: datetime, n: float, more: float) -> None:
    calendar = WorkCalendar()
    due = calendar.add(start, n)
    assert calendar.between(start, due.at) == pytest.approx(n, abs=1e-6)
    later = calendar.add(start, n + more)
    assert later.at >= due.at
    if n >= 0:
        assert due.at >= start
    else:
        assert due.at <= start
