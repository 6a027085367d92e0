"""The commands: ``transcribe`` (progress, resume, failure summary), ``worker`` (scan,
SIGTERM), ``tickets show``, ``db upgrade``; and the pool ``serve`` starts."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from hotline12345.recordings.settings import RecordingSettings
from hotline12345.recordings.vosk_model import ModelError
from hotline12345.recordings.worker import start_embedded_pool
from tests.recordings.conftest import (
    Speech,
    count_tickets,
    ko_model_path,
    make_call,
    wait_for,
    write_wav,
)

CLI = [sys.executable, "-m", "hotline12345.cli"]


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE12345_")}
    env.update(HOTLINE12345_DATA_DIR=str(tmp_path / "data"), **extra)
    return env


def test_transcribe_shows_progress_resumes_and_summarises_failures(speech: Speech,
                                                                  tmp_path: Path) -> None:
    old = tmp_path / "old"
    files = make_call(old, "90.1", speech)
    legacy = write_wav(old / "录音 2019-05-01.wav", speech.caller)  # not named by uniqueid
    stereo = write_wav(old / "90.2.wav", b"\0\0\0\0" * 8000, channels=2)
    args = [*CLI, "transcribe", "--model", str(ko_model_path()), "--workers", "2"]
    first = subprocess.run([*args, *map(str, files.values()), str(legacy), str(stereo)],
                           capture_output=True, text=True, timeout=180, env=_env(tmp_path))
    assert first.returncode == 1, first.stderr
    assert "transcribe: 100%" in first.stderr and "3/3" in first.stderr  # the progress bar
    assert "3 calls: 2 transcribed, 0 already had a ticket, 1 failed" in first.stdout
    assert f"90.2: {stereo}: stereo" in first.stdout
    assert "--retry-failed" in first.stdout
    db = f"sqlite:///{tmp_path / 'data' / 'hotline12345.sqlite3'}"
    assert count_tickets(db) == 2

    more = write_wav(old / "90.3.wav", speech.seat)
    second = subprocess.run([*args, "--no-progress", *map(str, files.values()), str(legacy),
                             str(stereo), str(more)],
                            capture_output=True, text=True, timeout=180, env=_env(tmp_path))
    assert "4 calls: 1 transcribed, 2 already had a ticket, 1 failed" in second.stdout
    assert "transcribe:" not in second.stderr
    assert count_tickets(db) == 3

    show = subprocess.run([*CLI, "tickets", "show", "90.1"], capture_output=True, text=True,
                          timeout=60, env=_env(tmp_path))
    view = json.loads(show.stdout)
    assert view["state"] == "受理" and view["uniqueid"] == "90.1"
    assert {u["speaker"] for u in view["dialogue"]} == {"来电人", "坐席"}


def test_transcribe_with_a_missing_model_or_file(tmp_path: Path, speech: Speech) -> None:
    wav = write_wav(tmp_path / "1.1.wav", speech.caller)
    out = subprocess.run([*CLI, "transcribe", "--model", str(tmp_path / "no-model"), str(wav)],
                         capture_output=True, text=True, timeout=60, env=_env(tmp_path))
    assert out.returncode == 2
    assert f"Vosk model {tmp_path / 'no-model'}: directory not found" in out.stderr
    assert "never downloaded" in out.stderr
    out = subprocess.run([*CLI, "transcribe", str(tmp_path / "nope.wav")], capture_output=True,
                         text=True, timeout=60, env=_env(tmp_path))
    assert out.returncode == 2 and f"{tmp_path / 'nope.wav'}: file not found" in out.stderr


def _tickets_once_migrated(url: str) -> int:
    """Tickets in a database the worker is still creating: none until its migration is in
    (the file appears before the tables, and the migration holds the write lock)."""
    from sqlalchemy.exc import OperationalError

    if not Path(url.removeprefix("sqlite:///")).exists():
        return 0
    try:
        return count_tickets(url)
    except OperationalError:  # no such table yet, or database is locked
        return 0


def test_worker_scans_transcribes_and_stops_on_sigterm(speech: Speech, tmp_path: Path) -> None:
    rec = tmp_path / "data" / "recordings"
    make_call(rec, "91.1", speech)
    db = f"sqlite:///{tmp_path / 'data' / 'hotline12345.sqlite3'}"
    proc = subprocess.Popen([*CLI, "worker", "--workers", "1"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            env=_env(tmp_path, HOTLINE12345_VOSK_MODEL=str(ko_model_path())))
    try:
        assert wait_for(lambda: _tickets_once_migrated(db) == 1, timeout=90, every=0.3)
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGTERM, err  # dies of the signal (a clean stop)
    assert "hotline12345 worker: stopped by SIGTERM; 0 job(s) in progress went back" in err
    assert '"event": "recordings.ticket"' in err and '"uniqueid": "91.1"' in err

    out = subprocess.run([*CLI, "worker"], capture_output=True, text=True, timeout=60,
                         env=_env(tmp_path))
    assert out.returncode == 2 and "no Vosk model configured" in out.stderr


def test_db_upgrade(tmp_path: Path) -> None:
    out = subprocess.run([*CLI, "db", "upgrade"], capture_output=True, text=True, timeout=60,
                         env=_env(tmp_path))
    assert out.returncode == 0 and "schema up to date" in out.stdout


def test_the_pool_serve_starts(speech: Speech, tmp_path: Path,
                               caplog: pytest.LogCaptureFixture) -> None:
    db = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    from hotline12345.db.migrate import upgrade

    upgrade(db)
    rec = tmp_path / "recordings"
    make_call(rec, "92.1", speech, legs=False)
    settings = RecordingSettings(database_url=db, recordings_dir=rec, language="ko")
    with caplog.at_level(logging.WARNING):
        assert start_embedded_pool(settings) is None  # no model configured: calls still routed
    [disabled] = [r for r in caplog.records if r.getMessage() == "recordings.pool.disabled"]
    fields = disabled.fields  # type: ignore[attr-defined]
    assert fields["recordings_dir"] == str(rec)
    assert "no transcription worker and no directory scan" in fields["hint"]
    assert "no recording becomes a ticket here" in fields["hint"]
    assert "wait in the job queue" in fields["hint"] and "hotline12345 worker" in fields["hint"]
    assert fields["queue"] == "(none: SQL job queue)"
    assert count_tickets(db) == 0
    with pytest.raises(ModelError, match="directory not found"):
        start_embedded_pool(RecordingSettings(database_url=db, recordings_dir=rec,
                                              model_path=str(tmp_path / "none")))
    broken = tmp_path / "broken"
    (broken / "am").mkdir(parents=True)
    (broken / "conf").mkdir()
    (broken / "graph").mkdir()
    (broken / "am" / "final.mdl").write_bytes(b"not a model")
    (broken / "conf" / "mfcc.conf").write_text("--allow-upsample=true\n")
    (broken / "graph" / "HCLG.fst").write_bytes(b"not a graph")
    with pytest.raises(ModelError, match="Vosk could not load it"):
        start_embedded_pool(RecordingSettings(database_url=db, recordings_dir=rec,
                                              model_path=str(broken)))
    pool = start_embedded_pool(RecordingSettings(database_url=db, recordings_dir=rec,
                                                 model_path=str(ko_model_path()),
                                                 language="ko"))
    assert pool is not None
    try:
        assert wait_for(lambda: count_tickets(db) == 1, timeout=60, every=0.2)
    finally:
        pool.stop()
    assert not pool.proc.is_alive() and pool.proc.exitcode == 0


def test_serve_refuses_to_start_with_a_broken_model(tmp_path: Path) -> None:
    out = subprocess.run([*CLI, "serve", "--agi-port", "0", "--http-port", "0"],
                         capture_output=True, text=True, timeout=60,
                         env=_env(tmp_path, HOTLINE12345_VOSK_MODEL=str(tmp_path / "gone")))
    assert out.returncode == 2
    assert f"hotline12345 serve: Vosk model {tmp_path / 'gone'}: directory not found" in out.stderr


def test_read_only_commands_do_not_migrate(tmp_path: Path) -> None:
    database = tmp_path / "data" / "hotline12345.sqlite3"
    for command in (["jobs", "failed"], ["tickets", "show", "1.1"]):
        out = subprocess.run([*CLI, *command], capture_output=True, text=True, timeout=60,
                             env=_env(tmp_path))
        assert out.returncode == 2, out.stderr
        assert f"hotline12345 {' '.join(command[:2])}: no database at {database}" in out.stderr
        assert "hotline12345 db upgrade" in out.stderr
        assert not database.exists(), "a read-only command created the database"

    database.touch()  # a database without the schema
    out = subprocess.run([*CLI, "jobs", "failed"], capture_output=True, text=True, timeout=60,
                         env=_env(tmp_path))
    assert out.returncode == 2
    assert "has no hotline12345 schema; create it with: hotline12345 db upgrade" in out.stderr
    from hotline12345.db.migrate import current_revision

    assert current_revision(f"sqlite:///{database}") is None  # still nothing created

    assert subprocess.run([*CLI, "db", "upgrade"], capture_output=True, timeout=60,
                          env=_env(tmp_path)).returncode == 0
    out = subprocess.run([*CLI, "jobs", "failed"], capture_output=True, text=True, timeout=60,
                         env=_env(tmp_path))
    assert out.returncode == 0 and "0 failed jobs" in out.stderr


def test_tickets_show_masks_the_callers_number_and_name(tmp_path: Path) -> None:
    from hotline12345.db.engine import make_engine
    from hotline12345.db.migrate import upgrade
    from hotline12345.tickets.store import TicketDraft, save_ticket

    url = f"sqlite:///{tmp_path / 'data' / 'hotline12345.sqlite3'}"
    (tmp_path / "data").mkdir()
    upgrade(url)
    engine = make_engine(url)
    with Session(engine) as s, s.begin():
        save_ticket(s, TicketDraft(uniqueid="1.2", caller="13900139000", caller_name="王小明"))
    engine.dispose()
    out = subprocess.run([*CLI, "tickets", "show", "1.2"], capture_output=True, text=True,
                         timeout=60, env=_env(tmp_path))
    assert out.returncode == 0, out.stderr
    view = json.loads(out.stdout)
    assert (view["caller"], view["caller_name"]) == ("139****9000", "王**")
    assert "13900139000" not in out.stdout and "王小明" not in out.stdout
