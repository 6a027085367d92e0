"""Engines are disposed of after each API call and when a pool stops; the JobSink thread
survives a queue it cannot open and enqueue errors of any kind."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine

from hotline12345.recordings import api, worker
from hotline12345.recordings.api import JobSink
from hotline12345.recordings.jobs import RecordingJob
from tests.recordings.conftest import REDIS_URL, _reset_pg, base_settings, wait_for


class Engines:
    """Every engine that connected while the test ran (SQLAlchemy's class-level events: the
    recordings code is not touched), with whether it was disposed of since."""

    def __init__(self) -> None:
        self.made: list[Engine] = []
        self.disposed: set[int] = set()

    def connected(self, conn: Any) -> None:
        if all(e is not conn.engine for e in self.made):
            self.made.append(conn.engine)

    def gone(self, engine: Engine) -> None:
        self.disposed.add(id(engine))

    def open(self) -> list[Engine]:
        return [e for e in self.made if id(e) not in self.disposed]


@pytest.fixture
def engines() -> Iterator[Engines]:
    seen = Engines()
    event.listen(Engine, "engine_connect", seen.connected)
    event.listen(Engine, "engine_disposed", seen.gone)
    try:
        yield seen
    finally:
        event.remove(Engine, "engine_connect", seen.connected)
        event.remove(Engine, "engine_disposed", seen.gone)


@pytest.mark.parametrize("with_redis", [False, True])
def test_every_api_call_disposes_of_its_engine(
        sqlite_url: str, tmp_path: Path, engines: Engines,
        with_redis: bool, request: pytest.FixtureRequest) -> None:
    redis_kw = ({"redis_url": REDIS_URL, "redis_prefix": request.getfixturevalue("redis_prefix")}
                if with_redis else {})
    settings = base_settings(sqlite_url, tmp_path / "recordings", **redis_kw)
    calls: list[Callable[[], object]] = [
        lambda: api.enqueue(settings, RecordingJob("7.1", "ami:Hangup")),
        lambda: api.failed_jobs(settings),
        lambda: api.retry_failed(settings, "7.1"),
        lambda: api.ticket(settings, "7.1"),
    ]
    for call in calls:
        before = len(engines.made)
        call()
        assert len(engines.made) <= before + 1
        assert engines.open() == [], f"{call} left its engine open"
    assert len(engines.made) >= (2 if with_redis else 4)  # failed jobs, tickets: SQL


def test_a_stopped_pool_disposes_of_its_scan_engine(
        sqlite_url: str, tmp_path: Path, engines: Engines) -> None:
    recordings = tmp_path / "recordings"
    recordings.mkdir()
    wav = recordings / "11.1.wav"  # a settled recording: the scan asks the database
    wav.write_bytes(b"RIFF")
    os.utime(wav, (time.time() - 60, time.time() - 60))
    pool = worker.WorkerPool(base_settings(sqlite_url, recordings),
                             None, size=1)  # type: ignore[arg-type]
    assert pool.scan_now() == ["11.1"]
    assert len(engines.made) == 1 and engines.open() == engines.made  # kept between scans
    pool.stop()
    assert engines.open() == []


def test_the_sink_survives_a_queue_it_cannot_open(sqlite_url: str, tmp_path: Path,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    """A Redis URL the client refuses (a real ValueError from redis-py), then corrected."""
    settings = base_settings(sqlite_url, tmp_path / "recordings")
    refused = replace(settings, redis_url="http://127.0.0.1:6379/0")

    def open_failures() -> list[logging.LogRecord]:
        return [r for r in caplog.records if r.getMessage() == "recordings.sink.open_failed"]

    with caplog.at_level(logging.WARNING):
        sink = JobSink(refused, retry_s=0.01, max_pause_s=0.05)
        try:
            sink.submit(RecordingJob("8.1", "ami:Hangup"))
            assert wait_for(lambda: len(open_failures()) >= 2, timeout=30)
            assert sink.alive() and sink.enqueued == 0
            sink.settings = settings  # the operator fixed the URL
            assert sink.flush(30), "the job waited and was enqueued once the queue opened"
            assert sink.alive() and sink.enqueued == 1
        finally:
            sink.close()
    opened = open_failures()
    assert opened[0].fields["error"].startswith("ValueError: Redis URL")  # type: ignore[attr-defined]
    assert api.failed_jobs(settings) == []
    assert not sink.alive()


def test_the_sink_survives_enqueue_errors(pg_database: str, tmp_path: Path,
                                          caplog: pytest.LogCaptureFixture) -> None:
    """A job PostgreSQL refuses (a uniqueid longer than its column: a real DataError) is
    retried alone, then dropped; the job behind it is enqueued."""
    _reset_pg(pg_database)
    settings = base_settings(pg_database, tmp_path / "recordings")
    too_long = "9." + "1" * 200
    with caplog.at_level(logging.WARNING):
        sink = JobSink(settings, retry_s=0.01, max_pause_s=0.05, max_failures=3)
        try:
            sink.submit(RecordingJob(too_long, "ami:Hangup"))  # always refused
            sink.submit(RecordingJob("9.2", "ami:Hangup"))  # behind it
            assert sink.flush(30)
            assert sink.alive()
            assert (sink.enqueued, sink.dropped) == (1, 1)
        finally:
            sink.close()
    refused = [r for r in caplog.records if r.getMessage() == "recordings.sink.batch_refused"]
    assert len(refused) == 1
    errors = [r for r in caplog.records if r.getMessage() == "recordings.sink.error"]
    # one at a time after the batch was refused: three tries, the last one dropped
    assert [r.fields["dropped"] for r in errors] == [False, False, True]  # type: ignore[attr-defined]
    assert all(r.fields["uniqueid"] == too_long for r in errors)  # type: ignore[attr-defined]
    assert errors[0].fields["error"].startswith("DataError: value too long")  # type: ignore[attr-defined]
    with worker.queue_for(settings) as queue:
        assert queue.known("9.2") and not queue.known(too_long)


def test_closing_the_sink_while_the_queue_is_away(sqlite_url: str, tmp_path: Path) -> None:
    """Redis really unreachable (nothing listens on port 1)."""
    settings = base_settings(sqlite_url, tmp_path / "recordings",
                             redis_url="redis://127.0.0.1:1/0")
    sink = JobSink(settings, retry_s=0.01, max_pause_s=0.05)
    sink.submit(RecordingJob("10.1", "ami:Hangup"))
    assert wait_for(lambda: sink.alive(), timeout=1)
    sink.close(timeout=1.0)
    assert not sink.alive(), "close() ends the thread even when jobs cannot be enqueued"
