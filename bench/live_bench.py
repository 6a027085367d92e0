"""Capacity on the real Asterisk 22: calls through the rendered inbound context at a fixed
concurrency, the controller (``hotline12345 serve``) against a bare asyncio FastAGI server on
the same Asterisk sending the same commands, and the CPU the controller's AMI monitor spends
per call's events.

Each call is an AMI ``Originate`` of ``Local/12329@hotline12345-from-telecom/n`` (双号并行,
no prompt): the dialplan answers, asks the controller over FastAGI, queues the caller in the
queue it named (MixMonitor starts), and the bench hangs the caller up as soon as Asterisk
reports the caller in the queue (``QueueCallerJoin``); the next call starts when one ends
(``Hangup``). The lab is the live tests' (tests/live/harness.py): a private Asterisk tree
with the site's rendered configuration included by minimal host files.

Rounds, each with a warm-up:

- ``controller``: serve with its AMI monitor (read=call,agent,user): calls/s, CPU per call
  (user + system of the serve process), AMI events the monitor received per call
  (``hotline12345_ami_events_total`` from ``/metrics``) and the CPU its reader spent on
  them (``hotline12345_ami_read_cpu_seconds_total``: parsing, the state model, the
  listeners; measured inside the controller, so neither the other rounds' drift nor the
  machine's load between rounds enters it);
- ``controller-no-ami``: the same without AMI, while a passive client logged in as the
  controller's AMI user reads and drops the same events (so Asterisk's AMI work, which
  competes for the same cores, is the same in both rounds): the difference is the
  monitor's CPU;
- ``bare``: an idiomatic asyncio streams FastAGI server (a subprocess) that replies to each
  session with the commands the controller sent for the same number.

The controller's CPU is also split between its main thread (the event loop: FastAGI, the
AMI monitor, the wallboard) and its other threads (the call store's and the recording jobs'
writers, ``asyncio.to_thread``). Beside the monitor's cost per event the bench prints what
``bench/ami_bench.py`` measures for the codec and the state model alone: in its tight loop
(after the rounds), and paced as the controller's reader meets its events (a 6 KiB read
every 50 ms, in a subprocess running beside the AMI round, so on the same loaded machine
with caches as cold).

The last line: ``calls_per_s=… bare_calls_per_s=… ratio=… cpu_us_per_call=…
bare_cpu_us_per_call=… ami_events_per_call=… ami_us_per_call=… ami_us_per_event=…
ami_read_us_per_event=… ami_bench_us_per_event=… ami_bench_paced_us_per_event=…``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import importlib.util
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.live.ami import Ami  # noqa: E402
from tests.live.harness import (  # noqa: E402
    ADMIN_PASSWORD,
    AMI_SECRET,
    AMI_USER,
    TEST_AMI_SECRET,
    TEST_AMI_USER,
    Asterisk,
    BundleMissing,
    Controller,
    Lab,
    install_bundle,
)

DIALLED = "12329"
CLK = os.sysconf("SC_CLK_TCK")


def cpu_s(pid: int, tid: int | None = None) -> float:
    """User + system CPU seconds of one process (not its children), or of one of its
    threads (``tid``; the main thread's is the process id)."""
    stat = f"/proc/{pid}/task/{tid}/stat" if tid is not None else f"/proc/{pid}/stat"
    fields = Path(stat).read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK


def codec_state_us_per_event() -> float | None:
    """What ``bench/ami_bench.py`` measures, the codec and the state model alone on the
    captures, as CPU µs per event (this thread's CPU time, best of three, so that the
    machine's load weighs on it as little as on the controller's CPU figures); None without
    the captures."""
    bench: Any = _load_ami_bench()
    if bench is None:
        return None
    reads = bench.chunks(bench.build_stream(300))
    best = float("inf")
    for _ in range(3):
        start = time.thread_time()
        events, _ = bench.run_ours(reads)
        best = min(best, (time.thread_time() - start) / events * 1e6)
    return best


def _load_ami_bench() -> object | None:
    spec = importlib.util.spec_from_file_location("ami_bench", REPO / "bench" / "ami_bench.py")
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(bench)
    except SystemExit:  # no captures: it says where it looked
        return None
    return bench


def paced_codec_state() -> None:
    """``--paced-ami``: the same codec + state model work as ``ami_bench.py`` on the
    captures, but as the controller's reader meets it: one read of 6 KiB (what the reader
    gets a read on the live bench) every 50 ms (its read interval), on the loaded machine,
    until SIGTERM; then prints ``<events> <cpu seconds>`` (this thread's CPU)."""
    from hotline12345.agents.codec import AmiParser
    from hotline12345.agents.queues import QueueDef
    from hotline12345.agents.state import QueueState

    bench: Any = _load_ami_bench()
    if bench is None:
        print("0 0", flush=True)
        return
    stream = bench.build_stream(20)
    reads = [stream[i:i + 6144] for i in range(0, len(stream), 6144)]
    stop = False

    def on_term(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_term)
    print("ready", flush=True)
    parser, state = AmiParser(), QueueState([QueueDef("q-general", "综合受理", 15)])
    events, cpu, now, i = 0, 0.0, 1795849879.0, 0
    while not stop:
        if i == len(reads):  # a new pass: a new connection's parser and state
            parser, state, i = AmiParser(), QueueState([QueueDef("q-general", "综合受理", 15)]), 0
        start = time.thread_time()
        for msg in parser.feed(reads[i]):
            now += 0.001
            state.apply(msg, now)
            events += msg.kind == "event"
        cpu += time.thread_time() - start
        i += 1
        time.sleep(0.05)
    print(f"{events} {cpu}", flush=True)


def ami_counters(ctl: Controller) -> tuple[float, float]:
    """The AMI events the controller's monitor has received and the CPU seconds its reader
    spent on them (``/metrics``)."""
    req = urllib.request.Request(ctl.url + "/metrics")
    token = base64.b64encode(f"admin:{ADMIN_PASSWORD}".encode()).decode()
    req.add_header("Authorization", f"Basic {token}")
    with urllib.request.urlopen(req, timeout=10) as resp:
        text = resp.read().decode()
    found = [re.search(rf"^{name} (\S+)$", text, re.M)
             for name in ("hotline12345_ami_events_total",
                          "hotline12345_ami_read_cpu_seconds_total")]
    events, read_cpu = (float(m.group(1)) if m else 0.0 for m in found)
    return events, read_cpu


@dataclass
class Round:
    name: str
    calls: int
    elapsed_s: float
    cpu_s: float
    ami_events: float = 0.0
    ami_read_cpu_s: float = 0.0  # the AMI reader's: parsing, state model, listeners
    loop_cpu_s: float = 0.0  # the main thread's: the event loop (FastAGI, AMI, wallboard)
    paced_us_per_event: float = 0.0  # ami_bench's work paced like the reader, meanwhile

    @property
    def per_s(self) -> float:
        return self.calls / self.elapsed_s

    @property
    def cpu_us_per_call(self) -> float:
        return self.cpu_s / self.calls * 1e6


def drive(ami: Ami, count: int, concurrency: int, timeout_s: float = 600.0) -> float:
    """Runs ``count`` calls, ``concurrency`` at a time; returns the elapsed seconds."""
    in_flight: dict[str, str] = {}  # uniqueid of the dialplan's half -> its state
    started = done = 0
    pos = ami.mark()
    begin = time.perf_counter()
    end = begin + timeout_s

    def originate() -> None:
        nonlocal started
        uid = f"bench-{uuid.uuid4().hex[:16]}"
        in_flight[uid + "-in"] = "dialling"
        ami.send("Originate", Channel=f"Local/{DIALLED}@hotline12345-from-telecom/n",
                 Context="live-callers", Exten="wait", Priority="1", CallerID="<13800138000>",
                 Async="true", ChannelId=uid + "-ph", OtherChannelId=uid + "-in",
                 Timeout="30000")
        started += 1

    while started < min(concurrency, count):
        originate()
    while done < count:
        if time.perf_counter() > end:
            raise SystemExit(f"live_bench: {count - done} calls not finished in {timeout_s} s")
        events, pos = ami.next_events(pos, 1.0)
        for e in events:
            uid = e.get("Uniqueid")
            if uid not in in_flight:
                continue
            if e.name == "QueueCallerJoin" and in_flight[uid] == "dialling":
                in_flight[uid] = "queued"
                ami.send("Hangup", Channel=e.get("Channel"))
            elif e.name == "Hangup":
                del in_flight[uid]
                done += 1
                if started < count:
                    originate()
    return time.perf_counter() - begin


def controller_round(lab: Lab, ami: Ami, name: str, with_ami: bool, count: int,
                     concurrency: int, warmup: int) -> tuple[Round, list[str]]:
    ctl = Controller(lab, name=name)
    ctl.start(ami=with_ami)
    assert ctl.proc is not None
    passive = None if with_ami else start_helper("--passive-ami", str(lab.ami_port))
    try:
        mark = ami.mark()
        drive(ami, warmup, concurrency)
        commands = first_call_commands(ami, mark)
        events0, read0 = ami_counters(ctl) if with_ami else (0.0, 0.0)
        paced = start_paced() if with_ami else None
        pid = ctl.proc.pid
        cpu0, loop0 = cpu_s(pid), cpu_s(pid, pid)
        elapsed = drive(ami, count, concurrency)
        cpu1, loop1 = cpu_s(pid), cpu_s(pid, pid)
        events1, read1 = ami_counters(ctl) if with_ami else (0.0, 0.0)
        paced_us = stop_paced(paced) if paced is not None else 0.0
        return Round(name, count, elapsed, cpu1 - cpu0, events1 - events0,
                     read1 - read0, loop1 - loop0, paced_us), commands
    finally:
        ctl.stop()
        if passive is not None:
            stop_helper(passive)


def passive_ami(port: int) -> None:
    """``--passive-ami PORT``: logs in as the controller's AMI user (the same eventfilter)
    and reads and drops what Asterisk sends, a read every 50 ms as the controller does,
    until SIGTERM: during the round without the controller's monitor, Asterisk then does
    the same AMI work as in the round with it, so the difference of the two rounds is the
    controller's own."""
    stop = False

    def on_term(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_term)
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(f"Action: Login\r\nUsername: {AMI_USER}\r\nSecret: {AMI_SECRET}\r\n"
                 f"\r\n".encode())
    seen = b""
    while b"Authentication accepted" not in seen:
        chunk = sock.recv(65536)
        if not chunk:
            raise SystemExit("live_bench: the passive AMI client's login was refused")
        seen += chunk
    sock.setblocking(False)
    print("ready", flush=True)
    received = 0
    while not stop:
        time.sleep(0.05)
        try:
            while chunk := sock.recv(262144):
                received += len(chunk)
        except BlockingIOError:
            pass
    print(received, flush=True)


def start_helper(*args: str) -> subprocess.Popen[str]:
    """This script in a helper mode (``--paced-ami``, ``--passive-ami PORT``), once ready."""
    proc = subprocess.Popen([sys.executable, __file__, *args], stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout is not None
    if proc.stdout.readline().strip() != "ready":
        raise SystemExit(f"live_bench: {' '.join(args)} did not start")
    return proc


def stop_helper(proc: subprocess.Popen[str]) -> str:
    proc.terminate()
    out, _ = proc.communicate(timeout=30)
    return out


def start_paced() -> subprocess.Popen[str]:
    return start_helper("--paced-ami")


def stop_paced(proc: subprocess.Popen[str]) -> float:
    """The paced loop's CPU µs an event (0 without the captures)."""
    events, cpu = stop_helper(proc).split()
    return float(cpu) / int(events) * 1e6 if int(events) else 0.0


def first_call_commands(ami: Ami, since: int) -> list[str]:
    """The AGI commands the controller sent for one call (AMI AGIExecStart)."""
    starts = ami.find(lambda e: e.name == "AGIExecStart", since=since)
    if not starts:
        raise SystemExit("live_bench: no AGI command seen")
    uid = starts[0].get("Uniqueid")
    return [e.get("Command").replace(uid, "{uniqueid}") for e in starts
            if e.get("Uniqueid") == uid]


# -- the bare server (a subprocess: its own CPU) -----------------------------------------------

async def bare_server(host: str, port: int, commands: list[str]) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        uniqueid = ""
        while True:
            line = await reader.readline()
            if not line or line == b"\n":
                break
            if line.startswith(b"agi_uniqueid:"):
                uniqueid = line.split(b":", 1)[1].strip().decode()
        for command in commands:
            writer.write(command.replace("{uniqueid}", uniqueid).encode() + b"\n")
            await writer.drain()
            if not await reader.readline():
                break
        writer.close()

    server = await asyncio.start_server(handle, host, port, backlog=1024)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


def bare_round(lab: Lab, ami: Ami, commands: list[str], count: int, concurrency: int,
               warmup: int) -> Round:
    proc = subprocess.Popen(
        [sys.executable, __file__, "--bare-server", json.dumps(commands),
         "--port", str(lab.agi_port)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        if proc.stdout.readline().strip() != "ready":
            raise SystemExit("live_bench: the bare server did not start")
        drive(ami, warmup, concurrency)
        cpu0 = cpu_s(proc.pid)
        elapsed = drive(ami, count, concurrency)
        return Round("bare", count, elapsed, cpu_s(proc.pid) - cpu0)
    finally:
        proc.terminate()
        proc.wait(10)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--calls", type=int, default=300, help="measured calls per round")
    p.add_argument("--concurrency", type=int, default=20, help="calls in flight")
    p.add_argument("--warmup", type=int, default=40, help="calls before each round")
    p.add_argument("--bare-server", metavar="COMMANDS_JSON", help=argparse.SUPPRESS)
    p.add_argument("--paced-ami", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--passive-ami", type=int, metavar="PORT", help=argparse.SUPPRESS)
    p.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.paced_ami:
        paced_codec_state()
        return 0
    if args.passive_ami:
        passive_ami(args.passive_ami)
        return 0
    if args.bare_server:
        asyncio.run(bare_server("127.0.0.1", args.port, json.loads(args.bare_server)))
        return 0
    try:
        prefix = install_bundle()
    except BundleMissing as exc:  # `make bench` on a machine without the bundle goes on
        print(f"live_bench: skipped: {exc}")
        return 0
    root = Path(tempfile.mkdtemp(prefix="hotline12345-live-bench-"))
    os.chmod(root, 0o755)
    lab = Lab(root, prefix)
    lab.build()
    asterisk = Asterisk(lab)
    asterisk.start()
    ami = Ami("127.0.0.1", lab.ami_port, TEST_AMI_USER, TEST_AMI_SECRET)
    try:
        print(f"live_bench: Asterisk 22 at {prefix}; {args.calls} calls per round to "
              f"{DIALLED}, {args.concurrency} in flight, {args.warmup} warm-up; "
              f"load average {os.getloadavg()[0]:.2f}", flush=True)
        with_ami, commands = controller_round(lab, ami, "controller", True, args.calls,
                                              args.concurrency, args.warmup)
        no_ami, _ = controller_round(lab, ami, "controller-no-ami", False, args.calls,
                                     args.concurrency, args.warmup)
        bare = bare_round(lab, ami, commands, args.calls, args.concurrency, args.warmup)
        for r in (with_ami, no_ami, bare):
            loop = (f" (event loop {r.loop_cpu_s / r.calls * 1e6:.0f}, other threads "
                    f"{(r.cpu_s - r.loop_cpu_s) / r.calls * 1e6:.0f})" if r is not bare else "")
            print(f"{r.name:18} {r.per_s:7.1f} calls/s  {r.cpu_us_per_call:8.0f} µs CPU/call"
                  + loop)
        print(f"bare server's commands per call: {commands}")
        events_per_call = with_ami.ami_events / with_ami.calls
        ami_us_per_call = with_ami.cpu_us_per_call - no_ami.cpu_us_per_call
        ami_us_per_event = ami_us_per_call / events_per_call if events_per_call else 0.0
        ami_loop_us = (with_ami.loop_cpu_s / with_ami.calls
                       - no_ami.loop_cpu_s / no_ami.calls) * 1e6
        print(f"AMI monitor: {events_per_call:.1f} events/call, {ami_us_per_call:.0f} µs "
              f"CPU/call ({ami_us_per_event:.1f} µs/event): event loop {ami_loop_us:+.0f}, "
              f"other threads {ami_us_per_call - ami_loop_us:+.0f}; load average "
              f"{os.getloadavg()[0]:.2f}")
        read_us_per_event = (with_ami.ami_read_cpu_s / with_ami.ami_events * 1e6
                             if with_ami.ami_events else 0.0)
        print(f"AMI reader alone (parsing, state model, listeners; the controller's "
              f"hotline12345_ami_read_cpu_seconds_total): {read_us_per_event:.1f} µs CPU/event")
        codec = codec_state_us_per_event()
        codec_text = f"{codec:.1f}" if codec is not None else "n/a"
        paced = with_ami.paced_us_per_event
        print(f"bench/ami_bench.py's codec + state model alone (the captures): "
              f"{codec_text} µs CPU/event in its tight loop after the rounds; "
              f"{paced:.1f} µs CPU/event paced like the reader (6 KiB every 50 ms) while "
              f"the AMI round ran")
        print(f"calls_per_s={with_ami.per_s:.1f} bare_calls_per_s={bare.per_s:.1f} "
              f"ratio={with_ami.per_s / bare.per_s:.3f} "
              f"cpu_us_per_call={with_ami.cpu_us_per_call:.0f} "
              f"bare_cpu_us_per_call={bare.cpu_us_per_call:.0f} "
              f"ami_events_per_call={events_per_call:.1f} ami_us_per_call={ami_us_per_call:.0f} "
              f"ami_us_per_event={ami_us_per_event:.1f} "
              f"ami_read_us_per_event={read_us_per_event:.1f} "
              f"ami_bench_us_per_event={codec_text} "
              f"ami_bench_paced_us_per_event={paced:.1f}")
    finally:
        ami.close()
        asterisk.stop()
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
