"""Working days and working time, for the ticket deadlines.

A day is a working day as the State Council's notices say: chinesecalendar knows the holidays
and the 调休 weekends that are working days, year by year, up to the last year it has data for.
The site file's ``calendar.holidays`` and ``calendar.workdays`` override it, day by day. A day
neither covers is *unknown*: it counts Monday to Friday, and every deadline that depends on
one carries a warning naming the years and the days (never a crash, never a silent guess).

Working time runs during the office hours of working days (09:00-12:00 and 13:30-17:30
by default: a working day is 7 hours, half a working day 3.5 hours), in the site's time zone.
Amounts of working days are turned into working time, so 0.5 working day is half the office
hours, wherever in the day it starts. See docs/deadlines.md.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import chinese_calendar

from hotline12345.config.schema import (
    DEFAULT_OFFICE_HOURS,
    CalendarSettings,
    calendar_knows_year,
    parse_office_hours,
)

__all__ = ["MAX_WORKING_DAYS", "Due", "WorkCalendar", "calendar_knows_year", "fallback_warning"]

#: The largest amount of working days added at once (ten years): more is a mistake.
MAX_WORKING_DAYS = 2500.0
_DAY = timedelta(days=1)
#: Days whose office hours a calendar keeps computed (about 27 years).
_SPAN_CACHE_DAYS = 10000


@functools.lru_cache(maxsize=_SPAN_CACHE_DAYS)
def _official_workday(d: date) -> bool:
    """chinesecalendar's answer for a day of a year it knows (cached: it is slow)."""
    return bool(chinese_calendar.is_workday(d))


@dataclass(frozen=True, slots=True)
class Due:
    """A deadline: the instant, and why it may be off: ``None`` when the calendar knew every
    day it counted, else e.g.
    "2027 年无节假日数据，按周一至周五计算（2027-01-01 至 2027-01-08）"."""

    at: datetime
    warning: str | None = None


def fallback_warning(unknown: Sequence[date]) -> str | None:
    """The warning for a deadline that counted ``unknown`` days Monday to Friday (in order);
    None when there are none."""
    if not unknown:
        return None
    years = "、".join(str(y) for y in sorted({d.year for d in unknown}))
    first, last = unknown[0], unknown[-1]
    days = f"{first:%Y-%m-%d}" if first == last else f"{first:%Y-%m-%d} 至 {last:%Y-%m-%d}"
    return f"{years} 年无节假日数据，按周一至周五计算（{days}）"


class WorkCalendar:
    """Working days (the site's overrides, then chinesecalendar, then Monday to Friday for an
    unknown day) and working time (the office hours of working days) in one time zone.

    Every datetime given must be aware (any zone); results come back in the zone of the
    datetime they were computed from.
    """

    def __init__(self, *, timezone: str = "Asia/Shanghai",
                 office_hours: Sequence[tuple[time, time]] | None = None,
                 holidays: Iterable[date] = (), workdays: Iterable[date] = ()) -> None:
        self.tz = ZoneInfo(timezone)
        spans = tuple(office_hours) if office_hours is not None else parse_office_hours(
            DEFAULT_OFFICE_HOURS)
        self.office_hours: tuple[tuple[time, time], ...] = tuple(sorted(spans))
        if (not spans or any(end <= start for start, end in spans)
                or any(b[0] < a[1] for a, b in itertools.pairwise(self.office_hours))):
            raise ValueError("office hours must be non-empty spans within a day that do not "
                             f"overlap: {spans!r}")
        self.holidays = frozenset(holidays)
        self.workdays = frozenset(workdays)
        both = self.holidays & self.workdays
        if both:
            raise ValueError(f"days both holidays and workdays: {sorted(both)}")
        today = date(2000, 1, 1)
        self._span_cache: dict[date, tuple[tuple[datetime, datetime], ...]] = {}
        self.day_length = sum(
            (datetime.combine(today, end) - datetime.combine(today, start)
             for start, end in self.office_hours), timedelta())

    @classmethod
    def from_settings(cls, settings: CalendarSettings) -> WorkCalendar:
        """The calendar of a site file's ``calendar:`` section (already checked)."""
        return cls(timezone=settings.timezone,
                   office_hours=parse_office_hours(settings.office_hours),
                   holidays=settings.holidays, workdays=settings.workdays)

    # -- days ------------------------------------------------------------------------

    def known(self, d: date) -> bool:
        """Whether the site's overrides or chinesecalendar say what ``d`` is."""
        return d in self.holidays or d in self.workdays or calendar_knows_year(d.year)

    def is_workday(self, d: date) -> bool:
        """The site's overrides first, then chinesecalendar, then Monday to Friday."""
        if d in self.workdays:
            return True
        if d in self.holidays:
            return False
        if calendar_knows_year(d.year):
            return _official_workday(d)
        return d.weekday() < 5

    def unknown_days_ahead(self, today: date, days: int = 60) -> list[date]:
        """The days from ``today`` to ``today + days - 1`` that nobody has data for."""
        return [today + i * _DAY for i in range(days) if not self.known(today + i * _DAY)]

    def unknown_between(self, first: date, last: date) -> list[date]:
        """The unknown days from ``first`` to ``last``, both included, in order."""
        if last < first:
            first, last = last, first
        out: list[date] = []
        year = first.year
        while year <= last.year:
            # a whole known year without overrides is skipped at once
            if calendar_knows_year(year):
                year += 1
                continue
            d = max(first, date(year, 1, 1))
            end = min(last, date(year, 12, 31))
            while d <= end:
                if not self.known(d):
                    out.append(d)
                d += _DAY
            year += 1
        return out

    def local_date(self, at: datetime) -> date:
        """The date of ``at`` in the calendar's time zone."""
        return _aware(at).astimezone(self.tz).date()

    # -- working time ----------------------------------------------------------------

    def _spans(self, d: date) -> tuple[tuple[datetime, datetime], ...]:
        """The office hours of day ``d`` in UTC; none on a day off."""
        found = self._span_cache.get(d)
        if found is None:
            if len(self._span_cache) > _SPAN_CACHE_DAYS:
                self._span_cache.clear()
            found = tuple(
                (datetime.combine(d, start, self.tz).astimezone(UTC),
                 datetime.combine(d, end, self.tz).astimezone(UTC))
                for start, end in self.office_hours) if self.is_workday(d) else ()
            self._span_cache[d] = found
        return found

    def _forward(self, first: date) -> Iterator[tuple[datetime, datetime]]:
        d = first
        while True:
            yield from self._spans(d)
            d += _DAY

    def _backward(self, last: date) -> Iterator[tuple[datetime, datetime]]:
        d = last
        while True:
            yield from reversed(self._spans(d))
            d -= _DAY

    def working_time(self, start: datetime, end: datetime) -> timedelta:
        """The office time of working days from ``start`` to ``end`` (negative if ``end``
        comes first)."""
        start, end = _aware(start).astimezone(UTC), _aware(end).astimezone(UTC)
        if end < start:
            return -self.working_time(end, start)
        total = timedelta()
        d, last = self.local_date(start), self.local_date(end)
        while d <= last:
            for a, b in self._spans(d):
                overlap = min(b, end) - max(a, start)
                if overlap > timedelta():
                    total += overlap
            d += _DAY
        return total

    def between(self, start: datetime, end: datetime) -> float:
        """Working days from ``start`` to ``end`` (a fraction: 3.5 hours is 0.5 by default;
        negative if ``end`` comes first)."""
        return self.working_time(start, end) / self.day_length

    def add_time(self, start: datetime, amount: timedelta) -> Due:
        """The earliest instant that lies ``amount`` of working time after ``start`` (before
        it, if negative). Time outside office hours does not count, so one that starts at
        night starts with the next office hours; one that ends at the end of the office
        hours ends there (17:30, not the next morning)."""
        start = _aware(start)
        zone = start.tzinfo
        if not amount:
            return Due(start, None)
        begin = start.astimezone(UTC)
        if amount > timedelta():
            at = self._walk_forward(begin, amount)
        else:
            at = self._walk_backward(begin, -amount)
        unknown = self.unknown_between(self.local_date(begin), self.local_date(at))
        return Due(at.astimezone(zone), fallback_warning(unknown))

    def add(self, start: datetime, working_days: float) -> Due:
        """``start`` plus ``working_days`` (a fraction, or negative) of working time; see
        :meth:`add_time`. The warning names the unknown days counted Monday to Friday."""
        if not math.isfinite(working_days) or abs(working_days) > MAX_WORKING_DAYS:
            raise ValueError(f"{working_days} working days is out of range: at most "
                             f"{MAX_WORKING_DAYS:g} either way")
        return self.add_time(start, self.day_length * working_days)

    def _walk_forward(self, begin: datetime, remaining: timedelta) -> datetime:
        for a, b in self._forward(self.local_date(begin)):
            if b <= begin:
                continue
            a = max(a, begin)
            if remaining <= b - a:
                return a + remaining
            remaining -= b - a
        raise AssertionError("unreachable: the walk over days never ends")  # pragma: no cover

    def _walk_backward(self, begin: datetime, remaining: timedelta) -> datetime:
        # The earliest instant: an amount used up at the start of office hours ends at the
        # end of the previous ones (Friday 17:30, not Monday 09:00).
        for a, b in self._backward(self.local_date(begin)):
            if a >= begin:
                continue
            b = min(b, begin)
            if remaining < b - a:
                return b - remaining
            remaining -= b - a
        raise AssertionError("unreachable: the walk over days never ends")  # pragma: no cover


def _aware(at: datetime) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"naive datetime {at.isoformat()}: pass an aware datetime "
                         "(e.g. datetime.now(UTC))")
    return at
