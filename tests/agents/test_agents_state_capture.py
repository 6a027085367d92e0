"""The state model on the real Asterisk 22 captures, re-chunked at every byte boundary.

../shared/asterisk-22-captures/ami-queue-call.raw: QueueAdd 李四 (penalty 1), QueuePause
培训, a call from 王五 <13900139000> into q-general answered by the static member Agent One,
a QueueStatus while the call is up, QueueRemove of 李四. The clock is injected: the n-th
message of the stream arrives at T0 + n seconds, so every time in the state is exact.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from hotline12345.agents.codec import AmiMessage, AmiParser
from hotline12345.agents.queues import QueueDef
from hotline12345.agents.seats import SeatState
from hotline12345.agents.state import QueueState
from hotline12345.agents.state_persistence import live_state, load_live_state
from hotline12345.agents.wallboard import wallboard_snapshot

from .conftest import AGI_CAPTURE, QUEUE_CAPTURE

T0 = 1795849879.0  # the capture's own LoginTime (2026-11-28 15:11:19 Asia/Shanghai)
AGENT1 = "Local/agent1@agents/n"
AGENT2 = "Local/agent2@agents/n"
CALLER_UID = "1795849881.4"


def replay(data: bytes, chunk: int | None) -> tuple[QueueState, list[dict[str, Any]]]:
    """Feed ``data`` in reads of ``chunk`` bytes (None: one read); message n is applied at
    T0 + n. Returns the final state and the state after every message."""
    state = QueueState([QueueDef("q-general", "综合受理", 15)])
    parser = AmiParser()
    trajectory: list[dict[str, Any]] = []
    reads = [data] if chunk is None else [data[i : i + chunk] for i in range(0, len(data), chunk)]
    for read in reads:
        for msg in parser.feed(read):
            state.apply(msg, T0 + len(trajectory))
            trajectory.append(copy.deepcopy(live_state(state)))
    return state, trajectory


def index_of(name: str, nth: int = 0) -> int:
    msgs = AmiParser().feed(QUEUE_CAPTURE.read_bytes())
    return [i for i, m in enumerate(msgs) if m.name == name][nth]


@pytest.fixture(scope="module")
def queue_replay() -> tuple[QueueState, list[dict[str, Any]]]:
    return replay(QUEUE_CAPTURE.read_bytes(), 1)


def test_every_byte_boundary_gives_the_same_trajectory(
    queue_replay: tuple[QueueState, list[dict[str, Any]]],
) -> None:
    """One-byte reads put a read boundary at every byte; the state after every message
    equals the state when the stream comes in one read, or in reads of 7 and 4096 bytes."""
    _, one_byte = queue_replay
    for chunk in (None, 7, 4096):
        _, other = replay(QUEUE_CAPTURE.read_bytes(), chunk)
        assert other == one_byte
    assert len(one_byte) == 118


def seat(snapshot: dict[str, Any], interface: str) -> dict[str, Any]:
    return next(s for s in snapshot["seats"] if s["interface"] == interface)


def test_queue_add_and_pause_from_capture(
    queue_replay: tuple[QueueState, list[dict[str, Any]]],
) -> None:
    _, traj = queue_replay
    added = index_of("QueueMemberAdded")
    s = seat(traj[added], AGENT2)
    assert s["name"] == "李四"
    assert s["memberships"] == [["q-general", 1, False, "", "dynamic", 0, 0.0, False]]
    assert (s["state"], s["since"]) == ("idle", T0 + added)
    paused = index_of("QueueMemberPause")
    s = seat(traj[paused], AGENT2)
    assert s["memberships"] == [["q-general", 1, True, "培训", "dynamic", 0, 0.0, False]]
    assert (s["state"], s["since"]) == ("paused", T0 + paused)


def test_waiting_caller_then_answer(queue_replay: tuple[QueueState, list[dict[str, Any]]]) -> None:
    _, traj = queue_replay
    join = index_of("QueueCallerJoin")
    assert traj[join]["queues"]["q-general"] == [
        [CALLER_UID, "Local/s@caller2-00000002;1", "13900139000", "王五", T0 + join, 1]
    ]
    called = index_of("AgentCalled")
    s = seat(traj[called], AGENT1)
    assert s["name"] == "Agent One"
    assert s["ringing"] == {CALLER_UID: "Local/agent1@agents-00000003;1"}
    assert (s["state"], s["since"]) == ("ringing", T0 + called)
    # Local channels report INUSE (Status 2) while ringing; the seat still shows ringing.
    status = index_of("QueueMemberStatus")
    assert seat(traj[status], AGENT1)["state"] == "ringing"
    leave = index_of("QueueCallerLeave")
    assert traj[leave]["queues"]["q-general"] == []
    assert traj[leave]["pending"] == [["q-general", CALLER_UID, T0 + join, T0 + leave]]
    connect = index_of("AgentConnect")
    s = seat(traj[connect], AGENT1)
    assert s["talking"] == [CALLER_UID, "Local/agent1@agents-00000003;1", "q-general"]
    assert (s["state"], s["since"]) == ("talking", T0 + connect)
    assert traj[connect]["pending"] == []


def test_resync_mid_call_keeps_everything(
    queue_replay: tuple[QueueState, list[dict[str, Any]]],
) -> None:
    _, traj = queue_replay
    before = index_of("QueueParams") - 1
    done = index_of("QueueStatusComplete")
    assert [s["interface"] for s in traj[done]["seats"]] == [AGENT2, AGENT1]
    s1 = seat(traj[done], AGENT1)
    # QueueMember says InCall 1: Agent One is in the call; the seat's since is unchanged.
    assert s1["memberships"] == [["q-general", 0, False, "", "static", 0, 0.0, True]]
    assert (s1["state"], s1["since"]) == ("talking", seat(traj[before], AGENT1)["since"])
    s2 = seat(traj[done], AGENT2)
    assert (s2["state"], s2["since"]) == ("paused", T0 + index_of("QueueMemberPause"))


def test_final_state_and_figures(queue_replay: tuple[QueueState, list[dict[str, Any]]]) -> None:
    state, traj = queue_replay
    complete = index_of("AgentComplete")
    # After AgentComplete the device is still in use until Asterisk says otherwise.
    assert seat(traj[complete], AGENT1)["state"] == "talking"
    idle = index_of("QueueMemberStatus", 1)
    assert (seat(traj[idle], AGENT1)["state"], seat(traj[idle], AGENT1)["since"]) == (
        "idle", T0 + idle)
    removed = index_of("QueueMemberRemoved")
    assert [s["interface"] for s in traj[removed]["seats"]] == [AGENT1]

    now = T0 + 200
    snap = wallboard_snapshot(state, now)
    assert snap["seats"] == [{
        "interface": AGENT1,
        "name": "Agent One",
        "state": "idle",
        "state_label": "空闲",
        "since": T0 + idle,
        "time_in_state_s": 200.0 - idle,
        "paused_reason": "",
        "queues": [{"queue": "q-general", "penalty": 0, "paused": False, "paused_reason": "",
                    "calls_taken": 1}],
    }]
    wait = float(index_of("AgentConnect") - index_of("QueueCallerJoin"))  # 26 s
    assert wait == 26.0
    expected = {
        "offered": 1, "answered": 1, "abandoned": 0, "unanswered": 0,
        "answered_15s": 0, "answered_in_target": 0,
        "answer_rate": 1.0, "answer_15s_rate": 0.0, "abandon_rate": 0.0,
        "asa_s": wait, "service_level": 0.0, "longest_wait_s": 0.0,
    }
    q = snap["queues"][0]
    assert (q["name"], q["label"], q["waiting"], q["members"]) == (
        "q-general", "综合受理", [], [AGENT1])
    assert q["figures"] == {"15m": expected, "1h": expected, "today": expected}
    assert snap["overall"] == q["figures"]
    # 26 s > 15 s target, but the caller is no longer waiting; 接通率 is 100 %.
    assert snap["alerts"] == []
    record = state.overall.records[0]
    assert (record.id, record.outcome, record.interface, record.wait_s) == (
        f"q-general|{CALLER_UID}|1", "answered", AGENT1, 26.0)
    # After the caller hangs up, nothing is left over for this call.
    assert traj[-1]["pending"] == [] and traj[-1]["decided"] == [] and traj[-1]["episodes"] == []


def test_agi_capture_leaves_no_queue_state() -> None:
    """The FastAGI call never enters a queue: its Hangups change nothing."""
    state, traj = replay(AGI_CAPTURE.read_bytes(), 1)
    assert state.seats == {} and state.queues["q-general"].callers == {}
    assert len(state.overall) == 0
    assert traj[-1] == replay(AGI_CAPTURE.read_bytes(), None)[1][-1]


def test_state_round_trips_through_dict(
    queue_replay: tuple[QueueState, list[dict[str, Any]]],
) -> None:
    _, traj = queue_replay
    for snapshot in (traj[index_of("AgentConnect")], traj[index_of("QueueMemberPause")]):
        other = QueueState()
        load_live_state(other, snapshot)
        assert live_state(other) == snapshot
    restored = QueueState()
    load_live_state(restored, traj[index_of("AgentConnect")])
    assert restored.seats[AGENT1].current(T0 + 100)[0] == SeatState.TALKING


def test_messages_are_not_events_are_ignored() -> None:
    state = QueueState()
    resp = AmiMessage("response", "Success", {"Response": "Success", "Queue": "x"})
    assert state.apply(resp, T0) is False and state.queues == {}
