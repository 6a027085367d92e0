"""Surge warnings (预警): a category, legacy number, department or place whose tickets in the
last hour (day) rise above the same hour (day) of the week in the previous weeks.

The counts come from SQL: one ``GROUP BY value, window`` per dimension, on ``tickets``
(category, legacy_number, department, by ``created_at``) or on ``topic_places`` (the places
the user dictionary found in each ticket). The current window is ``[now - span, now)``; the
baseline windows are the same span 1..``weeks`` weeks earlier. Weeks before the first ticket
are not baseline (a new system has no history: no warnings rather than warnings about
everything). The test itself (:func:`assess`) is a pure function of the counts; see
:mod:`.stats` for the Poisson tail and its prior.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from hotline12345.tickets.models import Ticket

from .models import TopicPlace, TopicTicket
from .stats import poisson_sf

__all__ = ["DIMENSION_LABELS", "Assessment", "Dimension", "Span", "SurgeSettings",
           "SurgeWarning", "assess", "find_surges", "window_counts"]


class Dimension(StrEnum):
    CATEGORY = "category"
    LEGACY_NUMBER = "legacy_number"
    DEPARTMENT = "department"
    PLACE = "place"


#: How the UI names each dimension.
DIMENSION_LABELS = {Dimension.CATEGORY: "类别", Dimension.LEGACY_NUMBER: "原热线",
                    Dimension.DEPARTMENT: "部门", Dimension.PLACE: "地点"}


class Span(StrEnum):
    HOUR = "hour"
    DAY = "day"

    @property
    def delta(self) -> timedelta:
        return timedelta(hours=1) if self is Span.HOUR else timedelta(days=1)


@dataclass(frozen=True, slots=True)
class SurgeSettings:
    """When a rise is a warning: at least ``min_count`` tickets in the window (per span),
    ``min_ratio`` times the baseline mean, and a Poisson p-value below ``alpha``."""

    weeks: int = 4
    alpha: float = 1e-3
    min_count_hour: int = 5
    min_count_day: int = 10
    min_ratio: float = 1.5
    samples: int = 5  # ticket ids listed with a warning

    def min_count(self, span: Span) -> int:
        return self.min_count_hour if span is Span.HOUR else self.min_count_day


@dataclass(frozen=True, slots=True)
class Assessment:
    count: int
    baseline_mean: float  # with the prior: (sum + 0.5) / weeks
    p_value: float
    surge: bool


def assess(count: int, baseline: Sequence[int], *, min_count: int, alpha: float,
           min_ratio: float) -> Assessment | None:
    """The Poisson test of ``count`` against the weekly ``baseline`` counts; None without
    any baseline week."""
    if not baseline:
        return None
    mean = (sum(baseline) + 0.5) / len(baseline)
    p = poisson_sf(count, mean)
    surge = count >= min_count and count >= min_ratio * mean and p < alpha
    return Assessment(count, mean, p, surge)


@dataclass(frozen=True, slots=True)
class SurgeWarning:
    """One warning, with its evidence: the count, the baseline mean over ``baseline_weeks``
    weeks, the p-value and sample tickets (newest first)."""

    dimension: Dimension
    value: str
    span: Span
    window_start: datetime
    window_end: datetime
    count: int
    baseline_mean: float
    baseline_weeks: int
    p_value: float
    ticket_ids: tuple[int, ...]

    @property
    def label(self) -> str:
        return DIMENSION_LABELS[self.dimension]

    @property
    def key(self) -> str:
        """The same for every check of one surge within an hour (the window slides with
        the clock): ``surge:<dimension>:<value>:<span>:<UTC hour of window_end>``, to send
        a warning once an hour rather than on every check."""
        hour = self.window_end.astimezone(UTC).strftime("%Y-%m-%dT%H")
        return f"surge:{self.dimension.value}:{self.value}:{self.span.value}:{hour}"

    def to_payload(self) -> dict[str, Any]:
        """The warning as a feed event's body (JSON-ready; no caller data in it)."""
        return {"kind": "surge", "key": self.key, "dimension": self.dimension.value,
                "label": self.label, "value": self.value, "span": self.span.value,
                "window_start": self.window_start.isoformat(),
                "window_end": self.window_end.isoformat(), "count": self.count,
                "baseline_mean": round(self.baseline_mean, 3),
                "baseline_weeks": self.baseline_weeks, "p_value": self.p_value,
                "ticket_ids": list(self.ticket_ids)}


@dataclass(frozen=True, slots=True)
class _Source:
    value: InstrumentedAttribute[Any]
    at: InstrumentedAttribute[Any]
    ticket_id: InstrumentedAttribute[Any]
    first: Any  # SELECT MIN(...) of the source's time


def _source(dimension: Dimension) -> _Source:
    if dimension is Dimension.PLACE:
        return _Source(TopicPlace.place, TopicPlace.created_at, TopicPlace.ticket_id,
                       select(func.min(TopicTicket.hour)))
    column = {Dimension.CATEGORY: Ticket.category, Dimension.LEGACY_NUMBER: Ticket.legacy_number,
              Dimension.DEPARTMENT: Ticket.department}[dimension]
    return _Source(column, Ticket.created_at, Ticket.id, select(func.min(Ticket.created_at)))


def _windows(now: datetime, span: Span, weeks: int) -> list[tuple[datetime, datetime]]:
    return [(now - span.delta - timedelta(weeks=i), now - timedelta(weeks=i))
            for i in range(weeks + 1)]


def window_counts(session: Session, dimension: Dimension, windows: Sequence[tuple[datetime,
                  datetime]]) -> dict[str, list[int]]:
    """Per value of ``dimension``, its tickets in each of ``windows`` (one GROUP BY)."""
    src = _source(dimension)
    index = case(*((and_(src.at >= lo, src.at < hi), i) for i, (lo, hi) in enumerate(windows)),
                 else_=None).label("w")
    stmt = (select(src.value, index, func.count())
            .where(src.value.is_not(None), src.value != "",
                   or_(*(and_(src.at >= lo, src.at < hi) for lo, hi in windows)))
            .group_by(src.value, index))
    out: dict[str, list[int]] = {}
    for value, i, n in session.execute(stmt):
        if i is not None:
            out.setdefault(value, [0] * len(windows))[int(i)] += int(n)
    return out


def _samples(session: Session, dimension: Dimension, value: str, lo: datetime, hi: datetime,
             limit: int) -> tuple[int, ...]:
    src = _source(dimension)
    stmt = (select(src.ticket_id).where(src.value == value, src.at >= lo, src.at < hi)
            .order_by(src.at.desc(), src.ticket_id.desc()).limit(limit))
    return tuple(int(i) for i in session.scalars(stmt))


def find_surges(session: Session, now: datetime, *, settings: SurgeSettings | None = None,
                dimensions: Iterable[Dimension] = tuple(Dimension),
                spans: Iterable[Span] = tuple(Span)) -> list[SurgeWarning]:
    """Every surge at ``now``, the smallest p-value first."""
    s = settings or SurgeSettings()
    found: list[SurgeWarning] = []
    for dimension in dimensions:
        first = session.execute(_source(dimension).first).scalar()
        if first is None:
            continue
        for span in spans:
            windows = _windows(now, span, s.weeks)
            covered = [i for i in range(1, len(windows)) if windows[i][0] >= first]
            if not covered:
                continue
            for value, counts in window_counts(session, dimension, windows).items():
                result = assess(counts[0], [counts[i] for i in covered],
                                min_count=s.min_count(span), alpha=s.alpha,
                                min_ratio=s.min_ratio)
                if result is None or not result.surge:
                    continue
                lo, hi = windows[0]
                found.append(SurgeWarning(
                    dimension, value, span, lo, hi, result.count, result.baseline_mean,
                    len(covered), result.p_value,
                    _samples(session, dimension, value, lo, hi, s.samples)))
    found.sort(key=lambda w: (w.p_value, -w.count, w.dimension.value, w.value))
    return found
