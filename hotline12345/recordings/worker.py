"""Worker processes: the model is loaded once, then the workers are forked, so they share
its pages (a Vosk model is about 0.5 GB per copy otherwise). Decoding never runs in an
event loop: each worker is a plain process looping claim -> transcribe -> commit -> ack.

- ``hotline12345 worker`` (:func:`run_worker`): loads the model in the foreground process,
  forks ``--workers`` workers, restarts any that die, and scans the recordings directory
  every ``scan_interval_s``. Run it on any number of machines sharing Redis and the
  recordings store.
- ``hotline12345 serve`` (:func:`start_embedded_pool`): spawns one supervisor process,
  which does the same; the serve process itself never holds the model.

Stopping. The pool's stop event, or SIGTERM to a worker, stops it at the next chunk Vosk
takes (a fraction of a second): the job in hand goes back to the queue at once, with no
attempt counted. A worker never outlives the process that forked it: on Linux it asks the
kernel (``prctl(PR_SET_PDEATHSIG, SIGTERM)``) to be sent SIGTERM when that process dies,
however it dies (SIGKILL included); a worker told so releases its job and exits, and an
alarm kills it 5 s later if it cannot. (A pipe the worker watches would need a thread in
every worker and still a signal to interrupt it; the kernel's death signal needs neither.)
The death signal fires when the *thread* that forked the worker ends: pools are started
and checked from the main thread. While a job runs, a thread renews its lease every third
of ``lease_s`` (:class:`~hotline12345.recordings.pipeline.LeaseKeeper`), so a slow decode
never hands the same job to a second worker while the first is alive.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import multiprocessing
import multiprocessing.connection
import multiprocessing.synchronize
import os
import signal
import socket
import sys
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
from hotline12345.recordings.pipeline import Processor
from hotline12345.recordings.queue import (
    JobQueue,
    QueueUnavailable,
    RedisJobQueue,
    SqlJobQueue,
)
from hotline12345.recordings.scan import Scanner
from hotline12345.recordings.settings import RecordingSettings
from hotline12345.recordings.vosk_model import LoadedModel, ModelError, inspect_model, load_model

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
                                      settings.redis_prefix, ack_retry_s=settings.db_retry_s,
                                      clock=settings.clock)
    return SqlJobQueue(sessions, settings.policy, clock=settings.clock)


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


PR_SET_PDEATHSIG = 1  # linux/prctl.h
#: How long a worker whose parent died may take to release its job before it is killed.
ORPHAN_GRACE_S = 5


def die_with_parent(parent_pid: int, signum: int = signal.SIGTERM) -> bool:
    """Ask the kernel to send ``signum`` to this process when its parent dies (Linux
    ``PR_SET_PDEATHSIG``); if the parent is already gone, send it now. False where the
    kernel cannot (not Linux): the pool's own checks remain."""
    armed = False
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        armed = bool(libc.prctl(PR_SET_PDEATHSIG, int(signum), 0, 0, 0) == 0)
        if not armed:
            log_event(log, "recordings.worker.pdeathsig_failed", logging.WARNING,
                      errno=ctypes.get_errno())
    if os.getppid() != parent_pid:  # died before we asked
        os.kill(os.getpid(), signum)
    return armed


def _worker_main(settings: RecordingSettings, model: LoadedModel, consumer: str,
                 stop: multiprocessing.synchronize.Event, parent_pid: int,
                 released: Any) -> None:
    """A worker process's loop. The pool's stop event or SIGTERM stop it at the next chunk
    Vosk takes; its job goes back to the queue. Ctrl-C is the parent's to handle."""
    told = threading.Event()

    def on_term(_signum: int, _frame: Any) -> None:
        told.set()
        if os.getppid() != parent_pid:  # the parent is gone: never outlive it for long
            signal.alarm(ORPHAN_GRACE_S)

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, on_term)
    die_with_parent(parent_pid)

    def should_stop() -> bool:
        return told.is_set() or stop.is_set()

    def count_release(_job: object) -> None:
        with released.get_lock():
            released.value += 1

    sessions = make_sessions(settings)
    queue = open_queue(settings, sessions)
    processor = Processor(settings, model, sessions, queue, consumer, should_stop=should_stop,
                          on_release=count_release)
    log_event(log, "recordings.worker.started", consumer=consumer, queue=queue.kind)
    pause = min(0.5, settings.reconnect_max_s)
    while not should_stop():
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
        self.released = _FORK.Value("i", 0)  # jobs the workers gave back when stopped
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
                             args=(self.settings, self.model, consumer, self.stop_event,
                                   os.getpid(), self.released),
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

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the workers: each gives its job back to the queue at the next chunk Vosk
        takes and exits; one still alive after ``timeout`` is killed (its job is reclaimed
        when its lease runs out)."""
        self.stop_event.set()
        deadline = time.monotonic() + timeout
        for proc in self.procs:
            if proc is not None:
                proc.join(max(0.0, deadline - time.monotonic()))
        for proc in self.procs:
            if proc is not None and proc.is_alive():
                log_event(log, "recordings.worker.killed", logging.WARNING, pid=proc.pid,
                          hint=f"did not stop within {timeout:g} s")
                proc.kill()
                proc.join(5)
        if self._queue is not None:
            self._queue.close()
            self._queue = None
        dispose_sessions(self._sessions)  # the scan's engine
        self._sessions = None
        log_event(log, "recordings.pool.stopped", restarts=self.restarts,
                  released=self.released.value)


class StopSignals:
    """SIGTERM and SIGINT (Ctrl-C) set :attr:`received` instead of killing the process, so
    that a command stops its workers and says what happened; :meth:`exit` then ends the
    process by the same signal (exit status 128 + n in a shell; a clean stop for systemd)."""

    def __init__(self) -> None:
        self.received: int | None = None
        self.event = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._on_signal)

    def _on_signal(self, signum: int, _frame: Any) -> None:
        if self.received is None:
            self.received = signum
        self.event.set()

    def is_set(self) -> bool:
        return self.event.is_set()

    @property
    def name(self) -> str:
        return signal.Signals(self.received).name if self.received else ""

    def exit(self) -> None:
        """Die of the signal received (nothing if none was)."""
        if self.received is None:
            return
        sys.stdout.flush()
        sys.stderr.flush()
        signal.signal(self.received, signal.SIG_DFL)
        os.kill(os.getpid(), self.received)
        raise SystemExit(128 + self.received)  # if the signal is blocked


def run_worker(settings: RecordingSettings) -> int:
    """``hotline12345 worker``: run a pool in the foreground until SIGTERM or Ctrl-C; then
    the workers give their jobs back, the command says so and dies of the signal."""
    model = load_settings_model(settings)
    signals = StopSignals()
    pool = WorkerPool(settings, model).start()
    try:
        pool.run(signals.is_set)
    finally:
        pool.stop()
    print(f"hotline12345 worker: stopped by {signals.name or 'request'}; "
          f"{pool.released.value} job(s) in progress went back to the queue", file=sys.stderr)
    signals.exit()
    return 0


# --- the pool inside `hotline12345 serve` --------------------------------------------------

_SPAWN = multiprocessing.get_context("spawn")


def _supervisor_main(settings: RecordingSettings, ready: multiprocessing.connection.Connection,
                     parent_pid: int) -> None:
    from hotline12345.logs import setup_logging

    setup_logging(os.environ.get(LOG_LEVEL_ENV, "INFO"))
    die_with_parent(parent_pid)  # the workers die with this process in turn
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
