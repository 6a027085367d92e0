"""FastAGI controller benchmark: routed sessions/s against a bare asyncio FastAGI server.

In one run, on one core for the servers (``os.sched_setaffinity``) and another core for
the Asterisk-side load generator (``hotline12345.ivr.simulate``, real TCP on 127.0.0.1),
500 concurrent sessions:

1. **routed**: the real controller as ``hotline12345 serve`` runs it (``FastAgiServer`` +
   the explicit flow registry + the routing core on the shipped default site + the SQLite
   call store, write-behind + the per-call INFO log line, to a file + the live queue-load
   board + ``settle_process()``);
2. **bare** (the baseline): an idiomatic asyncio streams FastAGI server
   (``asyncio.start_server``) that reads the environment to the blank line, then sends,
   for the dialled number, the very command sequence the routed controller sent for it,
   reading each reply line; no parsing, routing, storage or logging;
3. **bare Protocol** (a stricter reference, printed beside): the same with an
   ``asyncio.Protocol`` that counts reply newlines instead of reading lines;
4. **pyst2**: the classic entry point ``hotline12345-agi`` run once per call, as Asterisk
   does for classic AGI (one process per call), driven over its stdin/stdout.

The servers are measured in turn, ``--rounds`` times, each round in a rotated order (so
that a slow drift of the machine's speed favours none of them); figures are medians over
the rounds, and ratios are medians of each round's own ratio, printed with their range.
Besides sessions/s the bench prints each server's CPU µs per session (user + system, its
writer thread included) and says when the load generator, not the server, was the limit.

The last line is ``routed_per_s=… bare_per_s=… ratio=… pyst2_per_s=… p99_ms=…``.
Targets: ratio ≥ 0.8 and routed ≥ 2000 sessions/s.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import logging
import multiprocessing as mp
import os
import pstats
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from pathlib import Path

from hotline12345.ivr.simulate import (
    AsteriskPeer,
    CallScript,
    LoadReport,
    capture_like_env,
    run_load_sync,
    run_session,
)

DIALLED = ("12345", "12317", "12366", "110", "12315", "12320")


def _pin(core: int | None) -> None:
    if core is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {core})


def _cores() -> tuple[int | None, int | None]:
    if not hasattr(os, "sched_getaffinity"):
        return None, None
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) >= 2:
        return cores[0], cores[1]
    return cores[0], cores[0]


# --------------------------------------------------------------------------------------
# Server processes


def _serve_routed(conn: Connection, core: int | None, data_dir: str, profile: str) -> None:
    _pin(core)
    from hotline12345.app import settle_process
    from hotline12345.calls.recorder import CallRecorder
    from hotline12345.calls.store import SqlCallStore
    from hotline12345.config import load_site
    from hotline12345.db.migrate import upgrade
    from hotline12345.ivr.flows import Services, build_registry
    from hotline12345.ivr.queue_load import QueueLoadBoard
    from hotline12345.ivr.server import FastAgiServer, ServerConfig
    from hotline12345.logs import setup_logging
    from hotline12345.paths import database_url
    from hotline12345.routing import Router

    setup_logging("INFO")
    handler = logging.FileHandler(Path(data_dir) / "controller.log")
    handler.setFormatter(logging.getLogger().handlers[0].formatter)
    logging.getLogger().handlers[:] = [handler]  # production-like INFO logs, to a file

    upgrade(database_url(Path(data_dir)))  # as serve does at start-up
    store = SqlCallStore(database_url(Path(data_dir)))
    recorder = CallRecorder(store)
    board = QueueLoadBoard()  # as serve: empty here (no AMI), read by every decision
    registry = build_registry(Services(Router(load_site(None)), recorder, queue_load=board))
    server = FastAgiServer(registry, ServerConfig(port=0, max_sessions=5000))

    async def main() -> None:
        await server.start()
        settle_process()  # as `hotline12345 serve` does once started
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        conn.send(server.port)
        await stop.wait()
        await server.shutdown(5)

    prof = cProfile.Profile() if profile else None
    if prof:
        prof.enable()
    asyncio.run(main())
    if prof:
        prof.disable()
        prof.dump_stats(profile)
    recorder.close()
    conn.send(store.count())


class _Bare(asyncio.Protocol):
    """Sends a fixed command sequence, one command per reply line; no logic."""

    def __init__(self, sequences: dict[bytes, list[bytes]]) -> None:
        self.sequences = sequences
        self.buf = b""
        self.todo: list[bytes] = []
        self.started = False
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        if not self.started:
            self.buf += data
            end = self.buf.find(b"\n\n")
            if end < 0:
                return
            at = self.buf.find(b"\nagi_extension: ")
            ext = self.buf[at + 16:self.buf.find(b"\n", at + 16)]
            self.todo = list(reversed(self.sequences[ext]))
            self.started = True
            self.transport.write(self.todo.pop())
            return
        for _ in range(data.count(b"\n")):
            if self.todo:
                self.transport.write(self.todo.pop())
            else:
                self.transport.close()
                return


def _serve_bare(conn: Connection, core: int | None, sequences: dict[bytes, list[bytes]],
                streams: bool) -> None:
    _pin(core)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        env = await reader.readuntil(b"\n\n")
        at = env.find(b"\nagi_extension: ")
        for command in sequences[env[at + 16:env.find(b"\n", at + 16)]]:
            writer.write(command)
            await reader.readline()
        writer.close()

    async def main() -> None:
        loop = asyncio.get_running_loop()
        if streams:
            server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=1024,
                                                reuse_address=True)
        else:
            server = await loop.create_server(lambda: _Bare(sequences), "127.0.0.1", 0,
                                              backlog=1024, reuse_address=True)
        stop = asyncio.Event()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        conn.send(server.sockets[0].getsockname()[1])
        await stop.wait()
        server.close()

    asyncio.run(main())
    conn.send(0)


# --------------------------------------------------------------------------------------
# Load


def _scripts(count: int, port: int, start: int = 0) -> list[CallScript]:
    out = []
    for i in range(start, start + count):
        dialled = DIALLED[i % len(DIALLED)]
        env = capture_like_env(uniqueid=f"1795849847.{i}", dialled=dialled,
                               caller=f"138{i % 10**8:08d}", caller_name="张三",
                               script="inbound", port=port)
        out.append(CallScript(env, digits=["2"]))
    return out


def _busy(report: LoadReport, cpu_us: float) -> int:
    """How busy the server's core was: below ~90 % the load generator was the limit."""
    return round(cpu_us * report.per_s / 1e4)


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process (Linux /proc), 0 where unavailable."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _load(port: int, pid: int, count: int, concurrency: int, warmup: int,
          start: int = 0) -> tuple[LoadReport, float]:
    """Warm up, then measure; also returns the server's CPU µs per measured session.
    ``start``: the first uniqueid's sequence number (each round's calls are new calls)."""
    if warmup:
        run_load_sync("127.0.0.1", port, _scripts(warmup, port, 10**7),
                      concurrency=concurrency)
    scripts = _scripts(count, port, start)
    for s in scripts:
        s.env_bytes()
    cpu0 = _cpu_s(pid)
    report = run_load_sync("127.0.0.1", port, scripts, concurrency=concurrency)
    cpu_us = (_cpu_s(pid) - cpu0) / max(1, report.sessions) * 1e6
    return report, cpu_us


async def _record_sequences(port: int) -> dict[bytes, list[bytes]]:
    sequences: dict[bytes, list[bytes]] = {}
    for script in _scripts(len(DIALLED), port, 10**8):
        dialled = script.env["agi_extension"]
        r = await run_session("127.0.0.1", port, script)
        if r.status != "SUCCESS":
            raise SystemExit(f"routed controller failed a {dialled} call: {r.status} {r.error}")
        sequences[dialled.encode()] = [(c + "\n").encode() for c in r.commands]
    assert sorted(sequences) == sorted(d.encode() for d in DIALLED)
    return sequences


def _start(target: Callable[..., None],
           args: tuple[object, ...]) -> tuple[mp.process.BaseProcess, Connection, int]:
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=target, args=(child, *args), daemon=True)
    proc.start()
    if not parent.poll(60):
        proc.kill()
        raise SystemExit("server process did not start within 60 s")
    return proc, parent, int(parent.recv())


def _stop(proc: mp.process.BaseProcess, conn: Connection) -> int:
    assert proc.pid is not None
    os.kill(proc.pid, signal.SIGTERM)
    result = int(conn.recv()) if conn.poll(30) else -1
    proc.join(10)
    return result


# --------------------------------------------------------------------------------------
# pyst2: one process per call


def _agi_command() -> list[str]:
    script = Path(sys.executable).with_name("hotline12345-agi")
    if script.exists():
        return [str(script), "inbound"]
    found = shutil.which("hotline12345-agi")
    return [found, "inbound"] if found else [sys.executable, "-m", "hotline12345.ivr.classic",
                                              "inbound"]


def _classic_call(cmd: Sequence[str], script: CallScript, env: dict[str, str],
                  core: int | None) -> str:
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, env=env)
    if core is not None and hasattr(os, "sched_setaffinity"):
        with contextlib.suppress(OSError):
            os.sched_setaffinity(proc.pid, {core})
    assert proc.stdin is not None and proc.stdout is not None
    peer = AsteriskPeer(script)
    proc.stdin.write(peer.start())
    proc.stdin.flush()
    while True:
        line = proc.stdout.readline()
        if not line:
            break
        out = peer.receive_data(line)
        if peer.failure:
            break
        if out:
            proc.stdin.write(out)
            proc.stdin.flush()
    peer.eof()
    with contextlib.suppress(BrokenPipeError):
        proc.stdin.close()
    rc = proc.wait(30)
    return "FAILURE" if rc != 0 else peer.status


def _pyst2(calls: int, core: int | None, data_dir: str) -> tuple[float, dict[str, int]]:
    cmd = _agi_command()
    env = dict(os.environ, HOTLINE12345_DATA_DIR=data_dir)
    scripts = _scripts(calls + 1, 0, 2 * 10**7)
    for s in scripts:  # classic AGI: no agi_network*, the script is the program
        s.env.pop("agi_network", None)
        s.env.pop("agi_network_script", None)
        s.env["agi_request"] = cmd[0]
        s.env["agi_arg_1"] = "inbound"
    outcomes: dict[str, int] = {}
    _classic_call(cmd, scripts[0], env, core)  # warm the file cache
    t0 = time.perf_counter()
    for s in scripts[1:]:
        status = _classic_call(cmd, s, env, core)
        outcomes[status] = outcomes.get(status, 0) + 1
    return calls / (time.perf_counter() - t0), outcomes


# --------------------------------------------------------------------------------------


def _line(name: str, report: LoadReport, cpu: float, extra: str = "") -> str:
    return (f"{name:22s}{report.per_s:8.0f} sessions/s  p50 {report.percentile(50):.1f} ms  "
            f"p99 {report.percentile(99):.1f} ms  server CPU {cpu:.0f} µs/session "
            f"(core {_busy(report, cpu)}% busy)  {dict(report.outcomes)}{extra}")


def _load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    ap.add_argument("--sessions", type=int, default=8000,
                    help="measured sessions per server and round")
    ap.add_argument("--rounds", type=int, default=9, help="rounds of the three servers")
    ap.add_argument("--warmup", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=500)
    ap.add_argument("--pyst2-calls", type=int, default=20)
    ap.add_argument("--profile", metavar="FILE", default="",
                    help="profile the routed server process into FILE and print its top 30")
    args = ap.parse_args(argv)
    if args.rounds < 1 or args.sessions < 1:
        ap.error("--rounds and --sessions must be at least 1")

    server_core, client_core = _cores()
    _pin(client_core)
    print(f"cores: servers {server_core}, load generator {client_core}; "
          f"{args.concurrency} concurrent sessions, {args.sessions} measured per server, "
          f"{args.rounds} round(s); load average {_load_average()}")
    names = ("routed", "bare", "protocol")
    runs: dict[str, list[tuple[LoadReport, float]]] = {n: [] for n in names}
    with tempfile.TemporaryDirectory(prefix="agi-bench-") as tmp:
        servers = {"routed": _start(_serve_routed, (server_core, tmp, args.profile))}
        sequences = asyncio.run(_record_sequences(servers["routed"][2]))
        servers["bare"] = _start(_serve_bare, (server_core, sequences, True))
        servers["protocol"] = _start(_serve_bare, (server_core, sequences, False))
        lengths = sorted({len(v) for v in sequences.values()})
        for r in range(args.rounds):
            for name in names[r % 3:] + names[:r % 3]:  # rotated: no server always first
                proc, _, port = servers[name]
                assert proc.pid is not None
                runs[name].append(_load(port, proc.pid, args.sessions, args.concurrency,
                                        args.warmup if r == 0 else 0, r * args.sessions))
            (routed, rc), (bare, bc), (prot, pc) = (runs[n][-1] for n in names)
            print(f"round {r + 1}: routed {routed.per_s:.0f}/s {rc:.0f} µs, bare (streams) "
                  f"{bare.per_s:.0f}/s {bc:.0f} µs, bare Protocol {prot.per_s:.0f}/s "
                  f"{pc:.0f} µs", flush=True)
        stored = _stop(*servers["routed"][:2])
        for name in ("bare", "protocol"):
            _stop(*servers[name][:2])
        pyst2_per_s, outcomes = _pyst2(args.pyst2_calls, server_core, tmp)

    def median_run(name: str) -> tuple[LoadReport, float]:
        ordered = sorted(runs[name], key=lambda run: run[0].per_s)
        return ordered[(len(ordered) - 1) // 2]

    def median(values: list[float]) -> float:
        ordered = sorted(values)
        return ordered[(len(ordered) - 1) // 2]

    (routed, routed_cpu), (bare, bare_cpu), (prot, prot_cpu) = (median_run(n) for n in names)
    print(_line("routed (controller):", routed, routed_cpu,
                f"  {stored} calls stored; {lengths[0]}-{lengths[-1]} commands per session"))
    print(_line("bare asyncio streams:", bare, bare_cpu, "  [the baseline]"))
    print(_line("bare asyncio Protocol:", prot, prot_cpu,
                "  [stricter reference: counts reply newlines]"))
    print(f"pyst2 classic AGI:    {pyst2_per_s:8.1f} calls/s (one process per call) {outcomes}")
    if args.profile:
        pstats.Stats(args.profile).sort_stats("tottime").print_stats(30)

    def ratios(base: str) -> tuple[list[float], list[float]]:
        by_rate = [r[0].per_s / b[0].per_s for r, b in zip(runs["routed"], runs[base],
                                                              strict=True) if b[0].per_s]
        by_cpu = [b[1] / r[1] for r, b in zip(runs["routed"], runs[base], strict=True)
                  if r[1] > 0]
        return by_rate or [0.0], by_cpu or [0.0]

    def spread(values: list[float]) -> str:
        return f"{median(values):.2f} (rounds {min(values):.2f}-{max(values):.2f})"

    by_rate, by_cpu = ratios("bare")
    ratio = median(by_rate)
    prot_by_rate, prot_by_cpu = ratios("protocol")
    print(f"ratio to the baseline: {spread(by_rate)} by sessions/s, {spread(by_cpu)} by CPU "
          f"per session (what the ratio is when both cores are saturated)")
    print(f"ratio to the bare Protocol server: {spread(prot_by_rate)} by sessions/s, "
          f"{spread(prot_by_cpu)} by CPU per session")
    for name, (report, cpu) in (("baseline", (bare, bare_cpu)), ("routed", (routed, routed_cpu))):
        if _busy(report, cpu) < 90:
            print(f"note: the {name} server's core was {_busy(report, cpu)}% busy: the load "
                  f"generator (or other work on the machine) limited it; compare CPU per "
                  f"session")
    print(f"load average at the end: {_load_average()} (other work on the machine widens the "
          f"spread between rounds)")
    bad = sum(v for k, v in routed.outcomes.items() if k != "SUCCESS")
    if bad:
        print(f"warning: {bad} routed sessions did not succeed: {routed.errors[:3]}")
    print(f"routed_per_s={routed.per_s:.0f} bare_per_s={bare.per_s:.0f} ratio={ratio:.2f} "
          f"pyst2_per_s={pyst2_per_s:.1f} p99_ms={routed.percentile(99):.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
