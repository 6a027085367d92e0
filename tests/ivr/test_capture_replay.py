"""Replays ../shared/asterisk-22-captures/fastagi-session.log byte for byte over real TCP.

The test plays Asterisk 22.10.1: it sends every captured ``<`` line exactly as captured and
checks that the server writes every captured ``>`` line exactly, in order. The server side
is the product's FastAGI server running a flow that issues the captured commands through
the shared :class:`~hotline12345.ivr.channel.Channel` helpers.
"""

from __future__ import annotations

import asyncio
from typing import Any

from hotline12345.ivr.channel import Channel, ChannelHungUp
from hotline12345.ivr.protocol import Quoted
from hotline12345.ivr.registry import FlowRegistry

from .conftest import ServerFactory, read_all


class CapturedScript:
    """The server side of the captured session."""

    def __init__(self) -> None:
        self.seen: dict[str, Any] = {}

    async def __call__(self, ch: Channel) -> None:
        seen = self.seen
        seen["script"], seen["query"], seen["args"] = ch.env.script, ch.env.query, ch.env.args
        seen["dnid"] = ch.env.dnid
        await ch.answer()
        seen["num"] = await ch.get_variable("CALLERID(num)")
        seen["name"] = await ch.get_variable("CALLERID(name)")
        await ch.set_variable("ROUTE", "q-tax")
        seen["stream"] = await ch.stream_file("hello-world")
        seen["digits"] = await ch.get_data("beep", 3000, 4)
        seen["digit"] = await ch.wait_for_digit(2000)
        seen["exec"] = (await ch.execute("EXEC", "Playback", "silence/1")).result
        seen["channel"] = (await ch.execute("GET FULL VARIABLE", "${CHANNEL}")).data
        seen["unknown"] = (await ch.execute("FOO BAR")).code
        usage = await ch.execute("STREAM FILE")
        seen["usage"] = (usage.code, usage.text.splitlines()[-1])
        try:
            await ch.wait_for_digit(8000)
        except ChannelHungUp:
            seen["hangup_during"] = "WAIT FOR DIGIT"
        # The capture sends a media command after the hangup, so this one goes out raw
        # (stream_file() would not send it once the HANGUP line has arrived).
        seen["after_hangup"] = (await ch.execute("STREAM FILE", "hello-world", Quoted(""))).code
        seen["hung_up"] = ch.hung_up
        seen["route"] = await ch.get_variable("ROUTE")
        await ch.execute("SET VARIABLE", "DONE", "1")
        await ch.verbose("after hangup", 1)


async def test_replay_captured_session_byte_for_byte(
        serve: ServerFactory, capture: list[tuple[str, bytes]]) -> None:
    flow = CapturedScript()
    registry = FlowRegistry()
    registry.register("route", flow)
    server = await serve(registry)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        for direction, data in capture:
            if direction == "<":
                writer.write(data)  # one write per captured line, as Asterisk's fprintf
                await writer.drain()
            else:
                async with asyncio.timeout(10):
                    got = await reader.readexactly(len(data))
                assert got == data
        rest = await read_all(reader)
    finally:
        writer.close()
    assert rest == b""  # closed without a FAILURE line: AGISTATUS=SUCCESS
    assert flow.seen == {
        "script": "route", "query": {"x": "1"}, "args": ("arg1", "中文"), "dnid": None,
        "num": "13800138000", "name": "张三", "stream": "", "digits": "123", "digit": "",
        "exec": 0, "channel": "Local/s@caller-00000001;1", "unknown": 510,
        "usage": (520, "520 End of proper usage."), "hangup_during": "WAIT FOR DIGIT",
        "after_hangup": 511, "hung_up": True,
        "route": "q-tax",
    }
    assert server.stats.succeeded == 1 and server.stats.failed == 0


async def test_replay_with_the_whole_environment_in_one_write(
        serve: ServerFactory, capture: list[tuple[str, bytes]], capture_env: bytes) -> None:
    """Same session, Asterisk's bytes coalesced differently (env in one segment, replies
    byte by byte): the server's bytes are identical."""
    flow = CapturedScript()
    registry = FlowRegistry()
    registry.register("route", flow)
    server = await serve(registry)
    first_command = next(i for i, (d, _) in enumerate(capture) if d == ">")
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        writer.write(capture_env)
        for direction, data in capture[first_command:]:
            if direction == "<":
                for i in range(len(data)):
                    writer.write(data[i:i + 1])
                    await writer.drain()
                continue
            async with asyncio.timeout(10):
                assert await reader.readexactly(len(data)) == data
        assert await read_all(reader) == b""
    finally:
        writer.close()
    assert flow.seen["hung_up"] is True and flow.seen["route"] == "q-tax"
