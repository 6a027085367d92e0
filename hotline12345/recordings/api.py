"""The recordings pipeline's programmatic face: enqueue, failed jobs, retries, tickets.

Failed jobs come from both queues: the Redis dead-letter list when Redis is configured,
and failed rows of the SQL queue (used without Redis, and by ``hotline12345 transcribe``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from typing import Any

from hotline12345.logs import log_event
from hotline12345.recordings.jobs import RecordingEvents, RecordingJob
from hotline12345.recordings.queue import FailedJob, QueueUnavailable, SqlJobQueue
from hotline12345.recordings.settings import RecordingSettings
from hotline12345.recordings.worker import make_sessions, open_queue
from hotline12345.tickets.store import get_ticket, ticket_view

log = logging.getLogger(__name__)


def failed_jobs(settings: RecordingSettings, limit: int = 1000) -> list[FailedJob]:
    """Every dead-lettered job with its reason, oldest first."""
    sessions = make_sessions(settings)
    out: list[FailedJob] = []
    try:
        if settings.redis_url:
            queue = open_queue(settings, sessions)
            try:
                out.extend(queue.failed(limit))
            finally:
                queue.close()
        out.extend(SqlJobQueue(sessions, settings.policy).failed(limit))
    finally:
        bind = sessions.kw.get("bind")
        if bind is not None:
            bind.dispose()
    out.sort(key=lambda f: f.failed_at)
    return out[:limit]


def retry_failed(settings: RecordingSettings, uniqueid: str) -> bool:
    """Put a failed job back in its queue; False if no failed job has that uniqueid."""
    sessions = make_sessions(settings)
    if settings.redis_url:
        queue = open_queue(settings, sessions)
        try:
            if queue.retry_failed(uniqueid):
                return True
        finally:
            queue.close()
    return SqlJobQueue(sessions, settings.policy).retry_failed(uniqueid)


def enqueue(settings: RecordingSettings, job: RecordingJob) -> bool:
    sessions = make_sessions(settings)
    queue = open_queue(settings, sessions)
    try:
        return queue.enqueue(job)
    finally:
        queue.close()


def ticket(settings: RecordingSettings, uniqueid: str) -> dict[str, Any] | None:
    """The ticket of a call as shown to users (caller masked), or None."""
    sessions = make_sessions(settings)
    with sessions() as session:
        found = get_ticket(session, uniqueid)
        return ticket_view(found) if found is not None else None


class JobSink:
    """Enqueues jobs from the AMI monitor without ever blocking its event loop.

    ``handle_event(event)`` feeds an AMI event (a dict of headers) through
    :class:`RecordingEvents`; a finished recording becomes a job, handed to a writer thread
    that enqueues it, retrying while Redis or the database is away (the directory scan
    catches anything still queued here if the process dies)."""

    def __init__(self, settings: RecordingSettings, max_pending: int = 100_000) -> None:
        self.settings = settings
        self.events = RecordingEvents()
        self.max_pending = max_pending
        self._pending: deque[RecordingJob] = deque()
        self._cond = threading.Condition()
        self._closed = False
        self.enqueued = 0
        self._thread = threading.Thread(target=self._run, name="recording-jobs", daemon=True)
        self._thread.start()

    def handle_event(self, event: dict[str, str]) -> RecordingJob | None:
        job = self.events.handle(event)
        if job is not None:
            self.submit(job)
        return job

    def submit(self, job: RecordingJob) -> None:
        with self._cond:
            if len(self._pending) >= self.max_pending:
                log_event(log, "recordings.sink.dropped", logging.ERROR, uniqueid=job.uniqueid,
                          hint="the queue is unreachable; the directory scan will find it")
                return
            self._pending.append(job)
            self._cond.notify()

    def flush(self, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._pending and time.monotonic() < deadline:
                self._cond.wait(0.05)
            return not self._pending

    def close(self, timeout: float = 5.0) -> None:
        self.flush(timeout)
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join(timeout)

    def _run(self) -> None:
        sessions = make_sessions(self.settings)
        queue = open_queue(self.settings, sessions)
        pause = 0.2
        while True:
            with self._cond:
                while not self._pending and not self._closed:
                    self._cond.wait()
                if self._closed and not self._pending:
                    break
                job = self._pending[0]
            try:
                if queue.enqueue(job):
                    self.enqueued += 1
                pause = 0.2
            except QueueUnavailable as exc:
                log_event(log, "recordings.sink.retry", logging.WARNING, uniqueid=job.uniqueid,
                          error=str(exc))
                time.sleep(pause)
                pause = min(pause * 2, 5.0)
                continue
            with self._cond:
                self._pending.popleft()
                self._cond.notify_all()
        queue.close()
