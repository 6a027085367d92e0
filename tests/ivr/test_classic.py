"""Classic AGI (``hotline12345-agi``, one process per call, through pyst2): the same flows as
FastAGI, over stdin/stdout pipes, with Asterisk's side simulated as in
../shared/asterisk-22-captures/fastagi-session.log."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from asterisk.agi import AGI

from hotline12345.calls.recorder import CallRecorder
from hotline12345.calls.store import SqlCallStore
from hotline12345.ivr import classic
from hotline12345.ivr.channel import Channel
from hotline12345.ivr.registry import FlowRegistry
from hotline12345.ivr.server import FastAgiServer, ServerConfig
from hotline12345.ivr.simulate import (
    AsteriskPeer,
    CallScript,
    SessionResult,
    capture_like_env,
    run_session,
)


@pytest.fixture(autouse=True)
def _keep_sighup() -> Iterator[None]:
    previous = signal.getsignal(signal.SIGHUP)  # pyst2's AGI() installs its own handler
    yield
    signal.signal(signal.SIGHUP, previous)


def classic_script(dialled: str, uniqueid: str = "1795849847.5", **kw: object) -> CallScript:
    env = capture_like_env(uniqueid=uniqueid, dialled=dialled, caller="13800138000",
                           caller_name="张三", args=("inbound", dialled, "telecom"))
    del env["agi_network"], env["agi_network_script"]  # classic AGI: a program, no URL
    env["agi_request"] = "hotline12345-agi"
    return CallScript(env, **kw)  # type: ignore[arg-type]


class Pipes:
    """Asterisk's side of a classic AGI process, on a thread, over two pipes."""

    def __init__(self, peer: AsteriskPeer, close_after: bytes | None = None) -> None:
        self.peer = peer
        r_in, self._to_agi = os.pipe()
        self._from_agi, w_out = os.pipe()
        self.stdin = os.fdopen(r_in, "rb")
        self.stdout = os.fdopen(w_out, "w", encoding="utf-8", newline="\n")
        self.close_after = close_after
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        to_agi = os.fdopen(self._to_agi, "wb", buffering=0)
        try:
            to_agi.write(self.peer.start())
            while True:
                data = os.read(self._from_agi, 4096)
                if not data:
                    break
                out = self.peer.receive_data(data)
                if self.close_after is not None and out.startswith(self.close_after):
                    to_agi.write(self.close_after)
                    break  # Asterisk goes away in the middle of a 520 block
                if out:
                    to_agi.write(out)
        except BrokenPipeError:
            pass
        finally:
            to_agi.close()
            self.peer.eof()

    def finish(self) -> None:
        self.stdout.close()
        self.thread.join(10)
        os.close(self._from_agi)
        self.stdin.close()


def run_classic(registry: FlowRegistry, script: CallScript, argv: list[str],
                peer: AsteriskPeer | None = None, **kw: object) -> tuple[int, AsteriskPeer]:
    pipes = Pipes(peer or AsteriskPeer(script), **kw)  # type: ignore[arg-type]
    try:
        rc = classic.run(registry, argv, stdin=pipes.stdin, stdout=pipes.stdout,
                         agi_factory=AGI, budget_s=20)
    finally:
        pipes.finish()
    return rc, pipes.peer


def fastagi_run(registry: FlowRegistry, script: CallScript) -> SessionResult:
    async def go() -> SessionResult:
        server = FastAgiServer(registry, ServerConfig(port=0))
        await server.start()
        try:
            return await run_session("127.0.0.1", server.port, script)
        finally:
            await server.shutdown(1)

    return asyncio.run(go())


@pytest.mark.parametrize(("dialled", "digits"), [("12317", []), ("12366", []), ("110", []),
                                                 ("12345", ["1"]), ("12345", ["", ""])])
def test_classic_runs_the_same_flow_as_fastagi(registry: FlowRegistry, store: SqlCallStore,
                                               recorder: CallRecorder, dialled: str,
                                               digits: list[str]) -> None:
    fast = fastagi_run(registry, CallScript(
        capture_like_env(uniqueid="1795849847.5", dialled=dialled, caller="13800138000",
                         caller_name="张三", args=(dialled, "telecom")), digits=list(digits)))
    assert fast.status == "SUCCESS"
    recorder.flush(5)
    fast_row = store.get("1795849847.5")
    assert fast_row is not None

    rc, peer = run_classic(registry, classic_script(dialled, digits=list(digits)),
                           ["inbound", dialled, "telecom"])
    assert rc == 0 and peer.status == "SUCCESS"
    assert peer.commands == fast.commands
    assert peer.variables == fast.variables
    recorder.flush(5)
    assert store.get("1795849847.5") == fast_row


def test_classic_hangup_ends_quietly(registry: FlowRegistry) -> None:
    rc, peer = run_classic(registry, classic_script("12317", hangup_at=1),
                           ["inbound", "12317", "telecom"])
    assert rc == 0 and peer.status == "HANGUP" and not peer.failure
    assert peer.commands == ["ANSWER", 'STREAM FILE hotline12345/now-12345 ""']


def test_classic_error_writes_failure_and_exits_1(registry: FlowRegistry) -> None:
    rc, peer = run_classic(registry, classic_script("not-a-number"),
                           ["inbound", "not-a-number", "telecom"])
    assert rc == 1 and peer.failure and peer.status == "FAILURE"
    rc, peer = run_classic(registry, classic_script("12317"), ["nosuchflow"])
    assert rc == 1 and peer.failure


def test_classic_cut_short_environment_fails(registry: FlowRegistry) -> None:
    script = classic_script("12317")
    del script.env["agi_uniqueid"]  # as if the pipe closed before it
    rc, peer = run_classic(registry, script, ["inbound"])
    assert rc == 1 and peer.failure and peer.commands == []


def test_classic_survives_eof_inside_a_520_block() -> None:
    """pyst2's get_result() loops forever when the pipe closes inside a 520- block; the
    classic channel reads replies with our codec and gives up cleanly."""

    class BareStream:
        async def __call__(self, ch: Channel) -> None:
            await ch.execute("STREAM FILE")

    registry = FlowRegistry()
    registry.register("usage", BareStream())
    script = classic_script("12317")
    rc, peer = run_classic(registry, script, ["usage"],
                           close_after=b"520-Invalid command syntax.  Proper usage follows:\n")
    assert rc == 1 and peer.commands == ["STREAM FILE"]


def test_classic_quotes_what_pyst2_would_not() -> None:
    """pyst2's _quote() neither escapes quotes nor refuses line breaks; our formatting does."""

    class Injects:
        async def __call__(self, ch: Channel) -> None:
            await ch.set_variable("NAME", 'x" \nEXEC Hangup')

    registry = FlowRegistry()
    registry.register("inject", Injects())
    rc, peer = run_classic(registry, classic_script("12317"), ["inject"])
    assert rc == 1 and peer.commands == []  # refused before anything was written


def test_the_installed_entry_point(tmp_path: Path) -> None:
    """``hotline12345-agi`` as Asterisk starts it: one process for one call."""
    exe = Path(sys.executable).with_name("hotline12345-agi")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "hotline12345.ivr.classic"]
    env = dict(os.environ, HOTLINE12345_DATA_DIR=str(tmp_path))
    proc = subprocess.Popen([*cmd, "inbound", "12366", "telecom"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    assert proc.stdin is not None and proc.stdout is not None
    peer = AsteriskPeer(classic_script("12366", uniqueid="1795849847.42"))
    proc.stdin.write(peer.start())
    proc.stdin.flush()
    for line in proc.stdout:
        out = peer.receive_data(line)
        if out:
            proc.stdin.write(out)
            proc.stdin.flush()
    proc.stdin.close()
    assert proc.wait(60) == 0, proc.stderr.read() if proc.stderr else ""
    assert peer.status == "SUCCESS" and peer.variables["HOTLINE_ACTION"] == "sub_centre"
    stderr = proc.stderr.read().decode() if proc.stderr else ""
    assert "13800138000" not in stderr  # pyst2's environment dump is silenced
    store = SqlCallStore(f"sqlite:///{tmp_path / 'hotline12345.sqlite3'}")
    row = store.get("1795849847.42")
    store.close()
    assert row is not None and row.action == "sub_centre" and row.caller == "13800138000"
