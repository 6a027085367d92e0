"""Each session runs in its own asyncio Task; ``data_received`` feeds the codec and resolves
the futures that Task awaits. These tests pin what that must preserve: events of one TCP
segment are all known before the flow resumes; a flow that awaits other things between
commands still ends with FAILURE on timeouts, budget, shutdown and errors; sessions are
freed by reference counting."""

from __future__ import annotations

import asyncio
import gc
import logging
import weakref
from collections.abc import Iterator
from typing import Any

import pytest

from hotline12345.ivr.channel import Channel, ChannelHungUp
from hotline12345.ivr.protocol import FAILURE_LINE
from hotline12345.ivr.server import FastAgiServer, ServerConfig, _Session
from hotline12345.ivr.simulate import CallScript, capture_like_env, run_session
from tests.waiting import until

from .conftest import ServerFactory, read_all, registry_of


def env_bytes(script: str, uniqueid: str = "1795849847.7") -> bytes:
    return CallScript(capture_like_env(uniqueid=uniqueid, dialled="12345",
                                       caller="13800138000", script=script)).env_bytes()


def events(caplog: pytest.LogCaptureFixture, name: str) -> list[dict[str, Any]]:
    return [getattr(r, "fields", {}) for r in caplog.records if r.getMessage() == name]


class FakeTransport(asyncio.Transport):
    """Records what the server writes; closes as a socket transport does (connection_lost
    soon after, from the loop)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self.loop = loop
        self.written: list[bytes] = []
        self.closing = False
        self.protocol: asyncio.Protocol | None = None

    def write(self, data: bytes | bytearray | memoryview) -> None:
        assert not self.closing, "write after close"
        self.written.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        if not self.closing:
            self.closing = True
            assert self.protocol is not None
            self.loop.call_soon(self.protocol.connection_lost, None)

    def abort(self) -> None:
        self.close()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 40000) if name == "peername" else default


async def session_of(flow: Any, **config: Any) -> tuple[FastAgiServer, _Session, FakeTransport]:
    server = FastAgiServer(registry_of(flow=flow), ServerConfig(port=0, **config))
    server.loop = asyncio.get_running_loop()
    session = _Session(server)
    transport = FakeTransport(server.loop)
    transport.protocol = session
    session.connection_made(transport)
    return server, session, transport


class AnswerThenPlay:
    def __init__(self) -> None:
        self.outcome = ""

    async def __call__(self, ch: Channel) -> None:
        await ch.answer()
        try:
            await ch.stream_file("hotline12345/hold")
        except ChannelHungUp:
            self.outcome = "hung up before the prompt"
            raise
        self.outcome = "played"


async def test_each_reply_resumes_the_sessions_task() -> None:
    flow = AnswerThenPlay()
    server, session, transport = await session_of(flow)
    assert session.task is None  # the flow's Task starts with the complete environment
    session.data_received(env_bytes("flow"))
    assert isinstance(session.task, asyncio.Task)
    await until(lambda: transport.written == [b"ANSWER\n"])
    session.data_received(b"200 result=0\n")
    await until(lambda: len(transport.written) == 2)
    assert transport.written[1] == b'STREAM FILE hotline12345/hold ""\n'
    session.data_received(b"200 result=0 endpos=11234\n")
    await until(lambda: server.active_sessions == 0)
    assert flow.outcome == "played" and transport.closing
    assert transport.written[-1] != FAILURE_LINE
    assert server.stats.succeeded == 1


async def test_hangup_in_the_same_segment_as_the_reply_is_known_before_resuming() -> None:
    flow = AnswerThenPlay()
    server, session, transport = await session_of(flow)
    session.data_received(env_bytes("flow"))
    await until(lambda: transport.written == [b"ANSWER\n"])
    session.data_received(b"200 result=0\nHANGUP\n")
    await until(lambda: server.active_sessions == 0)
    # The flow resumed after the HANGUP line: stream_file() did not send a media command.
    assert transport.written == [b"ANSWER\n"]
    assert flow.outcome == "hung up before the prompt" and transport.closing
    assert server.stats.hung_up == 1 and server.stats.failed == 0


async def test_protocol_error_after_a_reply_in_one_segment() -> None:
    """The reply still reaches the flow; its next command fails the session."""
    flow = AnswerThenPlay()
    server, session, transport = await session_of(flow)
    session.data_received(env_bytes("flow"))
    await until(lambda: transport.written == [b"ANSWER\n"])
    session.data_received(b"200 result=0\nnot AGI at all\n")
    await until(lambda: transport.closing)
    assert transport.written == [b"ANSWER\n", FAILURE_LINE]
    assert flow.outcome == "" and server.stats.failed == 1


async def test_connection_lost_while_waiting_for_a_reply() -> None:
    flow = AnswerThenPlay()
    server, session, transport = await session_of(flow)
    session.data_received(env_bytes("flow"))
    await until(lambda: transport.written == [b"ANSWER\n"])
    transport.closing = True
    session.connection_lost(ConnectionResetError("reset by peer"))
    await until(lambda: server.active_sessions == 0)
    assert server.stats.lost == 1
    assert transport.written == [b"ANSWER\n"]


class Mixed:
    """Awaits other things between commands: asyncio.sleep, a timeout scope, an event."""

    def __init__(self) -> None:
        self.tasks: list[asyncio.Task[Any] | None] = []
        self.got: list[Any] = []

    async def __call__(self, ch: Channel) -> None:
        self.tasks.append(asyncio.current_task())
        await ch.answer()
        await asyncio.sleep(0.01)  # not the channel
        self.tasks.append(asyncio.current_task())
        async with asyncio.timeout(5):
            self.got.append(await ch.get_variable("CALLERID(num)"))
        await asyncio.sleep(0)
        await ch.set_variable("DONE", "1")
        self.got.append(await ch.get_variable("DONE"))


async def test_a_flow_runs_in_one_task_from_start_to_end(
        serve: ServerFactory) -> None:
    flow = Mixed()
    server = await serve(registry_of(mixed=flow))
    r = await run_session("127.0.0.1", server.port, CallScript(capture_like_env(
        uniqueid="1.1", dialled="12345", caller="13800138000", script="mixed")))
    assert r.status == "SUCCESS"
    assert r.commands == ["ANSWER", "GET VARIABLE CALLERID(num)", 'SET VARIABLE DONE "1"',
                          "GET VARIABLE DONE"]
    assert flow.got == ["13800138000", "1"]
    first, later = flow.tasks
    assert isinstance(first, asyncio.Task) and later is first
    assert server.stats.succeeded == 1


class SleepThenWait:
    async def __call__(self, ch: Channel) -> None:
        await asyncio.sleep(0)
        await ch.answer()  # never answered in the tests below


class WaitForever:
    def __init__(self) -> None:
        self.waiting = asyncio.Event()  # set once the flow waits on something else

    async def __call__(self, ch: Channel) -> None:
        await ch.answer()
        self.waiting.set()
        await asyncio.Event().wait()


class SleepThenRaise:
    async def __call__(self, ch: Channel) -> None:
        await ch.answer()
        await asyncio.sleep(0)
        raise RuntimeError("a bug after a sleep")


async def _first_line_then_rest(port: int, script: str) -> tuple[bytes, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(env_bytes(script))
        first = await reader.readline()
        if script in ("forever", "raise"):
            writer.write(b"200 result=0\n")
        return first, await read_all(reader)
    finally:
        writer.close()


async def test_command_timeout_in_a_task(serve: ServerFactory) -> None:
    server = await serve(registry_of(sleep=SleepThenWait()), command_timeout_s=0.3)
    assert await _first_line_then_rest(server.port, "sleep") == (b"ANSWER\n", FAILURE_LINE)
    assert server.stats.failed == 1


async def test_budget_ends_a_flow_waiting_on_something_else(
        serve: ServerFactory, caplog: pytest.LogCaptureFixture) -> None:
    server = await serve(registry_of(forever=WaitForever()), session_budget_s=0.4)
    assert await _first_line_then_rest(server.port, "forever") == (b"ANSWER\n", FAILURE_LINE)
    assert events(caplog, "agi.session_budget_exceeded")
    assert server.stats.failed == 1


async def test_shutdown_ends_a_flow_waiting_on_something_else(serve: ServerFactory) -> None:
    flow = WaitForever()
    server = await serve(registry_of(forever=flow))
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(env_bytes("forever"))
    assert await reader.readline() == b"ANSWER\n"
    writer.write(b"200 result=0\n")
    await asyncio.wait_for(flow.waiting.wait(), 10)
    await server.shutdown(0.1)
    assert await read_all(reader) == FAILURE_LINE
    writer.close()
    assert server.stats.failed == 1 and server.active_sessions == 0


async def test_a_flow_raising_in_a_task_leaves_failure(
        serve: ServerFactory, caplog: pytest.LogCaptureFixture) -> None:
    server = await serve(registry_of(raise_=SleepThenRaise()))
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(env_bytes("raise_"))
    assert await reader.readline() == b"ANSWER\n"
    writer.write(b"200 result=0\n")
    assert await read_all(reader) == FAILURE_LINE
    writer.close()
    [failed] = events(caplog, "agi.session_failed")
    assert failed["error"] == "RuntimeError: a bug after a sleep"


@pytest.fixture
def no_cyclic_gc() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


class Keep:
    """Keeps weak references to each session's channel and session object."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.refs: list[weakref.ref[Any]] = []

    async def __call__(self, ch: Channel) -> None:
        self.refs.append(weakref.ref(ch))
        self.refs.append(weakref.ref(ch._session))  # type: ignore[attr-defined]
        await self.inner(ch)


async def test_sessions_are_freed_by_reference_counting(
        serve: ServerFactory, no_cyclic_gc: None, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.CRITICAL)
    flows = {"play": Keep(AnswerThenPlay()), "mixed": Keep(Mixed())}
    server = await serve(registry_of(**flows))
    scripts = [CallScript(capture_like_env(uniqueid=f"3.{i}", dialled="12345", caller=None,
                                           script=name), hangup_at=1 if i % 2 else None)
               for i, name in enumerate(["play", "play", "mixed", "mixed"] * 3)]
    results = await asyncio.gather(*(run_session("127.0.0.1", server.port, s)
                                     for s in scripts))
    assert {r.status for r in results} == {"SUCCESS", "HANGUP"}
    async with asyncio.timeout(5):
        while server.active_sessions:
            await asyncio.sleep(0.01)
    for _ in range(3):
        await asyncio.sleep(0)
    refs = [r for f in flows.values() for r in f.refs]
    assert len(refs) == 2 * len(scripts)
    assert [r for r in refs if r() is not None] == []
