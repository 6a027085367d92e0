"""Every answered call gets its ticket, silent or not: a leg (or a whole recording) with no
audio (a WAV header with no samples, a 0-byte raw file, pure silence) is marked 无语音 and
the rest is transcribed; only a file that cannot be read at all is a failed job. A call
that was never answered is no failed job either: it goes on the callback list.

End to end: the real Korean Vosk model, forked workers, the SQL queue, SQLite and
PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy.orm import Session

from hotline12345.db.engine import make_engine
from hotline12345.recordings.api import abandoned_calls, failed_jobs
from hotline12345.recordings.jobs import RecordingEvents, RecordingJob
from hotline12345.recordings.naming import RECORDING_USEREVENT
from hotline12345.recordings.vosk_model import LoadedModel
from hotline12345.recordings.worker import WorkerPool, make_sessions, open_queue
from hotline12345.tickets.enums import Speaker
from hotline12345.tickets.store import get_ticket
from tests.recordings.conftest import (
    Speech,
    base_settings,
    count_tickets,
    direct_decode,
    silence,
    wait_for,
    write_wav,
)

CLI = [sys.executable, "-m", "hotline12345.cli"]


def _settled(*paths: Path) -> None:
    old = time.time() - 60
    for path in paths:
        os.utime(path, (old, old))


def _words(utterances: list[tuple[str, object]]) -> list[str]:
    return [text for text, _ in utterances]


def test_silent_legs_still_make_tickets(model: LoadedModel, speech: Speech, db_url: str,
                                        tmp_path: Path) -> None:
    rec = tmp_path / "recordings"
    rec.mkdir()
    seat_leg = speech.seat + silence(0.3)
    # the centre heard only the seat: the caller's leg is a WAV header with no samples
    header_only = write_wav(rec / "91.1-caller.wav", b"")
    seat_1 = write_wav(rec / "91.1-seat.wav", seat_leg)
    mixed_1 = write_wav(rec / "91.1.wav", seat_leg)
    # a caller who said nothing: pure silence on the caller's leg
    write_wav(rec / "91.2-caller.wav", silence(len(seat_leg) / 2 / 8000))
    write_wav(rec / "91.2-seat.wav", seat_leg)
    # nothing at all: a whole recording with no samples, and a raw file of 0 bytes
    write_wav(rec / "91.3.wav", b"")
    (rec / "91.4.sln").write_bytes(b"")
    # a file that cannot be read: a failed job, as before
    (rec / "91.5.wav").write_bytes(b"RIFF\x24\x00\x00\x00WAVEjunk")
    _settled(*rec.iterdir())
    want_seat = direct_decode(model, seat_1)
    assert want_seat, "the model should hear the seat"

    settings = base_settings(db_url, rec)
    queue = open_queue(settings, make_sessions(settings))
    for uid in ("91.1", "91.2", "91.3", "91.4", "91.5"):
        queue.enqueue(RecordingJob(uid, "ami:UserEvent", meta={"seat": "PJSIP/8001"}))
    pool = WorkerPool(settings, model, size=2, scan_enabled=False).start()
    try:
        assert wait_for(lambda: queue.pending() == 0, timeout=120, tick=pool.check)
    finally:
        pool.stop()
        queue.close()

    assert count_tickets(db_url) == 4
    [failed] = failed_jobs(settings)
    assert failed.uniqueid == "91.5" and "truncated" in failed.error
    engine = make_engine(db_url)
    try:
        with Session(engine) as s:
            for uid in ("91.1", "91.2"):
                ticket = get_ticket(s, uid)
                assert ticket is not None
                lines = ticket.transcript.splitlines()
                assert lines[0] == "（来电人：无语音）", ticket.transcript
                seat = [(u.text, u.words) for u in ticket.utterances
                        if u.speaker is Speaker.SEAT]
                assert _words(seat) == _words(want_seat)  # what there is, transcribed
                assert all(u.speaker is Speaker.SEAT for u in ticket.utterances)
            first = get_ticket(s, "91.1")
            assert first is not None
            assert (first.caller_leg_path, first.seat_leg_path, first.recording_path) == (
                str(header_only), str(seat_1), str(mixed_1))
            for uid in ("91.3", "91.4"):
                ticket = get_ticket(s, uid)
                assert ticket is not None
                assert ticket.transcript == "（混音：无语音）"
                assert list(ticket.utterances) == [] and ticket.duration_s == 0.0
    finally:
        engine.dispose()


def test_a_call_never_answered_is_abandoned_not_failed(model: LoadedModel, db_url: str,
                                                       tmp_path: Path) -> None:
    """The dialplan recorded the call (MixMonitor started, the hangup handler sent its
    UserEvent), but the caller hung up in the queue: MixMonitor, recording only while
    bridged, wrote no file, and no seat took the call."""
    rec = tmp_path / "recordings"
    rec.mkdir()
    events = RecordingEvents(rec)
    user = {"Event": "UserEvent", "UserEvent": RECORDING_USEREVENT, "Uniqueid": "92.1",
            "CallerIDNum": "13900139000", "Dialled": "12315", "Queue": "q-general",
            "Seat": "", "Base": "92.1"}
    varset = {"Event": "VarSet", "Variable": "MIXMONITOR_FILENAME", "Uniqueid": "92.2",
              "Value": f"{rec}/92.2.wav", "CallerIDNum": "13800138000"}
    jobs = [events.handle(user), events.handle(varset),
            events.handle({"Event": "Hangup", "Uniqueid": "92.2", "Linkedid": "92.2"})]
    assert [j.uniqueid if j else None for j in jobs] == ["92.1", None, "92.2"]
    # answered by a seat, yet no file: the recordings directory is not shared (a failure)
    answered = RecordingJob("92.3", "ami:UserEvent", meta={"seat": "PJSIP/8001"})

    settings = base_settings(db_url, rec)
    queue = open_queue(settings, make_sessions(settings))
    for job in [jobs[0], jobs[2], answered]:
        assert job is not None and queue.enqueue(job)
    pool = WorkerPool(settings, model, size=1, scan_enabled=False).start()
    try:
        assert wait_for(lambda: queue.pending() == 0, timeout=60, tick=pool.check)
    finally:
        pool.stop()
        queue.close()
    assert count_tickets(db_url) == 0
    assert [f.uniqueid for f in failed_jobs(settings)] == ["92.3"]
    listed = abandoned_calls(settings)
    assert sorted(c["uniqueid"] for c in listed) == ["92.1", "92.2"]
    by_id = {c["uniqueid"]: c for c in listed}
    assert by_id["92.1"]["caller"] == "139****9000" and by_id["92.1"]["dialled"] == "12315"

    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE12345_")}
    env.update(HOTLINE12345_DATA_DIR=str(tmp_path / "data"), HOTLINE12345_DATABASE_URL=db_url)
    out = subprocess.run([*CLI, "jobs", "abandoned"], capture_output=True, text=True,
                         timeout=120, env=env)
    assert out.returncode == 0, out.stderr
    assert "92.1\t" in out.stdout and "caller=139****9000" in out.stdout
    assert "13900139000" not in out.stdout
    assert "2 abandoned calls" in out.stderr
