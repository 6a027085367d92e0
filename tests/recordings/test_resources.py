"""Engines are disposed of after each API call and when a pool stops; the JobSink thread
survives a queue it cannot open and enqueue errors of any kind."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from hotline12345.recordings import api, worker
from hotline12345.recordings.api import JobSink
from hotline12345.recordings.jobs import RecordingJob
from hotline12345.recordings.queue import JobQueue
from hotline12345.recordings.settings import RecordingSettings
from tests.recordings.conftest import REDIS_URL, base_settings, wait_for


@pytest.fixture
def engines(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[Engine, list[bool]]]]:
    """Every engine the recordings code makes, with whether it was disposed of."""
    made: list[tuple[Engine, list[bool]]] = []
    real = worker.make_sessions

    def spy(settings: RecordingSettings) -> sessionmaker[Session]:
        sessions = real(settings)
        engine = sessions.kw["bind"]
        disposed: list[bool] = []
        event.listen(engine, "engine_disposed", lambda _e: disposed.append(True))
        made.append((engine, disposed))
        return sessions

    monkeypatch.setattr(worker, "make_sessions", spy)
    monkeypatch.setattr(api, "make_sessions", spy)
    yield made


@pytest.mark.parametrize("with_redis", [False, True])
def test_every_api_call_disposes_of_its_engine(
        sqlite_url: str, tmp_path: Path, engines: list[tuple[Engine, list[bool]]],
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
        before = len(engines)
        call()
        assert len(engines) == before + 1
        assert engines[-1][1], f"{call} left its engine open"


def test_a_stopped_pool_disposes_of_its_scan_engine(
        sqlite_url: str, tmp_path: Path, engines: list[tuple[Engine, list[bool]]]) -> None:
    pool = worker.WorkerPool(base_settings(sqlite_url, tmp_path / "recordings"),
                             None, size=1)  # type: ignore[arg-type]
    assert pool.scan_now() == []
    assert len(engines) == 1 and not engines[0][1]  # kept between scans
    pool.stop()
    assert engines[0][1]


class _Flaky:
    """A queue whose ``enqueue`` raises ``error`` for the uniqueids in ``refuse``, and whose
    ``enqueue_many`` refuses a batch that holds one of them."""

    kind = "flaky"

    def __init__(self, inner: JobQueue, refuse: set[str], error: Exception) -> None:
        self.inner, self.refuse, self.error = inner, refuse, error
        self.tries: dict[str, int] = {}

    def enqueue(self, job: RecordingJob) -> bool:
        self.tries[job.uniqueid] = self.tries.get(job.uniqueid, 0) + 1
        if job.uniqueid in self.refuse:
            raise self.error
        return self.inner.enqueue(job)

    def enqueue_many(self, jobs: list[RecordingJob]) -> int:
        if any(job.uniqueid in self.refuse for job in jobs):
            raise self.error
        return self.inner.enqueue_many(jobs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_the_sink_survives_a_queue_it_cannot_open(sqlite_url: str, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    settings = base_settings(sqlite_url, tmp_path / "recordings")
    real_open = worker.open_queue
    attempts: list[int] = []

    def opening(s: RecordingSettings, sessions: sessionmaker[Session]) -> JobQueue:
        attempts.append(1)
        if len(attempts) <= 2:  # e.g. a URL the client refuses
            raise ValueError("Redis URL must specify one of the following schemes")
        return real_open(s, sessions)

    monkeypatch.setattr(api, "open_queue", opening)
    with caplog.at_level(logging.WARNING):
        sink = JobSink(settings, retry_s=0.01, max_pause_s=0.05)
        try:
            sink.submit(RecordingJob("8.1", "ami:Hangup"))
            assert sink.flush(10), "the job waited and was enqueued once the queue opened"
            assert sink.alive() and sink.enqueued == 1
        finally:
            sink.close()
    opened = [r for r in caplog.records if r.getMessage() == "recordings.sink.open_failed"]
    assert len(opened) == 2
    assert opened[0].fields["error"].startswith("ValueError: Redis URL")  # type: ignore[attr-defined]
    assert api.failed_jobs(settings) == []
    assert not sink.alive()


def test_the_sink_survives_enqueue_errors(sqlite_url: str, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch,
                                          caplog: pytest.LogCaptureFixture) -> None:
    settings = base_settings(sqlite_url, tmp_path / "recordings")
    flaky: list[_Flaky] = []
    real_open = worker.open_queue

    def opening(s: RecordingSettings, sessions: sessionmaker[Session]) -> JobQueue:
        flaky.append(_Flaky(real_open(s, sessions), {"9.1"}, RuntimeError("boom")))
        return flaky[-1]  # type: ignore[return-value]

    monkeypatch.setattr(api, "open_queue", opening)
    with caplog.at_level(logging.WARNING):
        sink = JobSink(settings, retry_s=0.01, max_pause_s=0.05, max_failures=3)
        try:
            sink.submit(RecordingJob("9.1", "ami:Hangup"))  # always refused
            sink.submit(RecordingJob("9.2", "ami:Hangup"))  # behind it
            assert sink.flush(10)
            assert sink.alive()
            assert (sink.enqueued, sink.dropped) == (1, 1)
            assert flaky[0].tries["9.1"] == 3  # one at a time after the batch was refused
        finally:
            sink.close()
    errors = [r for r in caplog.records if r.getMessage() == "recordings.sink.error"]
    assert [r.fields["dropped"] for r in errors] == [False, False, True]  # type: ignore[attr-defined]
    with worker.queue_for(settings) as queue:
        assert queue.known("9.2") and not queue.known("9.1")


def test_closing_the_sink_while_the_queue_is_away(sqlite_url: str, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    settings = base_settings(sqlite_url, tmp_path / "recordings")

    def never(s: RecordingSettings, sessions: sessionmaker[Session]) -> JobQueue:
        raise ConnectionError("no route to host")

    monkeypatch.setattr(api, "open_queue", never)
    sink = JobSink(settings, retry_s=0.01, max_pause_s=0.05)
    sink.submit(RecordingJob("10.1", "ami:Hangup"))
    assert wait_for(lambda: sink.alive(), timeout=1)
    sink.close(timeout=1.0)
    assert not sink.alive(), "close() ends the thread even when jobs cannot be enqueued"
