"""Finding finished recordings from AMI events (replaying the real Asterisk 22 captures),
the job format, and the file-naming convention."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hotline12345.recordings.jobs import (
    JobError,
    RecordingEvents,
    RecordingJob,
    job_from_event,
)
from hotline12345.recordings.naming import (
    LEG_SUFFIXES,
    RECORDING_USEREVENT,
    Leg,
    file_name,
    leg_paths,
    mixmonitor_args,
    parse_name,
)
from tests.recordings.ami import capture_events


def _event(name: str, kind: str, uniqueid: str | None = None) -> dict[str, str]:
    found = [e for e in capture_events(name) if e["Event"] == kind
             and (uniqueid is None or e.get("Uniqueid") == uniqueid)]
    assert found, f"{kind} not in {name}"
    return dict(found[-1])


CAPTURE_MONITOR = "/var/spool/asterisk/monitor"  # where the captured call's MixMonitor wrote


def test_queue_call_capture_yields_one_job_with_queue_seat_and_file() -> None:
    """ami-queue-call.raw: MixMonitor writes under the recordings directory, the call hangs
    up with it running (Asterisk 22 raises no MixMonitorStop then): one job, at the Hangup."""
    events = RecordingEvents(CAPTURE_MONITOR)
    jobs = [j for e in capture_events("ami-queue-call.raw") if (j := events.handle(e, now=1.0))]
    assert len(jobs) == 1
    job = jobs[0]
    assert job.uniqueid == "1795849881.4"  # the channel MixMonitor ran on
    assert job.source == "ami:MixMonitor"
    assert job.files == {"mixed": "/var/spool/asterisk/monitor/rec-1795849881.4.wav"}
    assert job.meta == {"caller": "13900139000", "caller_name": "王五", "queue": "q-general",
                        "seat": "Agent One"}
    assert events._calls == {}  # every channel forgotten at its Hangup


def test_a_mixmonitor_outside_the_recordings_directory_is_someone_elses() -> None:
    """The same capture on a host whose hotline12345 records elsewhere: no job."""
    for directory in ("/srv/hotline12345/recordings", "/var/spool/asterisk/monitor/hotline",
                      "/var/spool/asterisk/mon", None):
        events = RecordingEvents(directory)
        assert [e for e in capture_events("ami-queue-call.raw") if events.handle(e)] == []


def test_a_call_the_product_did_not_record_makes_no_job() -> None:
    """ami-agi-call.raw: a call through a plain context, never recorded; its first channel's
    Hangup (Uniqueid == Linkedid) made a job before."""
    hangups = [e for e in capture_events("ami-agi-call.raw") if e["Event"] == "Hangup"]
    assert len(hangups) == 2 and hangups[1]["Uniqueid"] == hangups[1]["Linkedid"]
    assert [job_from_event(e) for e in hangups] == [None, None]
    events = RecordingEvents(CAPTURE_MONITOR)
    assert [e for e in capture_events("ami-agi-call.raw") if events.handle(e)] == []
    assert events._calls == {}


def test_synthesized_hangups_of_other_traffic_make_no_job() -> None:
    """1,800 calls through an Answer/Hangup context the product does not render: each one
    the captured caller's Hangup with its own uniqueid."""
    template = _event("ami-agi-call.raw", "Hangup", "1795849847.2")
    events = RecordingEvents(CAPTURE_MONITOR)
    for i in range(1800):
        uid = f"1795850000.{i}"
        for kind in ("Newchannel", "Newstate", "HangupRequest", "Hangup"):
            assert events.handle({**template, "Event": kind, "Uniqueid": uid,
                                  "Linkedid": uid, "Context": "plain"}) is None
    # and a MixMonitorStop of a channel whose file is not ours
    stop = {**_event("ami-queue-call.raw", "MixMonitorStart"), "Event": "MixMonitorStop",
            "Uniqueid": "1795850000.9999", "Linkedid": "1795850000.9999"}
    assert events.handle(stop) is None
    assert events.handle({**stop, "Event": "Hangup"}) is None
    assert events._calls == {} and events._emitted == {}


def test_mixmonitor_stop_and_user_event_and_dedup() -> None:
    start = _event("ami-queue-call.raw", "MixMonitorStart")
    filename = next(e for e in capture_events("ami-queue-call.raw")
                    if e.get("Variable") == "MIXMONITOR_FILENAME")
    stop = {**start, "Event": "MixMonitorStop"}  # same headers as MixMonitorStart
    assert job_from_event(stop) is None  # a stop alone does not say whose file it was

    user = {"Event": "UserEvent", "UserEvent": RECORDING_USEREVENT, "Uniqueid": "1795849881.4",
            "Channel": "Local/s@caller2-00000002;1", "CallerIDNum": "13900139000",
            "Queue": "market", "Seat": "PJSIP/8001", "Dialled": "12315",
            "LegacyNumber": "12315", "LegacyMode": "双号并行"}
    job = job_from_event(user)
    assert job is not None and job.source == "ami:UserEvent"
    assert job.meta == {"caller": "13900139000", "queue": "market", "seat": "PJSIP/8001",
                        "dialled": "12315", "legacy_number": "12315", "legacy_mode": "双号并行"}
    assert job_from_event({**user, "UserEvent": "SomethingElse"}) is None

    # as the rendered hangup handler does: StopMixMonitor, then the UserEvent, then Hangup
    events = RecordingEvents(CAPTURE_MONITOR)
    hangup = _event("ami-queue-call.raw", "Hangup", "1795849881.4")
    assert events.handle(filename) is None and events.handle(start) is None
    assert events.handle(stop) is None  # wait for the UserEvent and its facts
    first = events.handle(user)
    assert first is not None and first.meta["legacy_mode"] == "双号并行"
    assert first.files == {"mixed": "/var/spool/asterisk/monitor/rec-1795849881.4.wav"}
    assert events.handle(hangup) is None  # already reported
    assert events.handle(stop) is None

    # a dialplan without the UserEvent: the Hangup after MixMonitorStop reports the call
    events = RecordingEvents(CAPTURE_MONITOR)
    assert events.handle(filename) is None and events.handle(stop) is None
    job = events.handle(hangup)
    assert job is not None and job.source == "ami:MixMonitor" and job.uniqueid == "1795849881.4"

    # the UserEvent alone (the monitor connected after MixMonitor started) is enough
    events = RecordingEvents(CAPTURE_MONITOR)
    assert events.handle(user) is not None and events.handle(hangup) is None


def test_rendered_user_event_with_its_own_file_name() -> None:
    """``Base`` names the files when HOTLINE_REC is not the uniqueid."""
    user = {"Event": "UserEvent", "UserEvent": RECORDING_USEREVENT, "Uniqueid": "1.2",
            "Base": "rec-1.2", "Dialled": "12366", "LegacyNumber": "12366",
            "LegacyMode": "sub_centre", "Route": "sub_centre", "Queue": "", "Seat": ""}
    job = job_from_event(user)
    assert job is not None
    assert job.files == {"mixed": "rec-1.2.wav", "caller": "rec-1.2-caller.wav",
                         "seat": "rec-1.2-seat.wav"}
    assert job.meta == {"dialled": "12366", "legacy_number": "12366",
                        "legacy_mode": "sub_centre", "route": "sub_centre"}
    from hotline12345.recordings.pipeline import mode_value

    assert mode_value("sub_centre") == "设分中心" and mode_value("双号并行") == "双号并行"
    assert job_from_event({**user, "Base": "1.2"}).files == {}  # type: ignore[union-attr]


@pytest.mark.parametrize("uniqueid", ["../../etc/passwd", "a b", "", "x" * 200])
def test_uniqueids_that_are_no_file_names_are_ignored(uniqueid: str) -> None:
    events = RecordingEvents("/rec")
    for event in ({"Event": "VarSet", "Variable": "MIXMONITOR_FILENAME", "Value": "/rec/x.wav"},
                  {"Event": "MixMonitorStop"}, {"Event": "Hangup"},
                  {"Event": "UserEvent", "UserEvent": RECORDING_USEREVENT}):
        assert events.handle({**event, "Uniqueid": uniqueid, "Linkedid": uniqueid}) is None


def test_unknown_callerid_is_not_a_caller() -> None:
    user = {"Event": "UserEvent", "UserEvent": RECORDING_USEREVENT, "Uniqueid": "1.1",
            "CallerIDNum": "unknown", "CallerIDName": "<unknown>"}
    job = job_from_event(user)
    assert job is not None and job.meta == {}


def test_state_is_bounded() -> None:
    events = RecordingEvents("/rec", max_calls=10)
    for i in range(100):
        events.handle({"Event": "VarSet", "Variable": "MIXMONITOR_FILENAME",
                       "Value": f"/rec/1.{i}.wav", "Uniqueid": f"1.{i}"})
    assert len(events._calls) <= 10


def test_job_json_round_trip_keeps_chinese() -> None:
    job = RecordingJob("1795849881.4", "scan", files={"caller": "a-caller.wav"},
                       meta={"caller_name": "王五"}, created_at=12.5)
    text = job.to_json()
    assert "王五" in text
    assert RecordingJob.from_json(text) == job
    with pytest.raises(JobError, match="unreadable job payload"):
        RecordingJob.from_json("{not json")
    with pytest.raises(JobError):
        RecordingJob.from_json('{"source": "scan"}')


def test_naming_convention(tmp_path: Path) -> None:
    assert LEG_SUFFIXES == {Leg.MIXED: "", Leg.CALLER: "-caller", Leg.SEAT: "-seat"}
    assert file_name("1795849881.4", Leg.CALLER) == "1795849881.4-caller.wav"
    assert mixmonitor_args("/var/spool/asterisk/monitor/") == (
        "/var/spool/asterisk/monitor/${UNIQUEID}.wav,"
        "r(/var/spool/asterisk/monitor/${UNIQUEID}-caller.wav)"
        "t(/var/spool/asterisk/monitor/${UNIQUEID}-seat.wav)")
    name = parse_name("/x/pbx1-1795849881.4-seat.gsm")
    assert name is not None and (name.uniqueid, name.leg, name.ext) == (
        "pbx1-1795849881.4", Leg.SEAT, "gsm")
    assert parse_name("1795849881.4.mp3") is None
    assert parse_name("rec 1.wav") is None
    for leg in Leg:
        (tmp_path / file_name("9.9", leg, "sln")).write_bytes(b"\0\0")
    (tmp_path / "9.9.wav").write_bytes(b"")  # wav is preferred
    found = leg_paths(tmp_path, "9.9")
    assert {leg: p.name for leg, p in found.items()} == {
        Leg.MIXED: "9.9.wav", Leg.CALLER: "9.9-caller.sln", Leg.SEAT: "9.9-seat.sln"}
    assert os.path.basename(found[Leg.MIXED]) == "9.9.wav"
