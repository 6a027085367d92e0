"""Bad recordings become failed jobs with their reason (API and CLI) while the pipeline
keeps going; the directory scan; calls without recordings."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hotline12345.recordings.api import abandoned_calls, failed_jobs, retry_failed
from hotline12345.recordings.jobs import RecordingJob
from hotline12345.recordings.scan import finished_calls, scan
from hotline12345.recordings.vosk_model import LoadedModel
from hotline12345.recordings.worker import WorkerPool, make_sessions, open_queue
from tests.recordings.conftest import (
    REDIS_URL,
    Speech,
    base_settings,
    count_tickets,
    make_call,
    wait_for,
    write_wav,
)

BAD = {
    "10.1": "empty file",
    "10.2": "truncated",
    "10.3": "not audio",
    "10.4": "wrong sample rate: 44100 Hz",
    "10.5": "stereo",
    "10.6": "huge file",
}


def _bad_files(rec: Path, speech: Speech) -> None:
    rec.mkdir(parents=True, exist_ok=True)
    (rec / "10.1.wav").write_bytes(b"")
    good = write_wav(rec / "tmp.wav", speech.caller).read_bytes()
    (rec / "tmp.wav").unlink()
    (rec / "10.2.wav").write_bytes(good[: len(good) // 2])
    (rec / "10.3.wav").write_text("这不是录音 / not a recording\n" * 20)
    write_wav(rec / "10.4.wav", b"\0\0" * 4410, rate=44100)
    write_wav(rec / "10.5-caller.wav", b"\0\0\0\0" * 8000, channels=2)
    write_wav(rec / "10.5-seat.wav", b"\0\0" * 8000)
    with (rec / "10.6.sln").open("wb") as f:
        f.truncate(2 * 2**30)  # sparse: 2 GiB of 8 kHz audio is 37 hours
    for path in rec.iterdir():
        os.utime(path, (time.time() - 60, time.time() - 60))


@pytest.mark.parametrize("queue_kind", ["sql", "redis"])
def test_bad_recordings_fail_with_reasons_and_the_pipeline_keeps_going(
        model: LoadedModel, speech: Speech, sqlite_url: str, tmp_path: Path, queue_kind: str,
        request: pytest.FixtureRequest) -> None:
    rec = tmp_path / "recordings"
    _bad_files(rec, speech)
    make_call(rec, "20.1", speech)  # one good call among them
    redis_kw = ({"redis_url": REDIS_URL, "redis_prefix": request.getfixturevalue("redis_prefix")}
                if queue_kind == "redis" else {})
    settings = base_settings(sqlite_url, rec, **redis_kw)
    pool = WorkerPool(settings, model, size=2)  # the scan finds every call
    queue = open_queue(settings, make_sessions(settings))
    pool.start()
    try:
        assert wait_for(lambda: count_tickets(sqlite_url) == 1 and queue.pending() == 0
                        and len(failed_jobs(settings)) == len(BAD), timeout=90, tick=pool.check)
    finally:
        pool.stop()

    failed = {f.uniqueid: f for f in failed_jobs(settings)}
    assert set(failed) == set(BAD)
    for uid, reason in BAD.items():
        error = failed[uid].error
        assert reason in error, error
        assert str(rec) in error, "the reason names the file"
        assert failed[uid].attempts == 1, "bad input is not retried"
    assert "10.5-caller.wav: stereo" in failed["10.5"].error

    cli = subprocess.run(
        [sys.executable, "-m", "hotline12345.cli", "jobs", "failed", "--database-url",
         sqlite_url, "--data-dir", str(tmp_path / "data"),
         *(["--redis-url", REDIS_URL] if queue_kind == "redis" else [])],
        capture_output=True, text=True, timeout=60,
        env={**os.environ, "HOTLINE12345_REDIS_URL": "",
             "HOTLINE12345_REDIS_PREFIX": settings.redis_prefix})
    assert cli.returncode == 0, cli.stderr
    lines = cli.stdout.splitlines()
    assert len(lines) == len(BAD) and "6 failed jobs" in cli.stderr
    for uid, reason in BAD.items():
        assert any(line.startswith(uid + "\t") and reason in line for line in lines), lines

    assert retry_failed(settings, "10.5")
    assert "10.5" not in {f.uniqueid for f in failed_jobs(settings)}


def test_scan_enqueues_settled_calls_without_ticket_or_job(sqlite_url: str, tmp_path: Path,
                                                           speech: Speech) -> None:
    rec = tmp_path / "recordings"
    make_call(rec, "30.1", speech)
    make_call(rec, "30.2", speech, legs=False)
    write_wav(rec / "30.3.wav", speech.caller)  # still being written (just modified)
    (rec / "notes.txt").write_text("not a recording")
    (rec / "rec 1.wav").write_bytes(b"")
    settings = base_settings(sqlite_url, rec, limits=base_settings(sqlite_url, rec).limits)
    calls = finished_calls(rec, settle_s=5.0)
    assert set(calls) == {"30.1", "30.2"}
    sessions = make_sessions(settings)
    queue = open_queue(settings, sessions)
    assert scan(rec, queue, sessions, settle_s=5.0) == ["30.1", "30.2"]
    assert scan(rec, queue, sessions, settle_s=5.0) == []  # idempotent
    claimed = queue.claim("w", 0.5)
    assert claimed is not None
    assert claimed.job.files == {"mixed": "30.1.wav", "caller": "30.1-caller.wav",
                                 "seat": "30.1-seat.wav"}


def test_a_call_without_recording(model: LoadedModel, sqlite_url: str, tmp_path: Path) -> None:
    """A Hangup job (queued by an older version) for a call that was never recorded is
    dropped quietly; a call a seat answered whose recording is missing fails with what was
    expected where; one no seat answered is abandoned (the callback list), not failed."""
    rec = tmp_path / "recordings"
    rec.mkdir()
    settings = base_settings(sqlite_url, rec)
    sessions = make_sessions(settings)
    queue = open_queue(settings, sessions)
    queue.enqueue(RecordingJob("40.1", "ami:Hangup"))
    queue.enqueue(RecordingJob("40.2", "ami:MixMonitor", meta={"seat": "PJSIP/8001"}))
    queue.enqueue(RecordingJob("40.3", "ami:MixMonitor"))
    pool = WorkerPool(settings, model, size=1, scan_enabled=False).start()
    try:
        assert wait_for(lambda: queue.pending() == 0, timeout=30, tick=pool.check)
    finally:
        pool.stop()
    [failed] = failed_jobs(settings)
    assert failed.uniqueid == "40.2"
    assert "no recording for call 40.2: expected 40.2.wav, 40.2-caller.wav, 40.2-seat.wav" in (
        failed.error)
    assert not queue.known("40.1") and count_tickets(sqlite_url) == 0
    assert [c["uniqueid"] for c in abandoned_calls(settings)] == ["40.3"]


def test_an_interrupted_import_takes_over_its_dead_runs(sqlite_url: str) -> None:
    """A ``transcribe`` run killed in mid-job left its job leased to a dead process of this
    host: the next run requeues it at once instead of waiting for the lease."""
    import socket

    from sqlalchemy import select

    from hotline12345.recordings.batch import _release_dead_runs
    from hotline12345.recordings.models import JobState, RecordingJobRow
    from tests.recordings.conftest import sessions_for

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    host = socket.gethostname()
    sessions = sessions_for(sqlite_url)
    with sessions.begin() as s:
        for uid, worker in (("1.1", f"{host}:{dead.pid}:0:1"), ("1.2", f"{host}:{os.getpid()}:0:1"),
                            ("1.3", f"elsewhere:{dead.pid}:0:1")):
            s.add(RecordingJobRow(uniqueid=uid, payload=RecordingJob(uid, "import").to_json(),
                                  state=JobState.RUNNING, attempts=0, deliveries=1,
                                  not_before=0.0, lease_until=time.time() + 600, worker=worker,
                                  created_at=0.0, updated_at=0.0))
    with sessions.begin() as s:
        _release_dead_runs(s, ["1.1", "1.2", "1.3"])
    with sessions() as s:
        states = dict(s.execute(select(RecordingJobRow.uniqueid, RecordingJobRow.state)).all())
    assert states == {"1.1": JobState.QUEUED, "1.2": JobState.RUNNING, "1.3": JobState.RUNNING}
