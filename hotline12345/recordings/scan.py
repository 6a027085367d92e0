"""The directory scan: enqueue every finished recording that has neither a ticket nor a job.

It catches whatever AMI did not report (the controller was down, an event was lost, Redis
lost its data). A call's files are "finished" when none was modified within the settle
time. Enqueueing is idempotent, so any number of controllers may scan the same store.

The scan is bounded, so that it does not slow down with every call ever recorded:

- **a window**: only files modified within ``window_s`` (``scan_window_s``, default 3 days;
  ``HOTLINE12345_SCAN_WINDOW_DAYS``, ``--scan-window-days``) are considered. Older files
  cost one ``stat`` each and nothing else: no ticket lookup, no queue lookup. Recordings
  older than the window that never became tickets (a controller down for longer than it)
  are imported with ``hotline12345 jobs scan --scan-window-days 0`` (the whole directory)
  or ``hotline12345 transcribe FILES...``.
- **a memory** (:class:`Scanner`, one per worker pool): calls found with a ticket are
  remembered while they are in the window and not looked up again, so each scan asks the
  database only about calls that are new since the last one (or still have no ticket).
  Calls with a job but no ticket are asked about every time: if Redis lost its data, the
  next scan enqueues them again.

What remains proportional to the directory is its listing: one ``readdir`` entry and one
``stat`` per file, about 3 µs a file (a second per 300 000 files, every ``scan_interval_s``).
Keep the recordings directory to recent calls (move older recordings to an archive; the
ticket keeps the path it was recorded at) if it holds millions of files.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hotline12345.logs import log_event
from hotline12345.recordings.jobs import RecordingJob
from hotline12345.recordings.models import JobState, RecordingJobRow
from hotline12345.recordings.naming import Leg, parse_name
from hotline12345.recordings.queue import JobQueue
from hotline12345.tickets.models import Ticket

log = logging.getLogger(__name__)

#: The default window: a controller down over a long weekend is still caught.
DEFAULT_WINDOW_S = 3 * 24 * 3600.0


@dataclass
class Listing:
    """The settled calls in a directory: files by leg, and each call's newest mtime."""

    calls: dict[str, dict[Leg, Path]] = field(default_factory=dict)
    newest: dict[str, float] = field(default_factory=dict)
    files: int = 0  # directory entries looked at
    outside: int = 0  # recordings skipped as older than the window


def list_settled(directory: Path, settle_s: float, now: float | None = None,
                 window_s: float = 0.0) -> Listing:
    """Calls in ``directory`` whose files follow the naming convention, are settled (none
    modified within ``settle_s``) and, when ``window_s`` > 0, were modified within it."""
    now = time.time() if now is None else now
    cutoff = now - window_s if window_s > 0 else None
    out = Listing()
    fresh: set[str] = set()
    try:
        entries = os.scandir(directory)
    except FileNotFoundError:
        return out
    with entries:
        for entry in entries:
            out.files += 1
            try:
                if not entry.is_file():
                    continue
                mtime = entry.stat().st_mtime
            except FileNotFoundError:
                continue
            if cutoff is not None and mtime < cutoff:  # before parsing: the cheap test first
                out.outside += 1
                continue
            name = parse_name(entry.name)
            if name is None:
                continue
            if now - mtime < settle_s:
                fresh.add(name.uniqueid)
            out.calls.setdefault(name.uniqueid, {}).setdefault(name.leg, Path(entry.path))
            if mtime > out.newest.get(name.uniqueid, 0.0):
                out.newest[name.uniqueid] = mtime
    for uid in fresh:
        out.calls.pop(uid, None)
        out.newest.pop(uid, None)
    return out


def finished_calls(directory: Path, settle_s: float, now: float | None = None,
                   window_s: float = 0.0) -> dict[str, dict[Leg, Path]]:
    """Calls in ``directory`` whose files all follow the naming convention and are settled
    (and, with ``window_s`` > 0, were modified within the window)."""
    return list_settled(directory, settle_s, now, window_s).calls


def with_tickets(sessions: sessionmaker[Session], uniqueids: list[str]) -> set[str]:
    """The calls among ``uniqueids`` that are finished: a ticket, or a job done without one
    (an abandoned call)."""
    found: set[str] = set()
    if not uniqueids:
        return found
    with sessions() as session:
        for start in range(0, len(uniqueids), 500):
            chunk = uniqueids[start:start + 500]
            found.update(session.scalars(select(Ticket.uniqueid)
                                         .where(Ticket.uniqueid.in_(chunk))))
            found.update(session.scalars(select(RecordingJobRow.uniqueid).where(
                RecordingJobRow.uniqueid.in_(chunk), RecordingJobRow.state == JobState.DONE)))
    return found


class Scanner:
    """The directory scan of one worker pool (or one ``jobs scan``), remembering the calls
    it found with a ticket while they are in the window."""

    def __init__(self, directory: Path, settle_s: float = 2.0,
                 window_s: float = DEFAULT_WINDOW_S) -> None:
        self.directory = directory
        self.settle_s = settle_s
        self.window_s = window_s
        self.ticketed: dict[str, float] = {}  # uniqueid -> newest mtime of its files
        self.looked_up = 0  # calls asked about in the database, over all scans

    def scan(self, queue: JobQueue, sessions: sessionmaker[Session],
             now: float | None = None) -> list[str]:
        """Enqueue the settled calls in the window that have no ticket and no job; returns
        their uniqueids."""
        now = time.time() if now is None else now
        listing = list_settled(self.directory, self.settle_s, now, self.window_s)
        if self.window_s > 0:  # forget what left the window: the memory stays bounded too
            cutoff = now - self.window_s
            self.ticketed = {u: m for u, m in self.ticketed.items() if m >= cutoff}
        todo = sorted(uid for uid in listing.calls if uid not in self.ticketed)
        self.looked_up += len(todo)
        done = with_tickets(sessions, todo)
        for uid in done:
            self.ticketed[uid] = listing.newest[uid]
        added: list[str] = []
        for uniqueid in todo:
            if uniqueid in done or queue.known(uniqueid):
                continue
            files = {leg.value: path.name for leg, path in listing.calls[uniqueid].items()}
            if queue.enqueue(RecordingJob(uniqueid, "scan", files=files)):
                added.append(uniqueid)
        if added:
            log_event(log, "recordings.scan.enqueued", directory=str(self.directory),
                      count=len(added))
        log_event(log, "recordings.scan.done", logging.DEBUG, directory=str(self.directory),
                  files=listing.files, outside_window=listing.outside,
                  calls=len(listing.calls), looked_up=len(todo), enqueued=len(added))
        return added


def scan(directory: Path, queue: JobQueue, sessions: sessionmaker[Session],
         settle_s: float = 2.0, now: float | None = None,
         window_s: float = DEFAULT_WINDOW_S) -> list[str]:
    """One scan without memory (``hotline12345 jobs scan``): enqueue the settled calls in
    ``directory``, modified within ``window_s`` (0: all), that have no ticket and no job."""
    return Scanner(directory, settle_s, window_s).scan(queue, sessions, now)
