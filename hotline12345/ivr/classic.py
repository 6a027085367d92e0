"""Classic AGI for small sites: ``hotline12345-agi FLOW[?key=value...] [ARGS...]``.

Asterisk starts it once per call (``AGI(hotline12345-agi,inbound)``) and talks AGI over
its stdin/stdout. It runs the very same flow objects as the FastAGI server, through
:class:`Pyst2Channel`, a :class:`~hotline12345.ivr.channel.Channel` on pyst2's ``AGI``.

pyst2 0.5.1 (``asterisk/agi.py``) is used for what it does right (the process-level set-up:
its SIGHUP handler, writing and flushing commands) and routed around where it does not:

- ``AGI.__init__`` writes the whole environment, caller number included, to stderr, which
  Asterisk copies to its log: we give it a null stderr (numbers are masked in our logs).
- Its environment reader takes EOF for the blank line and accepts a cut-short environment
  silently; it has no bound on line length. We give it a bounded line reader and then parse
  what it read with our codec, which names the missing or bad field.
- ``get_result`` loops forever on EOF inside a ``520-`` block (``while line[:3] != '520'``
  with ``readline()`` returning ``''``), raises on every ``result=-1``, does not know
  ``100 Trying`` and treats any ``(hangup)`` text as a hangup. We read replies with our
  codec (:class:`~hotline12345.ivr.protocol.AgiConnection`) instead.
- Its ``_quote`` does not escape ``"`` or ``\\`` and nothing rejects a line break, so a
  caller name could inject a command. Commands are formatted by our
  :func:`~hotline12345.ivr.protocol.format_command` and handed to ``send_command`` whole.
- After SIGHUP its ``execute`` refuses every command, even the ones Asterisk runs on a dead
  channel; we use ``send_command`` directly and let Asterisk answer 511 where it must.

Per-command timeouts and the session budget use ``setitimer`` (the process is
single-threaded). On an internal error the process writes ``FAILURE`` and exits 1: either
makes Asterisk set ``AGISTATUS=FAILURE``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import signal
import sys
import time
from collections.abc import Sequence
from types import FrameType
from typing import Any, BinaryIO, TextIO

from hotline12345.env import LOG_LEVEL_ENV
from hotline12345.ivr.channel import AgiTimeout, Channel, ChannelHungUp, ConnectionLost
from hotline12345.ivr.protocol import (
    FAILURE_LINE,
    AgiConnection,
    ConnectionClosed,
    Environment,
    HangupEvent,
    Limits,
    ProtocolError,
    Reply,
    format_command,
    format_environment,
    parse_script,
)
from hotline12345.ivr.registry import FlowRegistry
from hotline12345.logs import log_event

log = logging.getLogger(__name__)

COMMAND_TIMEOUT_S = 120.0
SESSION_BUDGET_S = 900.0


class LineTooLong(ValueError):
    """A line from Asterisk longer than the limit (a protocol violation: FAILURE)."""


class BoundedLineReader:
    """A text ``readline()`` over a binary stream, for pyst2, with a line-length bound."""

    def __init__(self, raw: BinaryIO, max_line: int) -> None:
        self.raw = raw
        self.max_line = max_line

    def readline_bytes(self) -> bytes:
        line = self.raw.readline(self.max_line + 1)
        if len(line) > self.max_line and not line.endswith(b"\n"):
            raise LineTooLong(f"line longer than {self.max_line} bytes from Asterisk")
        return line

    def readline(self) -> str:
        return self.readline_bytes().decode("utf-8", "replace")


class _NullText:
    def write(self, _s: str) -> int:
        return 0

    def flush(self) -> None:
        pass


class _Timer:
    """Per-command deadline and session budget via SIGALRM."""

    def __init__(self, command_timeout_s: float, budget_s: float) -> None:
        self.command_timeout_s = command_timeout_s
        self.deadline = time.monotonic() + budget_s
        self.what = ""
        signal.signal(signal.SIGALRM, self._fire)

    def _fire(self, _signum: int, _frame: FrameType | None) -> None:
        raise AgiTimeout(f"{self.what}: no reply from Asterisk in time (command timeout "
                         f"{self.command_timeout_s:g} s or session budget)")

    def arm(self, what: str) -> None:
        self.what = what
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise AgiTimeout(f"{what}: session budget exhausted")
        signal.setitimer(signal.ITIMER_REAL, min(self.command_timeout_s, left))

    @staticmethod
    def disarm() -> None:
        signal.setitimer(signal.ITIMER_REAL, 0)


class Pyst2Channel(Channel):
    """:class:`Channel` over pyst2's classic AGI (blocking; one call per process)."""

    def __init__(self, agi: Any, env: Environment, reader: BoundedLineReader,
                 conn: AgiConnection, timer: _Timer) -> None:
        super().__init__(env)
        self.agi = agi
        self.reader = reader
        self.conn = conn
        self.timer = timer

    async def execute(self, verb: str, *args: str | int) -> Reply:
        line = self.conn.send_raw_command(format_command(verb, *args))
        if getattr(self.agi, "_got_sighup", False):
            self.hung_up = True
        self.timer.arm(verb)
        try:
            try:
                self.agi.send_command(line[:-1].decode("utf-8"))
            except BrokenPipeError as exc:
                raise ConnectionLost(f"{verb}: Asterisk closed the AGI pipe") from exc
            while True:
                raw = self.reader.readline_bytes()
                for ev in self.conn.receive_data(raw):
                    if type(ev) is Reply:
                        return ev
                    if type(ev) is HangupEvent:
                        self.hung_up = True
                    elif type(ev) is ProtocolError:
                        raise ConnectionLost(f"{verb}: {ev}")
                    elif type(ev) is ConnectionClosed:
                        raise ConnectionLost(f"{verb}: Asterisk closed the AGI pipe")
                if not raw:
                    raise ConnectionLost(f"{verb}: Asterisk closed the AGI pipe")
        finally:
            self.timer.disarm()


def read_environment(agi_factory: Any, stdin: BinaryIO, stdout: TextIO, argv: Sequence[str],
                     limits: Limits) -> tuple[Any, Environment, BoundedLineReader, AgiConnection]:
    """Let pyst2 read the environment, then check and interpret it with our codec.

    ``argv[0]`` is the flow (``inbound`` or ``inbound?dialled=12317``); the rest are its
    arguments. In classic AGI they also arrive as ``agi_arg_1..N``; the flow sees only the
    arguments after the flow name, as over FastAGI."""
    if not argv:
        raise SystemExit("usage: hotline12345-agi FLOW[?key=value&...] [ARGS...]  "
                         "(e.g. AGI(hotline12345-agi,inbound))")
    reader = BoundedLineReader(stdin, limits.max_line_bytes)
    agi = agi_factory(stdin=reader, stdout=stdout, stderr=_NullText())
    conn = AgiConnection(limits)
    events = conn.receive_data(format_environment(agi.env))
    env = next((e for e in events if isinstance(e, Environment)), None)
    if env is None:
        problem = next((str(e) for e in events if isinstance(e, ProtocolError)), "no environment")
        raise ValueError(f"AGI environment: {problem}")
    if "agi_uniqueid" not in env.variables:
        raise ValueError("AGI environment: field agi_uniqueid missing (the environment was cut "
                         "short, or this was not started by Asterisk)")
    script, query = parse_script(argv[0])
    args = env.args[1:] if env.args and env.args[0] == argv[0] else tuple(argv[1:])
    return agi, dataclasses.replace(env, script=script, query=query, args=args), reader, conn


def run(registry: FlowRegistry, argv: Sequence[str], *, stdin: BinaryIO, stdout: TextIO,
        agi_factory: Any, limits: Limits | None = None,
        command_timeout_s: float = COMMAND_TIMEOUT_S,
        budget_s: float = SESSION_BUDGET_S) -> int:
    """Run one call's flow; returns the exit status (0, or 1 after writing FAILURE)."""
    limits = limits or Limits()
    previous_alarm = signal.getsignal(signal.SIGALRM)
    timer = _Timer(command_timeout_s, budget_s)
    env: Environment | None = None
    try:
        agi, env, reader, conn = read_environment(agi_factory, stdin, stdout, argv, limits)
        flow = registry.resolve(env.script)
        if flow is None:
            raise LookupError(f"no flow named {env.script!r}; known: "
                              f"{', '.join(registry.names())}")
        channel = Pyst2Channel(agi, env, reader, conn, timer)
        asyncio.run(flow(channel))
        return 0
    except ChannelHungUp:
        return 0
    except ConnectionLost as exc:
        log_event(log, "agi.connection_lost", logging.WARNING, error=str(exc),
                  uniqueid=env.uniqueid if env else None)
        return 1
    except Exception as exc:
        log.error("agi.session_failed", exc_info=True, extra={"fields": {
            "uniqueid": env.uniqueid if env else None, "script": env.script if env else None,
            "error": f"{type(exc).__name__}: {exc}"}})
        try:
            stdout.write(FAILURE_LINE.decode())
            stdout.flush()
        except OSError:
            pass
        return 1
    finally:
        timer.disarm()
        signal.signal(signal.SIGALRM, previous_alarm)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``hotline12345-agi``. Configuration comes from the environment
    (``HOTLINE12345_CONFIG``, ``HOTLINE12345_DATA_DIR``), as Asterisk passes no options."""
    from asterisk.agi import AGI

    from hotline12345.calls.recorder import CallRecorder
    from hotline12345.calls.store import SqlCallStore
    from hotline12345.config import load_site
    from hotline12345.db.migrate import upgrade
    from hotline12345.ivr.flows import Services, build_registry
    from hotline12345.logs import setup_logging
    from hotline12345.paths import data_dir, database_url
    from hotline12345.routing import Router

    setup_logging(os.environ.get(LOG_LEVEL_ENV, "WARNING"))
    args = list(sys.argv[1:] if argv is None else argv)
    stdout = open(sys.stdout.fileno(), "w", encoding="utf-8", closefd=False,  # noqa: SIM115
                  newline="\n")
    try:
        url = database_url(data_dir())
        upgrade(url)  # this process is the command: it migrates before it stores
        store = SqlCallStore(url)
        recorder = CallRecorder(store, linger_s=0)
        registry = build_registry(Services(Router(load_site(None)), recorder))
    except Exception as exc:
        log.error("agi.startup_failed", exc_info=True,
                  extra={"fields": {"error": f"{type(exc).__name__}: {exc}"}})
        stdout.write(FAILURE_LINE.decode())
        stdout.flush()
        return 1
    try:
        return run(registry, args, stdin=sys.stdin.buffer, stdout=stdout, agi_factory=AGI)
    finally:
        recorder.close()
        store.close()


if __name__ == "__main__":
    sys.exit(main())
