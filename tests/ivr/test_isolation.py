"""No state shared between calls, nor between servers: over real TCP, a flow that tries to
change its call's environment cannot reach the next call, and two servers in one process
with different settings keep what they remember to themselves."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from hotline12345.ivr.channel import Channel
from hotline12345.ivr.protocol import Limits
from hotline12345.ivr.registry import FlowRegistry
from hotline12345.ivr.simulate import CallScript, capture_like_env, run_session

from .conftest import ServerFactory, registry_of


def call(uniqueid: str, script: str, query: str = "", dialled: str = "12345") -> CallScript:
    return CallScript(capture_like_env(uniqueid=uniqueid, dialled=dialled,
                                       caller="13800138000", script=script, query=query))


def write_query_key(ch: Channel) -> None:
    ch.env.query["dialled"] = "110"  # type: ignore[index]


def write_variable(ch: Channel) -> None:
    ch.env.variables["agi_network_script"] = "look?dialled=110"  # type: ignore[index]


def replace_query(ch: Channel) -> None:
    ch.env.query = {"dialled": "110"}  # type: ignore[misc]


class Meddles:
    """Tries to change its call's environment, then reads a variable."""

    def __init__(self, meddle: Any) -> None:
        self.meddle = meddle

    async def __call__(self, ch: Channel) -> None:
        self.meddle(ch)
        await ch.get_variable("CALLERID(num)")


class Looks:
    """Records the environment it was given."""

    def __init__(self) -> None:
        self.seen: list[tuple[dict[str, str], str | None]] = []

    async def __call__(self, ch: Channel) -> None:
        self.seen.append((dict(ch.env.query), ch.env.variables.get("agi_network_script")))
        await ch.set_variable("SEEN", str(len(self.seen)))


@pytest.mark.parametrize("meddle", [write_query_key, write_variable, replace_query])
async def test_a_flow_cannot_change_the_next_calls_environment(
        serve: ServerFactory, caplog: pytest.LogCaptureFixture, meddle: Any) -> None:
    caplog.set_level(logging.CRITICAL)
    looks = Looks()
    server = await serve(registry_of(meddle=Meddles(meddle), look=looks))
    for i in range(2):  # calls without a query string, before and after the meddling one
        first = await run_session("127.0.0.1", server.port, call(f"7.{i}", "look"))
        meddling = await run_session("127.0.0.1", server.port, call(f"8.{i}", "meddle"))
        assert first.status == "SUCCESS"
        # The environment is read-only: the write raises, and that call ends with FAILURE.
        assert meddling.status == "FAILURE" and meddling.commands == []
    after = await run_session("127.0.0.1", server.port, call("9.1", "look"))
    assert after.status == "SUCCESS"
    assert looks.seen == [({}, "look")] * 3
    assert server.stats.failed == 2 and server.stats.succeeded == 3


async def test_a_query_string_belongs_to_its_call(serve: ServerFactory) -> None:
    looks = Looks()
    server = await serve(registry_of(look=looks))
    for script in (call("5.1", "look", "dialled=12317&x=1"), call("5.2", "look")):
        assert (await run_session("127.0.0.1", server.port, script)).status == "SUCCESS"
    assert looks.seen == [({"dialled": "12317", "x": "1"}, "look?dialled=12317&x=1"),
                          ({}, "look")]


async def test_two_servers_in_one_process_share_nothing(
        serve: ServerFactory, registry: FlowRegistry) -> None:
    """The parsed replies and the MSet plans each server remembers are its own."""
    one = await serve(registry, command_timeout_s=30.0)
    other = await serve(registry, command_timeout_s=60.0,
                        limits=Limits(max_line_bytes=4096, max_query_fields=8))
    r = await run_session("127.0.0.1", one.port, call("6.1", "inbound", dialled="12317"))
    assert r.status == "SUCCESS" and r.variables["HOTLINE_DIALLED"] == "12317"
    assert any(c.startswith("EXEC MSet ") for c in r.commands)
    assert len(one.mset_plans) == 1 and len(one.replies) >= 1
    assert len(other.mset_plans) == 0 and len(other.replies) == 0

    r = await run_session("127.0.0.1", other.port, call("6.2", "inbound", dialled="12366"))
    assert r.status == "SUCCESS" and r.variables["HOTLINE_DIALLED"] == "12366"
    assert len(one.mset_plans) == 1 and len(other.mset_plans) == 1
    [plan_one] = list(one.mset_plans)
    [plan_other] = list(other.mset_plans)
    assert ("HOTLINE_DIALLED", "12317") in plan_one and plan_one not in other.mset_plans
    assert ("HOTLINE_DIALLED", "12366") in plan_other and plan_other not in one.mset_plans
