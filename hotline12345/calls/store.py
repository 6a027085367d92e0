"""The call store interface and its SQL implementation (SQLite by default).

Writers hand the store immutable facts (:class:`RoutedCall`, :class:`SurveyResult`);
the store merges them into one ``calls`` row per uniqueid, whatever order they arrive in
(a survey can be stored by another controller than the one that routed the call).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Protocol

from sqlalchemy import select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import sessionmaker

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


def _routed_params(item: RoutedCall) -> dict[str, Any]:
    return {"uniqueid": item.uniqueid, "caller": item.caller, "caller_name": item.caller_name,
            "dialled": item.dialled, "action": item.action, "target": item.target,
            "priority": item.priority, "reasons": "\n".join(item.reasons) or None,
            "answer": item.answer, "outcome": item.outcome, "started_at": item.started_at,
            "routed_at": item.routed_at, "linked_from": item.linked_from}


def _survey_params(item: SurveyResult) -> dict[str, Any]:
    return {"uniqueid": item.uniqueid, "survey_score": item.score, "survey_at": item.at}


class SqlCallStore:
    """:class:`CallStore` on SQLAlchemy 2: SQLite (WAL) by default, or PostgreSQL. The
    ``calls`` table is made by the migrations, which the caller runs first
    (:func:`hotline12345.db.migrate.upgrade`)."""

    def __init__(self, url_or_engine: str | Engine, *,
                 after_surveys: Callable[[Connection, Sequence[str]], None] | None = None
                 ) -> None:
        """``after_surveys(connection, uniqueids)``: called in the transaction that wrote
        surveys, after them (the tickets put the survey on a ticket that exists already:
        ``hotline12345.tickets.survey.surveys_written``)."""
        self._after_surveys = after_surveys
        if isinstance(url_or_engine, str):
            self.engine = make_engine(url_or_engine)
            self._owns_engine = True
        else:
            self.engine = url_or_engine
            self._owns_engine = False
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        dialect = self.engine.dialect.name
        if dialect == "sqlite":
            from sqlalchemy.dialects.sqlite import insert
        elif dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert  # type: ignore[assignment]
        else:
            if self._owns_engine:
                self.engine.dispose()
            raise StoreValueError(f"database {dialect}: the call store runs on SQLite or "
                                  "PostgreSQL; set HOTLINE12345_DATABASE_URL to one of them")
        upserts = []
        for columns in (_ROUTED_COLUMNS, _SURVEY_COLUMNS):
            stmt = insert(CallRecord)
            upserts.append(stmt.on_conflict_do_update(
                index_elements=["uniqueid"],
                set_={c: getattr(stmt.excluded, c) for c in columns}))
        self._upsert_routed, self._upsert_survey = upserts

    def write(self, items: Sequence[StoreItem]) -> None:
        """One ``INSERT ... ON CONFLICT DO UPDATE`` per kind of fact, executemany, in one
        transaction. Each row runs in order, so a later fact for a call updates the row an
        earlier one made; routing and survey facts touch disjoint columns, so applying each
        kind in order gives the same row as applying all in order."""
        routed = [_routed_params(i) for i in items if isinstance(i, RoutedCall)]
        surveys = [_survey_params(i) for i in items if isinstance(i, SurveyResult)]
        if not routed and not surveys:
            return
        with self.engine.begin() as conn:
            if routed:
                conn.execute(self._upsert_routed, routed)
            if surveys:
                conn.execute(self._upsert_survey, surveys)
                if self._after_surveys is not None:
                    self._after_surveys(conn, [p["uniqueid"] for p in surveys])

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
