"""The ticket loop's figures (工单统计), computed by the database in one ``GROUP BY`` query.

Nothing here loads tickets into Python: :func:`figure_statement` builds one SQLAlchemy Core
``SELECT`` that counts, per group, each figure's numerator and denominator (PostgreSQL in
production, SQLite embedded: the same statement on both), and :func:`compute_figures` runs
it and returns one :class:`FigureRow` per group (a few hundred at most) plus their sum.

Which tickets count
    Tickets created (``created_at``, the 受理 time) within the date range, in the site's
    time zone: ``start`` and ``end`` are local dates, both included. Merged duplicates
    (``merged_into`` set) are left out: a 并单 ticket is counted once, as its main ticket.
    The caller's ``where`` clause (the workflow's ``visible(actor)``: a 承办单位 handler
    sees its own department's tickets only) is applied to every count.

"Overdue" below means: the deadline passed before ``now`` (the moment of the query) and the
step has not been done. A ticket paused (挂起, ``paused_since``) before its answer deadline
passed is not overdue: its clock is stopped and the deadline moves when it resumes.

Figures (numerator / denominator; both are returned, so the API can show both):

=================  ======================================  =================================
figure             numerator                               denominator
=================  ======================================  =================================
及时签收率          signed in time: ``signed_at <=         dispatched tickets (``dispatched_
timely_sign        sign_due``                              at``, ``sign_due`` set) that were
                                                           signed (``signed_at`` set) or are
                                                           overdue (unsigned, ``sign_due <
                                                           now``)
按时办结率          answered in time: ``COALESCE(answered_  dispatched tickets with an
on_time            at, closed_at) <= answer_due``; an      ``answer_due`` that were answered
                   approved 延期 counts as on time because  or closed, or are overdue
                   it moves ``answer_due``                 (neither, ``answer_due < now``,
                                                           not paused before it)
满意率              ``rating`` 非常满意, 满意 or 基本满意      tickets with a valid ``rating``
satisfaction                                               (one of the five 好差评 grades)
解决率              revisited and ``resolved`` true         revisited tickets (``revisited_
resolution                                                 at`` set) whose ``resolved`` is
                                                           known (true or false)
回访率              revisited (``revisited_at`` set)         tickets due a callback
revisit                                                    (``revisit_due`` set) that were
                                                           revisited or are overdue
                                                           (``revisit_due < now``)
一次办结率          closed with ``returns_count =           closed tickets (``closed_at``
first_time         reopen_count = reassign_count = 0``     set, 直接办结 included)
                   (no 退单, 重办 or 改派)
退单率              dispatched tickets with                 dispatched tickets
return_rate        ``returns_count > 0``
平均办理时长        sum of ``handling_wd`` (working days     tickets with ``handling_wd`` set
handling_wd        from dispatch to answer, pauses          (answered)
                   excluded)
=================  ======================================  =================================

A figure whose denominator is 0 has no value (``None``, shown "—"), never 0 or 100 %.

Groups: ``department``, ``category``, ``legacy_number`` (the ticket's current values; no
value is the group ``None``) or ``period``: the local day, week (starting Monday) or month
of ``created_at``, as the ISO date of its first day. The local time is ``created_at`` plus
the zone's UTC offset, computed in SQL; the offset must be the same over the whole range
(Asia/Shanghai has been UTC+8 without daylight saving since 1991), else a
:class:`FigureError`. A fixed offset rather than ``AT TIME ZONE``: SQLite has no time zone
database, and on PostgreSQL the addition is 2.4 times cheaper per row (bench/tickets_bench.py).

Indexes: the date range selects on ``ix_tickets_created_at``; see docs/figures.md for what
the benchmark measured on a million tickets.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any, Final, cast
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ColumnElement,
    Connection,
    RowMapping,
    Select,
    Table,
    and_,
    func,
    literal_column,
    or_,
    select,
)

from hotline12345.tickets.enums import Rating
from hotline12345.tickets.models import Ticket

__all__ = ["FIGURES", "SITE_ZONE", "Count", "Figure", "FigureError", "FigureQuery",
           "FigureRow", "FigureTable", "GroupBy", "Period", "compute_figures", "figure",
           "figure_statement", "fixed_offset_s", "total_of"]

SITE_ZONE: Final[tzinfo] = ZoneInfo("Asia/Shanghai")
TICKETS: Final = cast(Table, Ticket.__table__)


class FigureError(ValueError):
    """A query that cannot be answered as asked; ``field`` names the parameter."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class GroupBy(enum.StrEnum):
    DEPARTMENT = "department"
    CATEGORY = "category"
    LEGACY_NUMBER = "legacy_number"
    PERIOD = "period"


class Period(enum.StrEnum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


@dataclass(frozen=True, slots=True)
class Figure:
    """One figure: its key, its Chinese name, and its definition in words."""

    key: str
    label: str
    numerator: str
    denominator: str
    unit: str = "ratio"  # "ratio" (shown as %) or "working_days" (an average)


FIGURES: Final[tuple[Figure, ...]] = (
    Figure("timely_sign", "及时签收率", "在签收时限内签收的工单",
           "已派单且已签收或已超签收时限的工单"),
    Figure("on_time", "按时办结率", "在答复时限内答复（或办结）的工单，批准延期后按延期后的时限",
           "已派单且已答复/办结或已超答复时限的工单"),
    Figure("satisfaction", "满意率", "评价为非常满意、满意、基本满意的工单", "有有效评价的工单"),
    Figure("resolution", "解决率", "回访结果为已解决的工单", "已回访且有解决结果的工单"),
    Figure("revisit", "回访率", "已回访的工单", "应回访（已回访或已超回访时限）的工单"),
    Figure("first_time", "一次办结率", "无退单、重办、改派而办结的工单", "已办结的工单"),
    Figure("return_rate", "退单率", "被退单过的已派单工单", "已派单的工单"),
    Figure("handling_wd", "平均办理时长", "办理时长合计（工作日，派单至答复，不含挂起）",
           "有办理时长（已答复）的工单", unit="working_days"),
)
_BY_KEY: Final = {f.key: f for f in FIGURES}


@dataclass(frozen=True, slots=True)
class Count:
    """A figure's numerator and denominator in one group; ``value`` their quotient."""

    numerator: int | float
    denominator: int

    @property
    def value(self) -> float | None:
        return None if self.denominator == 0 else self.numerator / self.denominator

    def __add__(self, other: Count) -> Count:
        return Count(self.numerator + other.numerator, self.denominator + other.denominator)


@dataclass(frozen=True, slots=True)
class FigureRow:
    """One group: its value (``None``: tickets without one), its ticket count, its figures."""

    group: str | None
    tickets: int
    counts: Mapping[str, Count]


@dataclass(frozen=True, slots=True)
class FigureQuery:
    """What to compute: the grouping, the period (``by=period`` only), the local date range
    (both ends included; ``None``: open), the time zone, the moment "overdue" is judged at,
    and which figures (default: all)."""

    by: GroupBy = GroupBy.DEPARTMENT
    period: Period | None = None
    start: date | None = None
    end: date | None = None
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    zone: tzinfo = SITE_ZONE
    figures: tuple[str, ...] = tuple(f.key for f in FIGURES)

    def __post_init__(self) -> None:
        if self.by is GroupBy.PERIOD and self.period is None:
            object.__setattr__(self, "period", Period.DAY)
        if self.by is not GroupBy.PERIOD and self.period is not None:
            raise FigureError("period", f"'period' goes with by=period only (by={self.by})")
        if self.start is not None and self.end is not None and self.start > self.end:
            raise FigureError("from", f"the range starts ({self.start}) after it ends "
                              f"({self.end})")
        if self.now.tzinfo is None:
            raise FigureError("now", "'now' must be an aware datetime")
        unknown = [k for k in self.figures if k not in _BY_KEY]
        if unknown or not self.figures:
            raise FigureError("figures", f"unknown figure(s) {unknown or '(none)'}; known: "
                              f"{', '.join(_BY_KEY)}")

    def utc_bounds(self) -> tuple[datetime | None, datetime | None]:
        """The range as UTC instants: [start's local midnight, the day after end's)."""
        lower = (datetime.combine(self.start, time(), self.zone).astimezone(UTC)
                 if self.start is not None else None)
        upper = (datetime.combine(self.end + timedelta(days=1), time(), self.zone)
                 .astimezone(UTC) if self.end is not None else None)
        return lower, upper

    def utc_offset_s(self) -> int:
        """The zone's UTC offset in seconds (:func:`fixed_offset_s`)."""
        return fixed_offset_s(self.zone)


@functools.cache
def fixed_offset_s(zone: tzinfo) -> int:
    """The one UTC offset (seconds) ``zone`` has had since 1992, sampled twice a month up
    to 2040; a :class:`FigureError` if it changed (daylight saving), since the period is
    computed in SQL by adding one offset."""
    offsets = {cast(timedelta, datetime(year, month, day, 12, tzinfo=zone).utcoffset())
               for year in range(1992, 2041) for month in range(1, 13) for day in (1, 15)}
    if len(offsets) != 1:
        raise FigureError("period", f"the time zone {zone} has more than one UTC offset "
                          "(daylight saving); periods are computed with a fixed offset, "
                          "so use a zone without one, such as Asia/Shanghai")
    return int(offsets.pop().total_seconds())


@dataclass(frozen=True, slots=True)
class FigureTable:
    """The rows (ordered by group, ``None`` last) and their total."""

    query: FigureQuery
    rows: tuple[FigureRow, ...]
    total: FigureRow


def _counts(key: str, now: datetime) -> tuple[ColumnElement[Any], ColumnElement[Any]]:
    """The numerator and denominator aggregates of figure ``key``. Written with as few
    operations a row as the definitions allow (they run on every ticket in the range): a
    comparison with a NULL is not true, so ``signed_at <= sign_due`` needs no ``IS NOT NULL``
    beside it, and ``count(column)`` counts the rows where it is set."""
    c = TICKETS.c
    dispatched = c.dispatched_at.is_not(None)
    if key == "timely_sign":
        due = and_(dispatched, or_(and_(c.signed_at.is_not(None), c.sign_due.is_not(None)),
                                   c.sign_due < now))
        return _count_if(and_(dispatched, c.signed_at <= c.sign_due)), _count_if(due)
    if key == "on_time":
        finished = func.coalesce(c.answered_at, c.closed_at)
        overdue = and_(c.answer_due < now,
                       or_(c.paused_since.is_(None), c.paused_since > c.answer_due))
        due = and_(dispatched, c.answer_due.is_not(None), or_(finished.is_not(None), overdue))
        return _count_if(and_(dispatched, finished <= c.answer_due)), _count_if(due)
    if key == "satisfaction":  # the column's CHECK constraint: one of the five grades or NULL
        good = [r.value for r in Rating if r.satisfied]
        return _count_if(c.rating.in_(good)), func.count(c.rating)
    if key == "resolution":
        revisited = c.revisited_at.is_not(None)
        return (_count_if(and_(revisited, c.resolved.is_(True))),
                _count_if(and_(revisited, c.resolved.is_not(None))))
    if key == "revisit":
        due = or_(and_(c.revisited_at.is_not(None), c.revisit_due.is_not(None)),
                  c.revisit_due < now)
        return (_count_if(and_(c.revisit_due.is_not(None), c.revisited_at.is_not(None))),
                _count_if(due))
    if key == "first_time":
        return (_count_if(and_(c.closed_at.is_not(None), c.returns_count == 0,
                               c.reopen_count == 0, c.reassign_count == 0)),
                func.count(c.closed_at))
    if key == "return_rate":
        return _count_if(and_(dispatched, c.returns_count > 0)), func.count(c.dispatched_at)
    if key == "handling_wd":
        return func.coalesce(func.sum(c.handling_wd), 0.0), func.count(c.handling_wd)
    raise FigureError("figures", f"unknown figure {key!r}")  # pragma: no cover


def _count_if(condition: ColumnElement[bool]) -> ColumnElement[int]:
    """``count(*) FILTER (WHERE condition)``: PostgreSQL and SQLite (3.30+) both have it,
    and it is cheaper than ``sum(CASE ...)``."""
    return func.count().filter(condition)


def _group_column(query: FigureQuery, dialect: str) -> ColumnElement[Any]:
    c = TICKETS.c
    if query.by is GroupBy.DEPARTMENT:
        return c.department
    if query.by is GroupBy.CATEGORY:
        return c.category
    if query.by is GroupBy.LEGACY_NUMBER:
        return c.legacy_number
    offset = query.utc_offset_s()  # an int computed here, never user text
    period = query.period or Period.DAY
    if dialect == "sqlite":
        shift: ColumnElement[str] = literal_column(f"'{offset:+d} seconds'")
        extra = {Period.DAY: (), Period.WEEK: ("'weekday 0'", "'-6 days'"),
                 Period.MONTH: ("'start of month'",)}[period]
        return func.date(c.created_at, shift, *(literal_column(e) for e in extra))
    local = c.created_at + literal_column(f"interval '{offset} seconds'")
    return func.date_trunc(literal_column(f"'{period.value}'"), local)


def figure_statement(query: FigureQuery, dialect: str,
                     where: ColumnElement[bool] | None = None) -> Select[Any]:
    """The one ``SELECT``: ``grp``, ``tickets`` and, per figure ``k``, ``k_num`` and
    ``k_den``, grouped by ``grp``. ``dialect``: ``postgresql`` or ``sqlite``
    (the period expression differs); ``where``: an extra condition on ``tickets``."""
    group = _group_column(query, dialect).label("grp")
    columns: list[ColumnElement[Any]] = [group, func.count().label("tickets")]
    for key in query.figures:
        num, den = _counts(key, query.now)
        columns += [num.label(f"{key}_num"), den.label(f"{key}_den")]
    lower, upper = query.utc_bounds()
    conditions: list[ColumnElement[bool]] = [TICKETS.c.merged_into.is_(None)]
    if lower is not None:
        conditions.append(TICKETS.c.created_at >= lower)
    if upper is not None:
        conditions.append(TICKETS.c.created_at < upper)
    if where is not None:
        conditions.append(where)
    return (select(*columns).select_from(TICKETS).where(*conditions)
            .group_by(literal_column("grp")))


def _group_text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def compute_figures(conn: Connection, query: FigureQuery,
                    where: ColumnElement[bool] | None = None) -> FigureTable:
    """Run :func:`figure_statement` on ``conn`` and return its rows and their total (the
    sums of the groups' numerators and denominators: every ticket is in exactly one group).

    On PostgreSQL, JIT compiling is switched off for the rest of ``conn``'s transaction
    (``SET LOCAL jit = off``): a visibility clause with a correlated subquery makes the
    planner over-estimate the query a hundredfold, and compiling then took 1.8–2.7 s of a
    2.7–3.5 s run on a million tickets (1.6–2.0 s without); these short scans gain
    nothing from it."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SET LOCAL jit = off")
    statement = figure_statement(query, conn.dialect.name, where)
    rows = tuple(sorted((_row(query.figures, r._mapping) for r in conn.execute(statement)),
                        key=lambda row: (row.group is None, row.group or "")))
    return FigureTable(query, rows, total_of(query.figures, rows))


def _row(keys: Sequence[str], values: RowMapping) -> FigureRow:
    counts = {}
    for key in keys:
        num = values[f"{key}_num"]
        counts[key] = Count(float(num) if _BY_KEY[key].unit == "working_days" else int(num),
                            int(values[f"{key}_den"]))
    return FigureRow(_group_text(values["grp"]), int(values["tickets"]), counts)


def total_of(keys: Sequence[str], rows: Iterable[FigureRow]) -> FigureRow:
    """The sum of ``rows``: the figures over all their tickets together."""
    tickets = 0
    counts = {key: Count(0.0 if _BY_KEY[key].unit == "working_days" else 0, 0) for key in keys}
    for row in rows:
        tickets += row.tickets
        counts = {key: counts[key] + row.counts[key] for key in keys}
    return FigureRow(None, tickets, counts)


def figure(key: str) -> Figure:
    """The figure named ``key`` (a :class:`FigureError` naming the known ones if none)."""
    try:
        return _BY_KEY[key]
    except KeyError:
        raise FigureError("figures", f"unknown figure {key!r}; known: "
                          f"{', '.join(_BY_KEY)}") from None
