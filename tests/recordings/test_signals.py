"""Workers never outlive their command: ``hotline12345 transcribe`` stopped by SIGTERM or
Ctrl-C in mid-decode stops its forked workers, gives the job back to the queue, says so
and exits non-zero; a worker dies with its parent even when the parent is SIGKILLed; and a
running job keeps its lease however long its decode takes (the queue's clock injected)."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from hotline12345.recordings.jobs import RecordingJob
from hotline12345.recordings.models import JobState, RecordingJobRow
from hotline12345.recordings.queue import SqlJobQueue
from hotline12345.recordings.vosk_model import LoadedModel
from hotline12345.recordings.worker import WorkerPool, make_sessions, open_queue
from tests.recordings.conftest import (
    Speech,
    base_settings,
    count_tickets,
    ko_model_path,
    make_call,
    sessions_for,
    silence,
    wait_for,
    write_wav,
)
from tests.recordings.test_crash import _gate, gate_hook

CLI = [sys.executable, "-m", "hotline12345.cli"]


def children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (from /proc)."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[1]) == pid:
            out.append(int(entry.name))
    return out


def alive(pid: int) -> bool:
    """Running, or stopped, but not gone and not a zombie waiting to be reaped."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


@pytest.fixture
def long_call(speech: Speech, tmp_path: Path) -> Path:
    """A call whose decode takes a while (two minutes of speech and pauses)."""
    rec = tmp_path / "old"
    rec.mkdir()
    path = write_wav(rec / "95.1.wav", (speech.caller + silence(0.5)) * 60)
    os.utime(path, (0, 0))
    return path


class Transcribe:
    """``hotline12345 transcribe FILE`` as a subprocess, its log (INFO) in a file."""

    def __init__(self, tmp_path: Path, path: Path, new_session: bool = False) -> None:
        self.log = tmp_path / "transcribe.log"
        self.db = f"sqlite:///{tmp_path / 'data' / 'hotline12345.sqlite3'}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE12345_")}
        env.update(HOTLINE12345_DATA_DIR=str(tmp_path / "data"), HOTLINE12345_LOG_LEVEL="INFO")
        self.proc = subprocess.Popen(
            [*CLI, "transcribe", "--no-progress", "--model", str(ko_model_path()), str(path)],
            stdout=subprocess.PIPE, stderr=self.log.open("w"), text=True, env=env,
            start_new_session=new_session)

    def logged(self, text: str) -> bool:
        return text in self.log.read_text()

    def decoding(self) -> list[int]:
        """Wait until a worker is decoding; its pid and any other worker's."""
        assert wait_for(lambda: self.logged("recordings.job.decoding")
                        or self.proc.poll() is not None, timeout=180), self.log.read_text()
        assert self.proc.poll() is None, self.log.read_text()
        workers = children(self.proc.pid)
        assert workers, "the forked worker"
        return workers

    def finish(self) -> tuple[int, str, str]:
        out, _ = self.proc.communicate(timeout=120)
        return self.proc.returncode, out, self.log.read_text()

    def job(self) -> RecordingJobRow:
        sessions = sessions_for(self.db)
        with sessions() as s:
            row = s.scalars(select(RecordingJobRow)).one()
        sessions.kw["bind"].dispose()
        return row


def _no_orphans(workers: list[int]) -> None:
    assert wait_for(lambda: not any(alive(pid) for pid in workers), timeout=30), (
        f"workers still running: {[pid for pid in workers if alive(pid)]}")


@pytest.mark.parametrize("how", ["SIGTERM", "SIGINT"])
def test_a_stopped_transcribe_stops_its_workers_and_gives_the_job_back(
        long_call: Path, tmp_path: Path, how: str) -> None:
    """SIGTERM to the command (as ``timeout`` sends), or Ctrl-C (SIGINT to the terminal's
    process group: the command and its workers)."""
    run = Transcribe(tmp_path, long_call, new_session=how == "SIGINT")
    workers = run.decoding()
    if how == "SIGTERM":
        run.proc.send_signal(signal.SIGTERM)
    else:
        os.killpg(run.proc.pid, signal.SIGINT)
    code, out, log = run.finish()
    signum = signal.Signals[how]
    assert code == -signum, (code, out, log)  # died of the signal: 128 + n in a shell
    assert "1 calls: 0 transcribed, 0 already had a ticket, 0 failed, 1 not done" in out
    assert (f"interrupted by {how}: the workers stopped; 1 call(s) in progress went back to "
            "the queue, 1 not done (95.1)") in log
    assert "recordings.job.released" in log
    _no_orphans(workers)
    job = run.job()
    assert (job.uniqueid, job.state, job.worker, job.attempts, job.deliveries) == (
        "95.1", JobState.QUEUED, None, 0, 0)
    assert count_tickets(run.db) == 0


def test_a_worker_dies_with_its_parent(long_call: Path, tmp_path: Path) -> None:
    """The command SIGKILLed (no handler runs): the kernel's death signal still stops the
    worker, which gives its job back."""
    run = Transcribe(tmp_path, long_call)
    workers = run.decoding()
    run.proc.kill()
    run.finish()
    _no_orphans(workers)
    assert run.job().state is JobState.QUEUED


class SharedClock:
    """A clock the test moves, read by the forked workers too (shared memory)."""

    def __init__(self, start: float) -> None:
        self.value = multiprocessing.get_context("fork").Value("d", start)

    def __call__(self) -> float:
        return float(self.value.value)

    def advance(self, seconds: float) -> None:
        with self.value.get_lock():
            self.value.value += seconds


@pytest.fixture
def clock() -> Iterator[SharedClock]:
    yield SharedClock(1_000_000.0)


def test_a_lease_shorter_than_the_decode_is_renewed(model: LoadedModel, speech: Speech,
                                                    sqlite_url: str, tmp_path: Path,
                                                    clock: SharedClock) -> None:
    """The worker is held in mid-decode while the clock runs three leases past: its lease
    keeps being renewed, so a second worker is never handed the job."""
    rec = tmp_path / "recordings"
    control = tmp_path / "control"
    make_call(rec, "96.1", speech, legs=False)
    settings = base_settings(sqlite_url, rec, hook=gate_hook(control, "decoding"),
                             clock=clock)
    lease = settings.policy.lease_s
    sessions = make_sessions(settings)
    queue = open_queue(settings, sessions)
    assert isinstance(queue, SqlJobQueue)
    other = SqlJobQueue(sessions, settings.policy, clock=clock)
    gate = _gate(control, "96.1")
    queue.enqueue(RecordingJob("96.1", "ami:UserEvent", meta={"seat": "PJSIP/8001"}))

    def lease_until() -> float | None:
        with sessions() as s:
            return s.scalar(select(RecordingJobRow.lease_until))

    pool = WorkerPool(settings, model, size=1, scan_enabled=False).start()
    try:
        assert wait_for((control / "reached-96.1").exists, timeout=60, tick=pool.check)
        for _ in range(6):  # 6 half leases: three leases of clock time
            clock.advance(lease / 2)
            assert wait_for(lambda: lease_until() == clock() + lease, timeout=30), (
                "the lease was not renewed", lease_until(), clock())
            assert other.claim("second-worker", block_s=0.0) is None
        gate.unlink()
        assert wait_for(lambda: count_tickets(sqlite_url, "96.1") == 1 and queue.pending() == 0,
                        timeout=60, tick=pool.check)
    finally:
        pool.stop()
        queue.close()
    with sessions() as s:
        row = s.scalars(select(RecordingJobRow)).one()
    assert (row.state, row.deliveries) == (JobState.DONE, 1)
    sessions.kw["bind"].dispose()
