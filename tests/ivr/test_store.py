"""The call store: the rows it stores (raw column values, as SQLite holds them), in any
order of facts and any cut into batches; PostgreSQL agrees."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import text

from hotline12345.calls.store import (
    CallView,
    RoutedCall,
    SqlCallStore,
    StoreItem,
    SurveyResult,
)
from hotline12345.db.engine import make_engine
from hotline12345.db.migrate import upgrade

BEIJING = timezone(timedelta(hours=8))
T0 = datetime(2026, 11, 28, 14, 30, 0, 0, tzinfo=BEIJING)


def _routed(uid: str, **kw: object) -> RoutedCall:
    fields: dict[str, object] = dict(
        uniqueid=uid, caller="13800138000", caller_name="张三", dialled="12317",
        action="queue", target="q-market", priority=3,
        reasons=("12317 is a legacy number", 'rule "x" matched'), answer=None,
        outcome="routed", started_at=T0, routed_at=T0 + timedelta(microseconds=1234))
    fields.update(kw)
    return RoutedCall(**fields)  # type: ignore[arg-type]


FACTS: list[StoreItem] = [
    _routed("1.1"),
    SurveyResult("1.1", 5, T0 + timedelta(minutes=3)),
    SurveyResult("1.2", None, datetime(2026, 1, 1, tzinfo=UTC)),  # survey before routing
    _routed("1.2", caller=None, caller_name=None, reasons=(), routed_at=None,
            outcome="hangup", answer=""),
    _routed("1.3", priority=None, target=None, action=None, dialled=None, answer="2"),
    _routed("1.1", outcome="failed"),  # a second fact for a call: the last one wins
    SurveyResult("1.4", 1, datetime(999, 1, 2, 3, 4, 5, 6, tzinfo=BEIJING)),
]


def migrated(url: str) -> SqlCallStore:
    """A store on a database the migrations made, as serve opens it."""
    upgrade(url)
    return SqlCallStore(url)


def _raw_rows(store: SqlCallStore) -> list[tuple[object, ...]]:
    with store.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text("SELECT * FROM calls ORDER BY uniqueid"))]


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[SqlCallStore]:
    store = migrated(f"sqlite:///{tmp_path / 'fast.sqlite3'}")
    yield store
    store.close()


#: What the store has always written for FACTS (before and after its one SQLAlchemy Core
#: path replaced the hand-built SQL): UTC datetimes as "YYYY-MM-DD HH:MM:SS.ffffff".
STORED = [
    ("1.1", "13800138000", "张三", "12317", "queue", "q-market", 3,
     '12317 is a legacy number\nrule "x" matched', None, "failed",
     "2026-11-28 06:30:00.000000", "2026-11-28 06:30:00.001234", 5,
     "2026-11-28 06:33:00.000000", None),
    ("1.2", None, None, "12317", "queue", "q-market", 3, None, "", "hangup",
     "2026-11-28 06:30:00.000000", None, None, "2026-01-01 00:00:00.000000", None),
    ("1.3", "13800138000", "张三", None, None, None, None,
     '12317 is a legacy number\nrule "x" matched', "2", "routed",
     "2026-11-28 06:30:00.000000", "2026-11-28 06:30:00.001234", None, None, None),
    ("1.4", None, None, None, None, None, None, None, None, None, None, None, 1,
     "0999-01-01 19:04:05.000006", None),
]


@pytest.mark.parametrize("batches", [[FACTS], [[f] for f in FACTS], [FACTS[:3], FACTS[3:]]],
                         ids=["one batch", "one by one", "two batches"])
def test_sqlite_stores_these_rows(
        sqlite_store: SqlCallStore, batches: list[list[StoreItem]]) -> None:
    for batch in batches:
        sqlite_store.write(batch)
    assert _raw_rows(sqlite_store) == STORED
    views = {u: sqlite_store.get(u) for u in ("1.1", "1.2", "1.3", "1.4")}
    one = views["1.1"]
    assert one is not None
    assert one.outcome == "failed" and one.survey_score == 5
    assert one.started_at == T0 and one.started_at.tzinfo is UTC
    assert one.routed_at == T0 + timedelta(microseconds=1234)
    assert one.reasons == ("12317 is a legacy number", 'rule "x" matched')
    two = views["1.2"]
    assert two is not None and two.survey_score is None and two.survey_at is not None
    assert two.reasons == () and two.routed_at is None and two.answer == ""
    assert views["1.4"] == CallView("1.4", None, None, None, None, None, None, (), None, None,
                                    None, None, 1, datetime(999, 1, 1, 19, 4, 5, 6, tzinfo=UTC))


def test_a_large_batch_stores_what_single_writes_store(
        tmp_path: Path, sqlite_store: SqlCallStore) -> None:
    """A batch with several facts for one call: the later fact wins, in the same batch as
    across batches."""
    items: list[StoreItem] = []
    for i in range(203):
        items.append(_routed(f"3.{i}", priority=i % 7, caller=f"138{i:08d}"))
        if i % 5 == 0:
            items.append(SurveyResult(f"3.{i}", 1 + i % 5, T0 + timedelta(seconds=i)))
    items.append(_routed("3.7", outcome="hangup", routed_at=None))  # same batch, later fact
    items.insert(3, _routed("3.150", outcome="failed"))  # earlier fact, overwritten later
    one_by_one = migrated(f"sqlite:///{tmp_path / 'single.sqlite3'}")
    try:
        sqlite_store.write(items)
        for item in items:
            one_by_one.write([item])
        rows = _raw_rows(sqlite_store)
        assert len(rows) == 203
        assert rows == _raw_rows(one_by_one)
    finally:
        one_by_one.close()
    seven = sqlite_store.get("3.7")
    assert seven is not None and seven.outcome == "hangup" and seven.routed_at is None
    late = sqlite_store.get("3.150")
    assert late is not None and late.outcome == "routed"


def test_sqlite_batch_is_one_transaction(sqlite_store: SqlCallStore) -> None:
    """A fact that breaks the batch leaves none of it written (the recorder then isolates it)."""
    bad = _routed("2.2")
    object.__setattr__(bad, "priority", "not a number")  # bypasses the dataclass checks
    with sqlite_store.engine.begin() as conn:  # make the bad value fail in SQLite
        conn.execute(text("CREATE TRIGGER t BEFORE INSERT ON calls "
                          "WHEN typeof(NEW.priority) = 'text' BEGIN "
                          "SELECT RAISE(ABORT, 'priority must be a number'); END"))
    with pytest.raises(Exception, match="priority must be a number"):
        sqlite_store.write([_routed("2.1"), bad])
    assert _raw_rows(sqlite_store) == []
    sqlite_store.write([_routed("2.1")])
    assert [r[0] for r in _raw_rows(sqlite_store)] == ["2.1"]


def test_postgresql_store_agrees_with_sqlite(sqlite_store: SqlCallStore) -> None:
    admin = make_engine("postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
                        isolation_level="AUTOCOMMIT")
    name = f"hotline12345_calls_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        pytest.fail(f"PostgreSQL at 127.0.0.1:5432 (user postgres, trust auth) is needed: "
                    f"{exc}; run scripts/system-deps.sh")
    try:
        pg = migrated(f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}")
        try:
            pg.write(FACTS[:4])
            pg.write(FACTS[4:])
            sqlite_store.write(FACTS)
            for uid in ("1.1", "1.2", "1.3", "1.4"):
                assert pg.get(uid) == sqlite_store.get(uid)
        finally:
            pg.close()
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_recorder_lingers_for_a_batch_but_flush_and_close_cut_it_short(
        sqlite_store: SqlCallStore) -> None:
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    from hotline12345.calls.recorder import CallRecorder

    commits: list[object] = []

    def count(conn: object) -> None:
        commits.append(conn)

    recorder = CallRecorder(sqlite_store, linger_s=30.0)  # far longer than any bound below
    event.listen(Engine, "commit", count)
    try:
        for i in range(50):
            recorder.submit(_routed(f"4.{i}"))
        assert recorder.flush(10)  # would wait out the 30 s linger otherwise
        assert recorder.written == 50 and len(commits) <= 2  # gathered, not one by one
        recorder.submit(_routed("4.99"))
    finally:
        event.remove(Engine, "commit", count)
        recorder.close(10)
    assert not recorder._thread.is_alive()
    assert sqlite_store.get("4.99") is not None and recorder.written == 51


def test_recorder_writes_a_full_batch_without_lingering(sqlite_store: SqlCallStore) -> None:
    from hotline12345.calls.recorder import CallRecorder

    recorder = CallRecorder(sqlite_store, linger_s=30.0, max_batch=10)
    try:
        for i in range(10):
            recorder.submit(_routed(f"5.{i}"))
        deadline = time.monotonic() + 10  # well inside the 30 s linger: the batch was full
        while recorder.written < 10 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert recorder.written == 10
    finally:
        recorder.close(10)
    assert recorder.written == 10
