"""Every row of the register and every access number, on the real Asterisk: the prompt the
routing core chose is played (AMI ``AGIExecStart``), the decision's channel variables are set
(``VarSet``), and the call reaches the queue, expert queue, sub-centre or linkage target that
``hotline12345 route --json`` names; the one question answered by DTMF (the green channel)
and left unanswered (the default).

All calls run at once (one Asterisk, one controller); each test then checks its own call.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from string import Template
from typing import Any

import pytest

from tests.live.ami import Ami, AmiMessage
from tests.live.harness import HERE, Call, Controller, Lab, Phones, agi_commands, hotline, var_sets

pytestmark = pytest.mark.live

NOBODY = "13800138000"
BLOCKED = "13900000666"  # on the test site's blocklist


@dataclass(frozen=True)
class Case:
    dialled: str
    trunk: str = "telecom"
    answer: str | None = None  # DTMF for the one question; "" = the caller stays silent
    caller: str = NOBODY

    @property
    def id(self) -> str:
        extra = "" if self.answer is None else f"-answer[{self.answer or 'none'}]"
        blocked = "-blocked" if self.caller == BLOCKED else ""
        return f"{self.dialled}@{self.trunk}{extra}{blocked}"


def _register_numbers() -> list[str]:
    """The register's numbers, from the CLI (collection time, the test site)."""
    with tempfile.TemporaryDirectory() as tmp:
        site = Path(tmp) / "site.yaml"
        site.write_text(Template((HERE / "site.yaml.in").read_text("utf-8")).substitute(
            telecom_port=5999, unicom_port=5998), "utf-8")
        done = subprocess.run([sys.executable, "-m", "hotline12345.cli", "register", "list",
                               "--json", "--config", str(site)],
                              capture_output=True, text=True, check=True, env=os.environ)
    return [row["number"] for row in json.loads(done.stdout)["rows"]]


CASES = [Case(n) for n in _register_numbers()] + [
    Case("12345", answer="1"), Case("12345", answer=""),
    Case("057112345", trunk="unicom", answer="1"), Case("057112345", trunk="unicom", answer=""),
    Case("12345", caller=BLOCKED),
    Case("12317", trunk="unicom"),
]


@dataclass
class Outcome:
    case: Case
    expected: dict[str, Any]
    call: Call
    mark: int
    reached: AmiMessage | None = None
    problems: list[str] = field(default_factory=list)


def expected_decision(lab: Lab, case: Case) -> dict[str, Any]:
    args = ["route", case.dialled, "--json", "--config", str(lab.site), "--caller", case.caller]
    if case.answer is not None:
        args += ["--answer", case.answer]
    return json.loads(hotline(*args, env=lab.env()).stdout)  # type: ignore[no-any-return]


def reach_predicate(expected: dict[str, Any], call: Call):  # type: ignore[no-untyped-def]
    """What Asterisk shows when the call got where the decision says."""
    action = expected["action"]
    variables = expected["variables"]
    uid = call.uniqueid
    if action in ("queue", "expert"):
        queue = variables["HOTLINE_QUEUE"]
        return lambda e: (e.name == "QueueCallerJoin" and e.get("Uniqueid") == uid
                          and e.get("Queue") == queue)
    if action == "sub_centre" or (action == "linkage"
                                  and variables.get("HOTLINE_TRANSFER") == "blind"):
        dest = variables["HOTLINE_DIAL"].rsplit("/", 1)[0]  # Local/12366@live-centres
        return lambda e: (e.name == "DialBegin" and e.get("Uniqueid") == uid
                          and e.get("DestChannel").startswith(dest + "-"))
    if action == "linkage":  # three-way: the target joins the caller's conference
        dest = variables["HOTLINE_DIAL"].rsplit("/", 1)[0]
        conf = f"hotline12345-{uid}"
        return lambda e: (e.name == "ConfbridgeJoin" and e.get("Conference") == conf
                          and e.get("Channel").startswith(dest + "-"))
    if action == "announce_hangup":
        return lambda e: e.name == "Hangup" and e.get("Uniqueid") == uid
    raise AssertionError(f"unexpected action {action!r}")


@pytest.fixture(scope="module")
def outcomes(lab: Lab, ami: Ami, phones: Phones,
             controller: Controller) -> dict[str, Outcome]:
    with ThreadPoolExecutor(max_workers=4) as pool:  # the CLI's decisions, first
        decisions = list(pool.map(lambda c: expected_decision(lab, c), CASES))
    mark = ami.mark()
    calls = [phones.call(c.dialled, trunk=c.trunk, caller=c.caller) for c in CASES]
    results = {c.id: Outcome(c, d, call, mark)
               for c, d, call in zip(CASES, decisions, calls, strict=True)}
    try:
        for out in results.values():  # the green channel's key, once the question is asked
            if out.case.answer:
                ami.wait(lambda e, u=out.call.uniqueid: e.name == "AGIExecStart"
                         and e.get("Uniqueid") == u and e.get("Command").startswith("GET DATA"),
                         since=mark, what=f"the question on {out.case.id}")
                phones.dtmf(out.call, out.case.answer)
        for out in results.values():
            try:
                out.reached = ami.wait(reach_predicate(out.expected, out.call), since=mark,
                                       timeout=60, what=f"{out.case.id} reaching its target")
            except AssertionError as exc:
                out.problems.append(str(exc))
    finally:
        for out in results.values():
            phones.hangup(out.call)
    return results


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_call_goes_where_route_says(case: Case, outcomes: dict[str, Outcome],
                                    ami: Ami) -> None:
    out = outcomes[case.id]
    expected = out.expected
    uid = out.call.uniqueid
    commands = agi_commands(ami, uid, since=out.mark)
    # the prompts the routing core chose, played over FastAGI, in order
    played = [c.split()[2] for c in commands if c.startswith("STREAM FILE")]
    assert played == expected["prompts"], commands
    # the one question: asked exactly where the router asks it
    asked = [c for c in commands if c.startswith("GET DATA")]
    if case.answer is None:
        assert asked == [], commands
    else:
        assert asked and asked[0].split()[2] == "hotline12345/ask-enterprise", commands
    # the decision's variables, on the channel
    variables = var_sets(ami, uid, since=out.mark)
    missing = {k: v for k, v in expected["variables"].items() if variables.get(k) != v}
    assert missing == {}, {k: (v, variables.get(k)) for k, v in missing.items()}
    # and the call got there
    assert out.problems == [], out.problems
    assert out.reached is not None
    if expected["action"] == "announce_hangup":
        assert out.reached.get("Cause") == "16", out.reached
