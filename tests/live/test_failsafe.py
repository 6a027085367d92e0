"""Fail-safe on the real Asterisk: a controller SIGKILLed while calls arrive never loses a
caller; with two controllers (127.0.0.1 and 127.0.0.2, one port) the second decides the
calls the first left undecided, and a call the first decided is never sent to the second."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.live.ami import Ami
from tests.live.harness import CONTROLLER_HOSTS, Call, Controller, Lab, Phones, hotline

pytestmark = pytest.mark.live

PROMPTED = "12317"  # 整体并入, retired: the controller plays "now 12345" first (seconds long)
UNPROMPTED = "12366"  # 设分中心: decided at once, no prompt


@pytest.fixture
def restore_controller(controller: Controller) -> Iterator[Controller]:
    """The session's controller; started again after the test killed it."""
    yield controller
    if not controller.alive():
        controller.start()


def agi_url(lab: Lab, host: str) -> str:
    return f"agi://{host}:{lab.agi_port}"


def agi_values(ami: Ami, call: Call, since: int) -> list[str]:
    """Every controller the dialplan handed this call to, in order (HOTLINE_AGI)."""
    return [e.get("Value") for e in ami.find(
        lambda e: e.name == "VarSet" and e.get("Uniqueid") == call.uniqueid
        and e.get("Variable") == "HOTLINE_AGI", since=since)]


def mid_prompt(ami: Ami, call: Call, since: int) -> None:
    ami.wait(lambda e: e.name == "AGIExecStart" and e.get("Uniqueid") == call.uniqueid
             and e.get("Command").startswith("STREAM FILE hotline12345/now-12345"),
             since=since, timeout=30, what=f"the prompt on {call.uniqueid}")


def queue_join(ami: Ami, call: Call, since: int, timeout: float = 40.0) -> str:
    e = ami.wait(lambda e: e.name == "QueueCallerJoin" and e.get("Uniqueid") == call.uniqueid,
                 since=since, timeout=timeout, what=f"{call.uniqueid} in a queue")
    return e.get("Queue")


def test_controller_killed_while_calls_arrive_every_call_reaches_a_queue(
        lab: Lab, ami: Ami, phones: Phones, restore_controller: Controller) -> None:
    mark = ami.mark()
    before = [phones.call(PROMPTED) for _ in range(4)]
    for call in before:
        mid_prompt(ami, call, mark)
    restore_controller.kill()  # mid-prompt, as in a crash
    after = [phones.call(PROMPTED) for _ in range(4)]  # arriving with no controller at all
    try:
        queues = {c.uniqueid: queue_join(ami, c, mark) for c in before + after}
        # no controller decided: the dialplan's fallback, the general queue
        assert set(queues.values()) == {"q-general"}, queues
        for c in after:  # refused by both controllers, tried in order
            assert agi_values(ami, c, mark) == [agi_url(lab, h) for h in CONTROLLER_HOSTS]
    finally:
        for c in before + after:
            phones.hangup(c)


def test_second_controller_decides_what_the_first_left_undecided(
        lab: Lab, ami: Ami, phones: Phones, restore_controller: Controller) -> None:
    first = restore_controller
    second = Controller(lab, host=CONTROLLER_HOSTS[1], name="c2")
    second.start(ami=False)
    route = hotline("route", PROMPTED, "--json", "--config", str(lab.site), env=lab.env())
    import json

    expected_queue = json.loads(route.stdout)["variables"]["HOTLINE_QUEUE"]
    mark = ami.mark()
    decided: list[Call] = []
    in_flight: list[Call] = []
    try:
        decided = [phones.call(UNPROMPTED) for _ in range(2)]
        for call in decided:  # decided by the first controller: the sub-centre is dialled
            ami.wait(lambda e, u=call.uniqueid: e.name == "DialBegin"
                     and e.get("Uniqueid") == u, since=mark, timeout=30,
                     what="the sub-centre dialled")
        in_flight = [phones.call(PROMPTED) for _ in range(3)]
        for call in in_flight:
            mid_prompt(ami, call, mark)
        first.kill()
        for call in in_flight:  # the second controller decided: the register's queue
            queue = queue_join(ami, call, mark)
            status = [e.get("Value") for e in ami.find(
                lambda e, u=call.uniqueid: e.name == "VarSet" and e.get("Uniqueid") == u
                and e.get("Variable") == "AGISTATUS", since=mark)]
            assert queue == expected_queue, (
                f"a call whose controller died mid-prompt went to {queue}, not to "
                f"{expected_queue}: AGISTATUS {status}, controllers tried "
                f"{agi_values(ami, call, mark)}")
            assert agi_values(ami, call, mark) == [agi_url(lab, h) for h in CONTROLLER_HOSTS]
            # the second controller played the prompt again and set the decision
            second_prompts = [e for e in ami.find(
                lambda e, u=call.uniqueid: e.name == "AGIExecStart" and e.get("Uniqueid") == u
                and e.get("Command").startswith("STREAM FILE"), since=mark)]
            assert len(second_prompts) == 2
        for call in decided:  # a controller that decided is never asked again
            assert agi_values(ami, call, mark) == [agi_url(lab, CONTROLLER_HOSTS[0])]
    finally:
        for call in decided + in_flight:
            phones.hangup(call)
        second.stop()
