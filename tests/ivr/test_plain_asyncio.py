"""A flow is plain asyncio code (see ``Flow`` in ``ivr/registry.py``): ``asyncio.timeout``,
``asyncio.wait_for``, ``TaskGroup`` and ``create_task`` work inside it from its first line,
over a real socket with the simulated Asterisk 22 on the other side."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import pytest

from hotline12345.ivr.channel import Channel
from hotline12345.ivr.protocol import FAILURE_LINE
from hotline12345.ivr.simulate import CallScript, capture_like_env, run_session

from .conftest import ServerFactory, read_all, registry_of


def call(script: str, uniqueid: str = "1795849847.9") -> CallScript:
    return CallScript(capture_like_env(uniqueid=uniqueid, dialled="12345",
                                       caller="13800138000", script=script))


def env_bytes(script: str) -> bytes:
    return call(script).env_bytes()


async def with_timeout(ch: Channel) -> list[str | None]:
    async with asyncio.timeout(5):
        await ch.answer()
    async with asyncio.timeout(5):
        return [await ch.get_variable("CALLERID(num)")]


async def with_wait_for(ch: Channel) -> list[str | None]:
    await asyncio.wait_for(ch.answer(), 5)
    return [await asyncio.wait_for(ch.get_variable("CALLERID(num)"), timeout=5)]


async def with_task_group(ch: Channel) -> list[str | None]:
    await ch.set_variable("A", "1")
    await ch.set_variable("B", "2")
    async with asyncio.TaskGroup() as tg:  # two commands at once: sent one after the other
        a = tg.create_task(ch.get_variable("A"))
        b = tg.create_task(ch.get_variable("B"))
        c = tg.create_task(ch.get_variable("CALLERID(num)"))
    return [a.result(), b.result(), c.result()]


async def with_create_task(ch: Channel) -> list[str | None]:
    answering = asyncio.create_task(ch.answer())
    await answering
    return [await asyncio.create_task(ch.get_variable("CALLERID(num)"))]


class Records:
    def __init__(self, body: Any) -> None:
        self.body = body
        self.got: list[str | None] = []

    async def __call__(self, ch: Channel) -> None:
        self.got = await self.body(ch)


@pytest.mark.parametrize("body, commands, got", [
    (with_timeout, ["ANSWER", "GET VARIABLE CALLERID(num)"], ["13800138000"]),
    (with_wait_for, ["ANSWER", "GET VARIABLE CALLERID(num)"], ["13800138000"]),
    (with_create_task, ["ANSWER", "GET VARIABLE CALLERID(num)"], ["13800138000"]),
    (with_task_group, ['SET VARIABLE A "1"', 'SET VARIABLE B "2"', "GET VARIABLE A",
                       "GET VARIABLE B", "GET VARIABLE CALLERID(num)"],
     ["1", "2", "13800138000"]),
], ids=["asyncio.timeout", "asyncio.wait_for", "create_task", "TaskGroup"])
async def test_plain_asyncio_inside_a_flow(serve: ServerFactory, body: Any,
                                           commands: list[str], got: list[str]) -> None:
    flow = Records(body)
    server = await serve(registry_of(flow=flow))
    r = await run_session("127.0.0.1", server.port, call("flow"))
    assert r.status == "SUCCESS", r
    assert r.commands == commands
    assert flow.got == got
    assert server.stats.succeeded == 1 and server.stats.failed == 0


class GivesUpOnGetData:
    """Its own timeout ends GET DATA; its next command must get its own reply, not the
    late reply of GET DATA."""

    def __init__(self) -> None:
        self.gave_up = asyncio.Event()
        self.got: str | None = ""

    async def __call__(self, ch: Channel) -> None:
        try:
            async with asyncio.timeout(0.2):
                await ch.get_data("hotline12345/menu", 10000, 1)
        except TimeoutError:
            self.gave_up.set()
        self.got = await ch.get_variable("CALLERID(num)")


async def test_a_command_the_flow_gave_up_on_keeps_replies_in_order(
        serve: ServerFactory) -> None:
    flow = GivesUpOnGetData()
    server = await serve(registry_of(flow=flow))
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        writer.write(env_bytes("flow"))
        assert await reader.readline() == b"GET DATA hotline12345/menu 10000 1\n"
        async with asyncio.timeout(10):
            await flow.gave_up.wait()
        writer.write(b"200 result=5\n")  # the late reply of GET DATA
        assert await reader.readline() == b"GET VARIABLE CALLERID(num)\n"
        writer.write(b"200 result=1 (13800138000)\n")
        assert await read_all(reader) == b""
    finally:
        writer.close()
    assert flow.got == "13800138000"
    assert server.stats.succeeded == 1


class TimesOutUncaught:
    async def __call__(self, ch: Channel) -> None:
        async with asyncio.timeout(0.2):
            await ch.answer()


async def test_a_flows_own_timeout_left_uncaught_ends_with_failure(
        serve: ServerFactory, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.CRITICAL)
    server = await serve(registry_of(flow=TimesOutUncaught()), session_budget_s=60.0)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        writer.write(env_bytes("flow"))
        assert await reader.readline() == b"ANSWER\n"
        assert await read_all(reader) == FAILURE_LINE
    finally:
        writer.close()
    assert server.stats.failed == 1


class SwallowsCancellation:
    """Catches the cancellation the session budget sends, and returns."""

    async def __call__(self, ch: Channel) -> None:
        await ch.answer()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.Event().wait()


async def test_a_flow_that_swallows_the_budgets_cancellation_still_fails(
        serve: ServerFactory, caplog: pytest.LogCaptureFixture) -> None:
    server = await serve(registry_of(flow=SwallowsCancellation()), session_budget_s=0.4)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        writer.write(env_bytes("flow"))
        assert await reader.readline() == b"ANSWER\n"
        writer.write(b"200 result=0\n")
        assert await read_all(reader) == FAILURE_LINE
    finally:
        writer.close()
    assert [r for r in caplog.records if r.getMessage() == "agi.session_budget_exceeded"]
    assert server.stats.failed == 1 and server.stats.succeeded == 0
