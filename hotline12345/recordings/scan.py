"""The directory scan: enqueue every finished recording that has neither a ticket nor a job.

It catches whatever AMI did not report (the controller was down, an event was lost, Redis
lost its data). A call's files are "finished" when none was modified within the settle
time. Enqueueing is idempotent, so any number of controllers may scan the same store.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hotline12345.logs import log_event
from hotline12345.recordings.jobs import RecordingJob
from hotline12345.recordings.naming import Leg, parse_name
from hotline12345.recordings.queue import JobQueue
from hotline12345.tickets.models import Ticket

log = logging.getLogger(__name__)


def finished_calls(directory: Path, settle_s: float,
                   now: float | None = None) -> dict[str, dict[Leg, Path]]:
    """Calls in ``directory`` whose files all follow the naming convention and are settled."""
    now = time.time() if now is None else now
    calls: dict[str, dict[Leg, Path]] = {}
    fresh: set[str] = set()
    try:
        entries = list(os.scandir(directory))
    except FileNotFoundError:
        return {}
    for entry in entries:
        if not entry.is_file():
            continue
        name = parse_name(entry.name)
        if name is None:
            continue
        try:
            mtime = entry.stat().st_mtime
        except FileNotFoundError:
            continue
        if now - mtime < settle_s:
            fresh.add(name.uniqueid)
        calls.setdefault(name.uniqueid, {}).setdefault(name.leg, Path(entry.path))
    return {uid: legs for uid, legs in calls.items() if uid not in fresh}


def with_tickets(sessions: sessionmaker[Session], uniqueids: list[str]) -> set[str]:
    found: set[str] = set()
    with sessions() as session:
        for start in range(0, len(uniqueids), 500):
            chunk = uniqueids[start:start + 500]
            found.update(session.scalars(select(Ticket.uniqueid)
                                         .where(Ticket.uniqueid.in_(chunk))))
    return found


def scan(directory: Path, queue: JobQueue, sessions: sessionmaker[Session],
         settle_s: float = 2.0, now: float | None = None) -> list[str]:
    """Enqueue the settled calls in ``directory`` that have no ticket and no job; returns
    their uniqueids."""
    calls = finished_calls(directory, settle_s, now)
    if not calls:
        return []
    done = with_tickets(sessions, sorted(calls))
    added: list[str] = []
    for uniqueid in sorted(calls):
        if uniqueid in done or queue.known(uniqueid):
            continue
        files = {leg.value: path.name for leg, path in calls[uniqueid].items()}
        if queue.enqueue(RecordingJob(uniqueid, "scan", files=files)):
            added.append(uniqueid)
    if added:
        log_event(log, "recordings.scan.enqueued", directory=str(directory), count=len(added))
    return added
