"""Worker processes: the model is loaded once, then the workers are forked, so they share
its pages (a Vosk model is about 0.5 GB per copy otherwise). Decoding never runs in an
event loop: each worker is a plain process looping claim -> transcribe -> commit -> ack.

- ``hotline12345 worker`` (:func:`run_worker`): loads the model in the foreground process,
  forks ``--workers`` workers, restarts any that die, and scans the recordings directory
  every ``scan_interval_s``. Run it on any number of machines sharing Redis and the
  recordings store.
- ``hotline12345 serve`` (:func:`start_embedded_pool`): spawns one supervisor process,
  which does the same; the serve process itself never holds the model.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import multiprocessing.connection
import multiprocessing.synchronize
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from hotline12345.db.engine import error_text, make_engine
from hotline12345.env import LOG_LEVEL_ENV, VOSK_MODEL_ENV
from hotline12345.logs import log_event
from hotline12345.recordings.model import LoadedModel, ModelError, inspect_model, load_model
from hotline12345.recordings.pipeline import Processor
from hotline12345.recordings.queue import (
    JobQueue,
    QueueUnavailable,
    RedisJobQueue,
    SqlJobQueue,
)
from hotline12345.recordings.scan import Scanner
from hotline12345.recordings.settings import RecordingSettings

log = logging.getLogger(__name__)

_FORK = multiprocessing.get_context("fork")


def make_sessions(settings: RecordingSettings) -> sessionmaker[Session]:
    """Sessions on a new engine; whoever makes them disposes of the engine
    (:func:`dispose_sessions`, or use :func:`sessions_for`)."""
    engine = make_engine(settings.database_url, pool_pre_ping=True)
    return sessionmaker(engine, expire_on_commit=False)


def dispose_sessions(sessions: sessionmaker[Session] | None) -> None:
    """Close the connections of the engine behind ``sessions``."""
    bind = sessions.kw.get("bind") if sessions is not None else None
    if isinstance(bind, Engine):
        bind.dispose()


@contextlib.contextmanager
def sessions_for(settings: RecordingSettings) -> Iterator[sessionmaker[Session]]:
    """Sessions for one piece of work; the engine is disposed of afterwards."""
    sessions = make_sessions(settings)
    try:
        yield sessions
    finally:
        dispose_sessions(sessions)


def open_queue(settings: RecordingSettings, sessions: sessionmaker[Session]) -> JobQueue:
    """Redis when a Redis URL is configured, else the SQL queue in the tickets' database."""
    if settings.redis_url:
        return RedisJobQueue.from_url(settings.redis_url, sessions, settings.policy,
                                      settings.redis_prefix, ack_retry_s=settings.db_retry_s)
    return SqlJobQueue(sessions, settings.policy)


@contextlib.contextmanager
def queue_for(settings: RecordingSettings) -> Iterator[JobQueue]:
    """The job queue for one piece of work; its connections and engine are closed after."""
    with sessions_for(settings) as sessions:
        queue = open_queue(settings, sessions)
        try:
            yield queue
        finally:
            queue.close()


def load_settings_model(settings: RecordingSettings) -> LoadedModel:
    return load_model(settings.model_path, dither_zero=settings.dither_zero,
                      language=settings.language, upsample=settings.upsample,
                      expected_rate=min(settings.limits.accepted_rates))


def _worker_main(settings: RecordingSettings, model: LoadedModel, consumer: str,
                 stop: multiprocessing.synchronize.Event) -> None:
    """A worker process's loop. SIGTERM stops it after the current job."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    sessions = make_sessions(settings)
    queue = open_queue(settings, sessions)
    processor = Processor(settings, model, sessions, queue, consumer)
    log_event(log, "recordings.worker.started", consumer=consumer, queue=queue.kind)
    pause = min(0.5, settings.reconnect_max_s)
    while not stop.is_set():
        try:
            processor.run_once(block_s=1.0)
            pause = min(0.5, settings.reconnect_max_s)
        except QueueUnavailable as exc:
            log_event(log, "recordings.worker.queue_unavailable", logging.WARNING,
                      consumer=consumer, error=str(exc), retry_in_s=pause)
            stop.wait(pause)
            pause = min(pause * 2, settings.reconnect_max_s)
        except SQLAlchemyError as exc:  # a refused statement: its message may hold call data
            log_event(log, "recordings.worker.error", logging.ERROR, consumer=consumer,
                      error=error_text(exc))
            stop.wait(1.0)
        except Exception:
            log.exception("recordings.worker.error", extra={"fields": {"consumer": consumer}})
            stop.wait(1.0)
    queue.close()
    dispose_sessions(sessions)


class WorkerPool:
    """``size`` forked workers sharing ``model``. Call :meth:`check` periodically (or
    :meth:`run` in the foreground) to restart dead workers and run the directory scan."""

    def __init__(self, settings: RecordingSettings, model: LoadedModel,
                 size: int | None = None, scan_enabled: bool = True) -> None:
        self.settings = settings
        self.model = model
        self.size = max(1, size if size is not None else settings.workers)
        self.scan_enabled = scan_enabled
        self.stop_event = _FORK.Event()
        self.procs: list[multiprocessing.process.BaseProcess | None] = [None] * self.size
        self.restarts = 0
        self._next_scan = 0.0
        self._host = socket.gethostname()
        self._serial = 0
        self._sessions: sessionmaker[Session] | None = None
        self._queue: JobQueue | None = None
        self.scanner = Scanner(settings.recordings_dir, settings.limits.settle_seconds,
                               settings.scan_window_s)

    def _spawn(self, slot: int) -> None:
        self._serial += 1
        consumer = f"{self._host}:{os.getpid()}:{slot}:{self._serial}"
        proc = _FORK.Process(target=_worker_main, name=f"hotline12345-worker-{slot}",
                             args=(self.settings, self.model, consumer, self.stop_event),
                             daemon=True)
        proc.start()
        self.procs[slot] = proc

    def start(self) -> WorkerPool:
        for slot in range(self.size):
            self._spawn(slot)
        log_event(log, "recordings.pool.started", workers=self.size, model=self.model.name,
                  redis=self.settings.redacted_redis())
        return self

    def pids(self) -> list[int]:
        return [p.pid for p in self.procs if p is not None and p.pid is not None]

    def check(self) -> None:
        """Restart dead workers; run the directory scan when it is due."""
        if self.stop_event.is_set():
            return
        for slot, proc in enumerate(self.procs):
            if proc is not None and not proc.is_alive():
                proc.join(0)
                log_event(log, "recordings.worker.died", logging.WARNING, pid=proc.pid,
                          exitcode=proc.exitcode)
                self.restarts += 1
                self._spawn(slot)
        if self.scan_enabled and time.monotonic() >= self._next_scan:
            self._next_scan = time.monotonic() + self.settings.scan_interval_s
            self.scan_now()

    def scan_now(self) -> list[str]:
        try:
            if self._queue is None:
                if self._sessions is None:
                    self._sessions = make_sessions(self.settings)
                self._queue = open_queue(self.settings, self._sessions)
            assert self._sessions is not None
            return self.scanner.scan(self._queue, self._sessions)
        except Exception as exc:  # Redis or the database away: scan again next time
            log_event(log, "recordings.scan.failed", logging.WARNING, error=error_text(exc))
            return []

    def run(self, should_stop: Callable[[], bool], interval_s: float = 0.5) -> None:
        while not should_stop():
            self.check()
            time.sleep(interval_s)

    def stop(self, timeout: float = 30.0) -> None:
        """Let each worker finish its current job (up to ``timeout``), then kill the rest;
        a killed worker's job is reclaimed by the next worker to run."""
        self.stop_event.set()
        deadline = time.monotonic() + timeout
        for proc in self.procs:
            if proc is not None:
                proc.join(max(0.0, deadline - time.monotonic()))
        for proc in self.procs:
            if proc is not None and proc.is_alive():
                proc.kill()
                proc.join(5)
        if self._queue is not None:
            self._queue.close()
            self._queue = None
        dispose_sessions(self._sessions)  # the scan's engine
        self._sessions = None
        log_event(log, "recordings.pool.stopped", restarts=self.restarts)


def run_worker(settings: RecordingSettings) -> int:
    """``hotline12345 worker``: run a pool in the foreground until SIGTERM or Ctrl-C."""
    model = load_settings_model(settings)
    pool = WorkerPool(settings, model).start()
    stopping = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        pool.run(stopping.is_set)
    finally:
        pool.stop()
    return 0


# --- the pool inside `hotline12345 serve` --------------------------------------------------

_SPAWN = multiprocessing.get_context("spawn")


def _supervisor_main(settings: RecordingSettings, ready: multiprocessing.connection.Connection,
                     parent_pid: int) -> None:
    from hotline12345.logs import setup_logging

    setup_logging(os.environ.get(LOG_LEVEL_ENV, "INFO"))
    try:
        model = load_settings_model(settings)
    except ModelError as exc:
        ready.send(("error", str(exc)))
        return
    pool = WorkerPool(settings, model).start()
    ready.send(("ok", ""))
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        # stop with the serve process, even if it dies without stopping us
        pool.run(lambda: stopping.is_set() or os.getppid() != parent_pid)
    finally:
        pool.stop()


class EmbeddedPool:
    def __init__(self, proc: multiprocessing.process.BaseProcess) -> None:
        self.proc = proc

    def stop(self, timeout: float = 35.0) -> None:
        if self.proc.is_alive():
            self.proc.terminate()  # SIGTERM: the supervisor stops its workers
            self.proc.join(timeout)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join(5)


def start_embedded_pool(settings: RecordingSettings, *, workers: int = 1,
                        load_timeout_s: float = 300.0) -> EmbeddedPool | None:
    """For ``hotline12345 serve``: one worker pool on the embedded defaults.

    Returns None (and logs what that means) when no model is configured: calls are still
    routed and recorded, but nothing here scans or transcribes; jobs that others enqueue
    (serve's AMI listener) wait for a ``hotline12345 worker`` elsewhere. Raises
    :class:`ModelError` at once when a model is configured but missing, incomplete or
    damaged. Call it from synchronous start-up code; it blocks until the model is loaded."""
    if not settings.model_path:
        log_event(log, "recordings.pool.disabled", logging.WARNING,
                  recordings_dir=str(settings.recordings_dir),
                  queue=settings.redacted_redis(),
                  hint=f"no Vosk model configured (speech.model in the site file, or "
                       f"{VOSK_MODEL_ENV}): this process runs no transcription worker and no "
                       f"directory scan, so no recording becomes a ticket here. Jobs for the "
                       f"recordings the AMI monitor reports (when it is connected) wait in the "
                       f"job queue; recordings it misses stay in the recordings directory "
                       f"until a scan finds them. Set the model and restart, or run "
                       f"hotline12345 worker on a machine that shares the recordings "
                       f"directory, the database and Redis: it takes the queued jobs and "
                       f"scans the last {settings.scan_window_s / 86400:g} days (older: "
                       f"hotline12345 jobs scan --scan-window-days 0)")
        return None
    inspect_model(settings.model_path)  # layout errors at once, before spawning
    parent, child = _SPAWN.Pipe(duplex=False)
    proc = _SPAWN.Process(target=_supervisor_main, name="hotline12345-recordings",
                          args=(replace(settings, workers=workers, hook=None), child,
                                os.getpid()), daemon=False)
    proc.start()
    child.close()
    if not parent.poll(load_timeout_s):
        proc.kill()
        raise ModelError(f"Vosk model {settings.model_path}: not loaded within "
                         f"{load_timeout_s:.0f} s; check the disk and memory of this machine")
    try:
        status, message = parent.recv()
    except EOFError:
        proc.join(5)
        raise ModelError(f"Vosk model {settings.model_path}: the recordings process died while "
                         f"loading it (exit code {proc.exitcode}); run hotline12345 worker "
                         f"--model {settings.model_path} to see why") from None
    if status != "ok":
        proc.join(5)
        raise ModelError(message)
    return EmbeddedPool(proc)
