"""The directory scan stays bounded: files older than the window cost no lookups, and calls
found with a ticket are not looked up again."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

from hotline12345.recordings.jobs import RecordingJob
from hotline12345.recordings.scan import Scanner, finished_calls, list_settled
from hotline12345.recordings.settings import SettingsError, settings_from
from hotline12345.recordings.worker import WorkerPool, make_sessions, open_queue
from hotline12345.tickets.store import TicketDraft, save_ticket
from tests.recordings.conftest import base_settings

DAY = 86400.0


def _touch(directory: Path, uniqueid: str, age_s: float, legs: bool = True) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    names = [f"{uniqueid}.wav"] + ([f"{uniqueid}-caller.wav", f"{uniqueid}-seat.wav"]
                                   if legs else [])
    when = time.time() - age_s
    for name in names:
        path = directory / name
        path.write_bytes(b"RIFF")
        os.utime(path, (when, when))


def test_files_older_than_the_window_are_not_considered(tmp_path: Path) -> None:
    rec = tmp_path / "recordings"
    _touch(rec, "1.1", 10 * DAY)
    _touch(rec, "1.2", 2 * DAY)
    _touch(rec, "1.3", 60)
    _touch(rec, "1.4", 0)  # still being written
    assert set(finished_calls(rec, settle_s=5.0)) == {"1.1", "1.2", "1.3"}  # no window
    listing = list_settled(rec, settle_s=5.0, window_s=3 * DAY)
    assert set(listing.calls) == {"1.2", "1.3"}
    assert listing.outside == 3 and listing.files == 12
    assert set(finished_calls(rec, settle_s=5.0, window_s=1 * DAY)) == {"1.3"}


def _ticket(sessions: sessionmaker[Session], uniqueid: str) -> None:
    with sessions.begin() as s:
        save_ticket(s, TicketDraft(uniqueid=uniqueid))


def test_calls_with_a_ticket_are_looked_up_once(sqlite_url: str, tmp_path: Path) -> None:
    rec = tmp_path / "recordings"
    for uid in ("2.1", "2.2", "2.3"):
        _touch(rec, uid, 60)
    _touch(rec, "2.9", 30 * DAY)  # long ago, no ticket: outside the window
    settings = base_settings(sqlite_url, rec)
    sessions = make_sessions(settings)
    queue = open_queue(settings, sessions)
    _ticket(sessions, "2.1")
    asked: list[list[str]] = []

    def look_ups(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any,
                 executemany: bool) -> None:
        """The uniqueids of every ticket look-up the database really receives."""
        if statement.startswith("SELECT tickets.uniqueid") and " IN (" in statement:
            asked.append(list(parameters))

    event.listen(sessions.kw["bind"], "before_cursor_execute", look_ups)
    scanner = Scanner(rec, settle_s=5.0, window_s=3 * DAY)
    assert scanner.scan(queue, sessions) == ["2.2", "2.3"]
    _ticket(sessions, "2.2")  # a worker made its ticket
    assert scanner.scan(queue, sessions) == []
    _touch(rec, "2.4", 60)  # a new call
    assert scanner.scan(queue, sessions) == ["2.4"]
    # each call is looked up until it is found with a ticket, then never again;
    # 2.9 is never looked up at all
    assert asked == [["2.1", "2.2", "2.3"], ["2.2", "2.3"], ["2.3", "2.4"]]
    assert set(scanner.ticketed) == {"2.1", "2.2"}

    # the memory is bounded by the window too: a call that leaves it is forgotten
    later = time.time() + 3 * DAY
    scanner.scan(queue, sessions, now=later)
    assert scanner.ticketed == {}
    sessions.kw["bind"].dispose()


def test_a_job_lost_by_redis_is_enqueued_again(sqlite_url: str, tmp_path: Path) -> None:
    """Only tickets are remembered: a call whose job vanished (Redis lost its data) is
    found again by the next scan."""
    rec = tmp_path / "recordings"
    _touch(rec, "3.1", 60)
    settings = base_settings(sqlite_url, rec)
    sessions = make_sessions(settings)
    queue = open_queue(settings, sessions)
    scanner = Scanner(rec, settle_s=5.0, window_s=DAY)
    assert scanner.scan(queue, sessions) == ["3.1"]
    claimed = queue.claim("w", 0.5)
    assert claimed is not None
    queue.forget(claimed)
    assert scanner.scan(queue, sessions) == ["3.1"]
    sessions.kw["bind"].dispose()


def test_the_pool_scans_with_its_settings_window(sqlite_url: str, tmp_path: Path) -> None:
    rec = tmp_path / "recordings"
    _touch(rec, "4.1", 5 * DAY)
    _touch(rec, "4.2", 60)
    pool = WorkerPool(base_settings(sqlite_url, rec, scan_window_s=4 * DAY), None,  # type: ignore[arg-type]
                      size=1)
    assert pool.scan_now() == ["4.2"]
    pool.stop()
    pool = WorkerPool(base_settings(sqlite_url, rec, scan_window_s=0.0), None,  # type: ignore[arg-type]
                      size=1)
    assert pool.scan_now() == ["4.1"]  # 0: the whole directory
    pool.stop()


def test_the_window_setting(tmp_path: Path) -> None:
    assert settings_from(env={}, data_dir=str(tmp_path)).scan_window_s == 3 * DAY
    assert settings_from(env={"HOTLINE12345_SCAN_WINDOW_DAYS": "7"},
                         data_dir=str(tmp_path)).scan_window_s == 7 * DAY
    assert settings_from(env={"HOTLINE12345_SCAN_WINDOW_DAYS": "7"}, scan_window_days=0,
                         data_dir=str(tmp_path)).scan_window_s == 0.0
    for bad in ("-1", "three", "nan", "inf"):
        with pytest.raises(SettingsError, match="HOTLINE12345_SCAN_WINDOW_DAYS="):
            settings_from(env={"HOTLINE12345_SCAN_WINDOW_DAYS": bad}, data_dir=str(tmp_path))


def test_jobs_scan_window_on_the_command_line(sqlite_url: str, tmp_path: Path) -> None:
    rec = tmp_path / "recordings"
    _touch(rec, "5.1", 5 * DAY)
    _touch(rec, "5.2", 60)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE12345_")}
    args = [sys.executable, "-m", "hotline12345.cli", "jobs", "scan", "--database-url",
            sqlite_url, "--recordings-dir", str(rec), "--data-dir", str(tmp_path / "data")]
    out = subprocess.run(args, capture_output=True, text=True, timeout=60, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["5.2"]
    assert "modified in the last 3 days" in out.stderr
    out = subprocess.run([*args, "--scan-window-days", "0"], capture_output=True, text=True,
                         timeout=60, env=env)
    assert out.stdout.split() == ["5.1"]
    out = subprocess.run(args, capture_output=True, text=True, timeout=60,
                         env={**env, "HOTLINE12345_SCAN_WINDOW_DAYS": "soon"})
    assert out.returncode == 2
    assert "HOTLINE12345_SCAN_WINDOW_DAYS='soon': expected a number of days" in out.stderr


def test_enqueueing_is_still_idempotent_across_scanners(sqlite_url: str, tmp_path: Path) -> None:
    rec = tmp_path / "recordings"
    _touch(rec, "6.1", 60)
    settings = base_settings(sqlite_url, rec)
    sessions = make_sessions(settings)
    queue = open_queue(settings, sessions)
    queue.enqueue(RecordingJob("6.1", "ami:Hangup"))
    assert Scanner(rec, 5.0).scan(queue, sessions) == []  # another controller's job
    sessions.kw["bind"].dispose()
