"""Crashes: a worker killed in mid-job, Redis restarted, the database unavailable. In each
case nothing is lost (every call gets its ticket) and nothing is duplicated."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import sqlite3
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from hotline12345.recordings.api import JobSink, failed_jobs
from hotline12345.recordings.jobs import RecordingJob
from hotline12345.recordings.models import JobState, RecordingJobRow
from hotline12345.recordings.settings import Hook, RecordingSettings
from hotline12345.recordings.vosk_model import LoadedModel
from hotline12345.recordings.worker import WorkerPool, make_sessions, open_queue
from tests.recordings.conftest import (
    REDIS_URL,
    Speech,
    _reset_pg,
    base_settings,
    count_tickets,
    make_call,
    wait_for,
)


def gate_hook(control: Path, stage: str) -> Hook:
    """Stops a worker at ``stage`` for jobs whose gate file exists, until it is removed.
    Runs in the forked worker; tells the test its pid through the "reached" file."""

    def hook(at: str, job: RecordingJob) -> None:
        gate = control / f"gate-{job.uniqueid}"
        if at != stage or not gate.exists():
            return
        partial = control / f"writing-{job.uniqueid}-{os.getpid()}"
        partial.write_text(str(os.getpid()))
        partial.replace(control / f"reached-{job.uniqueid}")  # whole, or not there yet
        while gate.exists():
            time.sleep(0.02)

    return hook


@contextlib.contextmanager
def worker_log(path: Path) -> Iterator[Path]:
    """The pipeline's log lines (event and fields), from the forked workers too (they
    inherit the handler), in ``path``: the test waits on what a worker did."""
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(message)s %(fields)s"))
    logger = logging.getLogger("hotline12345.recordings.pipeline")
    old_level = logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    try:
        yield path
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
        handler.close()


def logged(path: Path, event: str, uniqueid: str) -> bool:
    return any(line.startswith(event + " ") and f"'uniqueid': '{uniqueid}'" in line
               for line in path.read_text(encoding="utf-8").splitlines())


def _gate(control: Path, uniqueid: str) -> Path:
    control.mkdir(parents=True, exist_ok=True)
    gate = control / f"gate-{uniqueid}"
    gate.write_text("")
    return gate


def _all_done(settings: RecordingSettings, ids: list[str], url: str) -> bool:
    return all(count_tickets(url, uid) == 1 for uid in ids)


def _settle(pool: WorkerPool, settings: RecordingSettings, ids: list[str]) -> None:
    queue = open_queue(settings, make_sessions(settings))
    try:
        assert wait_for(lambda: _all_done(settings, ids, settings.database_url)
                        and queue.pending() == 0, timeout=180, tick=pool.check)
    finally:
        queue.close()


def _no_duplicates(settings: RecordingSettings, ids: list[str]) -> None:
    assert count_tickets(settings.database_url) == len(ids)
    assert failed_jobs(settings) == []


@pytest.mark.parametrize("queue_kind", ["sql", "redis"])
def test_worker_killed_mid_decode(model: LoadedModel, speech: Speech, sqlite_url: str,
                                  tmp_path: Path, queue_kind: str,
                                  request: pytest.FixtureRequest) -> None:
    """SIGKILL while Vosk is decoding: the job is reclaimed when the lease runs out. The
    worker is stopped inside the decode loop, after Vosk took the first chunk of a leg."""
    rec = tmp_path / "recordings"
    control = tmp_path / "control"
    make_call(rec, "50.1", speech)
    redis_kw = ({"redis_url": REDIS_URL, "redis_prefix": request.getfixturevalue("redis_prefix")}
                if queue_kind == "redis" else {})
    settings = base_settings(sqlite_url, rec, hook=gate_hook(control, "decoding"), **redis_kw)
    sessions = make_sessions(settings)
    queue = open_queue(settings, sessions)
    gate = _gate(control, "50.1")
    queue.enqueue(RecordingJob("50.1", "ami:Hangup"))

    def in_flight() -> bool:
        if queue_kind == "redis":
            import redis

            r = redis.Redis.from_url(REDIS_URL)
            return bool(r.xpending(f"{settings.redis_prefix}:stream", "workers")["pending"])
        with sessions() as s:
            return s.scalar(select(RecordingJobRow.state)) is JobState.RUNNING

    pool = WorkerPool(settings, model, size=1, scan_enabled=False).start()
    reached = control / "reached-50.1"
    try:
        assert wait_for(reached.exists, timeout=60, tick=pool.check)
        victim = int(reached.read_text())
        assert victim == pool.pids()[0] and in_flight()
        os.kill(victim, signal.SIGKILL)  # stopped in the decode loop: mid-decode
        gate.unlink()  # the next worker decodes through
        assert wait_for(lambda: victim not in pool.pids(), timeout=10, tick=pool.check)
        assert count_tickets(sqlite_url) == 0, "killed before the ticket was committed"
        _settle(pool, settings, ["50.1"])
    finally:
        pool.stop()
    assert pool.restarts == 1
    _no_duplicates(settings, ["50.1"])


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[tuple[str, Callable[[], None], Callable[[], None]]]:
    """A throwaway redis-server on a unix socket with an fsync'd append-only file, so that
    it can be killed and restarted (never the machine's shared Redis)."""
    work = tmp_path / "redis"
    work.mkdir()
    sock = work / "redis.sock"
    procs: list[subprocess.Popen[bytes]] = []

    def start() -> None:
        procs.append(subprocess.Popen(
            ["redis-server", "--port", "0", "--unixsocket", str(sock), "--dir", str(work),
             "--appendonly", "yes", "--appendfsync", "always", "--save", ""],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        import redis

        assert wait_for(lambda: _pings(redis.Redis(unix_socket_path=str(sock))), timeout=10)

    def kill() -> None:
        procs[-1].kill()
        procs[-1].wait(10)

    start()
    yield f"unix://{sock}", start, kill
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait(10)


def _pings(client: object) -> bool:
    try:
        return bool(client.ping())  # type: ignore[attr-defined]
    except Exception:
        return False


def test_redis_restarted_mid_job(model: LoadedModel, speech: Speech, sqlite_url: str,
                                 tmp_path: Path,
                                 own_redis: tuple[str, Callable[[], None],
                                                  Callable[[], None]],
                                 caplog: pytest.LogCaptureFixture) -> None:
    url, start_redis, kill_redis = own_redis
    rec = tmp_path / "recordings"
    control = tmp_path / "control"
    ids = ["60.1", "60.2", "60.3"]
    for uid in ids:
        make_call(rec, uid, speech, legs=False)
    settings = base_settings(sqlite_url, rec, redis_url=url,
                             hook=gate_hook(control, "decoded"), db_retry_s=1.0)
    queue = open_queue(settings, make_sessions(settings))
    gate = _gate(control, "60.1")
    queue.enqueue(RecordingJob("60.1", "ami:Hangup"))
    queue.enqueue(RecordingJob("60.2", "ami:Hangup"))  # waiting behind 60.1
    pool = WorkerPool(settings, model, size=1, scan_enabled=False).start()
    sink = JobSink(settings)
    try:
        assert wait_for(lambda: (control / "reached-60.1").exists(), timeout=60,
                        tick=pool.check)
        kill_redis()  # SIGKILL while 60.1 is decoded but not committed
        sink.submit(RecordingJob("60.3", "ami:Hangup"))  # AMI reports a call meanwhile
        gate.unlink()  # the worker commits the ticket; it cannot acknowledge the job
        assert wait_for(lambda: count_tickets(sqlite_url, "60.1") == 1, timeout=30,
                        tick=pool.check)
        with caplog.at_level(logging.WARNING, logger="hotline12345.recordings"):
            # Redis stays away until the sink has met the outage (it keeps 60.3 meanwhile)
            assert wait_for(lambda: any(r.getMessage() == "recordings.sink.retry"
                                        for r in caplog.records), timeout=30)
        start_redis()  # the append-only file brings the stream back
        _settle(pool, settings, ids)
        assert sink.flush(30)
    finally:
        sink.close()
        pool.stop()
    _no_duplicates(settings, ids)


class Proxy:
    """A TCP forwarder in front of PostgreSQL that can be cut (the database unreachable)."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port = probe.getsockname()[1]
        probe.close()
        self._listener: socket.socket | None = None
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            with self._lock:
                self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def stop(self) -> None:
        if self._listener is not None:
            # shutdown, not just close: it wakes the thread blocked in accept(), and stops
            # the copies of the socket that forked workers inherited from listening too
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
            self._listener = None
        with self._lock:
            for conn in self._conns:
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
                conn.close()
            self._conns.clear()


def test_postgresql_unavailable_mid_job(model: LoadedModel, speech: Speech, pg_database: str,
                                        tmp_path: Path, redis_prefix: str) -> None:
    _reset_pg(pg_database)
    proxy = Proxy(("127.0.0.1", 5432))
    proxy.start()
    url = pg_database.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
    rec = tmp_path / "recordings"
    control = tmp_path / "control"
    ids = ["70.1", "70.2"]
    for uid in ids:
        make_call(rec, uid, speech, legs=False)
    settings = base_settings(url, rec, redis_url=REDIS_URL, redis_prefix=redis_prefix,
                             hook=gate_hook(control, "decoded"), db_retry_s=1.0)
    queue = open_queue(settings, make_sessions(settings))
    gate = _gate(control, "70.1")
    queue.enqueue(RecordingJob("70.1", "ami:UserEvent", meta={"seat": "PJSIP/8001"}))
    with worker_log(tmp_path / "worker.log") as log:
        pool = WorkerPool(settings, model, size=1, scan_enabled=False).start()
        try:
            assert wait_for(lambda: (control / "reached-70.1").exists(), timeout=180,
                            tick=pool.check)
            proxy.stop()  # the database goes away before the ticket is committed
            queue.enqueue(RecordingJob("70.2", "ami:UserEvent", meta={"seat": "PJSIP/8001"}))
            gate.unlink()
            # the commit fails; the worker gives the job back to Redis, with backoff
            assert wait_for(lambda: logged(log, "recordings.job.deferred", "70.1"),
                            timeout=180, tick=pool.check)
            assert count_tickets(pg_database) == 0
            assert failed_jobs(replace_url(settings, pg_database)) == []
            proxy.start()
            _settle(pool, replace_url(settings, pg_database), ids)
        finally:
            pool.stop()
            proxy.stop()
    _no_duplicates(replace_url(settings, pg_database), ids)


def replace_url(settings: RecordingSettings, url: str) -> RecordingSettings:
    from dataclasses import replace

    return replace(settings, database_url=url)


def test_sqlite_locked_mid_job(model: LoadedModel, speech: Speech, sqlite_url: str,
                               tmp_path: Path) -> None:
    """SQL queue on SQLite: another process holds the database's write lock past the
    busy timeout while the worker commits."""
    rec = tmp_path / "recordings"
    control = tmp_path / "control"
    make_call(rec, "80.1", speech, legs=False)
    settings = base_settings(sqlite_url, rec, hook=gate_hook(control, "decoded"),
                             db_retry_s=1.0)
    queue = open_queue(settings, make_sessions(settings))
    gate = _gate(control, "80.1")
    queue.enqueue(RecordingJob("80.1", "ami:UserEvent", meta={"seat": "PJSIP/8001"}))
    with worker_log(tmp_path / "worker.log") as log:
        pool = WorkerPool(settings, model, size=1, scan_enabled=False).start()
        try:
            assert wait_for(lambda: (control / "reached-80.1").exists(), timeout=180,
                            tick=pool.check)
            # waits for the worker's own writes (its lease renewals) to finish, then holds
            lock = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"), timeout=60)
            lock.execute("BEGIN EXCLUSIVE")
            gate.unlink()
            # the commit fails after the 5 s busy timeout, and the retries; the worker
            # gives up the job until the database can be written again
            assert wait_for(lambda: logged(log, "recordings.job.deferred", "80.1"),
                            timeout=180, tick=pool.check)
            assert count_tickets(sqlite_url) == 0
            lock.rollback()
            lock.close()
            _settle(pool, settings, ["80.1"])
        finally:
            pool.stop()
    _no_duplicates(settings, ["80.1"])
