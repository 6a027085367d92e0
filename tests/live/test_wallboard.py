"""The AMI monitor and the wallboard against the real Asterisk: the wallboard's callers and
seats equal Asterisk's own ``QueueStatus``; a supervisor's pause/unpause/add/remove through
the wallboard API is carried out by Asterisk and confirmed; the monitor resyncs after
``manager reload`` and after an Asterisk restart."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.live.ami import Ami
from tests.live.harness import Asterisk, Call, Controller, Phones, eventually

pytestmark = pytest.mark.live

QUEUE = "legal"  # 12348 公共法律服务热线, 双号并行 -> legal (no prompt)
DIALLED = "12348"
SEAT_A = "Local/1201@live-seats/n"
SEAT_B = "Local/1202@live-seats/n"

View = tuple[list[str], dict[str, bool]]


def asterisk_view(ami: Ami, queue: str = QUEUE) -> View:
    """Waiting callers (uniqueids) and members (interface -> paused), as Asterisk says."""
    events = ami.list_action("QueueStatus", "QueueStatusComplete", Queue=queue)
    callers = sorted(e.get("Uniqueid") for e in events if e.name == "QueueEntry")
    members = {e.get("StateInterface") or e.get("Location"): e.get("Paused") == "1"
               for e in events if e.name == "QueueMember"}
    return callers, members


def wallboard_view(controller: Controller, queue: str = QUEUE) -> View:
    state: dict[str, Any] = controller.state()
    q = next(q for q in state["queues"] if q["name"] == queue)
    callers = sorted(c["uniqueid"] for c in q["waiting"])
    members = {}
    for seat in state["seats"]:
        for m in seat["queues"]:
            if m["queue"] == queue:
                members[seat["interface"]] = bool(m["paused"])
    return callers, members


def views_agree(ami: Ami, controller: Controller) -> bool:
    return wallboard_view(controller) == asterisk_view(ami)


def assert_agree(ami: Ami, controller: Controller, what: str) -> None:
    try:
        eventually(lambda: views_agree(ami, controller), timeout=15, what=what)
    except AssertionError:
        raise AssertionError(f"{what}: wallboard {wallboard_view(controller)} != "
                             f"Asterisk {asterisk_view(ami)}") from None


def act(controller: Controller, action: str, **body: object) -> dict[str, Any]:
    reply = controller.api("POST", f"/api/seats/{action}", body)
    assert reply.get("result") == "confirmed", reply
    return reply


@pytest.fixture
def waiting_callers(ami: Ami, phones: Phones, controller: Controller) -> Iterator[list[Call]]:
    calls: list[Call] = []
    yield calls
    for c in calls:
        phones.hangup(c)
    for seat in (SEAT_A, SEAT_B):
        ami.action("QueueRemove", Queue=QUEUE, Interface=seat, check=False)
    # The next test starts from what the controller knows: its monitor reads AMI events
    # in batches (read_interval_s), so wait until it has seen the removals.
    eventually(lambda: not wallboard_view(controller)[1], timeout=15,
               what="the controller sees the seats removed")


def test_wallboard_equals_queuestatus_and_supervisor_actions_are_confirmed(
        ami: Ami, phones: Phones, controller: Controller, waiting_callers: list[Call]) -> None:
    # a supervisor logs a seat in from the wallboard, and pauses it
    act(controller, "add", interface=SEAT_A, queue=QUEUE, member_name="座席甲")
    act(controller, "pause", interface=SEAT_A, queue=QUEUE, paused=True, reason="培训")
    assert asterisk_view(ami)[1] == {SEAT_A: True}
    # another seat comes and pauses outside the wallboard (plain AMI)
    ami.action("QueueAdd", Queue=QUEUE, Interface=SEAT_B, MemberName="座席乙", Paused="true")
    # callers wait: every seat is paused
    mark = ami.mark()
    waiting_callers.extend(phones.call(DIALLED, caller=f"1380013800{i}") for i in range(2))
    for c in waiting_callers:
        ami.wait(lambda e, u=c.uniqueid: e.name == "QueueCallerJoin" and e.get("Uniqueid") == u,
                 since=mark, what="a caller waiting")
    assert_agree(ami, controller, "callers waiting, seats paused")
    assert len(asterisk_view(ami)[0]) == 2
    # unpause from the wallboard: Asterisk hands the seat a caller
    act(controller, "pause", interface=SEAT_A, queue=QUEUE, paused=False)
    ami.wait(lambda e: e.name == "AgentConnect" and e.get("Interface") == SEAT_A, since=mark,
             what="the unpaused seat taking a caller")
    assert_agree(ami, controller, "after unpause")
    # remove from the wallboard
    act(controller, "remove", interface=SEAT_A, queue=QUEUE)
    assert SEAT_A not in asterisk_view(ami)[1]
    assert_agree(ami, controller, "after remove")


def test_monitor_resyncs_after_manager_reload(ami: Ami, asterisk: Asterisk,
                                              controller: Controller,
                                              waiting_callers: list[Call]) -> None:
    asterisk.rx("manager reload")
    ami.action("QueueAdd", Queue=QUEUE, Interface=SEAT_B, MemberName="座席乙", Paused="true")
    eventually(lambda: controller.health().get("ami_connected") is True, what="AMI again")
    assert_agree(ami, controller, "after manager reload")
    assert SEAT_B in wallboard_view(controller)[1]


def test_monitor_reconnects_and_resyncs_after_an_asterisk_restart(
        ami: Ami, asterisk: Asterisk, controller: Controller,
        waiting_callers: list[Call]) -> None:
    before = controller.state()["ami"]
    ami.action("QueueAdd", Queue=QUEUE, Interface=SEAT_B, MemberName="座席乙")
    assert_agree(ami, controller, "before the restart")
    asterisk.stop()
    eventually(lambda: controller.health().get("ami_connected") is False,
               what="the monitor seeing Asterisk gone")
    asterisk.start()
    ami.reconnect()
    eventually(lambda: controller.health().get("ami_connected") is True, timeout=60,
               what="the monitor reconnected")
    after = controller.state()["ami"]
    assert after["reconnects"] > before["reconnects"], (before, after)
    assert after["last_resync_at"] > before["last_resync_at"], (before, after)
    assert_agree(ami, controller, "after the restart")
    # a change after the restart shows up as well
    ami.action("QueueAdd", Queue=QUEUE, Interface=SEAT_A, MemberName="座席甲", Paused="true")
    assert_agree(ami, controller, "a change after the restart")


def test_seat_logged_in_over_ami_survives_a_restart(
        ami: Ami, asterisk: Asterisk, controller: Controller,
        waiting_callers: list[Call]) -> None:
    """docs/deploying.md: the host's queues.conf [general] sets persistentmembers=yes (and
    `asterisk-conf check` warns when it does not), so seats logged in over AMI survive a
    restart. The host file here is the one the docs describe."""
    act(controller, "add", interface=SEAT_B, queue=QUEUE, member_name="座席乙")
    asterisk.stop()
    asterisk.start()
    ami.reconnect()
    members = asterisk_view(ami)[1]
    assert SEAT_B in members, (
        f"{SEAT_B}, logged in from the wallboard, is gone after a restart: members {members}; "
        f"astdb: {asterisk.rx('database show Queue').stdout.strip()!r}")
