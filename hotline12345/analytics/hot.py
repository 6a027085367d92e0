"""Hot topics: the terms of a window (today, the last 7 days) ranked by G² against a
baseline (the 28 days before the window), from the ``topic_counts`` index.

One ``GROUP BY term`` over the hours of both periods gives, per term, its tickets in the
window and in the baseline; terms below the minimum count are left in the database
(``HAVING``). The number of tickets in each period (the G² denominators) comes from
``topic_tickets``. The top terms then get their daily counts for a sparkline. Days are those
of the site's time zone (the index keeps UTC hours; a zone whose offset is not whole hours
would see its days start on the hour before midnight).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session

from .index import hour_of
from .models import TopicCount, TopicTicket
from .segment import Segmenter
from .stats import CHI2_P001, signed_g2

__all__ = ["HotTerm", "HotTopics", "TopicSettings", "Window", "hot_topics", "window_bounds"]


class Window(StrEnum):
    TODAY = "today"
    WEEK = "7d"


@dataclass(frozen=True, slots=True)
class TopicSettings:
    """How hot topics are ranked."""

    baseline_days: int = 28
    min_count: int = 5  # tickets in the window; fewer is noise whatever the G²
    min_g2: float = CHI2_P001
    limit: int = 30
    timezone: str = "Asia/Shanghai"


@dataclass(frozen=True, slots=True)
class HotTerm:
    term: str
    kind: str | None  # 地名, 部门, 诉求 for dictionary words
    count: int  # tickets of the window with the term
    baseline_count: int
    g2: float
    daily: tuple[int, ...]  # tickets a day, over HotTopics.days

    def to_dict(self, tickets: int, baseline_tickets: int) -> dict[str, Any]:
        return {"term": self.term, "kind": self.kind, "count": self.count,
                "baseline_count": self.baseline_count,
                "share": round(self.count / tickets, 6) if tickets else 0.0,
                "baseline_share": (round(self.baseline_count / baseline_tickets, 6)
                                   if baseline_tickets else 0.0),
                "g2": round(self.g2, 3), "daily": list(self.daily)}


@dataclass(frozen=True, slots=True)
class HotTopics:
    window: Window
    start: datetime
    end: datetime
    baseline_start: datetime
    tickets: int  # indexed tickets in the window
    baseline_tickets: int
    terms: tuple[HotTerm, ...]
    days: tuple[date, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return {"window": self.window.value, "start": self.start.isoformat(),
                "end": self.end.isoformat(), "baseline_start": self.baseline_start.isoformat(),
                "tickets": self.tickets, "baseline_tickets": self.baseline_tickets,
                "days": [d.isoformat() for d in self.days],
                "terms": [t.to_dict(self.tickets, self.baseline_tickets) for t in self.terms]}


def window_bounds(window: Window, now: datetime, tz: ZoneInfo,
                  baseline_days: int) -> tuple[datetime, datetime]:
    """(window start, baseline start): the window starts at local midnight today (today) or
    six days before (7d); the baseline is the ``baseline_days`` before it."""
    today = now.astimezone(tz).date()
    first = today - timedelta(days=0 if window is Window.TODAY else 6)
    start = datetime.combine(first, time(0), tzinfo=tz)
    return start, start - timedelta(days=baseline_days)


def hot_topics(session: Session, window: Window, now: datetime, *,
               settings: TopicSettings | None = None,
               segmenter: Segmenter | None = None) -> HotTopics:
    """The hot terms of ``window`` at ``now``, best first (see the module's docstring)."""
    s = settings or TopicSettings()
    tz = ZoneInfo(s.timezone)
    start, baseline_start = window_bounds(window, now, tz, s.baseline_days)
    lo, mid, hi = hour_of(baseline_start), hour_of(start), hour_of(now) + timedelta(hours=1)
    in_window = TopicCount.hour >= mid
    a = func.sum(case((in_window, TopicCount.tickets), else_=0))
    b = func.sum(case((in_window, 0), else_=TopicCount.tickets))
    rows = session.execute(
        select(TopicCount.term, a, b)
        .where(and_(TopicCount.hour >= lo, TopicCount.hour < hi))
        .group_by(TopicCount.term).having(a >= s.min_count)).all()
    n_window, n_baseline = session.execute(
        select(func.coalesce(func.sum(case((TopicTicket.hour >= mid, 1), else_=0)), 0),
               func.coalesce(func.sum(case((TopicTicket.hour < mid, 1), else_=0)), 0))
        .where(and_(TopicTicket.hour >= lo, TopicTicket.hour < hi))).one()
    scored = []
    for term, count, base in rows:
        score = signed_g2(int(count), int(n_window), int(base), int(n_baseline))
        if score >= s.min_g2:
            scored.append((score, int(count), int(base), term))
    scored.sort(key=lambda x: (-x[0], -x[1], x[3]))
    top = scored[:s.limit]
    first_day = baseline_start.astimezone(tz).date()
    days = tuple(first_day + timedelta(days=i)
                 for i in range((now.astimezone(tz).date() - first_day).days + 1))
    daily = _daily(session, [t for *_, t in top], lo, hi, tz, days)
    kind = segmenter.kind if segmenter is not None else (lambda _t: None)
    terms = tuple(HotTerm(term, kind(term), count, base, score, daily[term])
                  for score, count, base, term in top)
    return HotTopics(window, start, now, baseline_start, int(n_window), int(n_baseline),
                     terms, days)


def _daily(session: Session, terms: list[str], lo: datetime, hi: datetime, tz: ZoneInfo,
           days: tuple[date, ...]) -> dict[str, tuple[int, ...]]:
    """Tickets a local day for each of ``terms``."""
    position = {d: i for i, d in enumerate(days)}
    series = {t: [0] * len(days) for t in terms}
    if terms:
        stmt = (select(TopicCount.term, TopicCount.hour, TopicCount.tickets)
                .where(TopicCount.term.in_(terms), TopicCount.hour >= lo, TopicCount.hour < hi))
        for term, hour, tickets in session.execute(stmt):
            i = position.get(hour.astimezone(tz).date())
            if i is not None:
                series[term][i] += tickets
    return {t: tuple(v) for t, v in series.items()}
