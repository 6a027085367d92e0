"""Which AMI events become recording jobs, through the real JobSink and queue: only the calls
hotline12345's dialplan recorded, never the other traffic of the host; and the sink writes
its jobs in batches, not one transaction each."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.engine import Engine

from hotline12345.recordings.api import JobSink
from hotline12345.recordings.models import RecordingJobRow
from hotline12345.recordings.naming import RECORDING_USEREVENT
from hotline12345.recordings.settings import RecordingSettings
from tests.recordings.ami import capture_events
from tests.recordings.conftest import REDIS_URL, base_settings, sessions_for

CAPTURED = capture_events("ami-queue-call.raw")
PLAIN = capture_events("ami-agi-call.raw")  # a call the product did not record


def _captured(kind: str, uniqueid: str, source: list[dict[str, str]] = CAPTURED
              ) -> dict[str, str]:
    return dict(next(e for e in source if e["Event"] == kind and e.get("Uniqueid") == uniqueid))


def recorded_call(uniqueid: str, recordings: Path, user_event: bool = True
                  ) -> list[dict[str, str]]:
    """What the rendered dialplan makes Asterisk send for a recorded call: the captured
    call's own events with a new uniqueid, its MixMonitor writing under ``recordings``, then
    the hangup handler's StopMixMonitor and UserEvent, then the Hangup."""
    ids = {"Uniqueid": uniqueid, "Linkedid": uniqueid}
    varset = next(e for e in CAPTURED if e.get("Variable") == "MIXMONITOR_FILENAME")
    start = _captured("MixMonitorStart", "1795849881.4")
    events = [{**varset, **ids, "Value": f"{recordings}/{uniqueid}.wav"},
              {**start, **ids},
              {**start, **ids, "Event": "MixMonitorStop"}]
    if user_event:
        events.append({"Event": "UserEvent", "UserEvent": RECORDING_USEREVENT,
                       "Privilege": "user,all", **ids, "Base": uniqueid, "Dialled": "12315",
                       "Queue": "q-general", "Seat": "PJSIP/8001"})
    events.append({**_captured("Hangup", "1795849881.4"), **ids})
    return events


def plain_hangups(count: int) -> Iterator[dict[str, str]]:
    """Calls through a context the product does not render: each the captured plain call's
    first-channel events (Newchannel ... Hangup) with its own uniqueid."""
    first = PLAIN[0].get("Uniqueid", "")
    own = [e for e in PLAIN if e.get("Uniqueid") == first or e["Event"] == "Hangup"]
    assert any(e["Event"] == "Hangup" for e in own)
    for i in range(count):
        uid = f"1795860000.{i}"
        for e in own:
            yield {**e, "Uniqueid": uid, "Linkedid": uid}


@pytest.fixture(params=["sql", "redis"])
def queue_kw(request: pytest.FixtureRequest) -> dict[str, str]:
    if request.param == "redis":
        return {"redis_url": REDIS_URL, "redis_prefix": request.getfixturevalue("redis_prefix")}
    return {}


def _sql_jobs(url: str) -> list[str]:
    sessions = sessions_for(url)
    with sessions() as s:
        ids = sorted(s.scalars(select(RecordingJobRow.uniqueid)))
    sessions.kw["bind"].dispose()
    return ids


def test_only_recorded_calls_become_jobs(db_url: str, tmp_path: Path,
                                         queue_kw: dict[str, str]) -> None:
    rec = tmp_path / "recordings"
    settings = base_settings(db_url, rec, **queue_kw)
    sink = JobSink(settings)
    recorded = [f"1795870000.{i}" for i in range(20)]
    try:
        for event_ in CAPTURED + PLAIN:  # the captured calls record elsewhere / not at all
            sink.handle_event(dict(event_))
        for i, uid in enumerate(recorded):
            for event_ in recorded_call(uid, rec, user_event=i % 2 == 0):
                sink.handle_event(event_)
        for event_ in plain_hangups(1800):
            sink.handle_event(event_)
        assert sink.flush(60)
    finally:
        sink.close()
    assert sink.enqueued == len(recorded) and sink.dropped == 0
    if not queue_kw:
        assert _sql_jobs(db_url) == sorted(recorded)
    else:
        from hotline12345.recordings.worker import queue_for

        with queue_for(settings) as queue:
            assert queue.pending() == len(recorded)
            assert all(queue.known(uid) for uid in recorded)
            assert not queue.known("1795849881.4") and not queue.known("1795849847.2")
            assert not queue.known("1795860000.0")


def sink_commits(settings: RecordingSettings, rec: Path, uniqueids: list[str],
                 **options: Any) -> tuple[JobSink, int]:
    """Report one recorded call per uniqueid to a JobSink; the sink and the number of
    transactions committed until its flush."""
    commits: list[object] = []

    def count(conn: object) -> None:
        commits.append(conn)

    event.listen(Engine, "commit", count)
    try:
        sink = JobSink(settings, **options)
        try:
            for uid in uniqueids:
                for event_ in recorded_call(uid, rec):
                    sink.handle_event(event_)
            assert sink.flush(60)
        finally:
            sink.close()
    finally:
        event.remove(Engine, "commit", count)
    return sink, len(commits)


def test_the_sink_batches_its_writes(sqlite_url: str, tmp_path: Path) -> None:
    """1,000 recorded calls reported in a burst: far fewer transactions than jobs (one per
    job before)."""
    rec = tmp_path / "recordings"
    sink, commits = sink_commits(base_settings(sqlite_url, rec), rec,
                                 [f"1795880000.{i}" for i in range(1000)])
    assert sink.enqueued == 1000
    assert commits < 1000 / 10, f"{commits} transactions for 1000 jobs"
    sessions = sessions_for(sqlite_url)
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(RecordingJobRow)) == 1000
    sessions.kw["bind"].dispose()


def test_the_sink_lingers_so_calls_at_a_steady_rate_share_a_transaction(
        sqlite_url: str, tmp_path: Path) -> None:
    """Calls that end one after another (not in a burst) still share one transaction: the
    writer lingers for more jobs (60 s: longer than the test), and flush() cuts it short."""
    rec = tmp_path / "recordings"
    sink, commits = sink_commits(base_settings(sqlite_url, rec), rec,
                                 [f"1795890000.{i}" for i in range(20)], linger_s=60)
    assert sink.enqueued == 20
    assert commits == 1, f"{commits} transactions for 20 calls"
