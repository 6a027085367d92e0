"""The recordings pipeline's programmatic face: enqueue, failed jobs, retries, tickets.

Failed jobs come from both queues: the Redis dead-letter list when Redis is configured,
and failed rows of the SQL queue (used without Redis, and by ``hotline12345 transcribe``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Mapping
from typing import Any

from hotline12345.db.engine import error_text
from hotline12345.env import DATABASE_URL_ENV, REDIS_URL_ENV
from hotline12345.logs import log_event, mask_number
from hotline12345.recordings.jobs import RecordingEvents, RecordingJob
from hotline12345.recordings.queue import (
    FailedJob,
    JobQueue,
    QueueUnavailable,
    SqlJobQueue,
    abandoned_jobs,
)
from hotline12345.recordings.settings import RecordingSettings
from hotline12345.recordings.worker import (
    dispose_sessions,
    make_sessions,
    open_queue,
    queue_for,
    sessions_for,
)
from hotline12345.tickets.store import get_ticket, ticket_view

log = logging.getLogger(__name__)


def failed_jobs(settings: RecordingSettings, limit: int = 1000) -> list[FailedJob]:
    """Every dead-lettered job with its reason, oldest first."""
    out: list[FailedJob] = []
    with sessions_for(settings) as sessions:
        if settings.redis_url:
            queue = open_queue(settings, sessions)
            try:
                out.extend(queue.failed(limit))
            finally:
                queue.close()
        out.extend(SqlJobQueue(sessions, settings.policy).failed(limit))
    out.sort(key=lambda f: f.failed_at)
    return out[:limit]


def retry_failed(settings: RecordingSettings, uniqueid: str) -> bool:
    """Put a failed job back in its queue; False if no failed job has that uniqueid."""
    with sessions_for(settings) as sessions:
        if settings.redis_url:
            queue = open_queue(settings, sessions)
            try:
                if queue.retry_failed(uniqueid):
                    return True
            finally:
                queue.close()
        return SqlJobQueue(sessions, settings.policy).retry_failed(uniqueid)


def abandoned_calls(settings: RecordingSettings, limit: int = 1000) -> list[dict[str, Any]]:
    """The callback list: calls the dialplan recorded that were never answered (the caller
    hung up while waiting), newest first, the caller's number masked for display."""
    with sessions_for(settings) as sessions, sessions() as session:
        found = abandoned_jobs(session, limit)
    return [{"uniqueid": job.uniqueid, "caller": mask_number(job.meta["caller"])
             if job.meta.get("caller") else None, "dialled": job.meta.get("dialled"),
             "queue": job.meta.get("queue"), "at": at} for job, at in found]


def enqueue(settings: RecordingSettings, job: RecordingJob) -> bool:
    """Add one job (idempotent on its uniqueid); True if it was new. For a stream of jobs
    use :class:`JobSink`, which keeps its connections."""
    with queue_for(settings) as queue:
        return queue.enqueue(job)


def ticket(settings: RecordingSettings, uniqueid: str) -> dict[str, Any] | None:
    """The ticket of a call as shown to users (caller's number and name masked), or None."""
    with sessions_for(settings) as sessions, sessions() as session:
        found = get_ticket(session, uniqueid)
        return ticket_view(found) if found is not None else None


class JobSink:
    """Enqueues jobs from the AMI monitor without ever blocking its event loop.

    ``handle_event(event)`` feeds an AMI event (a mapping of its headers) through
    :class:`RecordingEvents`: only a call the dialplan recorded becomes a job (its
    ``HotlineRecording`` UserEvent, or the stop of a MixMonitor writing under the recordings
    directory); any other channel's ``Hangup`` makes none. Jobs go to a writer thread that
    enqueues whatever has accumulated in one batch (:meth:`JobQueue.enqueue_many`: one
    transaction, or one Redis round trip, for up to ``batch`` jobs), so a burst of hangups
    costs a few transactions, not one each. When a job arrives the thread lingers up to
    ``linger_s`` for more (cut short by a full batch, :meth:`flush` or :meth:`close`), so
    that at a steady call rate each transaction carries many calls rather than one (the
    cost of a transaction is mostly per transaction, not per job; a second's wait is
    nothing beside a transcription's). The
    thread never dies of an error: while Redis or the database is away it retries with
    backoff (up to ``max_pause_s``); if the queue cannot even be opened (a wrong URL, say)
    it logs why and tries again; a batch refused otherwise goes one job at a time, and a job
    whose enqueueing fails ``max_failures`` times running is logged and dropped, so that it
    does not hold up the others. The directory scan finds dropped jobs, and anything still
    waiting here if the process dies."""

    def __init__(self, settings: RecordingSettings, max_pending: int = 100_000,
                 retry_s: float = 0.2, max_pause_s: float = 5.0, max_failures: int = 5,
                 batch: int = 500, linger_s: float = 1.0) -> None:
        self.settings = settings
        self.events = RecordingEvents(settings.recordings_dir)
        self.max_pending = max_pending
        self.retry_s = retry_s
        self.max_pause_s = max_pause_s
        self.max_failures = max_failures
        self.batch = max(1, batch)
        self.linger_s = linger_s
        self._hurry = 0  # flush() calls in progress: no lingering
        self._pending: deque[RecordingJob] = deque()
        self._cond = threading.Condition()
        self._closed = False
        self._wake = threading.Event()
        self.enqueued = 0
        self.dropped = 0
        self._thread = threading.Thread(target=self._run, name="recording-jobs", daemon=True)
        self._thread.start()

    def handle_event(self, event: Mapping[str, str]) -> RecordingJob | None:
        job = self.events.handle(event)
        if job is not None:
            self.submit(job)
        return job

    def submit(self, job: RecordingJob) -> None:
        with self._cond:
            if len(self._pending) >= self.max_pending:
                self.dropped += 1
                log_event(log, "recordings.sink.dropped", logging.ERROR, uniqueid=job.uniqueid,
                          hint="the queue is unreachable; the directory scan will find it")
                return
            self._pending.append(job)
            if len(self._pending) == 1 or len(self._pending) == self.batch:
                # Wake the writer only when it waits for a first job or lingers for a full
                # batch: a wake-up per job would cost a thread switch each.
                self._cond.notify()

    def alive(self) -> bool:
        return self._thread.is_alive()

    def flush(self, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        with self._cond:
            self._hurry += 1
            self._cond.notify_all()
            try:
                while self._pending and time.monotonic() < deadline:
                    self._cond.wait(0.05)
                return not self._pending
            finally:
                self._hurry -= 1

    def close(self, timeout: float = 5.0) -> None:
        self.flush(timeout)
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._wake.set()
        self._thread.join(timeout)

    def _next(self) -> list[RecordingJob]:
        """The jobs waiting (up to ``batch``), left in place until :meth:`_done`."""
        with self._cond:
            while not self._pending and not self._closed:
                self._cond.wait()
            self._cond.wait_for(self._no_linger, self.linger_s)
            return [self._pending[i] for i in range(min(self.batch, len(self._pending)))]

    def _no_linger(self) -> bool:
        return self._hurry > 0 or self._closed or len(self._pending) >= self.batch

    def _done(self, count: int) -> None:
        with self._cond:
            for _ in range(min(count, len(self._pending))):
                self._pending.popleft()
            self._cond.notify_all()

    def _one_by_one(self, queue: JobQueue, jobs: list[RecordingJob]) -> int:
        """After a batch was refused: each job on its own, so that one bad job is found and
        dropped without the others. Returns how many of ``jobs`` are settled (enqueued,
        known or dropped); raises :class:`QueueUnavailable` to stop and retry later."""
        for settled, job in enumerate(jobs):
            failures = 0
            while True:
                try:
                    if queue.enqueue(job):
                        self.enqueued += 1
                    break
                except QueueUnavailable:
                    self._done(settled)
                    raise
                except Exception as exc:
                    failures += 1
                    gave_up = failures >= self.max_failures
                    pause = min(self.retry_s * 2 ** (failures - 1), self.max_pause_s)
                    log_event(log, "recordings.sink.error", logging.ERROR,
                              uniqueid=job.uniqueid, error=error_text(exc),
                              attempts=failures, dropped=gave_up,
                              hint="the directory scan will find the recording"
                                   if gave_up else f"retrying in {pause:g} s")
                    if gave_up:
                        self.dropped += 1
                        break
                    if self._closed:
                        self._done(settled)
                        raise QueueUnavailable("closed while retrying") from exc
                    self._wake.wait(pause)
        return len(jobs)

    def _run(self) -> None:
        sessions = None
        queue: JobQueue | None = None
        pause = self.retry_s
        while True:
            jobs = self._next()
            if not jobs:  # closed, nothing left
                break
            try:
                if queue is None:
                    if sessions is None:
                        sessions = make_sessions(self.settings)
                    queue = open_queue(self.settings, sessions)
                try:
                    self.enqueued += queue.enqueue_many(jobs)
                except QueueUnavailable:
                    raise
                except Exception as exc:  # a job the queue refuses: find it, one by one
                    log_event(log, "recordings.sink.batch_refused", logging.WARNING,
                              jobs=len(jobs), error=error_text(exc))
                    self._one_by_one(queue, jobs)
                pause = self.retry_s
                self._done(len(jobs))
                continue
            except QueueUnavailable as exc:
                log_event(log, "recordings.sink.retry", logging.WARNING, jobs=len(jobs),
                          error=str(exc), retry_in_s=pause)
            except Exception as exc:  # never let the thread die: log, back off, go on
                log_event(log, "recordings.sink.open_failed", logging.ERROR,
                          error=error_text(exc), retry_in_s=pause,
                          redis=self.settings.redacted_redis(),
                          hint=f"check {REDIS_URL_ENV} and {DATABASE_URL_ENV}; jobs "
                               "wait here meanwhile")
            if self._closed:
                with self._cond:
                    left = len(self._pending)
                log_event(log, "recordings.sink.abandoned", logging.ERROR, jobs=left,
                          hint="closed while the queue was unreachable; the directory scan "
                               "will find these recordings")
                break
            self._wake.wait(pause)
            pause = min(pause * 2, self.max_pause_s)
        if queue is not None:
            queue.close()
        dispose_sessions(sessions)
