"""The call store interface and its SQL implementation (SQLite by default).

Writers hand the store immutable facts (:class:`RoutedCall`, :class:`SurveyResult`);
the store merges them into one ``calls`` row per uniqueid, whatever order they arrive in
(a survey can be stored by another controller than the one that routed the call).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from itertools import chain
from typing import Any, Final, Protocol

from sqlalchemy import bindparam, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from hotline12345.calls.models import CallRecord
from hotline12345.db.engine import make_engine
from hotline12345.records import value_record

OUTCOMES: Final = frozenset({"routed", "hangup", "failed"})
MAX_UNIQUEID: Final = 150


class StoreValueError(ValueError):
    """A fact the store refuses; the message names the field."""


def _check_uniqueid(uniqueid: str) -> None:
    if not uniqueid or len(uniqueid) > MAX_UNIQUEID:
        raise StoreValueError(f"uniqueid {uniqueid!r}: expected 1-{MAX_UNIQUEID} characters")


def _check_aware(name: str, value: datetime | None) -> None:
    if value is not None and value.tzinfo is None:
        raise StoreValueError(f"{name} {value.isoformat()}: expected an aware datetime")


@value_record
class RoutedCall:
    """What the inbound flow decided for a call."""

    uniqueid: str
    caller: str | None
    caller_name: str | None
    dialled: str | None
    action: str | None
    target: str | None
    priority: int | None
    reasons: tuple[str, ...]
    answer: str | None
    outcome: str
    started_at: datetime
    routed_at: datetime | None
    linked_from: str | None = None  # the linkage partner (110) that transferred the call

    def __post_init__(self) -> None:
        _check_uniqueid(self.uniqueid)
        if self.outcome not in OUTCOMES:
            raise StoreValueError(f"outcome {self.outcome!r}: expected one of "
                                  f"{', '.join(sorted(OUTCOMES))}")
        _check_aware("started_at", self.started_at)
        _check_aware("routed_at", self.routed_at)


@value_record
class SurveyResult:
    """The caller's 好差评 score (1-5), or ``None`` when asked and not answered."""

    uniqueid: str
    score: int | None
    at: datetime

    def __post_init__(self) -> None:
        _check_uniqueid(self.uniqueid)
        if self.score is not None and (isinstance(self.score, bool)
                                       or not isinstance(self.score, int)
                                       or not 1 <= self.score <= 5):
            raise StoreValueError(f"survey score {self.score!r}: expected 1-5 or None")
        _check_aware("at", self.at)


StoreItem = RoutedCall | SurveyResult


@dataclass(frozen=True, slots=True)
class CallView:
    """A read-only snapshot of one ``calls`` row."""

    uniqueid: str
    caller: str | None
    caller_name: str | None
    dialled: str | None
    action: str | None
    target: str | None
    priority: int | None
    reasons: tuple[str, ...]
    answer: str | None
    outcome: str | None
    started_at: datetime | None
    routed_at: datetime | None
    survey_score: int | None
    survey_at: datetime | None
    linked_from: str | None = None

    @classmethod
    def of(cls, row: CallRecord) -> CallView:
        return cls(
            uniqueid=row.uniqueid, caller=row.caller, caller_name=row.caller_name,
            dialled=row.dialled, action=row.action, target=row.target, priority=row.priority,
            reasons=tuple(row.reasons.split("\n")) if row.reasons else (),
            answer=row.answer, outcome=row.outcome, started_at=row.started_at,
            routed_at=row.routed_at, survey_score=row.survey_score, survey_at=row.survey_at,
            linked_from=row.linked_from)


class CallStore(Protocol):
    """Where calls are kept. Implementations must accept facts in any order."""

    def write(self, items: Sequence[StoreItem]) -> None:
        """Apply ``items`` in order, all in one transaction."""

    def get(self, uniqueid: str) -> CallView | None: ...

    def close(self) -> None: ...


_ROUTED_COLUMNS: Final = ("caller", "caller_name", "dialled", "action", "target", "priority",
                           "reasons", "answer", "outcome", "started_at", "routed_at",
                           "linked_from")
_SURVEY_COLUMNS: Final = ("survey_score", "survey_at")
# Rows per SQLite statement: a batch of n rows takes full statements of 64, then the binary
# digits of the rest (300 = 4 x 64 + 32 + 8 + 4), so there are only 7 statement texts per
# kind; 64 rows x 13 parameters stays under the 999 bound parameters of SQLite before 3.32.
_SQLITE_ROWS: Final = (64, 32, 16, 8, 4, 2, 1)


def _sqlite_datetime(value: datetime) -> str:
    """An aware datetime as the ``UtcDateTime`` column stores it in SQLite (checked against
    the column's bind processor when the store opens)."""
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    # isoformat(" ", "microseconds") without its offset, in half the time of isoformat
    # or of an f-string with format specifiers
    return "%04d-%02d-%02d %02d:%02d:%02d.%06d" % (  # noqa: UP031
        value.year, value.month, value.day, value.hour, value.minute, value.second,
        value.microsecond)


def _routed_params(item: RoutedCall) -> dict[str, Any]:
    return {"uniqueid": item.uniqueid, "caller": item.caller, "caller_name": item.caller_name,
            "dialled": item.dialled, "action": item.action, "target": item.target,
            "priority": item.priority, "reasons": "\n".join(item.reasons) or None,
            "answer": item.answer, "outcome": item.outcome, "started_at": item.started_at,
            "routed_at": item.routed_at, "linked_from": item.linked_from}


def _apply(row: CallRecord, item: StoreItem) -> None:
    if isinstance(item, RoutedCall):
        row.caller = item.caller
        row.caller_name = item.caller_name
        row.dialled = item.dialled
        row.action = item.action
        row.target = item.target
        row.priority = item.priority
        row.reasons = "\n".join(item.reasons) or None
        row.answer = item.answer
        row.outcome = item.outcome
        row.started_at = item.started_at
        row.routed_at = item.routed_at
        row.linked_from = item.linked_from
    else:
        row.survey_score = item.score
        row.survey_at = item.at


class SqlCallStore:
    """:class:`CallStore` on SQLAlchemy 2; SQLite (WAL) by default. The ``calls`` table
    is made by the migrations, which the caller runs first
    (:func:`hotline12345.db.migrate.upgrade`)."""

    def __init__(self, url_or_engine: str | Engine) -> None:
        if isinstance(url_or_engine, str):
            self.engine = make_engine(url_or_engine)
            self._owns_engine = True
        else:
            self.engine = url_or_engine
            self._owns_engine = False
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._upsert: Any = None
        if self.engine.dialect.name == "sqlite":
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            self._upsert = sqlite_insert
        elif self.engine.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            self._upsert = pg_insert
        # SQLite: each kind of fact is one INSERT ... VALUES (...), (...) ON CONFLICT, for
        # up to _SQLITE_ROWS rows at a time, on plain tuples (see _write_sqlite).
        self._sqlite_sql: dict[str, tuple[str, str, str]] = {}
        self._sqlite_text: dict[tuple[str, int], str] = {}
        if self.engine.dialect.name == "sqlite":
            self._sqlite_sql = {"routed": self._prepare(_ROUTED_COLUMNS),
                                "survey": self._prepare(_SURVEY_COLUMNS)}
            self._check_sqlite_datetime()

    def _prepare(self, columns: tuple[str, ...]) -> tuple[str, str, str]:
        """The upsert of ``columns`` as SQL with positional parameters in the order
        ``uniqueid, *columns`` (the order the row tuples are built in), cut around its one
        ``VALUES`` row: ``(head, row, tail)``, so that ``head + row + (", " + row) * (n - 1)
        + tail`` upserts ``n`` rows."""
        assert self._upsert is not None
        table = CallRecord.__table__
        stmt = self._upsert(table).values({c: bindparam(c) for c in ("uniqueid", *columns)})
        stmt = stmt.on_conflict_do_update(index_elements=[table.c.uniqueid],
                                          set_={c: getattr(stmt.excluded, c) for c in columns})
        compiled = stmt.compile(dialect=self.engine.dialect)
        if tuple(compiled.positiontup or ()) != ("uniqueid", *columns):  # pragma: no cover
            raise RuntimeError(f"calls upsert compiled with parameters {compiled.positiontup}")
        sql = str(compiled)
        row = "(" + ", ".join("?" * (1 + len(columns))) + ")"
        head, found, tail = sql.partition(" VALUES " + row)
        if not found or row in tail:  # pragma: no cover - SQLAlchemy changed its output
            raise RuntimeError(f"calls upsert compiled to unexpected SQL: {sql}")
        return head + " VALUES ", row, tail

    def _sqlite_statement(self, kind: str, rows: int) -> str:
        text = self._sqlite_text.get((kind, rows))
        if text is None:
            head, row, tail = self._sqlite_sql[kind]
            text = self._sqlite_text[(kind, rows)] = head + ", ".join([row] * rows) + tail
        return text

    def _check_sqlite_datetime(self) -> None:
        """_sqlite_datetime must store what the column type's own bind processor stores."""
        dialect = self.engine.dialect
        column = CallRecord.__table__.c.started_at
        process = column.type.dialect_impl(dialect).bind_processor(dialect)
        for sample in (datetime(2026, 11, 28, 6, 30, tzinfo=UTC),
                       datetime(1, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, 23, 59, 59, 999999,
                                                               tzinfo=UTC),
                       datetime(999, 1, 2, 3, 4, 5, 6, tzinfo=timezone(timedelta(hours=8)))):
            expected = process(sample) if process is not None else sample
            if _sqlite_datetime(sample) != expected:  # pragma: no cover - SA changed format
                raise RuntimeError(f"SQLite datetime storage changed: {expected!r}")

    def write(self, items: Sequence[StoreItem]) -> None:
        if not items:
            return
        if self._sqlite_sql:
            self._write_sqlite(items)
            return
        if self._upsert is not None:
            self._write_upsert(items)
            return
        ids = list(dict.fromkeys(i.uniqueid for i in items))
        with self._sessions.begin() as session:
            rows = self._load(session, ids)
            for item in items:
                row = rows.get(item.uniqueid)
                if row is None:
                    row = CallRecord(uniqueid=item.uniqueid)
                    session.add(row)
                    rows[item.uniqueid] = row
                _apply(row, item)

    def _write_upsert(self, items: Sequence[StoreItem]) -> None:
        """SQLite and PostgreSQL: one ``INSERT ... ON CONFLICT DO UPDATE`` per kind of fact,
        executemany. Routing and survey facts touch disjoint columns, so applying each kind
        in order gives the same row as applying all in order."""
        assert self._upsert is not None
        routed = [_routed_params(i) for i in items if isinstance(i, RoutedCall)]
        surveys = [{"uniqueid": i.uniqueid, "survey_score": i.score, "survey_at": i.at}
                   for i in items if isinstance(i, SurveyResult)]
        table = CallRecord.__table__
        with self.engine.begin() as conn:
            for params, columns in ((routed, _ROUTED_COLUMNS), (surveys, _SURVEY_COLUMNS)):
                if not params:
                    continue
                stmt = self._upsert(table)
                stmt = stmt.on_conflict_do_update(
                    index_elements=[table.c.uniqueid],
                    set_={c: getattr(stmt.excluded, c) for c in columns})
                conn.execute(stmt, params)

    def _write_sqlite(self, items: Sequence[StoreItem]) -> None:
        """One upsert per kind of fact, on plain tuples, many rows per statement: a few µs
        a row, where the compiled-statement path spends 20-40 µs on parameter processing
        (and ``executemany`` about 10 % more than this, one statement step a row). SQLite
        applies a statement's rows in order, so a later fact for the same uniqueid updates
        the row an earlier one made, as on the other paths."""
        dt = _sqlite_datetime
        routed = [(i.uniqueid, i.caller, i.caller_name, i.dialled, i.action, i.target,
                   i.priority, "\n".join(i.reasons) or None, i.answer, i.outcome,
                   dt(i.started_at), None if i.routed_at is None else dt(i.routed_at),
                   i.linked_from)
                  for i in items if type(i) is RoutedCall]
        surveys = [(i.uniqueid, i.score, dt(i.at)) for i in items if type(i) is SurveyResult]
        with self.engine.begin() as conn:
            for kind, rows in (("routed", routed), ("survey", surveys)):
                done = 0
                while done < len(rows):
                    n = next(n for n in _SQLITE_ROWS if n <= len(rows) - done)
                    conn.exec_driver_sql(self._sqlite_statement(kind, n),
                                         tuple(chain.from_iterable(rows[done:done + n])))
                    done += n

    @staticmethod
    def _load(session: Session, ids: list[str]) -> dict[str, CallRecord]:
        rows: dict[str, CallRecord] = {}
        for start in range(0, len(ids), 500):  # stay under SQLite's bound-parameter limit
            chunk = ids[start:start + 500]
            for row in session.scalars(select(CallRecord).where(CallRecord.uniqueid.in_(chunk))):
                rows[row.uniqueid] = row
        return rows

    def get(self, uniqueid: str) -> CallView | None:
        with self._sessions() as session:
            row = session.get(CallRecord, uniqueid)
            return CallView.of(row) if row is not None else None

    def count(self) -> int:
        from sqlalchemy import func

        with self._sessions() as session:
            return int(session.scalar(select(func.count()).select_from(CallRecord)) or 0)

    def close(self) -> None:
        if self._owns_engine:
            self.engine.dispose()
