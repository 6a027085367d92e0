"""Why the controller has its own FastAGI codec: panoramisk 1.4's FastAGI, fed the real
Asterisk 22 session of ../shared/asterisk-22-captures/fastagi-session.log, shows the
faults the README lists. Each test fails the day panoramisk fixes the fault, which is the
signal to reconsider it."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from typing import Any

import pytest
from panoramisk.fast_agi import Application, Request


class _Writer:
    def __init__(self) -> None:
        self.data = b""
        self.closed = False

    def write(self, data: bytes) -> None:
        self.data += data

    async def drain(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str) -> Any:
        return ("127.0.0.1", 4573)


def _reader(data: bytes, eof: bool = True) -> asyncio.StreamReader:
    r = asyncio.StreamReader()
    r.feed_data(data)
    if eof:
        r.feed_eof()
    return r


def test_eof_before_the_blank_line_freezes_the_event_loop(capture_env: bytes) -> None:
    """A peer that closes inside the environment (a health-check probe does) makes
    Application.handler loop on ``reader.read()`` returning b"" without ever yielding:
    the whole event loop stops. Shown without a clock, in a child process: after its first
    read the reader schedules a callback on the loop; if 10,000 reads later that callback
    has still not run, the handler never gave the loop back. (Fixed, the handler would end
    at EOF and the child print "finished".)"""
    script = textwrap.dedent(f"""
        import asyncio, os
        from panoramisk.fast_agi import Application

        class W:
            def write(self, d): pass
            def close(self): pass
            def get_extra_info(self, n): return None

        alive = []

        class Counting(asyncio.StreamReader):
            calls = 0

            async def read(self, n=-1):
                Counting.calls += 1
                if Counting.calls == 1:
                    asyncio.get_running_loop().call_soon(alive.append, True)
                if Counting.calls == 10_000:
                    print("yielded" if alive else "spinning", flush=True)
                    os._exit(0)
                return await super().read(n)

        async def main():
            r = Counting()
            r.feed_data({capture_env[:40]!r})
            r.feed_eof()
            app = Application(loop=asyncio.get_running_loop())
            print("started", flush=True)
            await app.handler(r, W())
            print("finished", flush=True)

        asyncio.run(main())
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=120).stdout
    assert out.split() == ["started", "spinning"], out


async def test_hangup_line_is_taken_as_the_reply() -> None:
    """After the caller hangs up, the HANGUP line is returned as the reply to the next
    command and the real reply (511) is then returned for the command after it."""
    reader = _reader(b"HANGUP\n511 Command Not Permitted on a dead channel or intercept routine\n"
                     b"200 result=1 (q-tax)\n")
    req = Request(None, {}, reader, _Writer())
    first = await req.send_command('STREAM FILE hello-world ""')
    second = await req.send_command("GET VARIABLE ROUTE")
    assert first.get("error") == "AGIResultHangup"
    assert second.get("status_code") == 511  # the answer to STREAM FILE, one late


async def test_multi_line_520_desynchronises(capture: list[tuple[str, bytes]]) -> None:
    """A 520 usage block is read one line too far only: the next command takes a line of
    the usage text as its reply, and panoramisk fails parsing it."""
    start = next(i for i, (d, b) in enumerate(capture) if b == b"STREAM FILE\n")
    block = b""
    for direction, data in capture[start + 1:]:
        if direction != "<":
            break
        block += data
    assert block.startswith(b"520-") and block.endswith(b"520 End of proper usage.\n")
    req = Request(None, {}, _reader(block + b"200 result=-1\n"), _Writer())
    usage = await req.send_command("STREAM FILE")
    assert usage.get("status_code") == 520
    with pytest.raises(ValueError, match="invalid literal for int"):
        await req.send_command("WAIT FOR DIGIT 8000")


async def test_route_with_query_string_is_not_found(capture_env: bytes) -> None:
    called = []

    async def route(request: Request) -> None:
        called.append(request)

    app = Application(loop=asyncio.get_running_loop())
    app.add_route("route", route)
    writer = _Writer()
    await app.handler(_reader(capture_env), writer)  # agi_network_script: route?x=1
    assert called == [] and writer.closed and writer.data == b""  # and no FAILURE either


async def test_handler_exception_is_a_silent_success(capture_env: bytes) -> None:
    async def boom(request: Request) -> None:
        raise RuntimeError("bug")

    app = Application(loop=asyncio.get_running_loop())
    app.add_route("route?x=1", boom)
    writer = _Writer()
    await app.handler(_reader(capture_env), writer)
    assert writer.closed and b"FAILURE" not in writer.data  # Asterisk: AGISTATUS=SUCCESS
