"""``hotline12345 serve`` (the FastAGI controller) and ``hotline12345 simulate`` (an
Asterisk-side FastAGI load generator for capacity planning): their arguments only; the
controller's wiring is :mod:`hotline12345.app`."""

from __future__ import annotations

import argparse
import json
import logging
import sys

from hotline12345.agents.http_options import add_http_arguments
from hotline12345.logs import setup_logging

log = logging.getLogger(__name__)

DEFAULT_DIALLED = "12345,12317,12366,95598,12315,12320"


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
    timeouts = p.add_argument_group(
        "time limits", "each overrides the site file's controller: section (defaults 5, 120 "
        "and 900 s); a call that runs past one ends with FAILURE and the dialplan's fallback "
        "takes it")
    timeouts.add_argument("--env-timeout", type=float, metavar="SECONDS",
                          help="for Asterisk's environment block (controller.env_timeout_s)")
    timeouts.add_argument("--command-timeout", type=float, metavar="SECONDS",
                          help="for each AGI command's reply (controller.command_timeout_s)")
    timeouts.add_argument("--session-budget", type=float, metavar="SECONDS",
                          help="for a whole session (controller.session_budget_s)")
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
    from hotline12345.app import ServeError, ServeOptions, serve
    from hotline12345.config.cli import site_from_args

    site = site_from_args(args)
    options = ServeOptions(
        agi_host=args.agi_host, agi_port=args.agi_port,
        agi_allow=tuple(args.agi_allow or ("127.0.0.1", "::1")),
        max_sessions=args.max_sessions, shutdown_grace_s=args.shutdown_grace,
        data_dir=args.data_dir, http_host=args.http_host, http_port=args.http_port,
        env_timeout_s=args.env_timeout, command_timeout_s=args.command_timeout,
        session_budget_s=args.session_budget)
    try:
        return serve(site, options)
    except ServeError as exc:
        print(f"hotline12345 serve: {exc}", file=sys.stderr)
        return 2


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
