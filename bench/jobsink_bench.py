"""Recording-job enqueue benchmark: AMI events in, jobs in the SQL queue out (SQLite, the
embedded default), as ``hotline12345 serve``'s AMI listener runs it.

The events: ``--recorded`` calls as the rendered dialplan reports them (MIXMONITOR_FILENAME
under the recordings directory, MixMonitorStart, MixMonitorStop, the HotlineRecording
UserEvent, Hangup) and ``--plain`` calls through a context the product does not render
(Newchannel, Newstate, HangupRequest, Hangup), interleaved; built from the real Asterisk 22
capture ``ami-queue-call.raw`` with new uniqueids.

1. **per-job** (the baseline: what ``JobSink`` did before): the same events through
   :class:`RecordingEvents`, each job enqueued with ``SqlJobQueue.enqueue``, one ORM
   transaction per job;
2. **sink**: ``JobSink.handle_event`` for every event, then ``flush()``: jobs are written by
   the sink's thread in batches (``enqueue_many``).

Each on a fresh database, ``--rounds`` times alternately; figures are medians. Printed:
jobs/s (wall, from the first event until the jobs are committed), CPU µs per AMI event
(user + system of the whole process) and transactions per job. The jobs each variant makes
from the plain calls are counted too (the previous rule, a job per first-channel Hangup,
would have made one per plain call). The last line is
``sink_jobs_per_s=… per_job_jobs_per_s=… ratio=… cpu_us_per_event=… plain_jobs=…``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.engine import Engine

from hotline12345.db.migrate import upgrade
from hotline12345.recordings.api import JobSink
from hotline12345.recordings.jobs import RecordingEvents
from hotline12345.recordings.naming import RECORDING_USEREVENT
from hotline12345.recordings.queue import SqlJobQueue
from hotline12345.recordings.settings import RecordingSettings
from hotline12345.recordings.worker import dispose_sessions, make_sessions

CAPTURES = Path(os.environ.get("HOTLINE12345_CAPTURES",
                               Path(__file__).resolve().parents[2] / "shared"
                               / "asterisk-22-captures"))


def _frames(name: str) -> list[dict[str, str]]:
    events = []
    for block in (CAPTURES / name).read_bytes().decode("utf-8").split("\r\n\r\n"):
        fields: dict[str, str] = {}
        for line in block.split("\r\n"):
            key, sep, value = line.partition(": ")
            if sep:
                fields.setdefault(key, value)
        if "Event" in fields:
            events.append(fields)
    return events


def make_events(recorded: int, plain: int, recordings: Path) -> list[dict[str, str]]:
    captured = _frames("ami-queue-call.raw")
    varset = next(e for e in captured if e.get("Variable") == "MIXMONITOR_FILENAME")
    start = next(e for e in captured if e["Event"] == "MixMonitorStart")
    hangup = next(e for e in captured if e["Event"] == "Hangup"
                  and e["Uniqueid"] == e["Linkedid"])
    out: list[dict[str, str]] = []
    for i in range(max(recorded, plain)):
        if i < recorded:
            uid = f"1795900000.{i}"
            ids = {"Uniqueid": uid, "Linkedid": uid}
            out += [{**varset, **ids, "Value": f"{recordings}/{uid}.wav"}, {**start, **ids},
                    {**start, **ids, "Event": "MixMonitorStop"},
                    {"Event": "UserEvent", "UserEvent": RECORDING_USEREVENT, **ids,
                     "Base": uid, "Queue": "q-general", "Seat": "PJSIP/8001"},
                    {**hangup, **ids}]
        if i < plain:
            uid = f"1795910000.{i}"
            ids = {"Uniqueid": uid, "Linkedid": uid, "Context": "plain"}
            out += [{**hangup, **ids, "Event": kind}
                    for kind in ("Newchannel", "Newstate", "HangupRequest", "Hangup")]
    return out


def _settings(work: Path) -> RecordingSettings:
    url = f"sqlite:///{work / 'hotline12345.sqlite3'}"
    upgrade(url)
    return RecordingSettings(database_url=url, recordings_dir=work / "recordings")


def _cpu() -> float:
    t = os.times()
    return t.user + t.system


def run_per_job(events: list[dict[str, str]], work: Path) -> tuple[float, float, int, int]:
    settings = _settings(work)
    sessions = make_sessions(settings)
    queue = SqlJobQueue(sessions, settings.policy)
    queue.pending()  # connect before the clock starts, as the sink does
    found = RecordingEvents(settings.recordings_dir)
    jobs = 0
    wall, cpu = time.perf_counter(), _cpu()
    for e in events:
        job = found.handle(e)
        if job is not None and queue.enqueue(job):
            jobs += 1
    wall, cpu = time.perf_counter() - wall, _cpu() - cpu
    dispose_sessions(sessions)
    return wall, cpu, jobs, jobs


def run_sink(events: list[dict[str, str]], work: Path) -> tuple[float, float, int, int]:
    settings = _settings(work)
    sink = JobSink(settings)
    wall, cpu = time.perf_counter(), _cpu()
    for e in events:
        sink.handle_event(e)
    if not sink.flush(600):
        sys.exit("the sink did not flush within 600 s")
    wall, cpu = time.perf_counter() - wall, _cpu() - cpu
    sink.close()
    return wall, cpu, sink.enqueued, sink.enqueued


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--recorded", type=int, default=2000)
    ap.add_argument("--plain", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    commits: list[int] = [0]

    def count(_conn: object) -> None:
        commits[0] += 1

    event.listen(Engine, "commit", count)
    results: dict[str, list[tuple[float, float, int, int]]] = {"per-job": [], "sink": []}
    with tempfile.TemporaryDirectory() as tmp:
        events = make_events(args.recorded, args.plain, Path(tmp) / "r" / "recordings")
        for n in range(args.rounds):
            for name, fn in (("per-job", run_per_job), ("sink", run_sink))[:: 1 if n % 2 == 0
                                                                           else -1]:
                work = Path(tmp) / f"{name}-{n}"
                work.mkdir()
                before = commits[0]
                wall, cpu, jobs, _ = fn(events, work)
                results[name].append((wall, cpu, jobs, commits[0] - before))
    figures: dict[str, tuple[float, float, float, int]] = {}
    for name, rows in results.items():
        jobs_per_s = statistics.median(r[2] / r[0] for r in rows)
        cpu_us = statistics.median(r[1] / len(events) * 1e6 for r in rows)
        tx_per_job = statistics.median(r[3] / max(1, r[2]) for r in rows)
        jobs = rows[-1][2]
        figures[name] = (jobs_per_s, cpu_us, tx_per_job, jobs)
        print(f"{name:8s} {jobs_per_s:10.0f} jobs/s  {cpu_us:7.1f} µs CPU/event  "
              f"{tx_per_job:6.3f} transactions/job  {jobs} jobs from {args.recorded} recorded "
              f"+ {args.plain} plain calls ({len(events)} events)")
    sink, base = figures["sink"], figures["per-job"]
    plain_jobs = sink[3] - args.recorded
    print(f"ratio sink/per-job: {sink[0] / base[0]:.1f}x jobs/s; "
          f"{base[1] / sink[1]:.1f}x less CPU per event")
    print(f"sink_jobs_per_s={sink[0]:.0f} per_job_jobs_per_s={base[0]:.0f} "
          f"ratio={sink[0] / base[0]:.1f} cpu_us_per_event={sink[1]:.1f} "
          f"plain_jobs={plain_jobs}")


if __name__ == "__main__":
    main()
