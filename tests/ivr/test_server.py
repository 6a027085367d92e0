"""The FastAGI server over real TCP: bad peers, deadlines, FAILURE on errors, the session
cap, the allow-list, graceful shutdown and isolation of concurrent sessions. Asterisk's
side follows ../shared/asterisk-22-captures/fastagi-session.log."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from hotline12345.ivr.channel import Channel
from hotline12345.ivr.protocol import FAILURE_LINE, Limits
from hotline12345.ivr.registry import FlowRegistry
from hotline12345.ivr.server import ServerConfig
from hotline12345.ivr.simulate import CallScript, capture_like_env, run_session

from .conftest import ServerFactory, read_all, registry_of


class Echo:
    """Reads the caller through Asterisk and echoes it with the uniqueid into variables."""

    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self, ch: Channel) -> None:
        self.calls += 1
        number = await ch.get_variable("CALLERID(num)")
        await ch.stream_file("hotline12345/hold")
        await ch.set_variable("ECHO", f"{ch.env.uniqueid}|{number}|{','.join(ch.env.args)}")


class Raises:
    async def __call__(self, ch: Channel) -> None:
        await ch.answer()
        raise RuntimeError("a bug in a flow")


class Waits:
    """Sends one command, then waits for its reply as long as it takes."""

    def __init__(self) -> None:
        self.done = 0

    async def __call__(self, ch: Channel) -> None:
        await ch.answer()
        self.done += 1


class Loops:
    async def __call__(self, ch: Channel) -> None:
        while True:
            await ch.execute("NOOP")


def env_bytes(script: str = "echo", uniqueid: str = "1795849847.2", **kw: Any) -> bytes:
    return CallScript(capture_like_env(uniqueid=uniqueid, dialled="12345",
                                       caller=kw.pop("caller", "13800138000"),
                                       script=script, **kw)).env_bytes()


def events(caplog: pytest.LogCaptureFixture, name: str) -> list[dict[str, Any]]:
    return [getattr(r, "fields", {}) for r in caplog.records if r.getMessage() == name]


async def test_garbage_environment_fails_that_session_only(
        serve: ServerFactory, caplog: pytest.LogCaptureFixture) -> None:
    echo = Echo()
    server = await serve(registry_of(echo=echo))
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"GET / HTTP/1.1\r\nHost: controller\r\n\r\n")
    assert await read_all(reader) == FAILURE_LINE
    writer.close()
    ok = await run_session("127.0.0.1", server.port,
                           CallScript(capture_like_env(uniqueid="1.2", dialled="12345",
                                                       caller="13800138000", script="echo")))
    assert ok.status == "SUCCESS" and ok.variables["ECHO"] == "1.2|13800138000|"
    [err] = events(caplog, "agi.protocol_error")
    assert err["phase"] == "environment" and err["line"] == 1
    assert "expected 'agi_name: value'" in err["error"]
    assert echo.calls == 1


async def test_oversized_line_is_refused_before_its_end(serve: ServerFactory) -> None:
    server = await serve(registry_of(echo=Echo()), limits=Limits(max_line_bytes=1024))
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"agi_request: " + b"x" * 5000)  # never a newline
    assert await read_all(reader) == FAILURE_LINE
    writer.close()
    assert server.stats.bad_environment == 1


async def test_slow_loris_is_cut_off_and_others_are_served(
        serve: ServerFactory, capture_env: bytes, caplog: pytest.LogCaptureFixture) -> None:
    echo = Echo()
    server = await serve(registry_of(route=echo, echo=echo), env_timeout_s=0.5)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)

    async def trickle() -> int:
        sent = 0
        for i in range(len(capture_env) - 2):  # never the blank line
            if writer.is_closing() or reader.at_eof():
                break
            writer.write(capture_env[i:i + 1])
            sent += 1
            await asyncio.sleep(0.02)
        return sent

    loris = asyncio.create_task(trickle())
    normal = await run_session("127.0.0.1", server.port, CallScript(capture_like_env(
        uniqueid="9.9", dialled="12345", caller="13900139000", script="echo")))
    assert normal.status == "SUCCESS"
    assert await read_all(reader, timeout=20) == FAILURE_LINE
    sent = await loris
    writer.close()
    assert sent < len(capture_env) - 2
    [timeout] = events(caplog, "agi.env_timeout")
    assert timeout["received_bytes"] > 0
    assert echo.calls == 1


async def test_eof_at_every_byte_offset_ends_that_session_only(
        serve: ServerFactory, capture_env: bytes) -> None:
    echo = Echo()
    server = await serve(registry_of(route=echo))

    async def cut_at(k: int) -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(capture_env[:k])
        writer.write_eof()
        try:
            return await read_all(reader)
        finally:
            writer.close()

    for start in range(0, len(capture_env), 64):
        got = await asyncio.gather(*(cut_at(k) for k in
                                     range(start, min(start + 64, len(capture_env)))))
        for k, data in enumerate(got, start):
            assert data == (b"" if k == 0 else FAILURE_LINE), k  # k == 0: a bare TCP probe
    assert echo.calls == 0
    assert server.stats.bad_environment == len(capture_env) - 1
    # The server is still serving: the whole environment runs the flow.
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(capture_env)
    assert await reader.readline() == b"GET VARIABLE CALLERID(num)\n"
    writer.close()
    assert server.active_sessions <= 1


async def test_a_flow_that_raises_leaves_agistatus_failure(
        serve: ServerFactory, caplog: pytest.LogCaptureFixture) -> None:
    server = await serve(registry_of(boom=Raises()))
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(env_bytes("boom"))
    assert await reader.readline() == b"ANSWER\n"
    writer.write(b"200 result=0\n")
    assert await read_all(reader) == FAILURE_LINE  # run_agi(): "failure" -> AGISTATUS=FAILURE
    writer.close()
    [failed] = events(caplog, "agi.session_failed")
    assert failed["error"] == "RuntimeError: a bug in a flow"
    assert failed["uniqueid"] == "1795849847.2"
    assert server.stats.failed == 1 and server.stats.succeeded == 0


async def test_a_flow_that_raises_seen_from_the_simulated_asterisk(serve: ServerFactory) -> None:
    server = await serve(registry_of(boom=Raises()))
    r = await run_session("127.0.0.1", server.port,
                          CallScript(capture_like_env(uniqueid="1.1", dialled="12345",
                                                      caller=None, script="boom")))
    assert r.status == "FAILURE" and r.commands == ["ANSWER"]


async def test_unknown_flow_fails(serve: ServerFactory, caplog: pytest.LogCaptureFixture) -> None:
    server = await serve(registry_of(echo=Echo()))
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(env_bytes("nosuchflow", query="a=1"))
    assert await read_all(reader) == FAILURE_LINE
    writer.close()
    [err] = events(caplog, "agi.unknown_flow")
    assert err["script"] == "nosuchflow" and err["known"] == ["echo"]


async def test_command_timeout_fails_the_session(serve: ServerFactory) -> None:
    server = await serve(registry_of(wait=Waits()), command_timeout_s=0.3)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(env_bytes("wait"))
    assert await reader.readline() == b"ANSWER\n"
    assert await read_all(reader) == FAILURE_LINE  # no reply: timed out
    writer.close()


async def test_session_budget_fails_the_session(
        serve: ServerFactory, caplog: pytest.LogCaptureFixture) -> None:
    server = await serve(registry_of(loop=Loops()), session_budget_s=0.4)
    r = await run_session("127.0.0.1", server.port, CallScript(capture_like_env(
        uniqueid="1.1", dialled="12345", caller=None, script="loop")))
    assert r.status == "FAILURE" and len(r.commands) > 1
    assert events(caplog, "agi.session_budget_exceeded")


async def test_garbage_reply_mid_flow_fails(serve: ServerFactory) -> None:
    server = await serve(registry_of(wait=Waits()))
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(env_bytes("wait"))
    assert await reader.readline() == b"ANSWER\n"
    writer.write(b"this is not AGI\n")
    assert await read_all(reader) == FAILURE_LINE
    writer.close()


async def test_session_cap(serve: ServerFactory, caplog: pytest.LogCaptureFixture) -> None:
    waits = Waits()
    server = await serve(registry_of(wait=waits), max_sessions=2)
    held = []
    for i in range(2):
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(env_bytes("wait", uniqueid=f"1.{i}"))
        assert await reader.readline() == b"ANSWER\n"
        held.append((reader, writer))
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    assert await read_all(reader) == FAILURE_LINE  # over the cap: the dialplan's fallback
    writer.close()
    [reached] = events(caplog, "agi.capacity_reached")
    assert reached["max_sessions"] == 2
    for r, w in held:
        w.write(b"200 result=0\n")
        assert await read_all(r) == b""
        w.close()
    async with asyncio.timeout(5):
        while server.active_sessions:
            await asyncio.sleep(0.01)
    assert events(caplog, "agi.capacity_recovered")
    ok = await run_session("127.0.0.1", server.port, CallScript(capture_like_env(
        uniqueid="2.1", dialled="12345", caller=None, script="wait")))
    assert ok.status == "SUCCESS"
    assert server.stats.rejected_capacity == 1 and waits.done == 3


async def test_allow_list_refuses_other_hosts(
        serve: ServerFactory, caplog: pytest.LogCaptureFixture) -> None:
    echo = Echo()
    server = await serve(registry_of(echo=echo), allowed_hosts=("10.1.2.3", "192.168.0.0/16"))
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(env_bytes())
    try:
        data = await read_all(reader)
    except ConnectionResetError:
        data = b""
    writer.close()
    assert data == b""
    assert echo.calls == 0 and server.stats.refused_peer == 1
    [refused] = events(caplog, "agi.peer_refused")
    assert refused["peer"] == "127.0.0.1"


async def test_binds_loopback_by_default(serve: ServerFactory) -> None:
    assert ServerConfig().host == "127.0.0.1" and ServerConfig().port == 4573
    server = await serve(registry_of(echo=Echo()))
    assert server._server is not None
    assert server._server.sockets[0].getsockname()[0] == "127.0.0.1"


async def test_health_probe_is_quiet(serve: ServerFactory,
                                     caplog: pytest.LogCaptureFixture) -> None:
    server = await serve(registry_of(echo=Echo()))
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write_eof()
    assert await read_all(reader) == b""
    writer.close()
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


async def test_graceful_shutdown_lets_running_sessions_finish(serve: ServerFactory) -> None:
    waits = Waits()
    server = await serve(registry_of(wait=waits))
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(env_bytes("wait"))
    assert await reader.readline() == b"ANSWER\n"
    stopping = asyncio.create_task(server.shutdown(10))
    async with asyncio.timeout(5):  # stops accepting at once
        while True:
            try:
                _, w = await asyncio.open_connection("127.0.0.1", server.port)
            except OSError:
                break
            w.close()
            await asyncio.sleep(0.01)
    assert not stopping.done()
    writer.write(b"200 result=0\n")  # the running call finishes normally
    assert await read_all(reader) == b""
    writer.close()
    await asyncio.wait_for(stopping, 10)
    assert waits.done == 1 and server.stats.succeeded == 1


async def test_shutdown_past_grace_fails_the_stragglers(serve: ServerFactory) -> None:
    server = await serve(registry_of(wait=Waits()))
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(env_bytes("wait"))
    assert await reader.readline() == b"ANSWER\n"
    await server.shutdown(0.2)
    assert await read_all(reader) == FAILURE_LINE
    writer.close()
    assert server.stats.failed == 1


async def test_concurrent_sessions_stay_isolated(serve: ServerFactory) -> None:
    echo = Echo()
    server = await serve(registry_of(echo=echo))
    scripts = [CallScript(capture_like_env(uniqueid=f"1795849847.{i}", dialled="12345",
                                           caller=f"139{i:08d}", script="echo",
                                           args=(f"arg{i}", "中文")),
                          hangup_at=1 if i % 7 == 0 else None)
               for i in range(200)]
    results = await asyncio.gather(*(run_session("127.0.0.1", server.port, s) for s in scripts))
    for i, r in enumerate(results):
        if i % 7 == 0:  # hung up during the prompt: the flow stops there
            assert r.status == "HANGUP" and "ECHO" not in r.variables, i
            assert r.commands == ["GET VARIABLE CALLERID(num)", 'STREAM FILE hotline12345/hold ""']
        else:
            assert r.status == "SUCCESS", i
            assert r.variables["ECHO"] == f"1795849847.{i}|139{i:08d}|arg{i},中文", i
    assert echo.calls == 200 and server.stats.failed == 0
    assert server.stats.hung_up == len(range(0, 200, 7))


def test_configuration_errors_name_the_field() -> None:
    with pytest.raises(ValueError, match="AGI port 70000"):
        ServerConfig(port=70000)
    with pytest.raises(ValueError, match=r"allowed Asterisk host 'asterisk\.local'"):
        ServerConfig(allowed_hosts=("asterisk.local",))
    with pytest.raises(ValueError, match="max_sessions"):
        ServerConfig(max_sessions=0)
    with pytest.raises(ValueError, match="command_timeout_s"):
        ServerConfig(command_timeout_s=0)
    r = FlowRegistry()
    r.register("echo", Echo())
    with pytest.raises(ValueError, match="already registered"):
        r.register("echo", Echo())
    with pytest.raises(ValueError, match="flow name 'Echo Flow'"):
        r.register("Echo Flow", Echo())
