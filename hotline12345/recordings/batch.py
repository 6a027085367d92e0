"""``hotline12345 transcribe FILES...``: import old recordings as tickets.

Files are grouped into calls by the naming convention (``<uniqueid>[-caller|-seat].<ext>``);
a file named otherwise is a call of its own, identified by a stable hash of its absolute
path. The calls go through the SQL job queue in the tickets' database and a local pool of
forked workers, exactly as live calls do. The run can be interrupted and started again: a
call that has a ticket is skipped, one that failed stays failed (``--retry-failed`` tries
it again), and jobs left running by a dead run are taken over at once.

``should_stop`` (the command's SIGTERM/SIGINT) ends the run early: the workers give their
jobs back to the queue, and the report says which calls are still to do
(:attr:`BatchReport.interrupted`, :attr:`BatchReport.left`).
"""

from __future__ import annotations

import hashlib
import os
import socket
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from hotline12345.recordings.jobs import RecordingJob
from hotline12345.recordings.models import JobState, RecordingJobRow
from hotline12345.recordings.naming import Leg, parse_name
from hotline12345.recordings.queue import SqlJobQueue
from hotline12345.recordings.settings import RecordingSettings
from hotline12345.recordings.vosk_model import LoadedModel
from hotline12345.recordings.worker import WorkerPool, dispose_sessions, make_sessions
from hotline12345.tickets.models import Ticket


@dataclass
class BatchReport:
    calls: int = 0
    done: int = 0
    skipped: int = 0  # had a ticket before this run
    failed: dict[str, str] = field(default_factory=dict)  # uniqueid -> reason
    files: dict[str, list[str]] = field(default_factory=dict)  # uniqueid -> files
    interrupted: bool = False  # stopped by should_stop before every call was done
    left: list[str] = field(default_factory=list)  # calls still queued (released included)
    released: int = 0  # jobs the workers gave back in mid-decode when stopped


def group_files(files: Iterable[str | os.PathLike[str]]) -> dict[str, RecordingJob]:
    jobs: dict[str, dict[str, str]] = {}
    for raw in files:
        path = Path(raw).expanduser().absolute()
        name = parse_name(path)
        if name is not None:
            uniqueid, leg = name.uniqueid, name.leg
        else:
            uniqueid = "import-" + hashlib.sha1(str(path).encode()).hexdigest()[:16]
            leg = Leg.MIXED
        jobs.setdefault(uniqueid, {})[leg.value] = str(path)
    return {uid: RecordingJob(uid, "import", files=legs) for uid, legs in jobs.items()}


def _release_dead_runs(session: Session, uniqueids: Sequence[str]) -> None:
    """Requeue jobs of these calls left running by a process of this host that is gone."""
    host = socket.gethostname()
    rows = session.execute(select(RecordingJobRow.id, RecordingJobRow.worker).where(
        RecordingJobRow.uniqueid.in_(list(uniqueids)),
        RecordingJobRow.state == JobState.RUNNING)).all()
    for row in rows:
        parts = (row.worker or "").split(":")
        if len(parts) < 2 or parts[0] != host:
            continue
        try:
            os.kill(int(parts[1]), 0)
            continue  # still alive
        except (ValueError, ProcessLookupError):
            pass
        except PermissionError:
            continue
        session.execute(update(RecordingJobRow).where(RecordingJobRow.id == row.id)
                        .values(state=JobState.QUEUED, worker=None, lease_until=None,
                                not_before=0.0))


def _states(sessions: sessionmaker[Session], uniqueids: Sequence[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with sessions() as session:
        for start in range(0, len(uniqueids), 500):
            chunk = list(uniqueids[start:start + 500])
            for uid, state, error in session.execute(
                    select(RecordingJobRow.uniqueid, RecordingJobRow.state,
                           RecordingJobRow.error).where(RecordingJobRow.uniqueid.in_(chunk))):
                out[uid] = (state, error)
            for uid in session.scalars(select(Ticket.uniqueid).where(Ticket.uniqueid.in_(chunk))):
                out[uid] = (JobState.DONE, None)
    return out


def transcribe_files(files: Sequence[str | os.PathLike[str]], settings: RecordingSettings,
                     model: LoadedModel, *, workers: int = 1, retry_failed: bool = False,
                     progress: bool = True, poll_s: float = 0.2,
                     should_stop: Callable[[], bool] | None = None) -> BatchReport:
    settings = replace(settings, redis_url=None,
                       limits=replace(settings.limits, settle_seconds=0.0),
                       missing_grace_s=0.0)
    jobs = group_files(files)
    report = BatchReport(calls=len(jobs),
                         files={uid: sorted(j.files.values()) for uid, j in jobs.items()})
    sessions = make_sessions(settings)
    queue = SqlJobQueue(sessions, settings.policy)
    ids = sorted(jobs)
    before = _states(sessions, ids)
    report.skipped = sum(1 for uid in ids if uid in before and before[uid][0] is JobState.DONE)
    with sessions.begin() as session:
        _release_dead_runs(session, ids)
    for uid in ids:
        if uid in before:
            if retry_failed and before[uid][0] is JobState.FAILED:
                queue.retry_failed(uid)
            continue
        queue.enqueue(jobs[uid])
    from tqdm import tqdm

    bar = tqdm(total=len(ids), unit="call", desc="transcribe", disable=not progress,
               file=sys.stderr)
    pool: WorkerPool | None = None
    try:
        seen = 0
        while True:
            states = _states(sessions, ids)
            finished = [uid for uid in ids
                        if uid in states and states[uid][0] in (JobState.DONE, JobState.FAILED)]
            bar.update(len(finished) - seen)
            seen = len(finished)
            if len(finished) == len(ids):
                break
            if should_stop is not None and should_stop():
                report.interrupted = True
                break
            if pool is None:
                pool = WorkerPool(settings, model, size=workers, scan_enabled=False).start()
            pool.check()
            time.sleep(poll_s)
    finally:
        bar.close()
        if pool is not None:
            pool.stop()
            report.released = int(pool.released.value)
    states = _states(sessions, ids)
    for uid in ids:
        state, error = states.get(uid, (None, "not processed"))
        if state is JobState.FAILED:
            report.failed[uid] = error or "failed"
        elif state is JobState.DONE:
            report.done += 1
        else:
            report.left.append(uid)
    dispose_sessions(sessions)
    return report
