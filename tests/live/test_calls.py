"""Whole calls on the real Asterisk: the three-way linkage call (三方通话), overflow (多援一)
and the survey (好差评).

The long scenarios (a caller left alone in a three-way call, which the watchdog frees only
after the target's ring time; overflow to a sub-centre that rings out) start together in one
module fixture, so that their waits overlap; each test then waits for its own outcome.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.live.ami import Ami, AmiMessage
from tests.live.harness import Call, Controller, Phones, eventually

pytestmark = pytest.mark.live

THREE_WAY = "90004"  # the test site's rule: three-way to Local/96000@live-targets (answers)
THREE_WAY_SILENT = "90003"  # the test site's three-way target that never answers
OVERFLOW_TO_QUEUE = "90001"  # ov-queue, after 3 s to backup
OVERFLOW_TO_CENTRE = "90002"  # ov-centre, after 3 s to silent-centre (never answers)
SURVEYED = "12315"  # 双号并行 -> queue market


def seat_interface(n: str) -> str:
    return f"Local/{n}@live-seats/n"


@dataclass
class Seat:
    queue: str
    interface: str


@pytest.fixture
def seat(request: pytest.FixtureRequest, ami: Ami) -> Iterator[Seat]:
    """A seat logged in to a queue over AMI (QueueAdd), logged out afterwards."""
    queue, number = request.param
    s = Seat(queue, seat_interface(number))
    ami.action("QueueAdd", Queue=queue, Interface=s.interface, MemberName=f"座席{number}")
    yield s
    ami.action("QueueRemove", Queue=queue, Interface=s.interface, check=False)


def conf_of(call: Call) -> str:
    return f"hotline12345-{call.uniqueid}"


def joined(ami: Ami, conf: str, prefix: str, since: int, timeout: float = 30.0) -> AmiMessage:
    return ami.wait(lambda e: e.name == "ConfbridgeJoin" and e.get("Conference") == conf
                    and e.get("Channel").startswith(prefix), since=since, timeout=timeout,
                    what=f"{prefix} joining {conf}")


@pytest.mark.parametrize("seat", [("q-general", "1001")], indirect=True)
def test_three_way_target_and_seat_join_and_the_ticket_names_that_seat(
        ami: Ami, phones: Phones, controller: Controller, seat: Seat) -> None:
    mark = ami.mark()
    call = phones.call(THREE_WAY)
    conf = conf_of(call)
    try:
        caller = joined(ami, conf, "Local/90004@hotline12345-from-telecom", mark)
        assert caller.get("Uniqueid") == call.uniqueid
        joined(ami, conf, "Local/96000@live-targets", mark)  # the linkage target
        seat_leg = joined(ami, conf, "Local/seat@hotline12345-3way-seat", mark)  # the seat
        # the seat that took the queue call is the one written for the ticket
        connect = ami.wait(lambda e: e.name == "AgentConnect" and e.get("Queue") == "q-general"
                           and e.get("Interface") == seat.interface, since=mark,
                           what="the seat answering")
        assert connect.get("Interface") == seat.interface
        phones.hangup_phone(call)  # the caller hangs up: the conference ends for everyone
        ami.wait(lambda e: e.name == "ConfbridgeEnd" and e.get("Conference") == conf,
                 since=mark, what="the conference ending")
        ami.wait(lambda e: e.name == "Hangup" and e.get("Channel") == seat_leg.get("Channel"),
                 since=mark, what="the seat leg hung up")
        recording = ami.wait(lambda e: e.name == "UserEvent"
                             and e.get("UserEvent") == "HotlineRecording"
                             and e.get("Uniqueid") == call.uniqueid, since=mark,
                             what="HotlineRecording")
        assert recording.get("Seat") == seat.interface, recording
        assert recording.get("Route") == "linkage"
    finally:
        phones.hangup(call)


@dataclass
class LongCalls:
    mark: int
    alone: Call  # three-way to a target that never answers, and no seat
    hangs_up: Call  # three-way: caller and target, no seat; the caller then hangs up
    to_queue: Call
    to_centre: Call


@pytest.fixture(scope="module")
def long_calls(ami: Ami, phones: Phones, controller: Controller) -> Iterator[LongCalls]:
    """Starts the slow scenarios together. No seat is logged in to the general queue here:
    each three-way call's seat leg is withdrawn from it at once (QueueWithdrawCaller: the
    seat wait ending with no seat, without waiting HOTLINE_3WAY_SEAT_WAIT)."""
    members = ami.command("queue show q-general")
    assert "Local/" not in members.split("Callers")[0], f"q-general has seats: {members}"
    mark = ami.mark()
    calls = LongCalls(mark, phones.call(THREE_WAY_SILENT), phones.call(THREE_WAY),
                      phones.call(OVERFLOW_TO_QUEUE), phones.call(OVERFLOW_TO_CENTRE))
    try:
        for call in (calls.alone, calls.hangs_up):
            leg = ami.wait(lambda e, c=call: e.name == "QueueCallerJoin"
                           and e.get("Queue") == "q-general"
                           and e.get("Channel").startswith("Local/seat@hotline12345-3way-seat")
                           and seat_leg_of(ami, e, c, mark), since=mark,
                           what="the three-way seat leg waiting")
            ami.action("QueueWithdrawCaller", Queue="q-general", Caller=leg.get("Channel"),
                       WithdrawInfo="no-seat")
        yield calls
    finally:
        for call in (calls.alone, calls.hangs_up, calls.to_queue, calls.to_centre):
            phones.hangup(call)


def seat_leg_of(ami: Ami, join: AmiMessage, call: Call, since: int) -> bool:
    """Whether the seat leg in ``join`` belongs to ``call`` (its HOTLINE_CONF)."""
    return bool(ami.find(lambda e: e.name == "VarSet" and e.get("Uniqueid") == join.get(
        "Uniqueid") and e.get("Variable") == "HOTLINE_CONF" and e.get("Value") == conf_of(call),
        since=since))


def test_three_way_without_seat_the_watchdog_takes_the_caller_to_the_fallback_queue(
        ami: Ami, long_calls: LongCalls) -> None:
    call = long_calls.alone
    # alone in the conference (the target rings and never answers, no seat) until the
    # watchdog's ChannelRedirect, 5 s after the target's ring time (the lab renders 15 s)
    joined(ami, conf_of(call), "Local/90003@hotline12345-from-telecom", long_calls.mark)
    ami.wait(lambda e: e.name == "QueueCallerJoin" and e.get("Uniqueid") == call.uniqueid
             and e.get("Queue") == "q-general", since=long_calls.mark, timeout=120,
             what="the lone caller in the fallback queue")
    leave = ami.find(lambda e: e.name == "ConfbridgeLeave" and e.get("Uniqueid") == call.uniqueid,
                     since=long_calls.mark)
    assert leave, "the caller went to the queue without leaving the conference"


def test_three_way_caller_hangup_ends_the_conference(ami: Ami, phones: Phones,
                                                     long_calls: LongCalls) -> None:
    call = long_calls.hangs_up
    conf = conf_of(call)
    joined(ami, conf, "Local/90004@hotline12345-from-telecom", long_calls.mark)
    target = joined(ami, conf, "Local/96000@live-targets", long_calls.mark)
    phones.hangup_phone(call)
    ami.wait(lambda e: e.name == "ConfbridgeEnd" and e.get("Conference") == conf,
             since=long_calls.mark, what="the conference ending")
    ami.wait(lambda e: e.name == "Hangup" and e.get("Channel") == target.get("Channel"),
             since=long_calls.mark, what="the target let go")


def test_overflow_to_another_queue(ami: Ami, long_calls: LongCalls) -> None:
    call = long_calls.to_queue
    first = ami.wait(lambda e: e.name == "QueueCallerJoin" and e.get("Uniqueid") == call.uniqueid,
                     since=long_calls.mark, what="the first queue")
    assert first.get("Queue") == "ov-queue"
    ami.wait(lambda e: e.name == "QueueCallerLeave" and e.get("Uniqueid") == call.uniqueid
             and e.get("Queue") == "ov-queue", since=long_calls.mark, what="leaving ov-queue")
    ami.wait(lambda e: e.name == "QueueCallerJoin" and e.get("Uniqueid") == call.uniqueid
             and e.get("Queue") == "backup", since=long_calls.mark, what="overflow to backup")


def test_overflow_to_a_sub_centre_that_does_not_answer(ami: Ami, long_calls: LongCalls) -> None:
    call = long_calls.to_centre
    ami.wait(lambda e: e.name == "QueueCallerJoin" and e.get("Uniqueid") == call.uniqueid
             and e.get("Queue") == "ov-centre", since=long_calls.mark, what="ov-centre")
    dial = ami.wait(lambda e: e.name == "DialBegin" and e.get("Uniqueid") == call.uniqueid,
                    since=long_calls.mark, what="the sub-centre dialled")
    assert dial.get("DestChannel").startswith("Local/silent@live-centres-")
    end = ami.wait(lambda e: e.name == "DialEnd" and e.get("Uniqueid") == call.uniqueid,
                   since=long_calls.mark, timeout=60, what="the sub-centre ringing out")
    assert end.get("DialStatus") == "NOANSWER", end
    ami.wait(lambda e: e.name == "QueueCallerJoin" and e.get("Uniqueid") == call.uniqueid
             and e.get("Queue") == "q-general", since=long_calls.mark,
             what="the general queue after the sub-centre")


def call_record(controller: Controller, uniqueid: str) -> sqlite3.Row | None:
    with sqlite3.connect(controller.data_dir / "hotline12345.sqlite3") as db:
        db.row_factory = sqlite3.Row
        return db.execute("SELECT * FROM calls WHERE uniqueid = ?", (uniqueid,)).fetchone()


@pytest.mark.parametrize("seat", [("market", "1101")], indirect=True)
def test_survey_score_lands_on_the_call_record(ami: Ami, phones: Phones,
                                               controller: Controller, seat: Seat) -> None:
    mark = ami.mark()
    call = phones.call(SURVEYED, caller="13700137000")
    try:
        connect = ami.wait(lambda e: e.name == "AgentConnect" and e.get("Uniqueid")
                           == call.uniqueid, since=mark, what="the seat answering")
        assert connect.get("Interface") == seat.interface
        # the seat hangs up first: Queue option c continues to the survey
        ami.action("Hangup", Channel=connect.get("DestChannel"))
        ami.wait(lambda e: e.name == "AGIExecStart" and e.get("Uniqueid") == call.uniqueid
                 and e.get("Command").startswith("GET DATA hotline12345/survey-question"),
                 since=mark, what="the survey question")
        phones.dtmf(call, "4")
        ami.wait(lambda e: e.name == "VarSet" and e.get("Uniqueid") == call.uniqueid
                 and e.get("Variable") == "SURVEY_SCORE", since=mark, what="SURVEY_SCORE")
        eventually(lambda: (row := call_record(controller, call.uniqueid)) is not None
                   and row["survey_score"] is not None, what="the score in the call store")
        row = call_record(controller, call.uniqueid)
        assert row is not None and row["survey_score"] == 4
        assert row["dialled"] == SURVEYED and row["target"] == "market"
    finally:
        phones.hangup(call)
