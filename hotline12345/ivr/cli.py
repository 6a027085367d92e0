"""``hotline12345 serve`` (the FastAGI controller) and ``hotline12345 simulate`` (an
Asterisk-side FastAGI load generator for capacity planning)."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import gc
import json
import logging
import os
import signal
import sys
from pathlib import Path

from hotline12345.logs import log_event, setup_logging

log = logging.getLogger(__name__)

DEFAULT_DIALLED = "12345,12317,12366,95598,12315,12320"


#: Young-generation threshold of the cyclic GC while serving: above the ~10,000 container
#: objects that 500 calls in flight keep alive, so a collection finds garbage instead of
#: re-scanning live calls (default 700: ~20 µs of GC per call at 500 in flight; this: ~5).
GC_GEN0_THRESHOLD = 10_000


def settle_process() -> None:
    """Process settings ``serve`` applies once start-up has loaded everything (the bench's
    controller applies the same):

    - logging skips the per-record lookups of the calling source line, thread and process
      (the "Optimization" table of the logging HOWTO): the JSON lines carry none of them;
    - ``gc.freeze()`` moves what start-up loaded (site, routing tables, SQLAlchemy, ...)
      to the permanent generation, so full collections stop re-scanning it, and the
      young-generation threshold becomes :data:`GC_GEN0_THRESHOLD`. Sessions free
      themselves by reference counting (no cycles); the collector is left for the rest.
    """
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GC_GEN0_THRESHOLD, gen1, gen2)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Registers ``serve`` and ``simulate``."""
    register_serve_cmd(sub)
    register_simulate_cmd(sub)


def register_serve_cmd(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("serve", help="run the controller: the FastAGI server for Asterisk",
                       description="Serve the call flows (inbound, survey) over FastAGI on "
                                   "embedded defaults: SQLite and files under the data "
                                   "directory.")
    p.add_argument("--agi-host", default="127.0.0.1", metavar="IP",
                   help="address to listen on (default 127.0.0.1)")
    p.add_argument("--agi-port", type=int, default=4573, metavar="PORT",
                   help="port to listen on (default 4573)")
    p.add_argument("--agi-allow", action="append", metavar="IP[/BITS]",
                   help="an Asterisk host allowed to connect; repeat for several "
                        "(default: 127.0.0.1 and ::1)")
    p.add_argument("--max-sessions", type=int, default=1000, metavar="N",
                   help="concurrent calls served; more are answered with FAILURE so the "
                        "dialplan's fallback takes them (default 1000)")
    p.add_argument("--shutdown-grace", type=float, default=30.0, metavar="SECONDS",
                   help="on SIGTERM/SIGINT, how long running calls may take to finish")
    p.add_argument("--config", metavar="PATH",
                   help="site file (default: $HOTLINE12345_CONFIG, else the shipped site)")
    p.add_argument("--data-dir", metavar="DIR",
                   help="data directory (default: $HOTLINE12345_DATA_DIR, else the user's)")
    p.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    from hotline12345.agents.service import add_http_arguments

    add_http_arguments(p)  # the supervisor wallboard started beside the controller
    p.set_defaults(handler=_serve)


def register_simulate_cmd(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("simulate", help="load-test a controller as Asterisk would (FastAGI)",
                       description="Play COUNT calls against a FastAGI server over TCP, "
                                   "CONCURRENCY at a time, with Asterisk 22's environment "
                                   "and replies, some callers hanging up mid-flow; report "
                                   "sessions/s, latency percentiles and errors.")
    p.add_argument("--host", default="127.0.0.1", help="controller address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=4573, help="controller port (default 4573)")
    p.add_argument("--count", type=int, default=1000, help="calls to play (default 1000)")
    p.add_argument("--concurrency", type=int, default=100,
                   help="calls in flight at once (default 100)")
    p.add_argument("--dialled", default=DEFAULT_DIALLED, metavar="N,N,...",
                   help=f"dialled numbers, used in turn (default {DEFAULT_DIALLED})")
    p.add_argument("--flow", default="inbound", help="flow to call (default inbound)")
    p.add_argument("--hangup-ratio", type=float, default=0.1, metavar="R",
                   help="share of callers who hang up mid-flow (default 0.1)")
    p.add_argument("--seed", type=int, default=12345, help="random seed (default 12345)")
    p.add_argument("--timeout", type=float, default=30.0, metavar="SECONDS",
                   help="a call taking longer counts as TIMEOUT (default 30)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(handler=_simulate)


def _serve(args: argparse.Namespace) -> int:
    setup_logging(args.log_level)
    from hotline12345.agents.service import start_agents_services
    from hotline12345.calls.recorder import CallRecorder
    from hotline12345.calls.store import SqlCallStore
    from hotline12345.config.cli import site_from_args
    from hotline12345.env import DATABASE_URL_ENV
    from hotline12345.ivr.flows import Services, build_registry
    from hotline12345.ivr.queue_load import QueueLoadBoard
    from hotline12345.ivr.server import FastAgiServer, ServerConfig
    from hotline12345.paths import data_dir, database_url
    from hotline12345.routing import Router

    try:
        config = ServerConfig(host=args.agi_host, port=args.agi_port,
                              allowed_hosts=tuple(args.agi_allow or ("127.0.0.1", "::1")),
                              max_sessions=args.max_sessions,
                              shutdown_grace_s=args.shutdown_grace)
    except ValueError as exc:
        print(f"hotline12345 serve: {exc}", file=sys.stderr)
        return 2
    site = site_from_args(args)
    from hotline12345.config import default_site_path

    if Path(site.source) == default_site_path():
        print(f"hotline12345 controller: built-in default site ({site.source}); give your "
              "own with --config or HOTLINE12345_CONFIG (start it from `hotline12345 config "
              "show`)", file=sys.stderr, flush=True)
    else:
        print(f"hotline12345 controller: site file {Path(site.source).resolve()}",
              file=sys.stderr, flush=True)
    root = data_dir(args.data_dir)
    url = os.environ.get(DATABASE_URL_ENV) or database_url(root)
    try:
        from hotline12345.db.migrate import upgrade

        upgrade(url)
    except ImportError:  # pragma: no cover - migrations not installed: the store creates
        pass
    from hotline12345.recordings.api import JobSink
    from hotline12345.recordings.model import ModelError
    from hotline12345.recordings.settings import settings_from
    from hotline12345.recordings.worker import start_embedded_pool

    recording_settings = settings_from(site, data_dir=args.data_dir, database_url=url)
    try:  # one transcription worker pool (a spawned process); None when no model is set
        recordings = start_embedded_pool(recording_settings)
    except ModelError as exc:
        print(f"hotline12345 serve: {exc}", file=sys.stderr)
        return 2
    # Finished recordings that AMI reports (UserEvent HotlineRecording, MixMonitorStop,
    # Hangup) become jobs at once, with the call's facts; the directory scan is the net.
    job_sink = JobSink(recording_settings)
    store = SqlCallStore(url)
    recorder = CallRecorder(store)
    queue_load = QueueLoadBoard()  # live waiting callers per queue, once AMI is followed
    registry = build_registry(Services(Router(site), recorder, queue_load=queue_load))
    server = FastAgiServer(registry, config)

    async def run() -> None:
        try:
            await server.start()
        except OSError as exc:
            print(f"hotline12345 serve: cannot listen on {args.agi_host}:{args.agi_port}: "
                  f"{exc.strerror or exc}; choose another --agi-host/--agi-port",
                  file=sys.stderr)
            raise SystemExit(2) from None
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        print(f"hotline12345 controller: FastAGI on {args.agi_host}:{server.port} "
              f"(flows: {', '.join(registry.names())}); data in {root}", file=sys.stderr,
              flush=True)
        try:
            services = await start_agents_services(
                site, root, args.http_host, args.http_port, database_url=url,
                ami_listeners=[job_sink.handle_event], recordings=recording_settings)
        except Exception as exc:
            await server.shutdown(0)
            print(f"hotline12345 serve: the wallboard could not start: {exc}", file=sys.stderr)
            raise SystemExit(2) from None
        async with services:
            queue_load.follow(services.runtime)  # overflow rules see the AMI monitor's queues
            settle_process()
            try:
                await stop.wait()
                await server.shutdown()
            finally:
                await queue_load.stop()

    try:
        asyncio.run(run())
    finally:
        job_sink.close()
        recorder.close()
        store.close()
        if recordings is not None:
            recordings.stop()
        log_event(log, "serve.stopped", **dataclasses.asdict(server.stats))
    return 0


def _controller_unreachable(host: str, port: int) -> str:
    """Why no controller answers on ``host:port`` (empty when one does)."""
    import socket

    try:
        with socket.create_connection((host, port), timeout=5):
            return ""
    except OSError as exc:
        return exc.strerror or str(exc) or type(exc).__name__


def _simulate(args: argparse.Namespace) -> int:
    from hotline12345.ivr.simulate import realistic_scripts, run_load_sync

    dialled = [d.strip() for d in args.dialled.split(",") if d.strip()]
    problems = []
    if not dialled or not all(d.isdigit() for d in dialled):
        problems.append(f"--dialled {args.dialled!r}: expected numbers separated by commas")
    if args.count < 1:
        problems.append(f"--count {args.count}: expected at least 1")
    if args.concurrency < 1:
        problems.append(f"--concurrency {args.concurrency}: expected at least 1")
    if not 0 <= args.hangup_ratio <= 1:
        problems.append(f"--hangup-ratio {args.hangup_ratio}: expected 0 to 1")
    if problems:
        for p in problems:
            print(f"hotline12345 simulate: {p}", file=sys.stderr)
        return 2
    problem = _controller_unreachable(args.host, args.port)
    if problem:
        print(f"hotline12345 simulate: no controller is listening on {args.host}:{args.port} "
              f"({problem}). Start one first, in another terminal: `hotline12345 serve "
              f"--agi-host {args.host} --agi-port {args.port}` (with `make run` it is "
              "running already, on 127.0.0.1:4573); then run simulate again",
              file=sys.stderr)
        return 2
    scripts = realistic_scripts(args.count, dialled=dialled, seed=args.seed,
                                hangup_ratio=args.hangup_ratio, port=args.port,
                                flow=args.flow)
    report = run_load_sync(args.host, args.port, scripts, concurrency=args.concurrency,
                           timeout_s=args.timeout)
    if args.json:
        print(json.dumps({
            "sessions": report.sessions, "elapsed_s": round(report.elapsed_s, 3),
            "sessions_per_s": round(report.per_s, 1), "commands": report.commands,
            "p50_ms": round(report.percentile(50), 2), "p90_ms": round(report.percentile(90), 2),
            "p99_ms": round(report.percentile(99), 2), "outcomes": dict(report.outcomes),
            "errors": report.errors}, ensure_ascii=False))
    else:
        print(f"{args.host}:{args.port} flow {args.flow}, {args.concurrency} concurrent")
        print(report.format())
    bad = sum(v for k, v in report.outcomes.items() if k in ("ERROR", "TIMEOUT", "FAILURE"))
    return 1 if bad else 0
