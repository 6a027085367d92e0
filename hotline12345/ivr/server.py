"""The FastAGI server: a thin asyncio adapter around the sans-IO ``AgiConnection``.

Per connection: the peer must be on the allow-list; the number of live sessions is
capped; the environment must arrive within ``env_timeout_s`` and within the codec's
size limits; then the flow named by ``agi_network_script`` runs, each command bounded by
``command_timeout_s`` and the whole session by ``session_budget_s``.

Each connection is an ``asyncio.Protocol``: ``data_received`` feeds the sans-IO codec and
turns its events into results. Once the environment is complete, the flow it names runs
in the session's own asyncio Task, and each command's reply resolves the future the flow
awaits. A flow is therefore plain asyncio code (``asyncio.timeout``, ``wait_for``,
``TaskGroup`` and ``create_task`` work inside it; the contract is in
:class:`~hotline12345.ivr.registry.Flow`). The server's deadlines (environment, command,
session budget) are checked by one periodic sweep for all sessions, which fails the
command's future or cancels the flow's Task. A finished session breaks its own reference
cycles, so reference counting frees it without the cyclic GC.

How a session ends, as Asterisk sees it (``AGISTATUS`` after ``AGI()``):

- the flow returned: the socket is closed, Asterisk reports SUCCESS (or HANGUP);
- the caller hung up: the socket is closed, Asterisk reports HANGUP;
- anything else (an exception in the flow, a timeout, an unknown flow, a bad
  environment, the capacity cap, shutdown past its grace period): the server writes
  ``FAILURE\\n`` and closes. ``res_agi.c``'s ``run_agi()`` treats a line starting with
  ``failure`` as ``AGI_RESULT_FAILURE``, so the dialplan sees ``AGISTATUS=FAILURE`` and
  its fallback takes the call. A session never ends in a silent success.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from hotline12345.ivr.channel import (
    AgiTimeout,
    CallInputError,
    Channel,
    ChannelHungUp,
    ConnectionLost,
    MSetPlans,
)
from hotline12345.ivr.protocol import (
    FAILURE_LINE,
    AgiConnection,
    ConnectionClosed,
    Environment,
    HangupEvent,
    Limits,
    ProtocolError,
    Reply,
    ReplyCache,
)
from hotline12345.ivr.registry import Flow, FlowRegistry
from hotline12345.logs import log_event, mask_text

log = logging.getLogger(__name__)

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class AgiProtocolViolation(Exception):
    """Asterisk's side sent something the protocol does not allow."""


def parse_allow_list(entries: Iterable[str]) -> tuple[IpNetwork, ...]:
    """``["127.0.0.1", "10.0.0.0/24"]`` -> networks; a bad entry raises ``ValueError`` naming it."""
    nets: list[IpNetwork] = []
    for entry in entries:
        try:
            nets.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            raise ValueError(f"allowed Asterisk host {entry!r}: expected an IP address or a "
                             "network such as 10.0.0.0/24") from None
    return tuple(nets)


@dataclass(frozen=True, slots=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 4573
    allowed_hosts: tuple[str, ...] = ("127.0.0.1", "::1")
    max_sessions: int = 1000
    env_timeout_s: float = 5.0
    command_timeout_s: float = 120.0
    session_budget_s: float = 900.0
    shutdown_grace_s: float = 30.0
    backlog: int = 1024
    limits: Limits = field(default_factory=Limits)

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ValueError(f"AGI port {self.port}: expected 0-65535")
        for name in ("max_sessions", "backlog"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        for name in ("env_timeout_s", "command_timeout_s", "session_budget_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.shutdown_grace_s < 0:
            raise ValueError(f"shutdown_grace_s must not be negative, got "
                             f"{self.shutdown_grace_s}")
        parse_allow_list(self.allowed_hosts)


@dataclass(slots=True)
class ServerStats:
    accepted: int = 0
    refused_peer: int = 0
    rejected_capacity: int = 0
    bad_environment: int = 0
    unknown_flow: int = 0
    succeeded: int = 0
    hung_up: int = 0
    failed: int = 0
    lost: int = 0


class FastAgiChannel(Channel):
    """:class:`Channel` over one FastAGI connection."""

    __slots__ = ("_session",)

    def __init__(self, env: Environment, session: _Session) -> None:
        super().__init__(env, session.server.mset_plans)
        self._session: _Session | None = session

    async def execute(self, verb: str, *args: str | int) -> Reply:
        """Send one command and return its reply. Asterisk reads one command at a time, so
        a command waits until no reply is due (the reply of a command whose awaiter gave
        up, or of a command another task of the same flow sent)."""
        s = self._session
        if s is None:
            raise ConnectionLost("the session with Asterisk is over")
        if s.conn.pending and s.error is None:
            await s.wait_turn(verb)
        if s.error is not None:
            raise s.error
        data = s.conn.send_command(verb, *args)
        waiter: asyncio.Future[Reply] = s.loop.create_future()
        s.waiter = waiter
        s.command = verb
        s.command_deadline = s.loop.time() + s.server.config.command_timeout_s
        s.transport.write(data)
        try:
            return await waiter
        finally:
            if s.waiter is waiter:
                s.waiter = None
                s.command_deadline = 0.0


class _Session(asyncio.Protocol):
    """One FastAGI connection: the protocol feeds the sans-IO codec and turns its events
    into results; once the environment is complete, the flow it names runs in the
    session's own asyncio Task.

    The reply of the command in flight resolves the future that the flow's Task awaits,
    after every event of its TCP segment is handled, so a ``HANGUP`` that came with a reply
    is already known to the flow when it resumes.
    """

    __slots__ = ("__weakref__", "budget_deadline", "cancel_reason", "channel", "command",
                 "command_deadline", "conn", "env_deadline", "error", "finished", "loop",
                 "lost", "peer", "quiet", "received", "registered", "server", "started",
                 "task", "transport", "waiter")

    def __init__(self, server: FastAgiServer) -> None:
        self.server = server
        self.loop = server.loop
        self.conn = AgiConnection(server.config.limits, server.replies)
        self.transport: asyncio.Transport = None  # type: ignore[assignment]
        self.peer = ""
        self.error: Exception | None = None  # once set, every further command raises it
        self.channel: FastAgiChannel | None = None  # set once the flow starts
        self.task: asyncio.Task[None] | None = None  # the flow, once the environment is in
        self.waiter: asyncio.Future[Reply] | None = None  # the reply of the command in flight
        self.quiet: asyncio.Event | None = None  # set when no reply is due (made on demand)
        self.command = ""
        self.env_deadline = 0.0  # 0: not waiting for the environment
        self.command_deadline = 0.0  # 0: no command in flight
        self.budget_deadline = 0.0
        self.cancel_reason = ""  # "budget" or "shutdown" when the server cancels the Task
        self.registered = False
        self.finished = False  # the session is over (its flow ended, or it never started)
        self.lost = False
        self.received = 0
        self.started = 0.0

    # -- asyncio.Protocol --------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        server = self.server
        peer = transport.get_extra_info("peername")
        self.peer = str(peer[0]) if peer else ""
        if not server.peer_allowed(self.peer):
            server.stats.refused_peer += 1
            log_event(log, "agi.peer_refused", logging.WARNING, peer=self.peer,
                      hint="add the Asterisk host to the allow-list (--agi-allow)")
            self.finished = True
            transport.abort()
            return
        if server.closing or not server.admit(self):
            self.finished = True
            transport.write(FAILURE_LINE)
            transport.close()
            return
        self.registered = True
        self.started = now = self.loop.time()
        server.stats.accepted += 1
        self.env_deadline = now + server.config.env_timeout_s

    def data_received(self, data: bytes) -> None:
        if self.finished:
            return
        self.received += len(data)
        self._dispatch(self.conn.receive_data(data))

    def eof_received(self) -> bool | None:
        if self.finished:
            return None
        if self.received == 0 and self.channel is None:
            # A bare TCP probe (health check): nothing to report, nothing to fail.
            log_event(log, "agi.probe", logging.DEBUG, peer=self.peer)
            self.finished = True
            return None
        self._dispatch(self.conn.receive_data(b""))
        return None if self.task is None else True  # a running flow closes the socket

    def connection_lost(self, exc: Exception | None) -> None:
        self.env_deadline = 0.0
        self.lost = True
        if not self.finished:
            self._fail(ConnectionLost(f"connection to Asterisk lost{f': {exc}' if exc else ''}"))
            if self.task is None:
                self.finished = True
        self._maybe_release()

    def _maybe_release(self) -> None:
        # A session counts against the cap until both its socket and its flow are done.
        if self.registered and self.lost and self.finished:
            self.registered = False
            self.server.release(self)
            # Break the session <-> channel (and error -> traceback -> frame) cycles, so
            # that the session is freed by reference counting, not by the cyclic GC.
            if self.channel is not None:
                self.channel._session = None
            self.error = None
            self.task = None

    # -- events ------------------------------------------------------------------------

    def _dispatch(self, events: list[Any]) -> None:
        for ev in events:
            if type(ev) is Reply:
                self._reply(ev)
            elif type(ev) is HangupEvent:
                if self.channel is not None:
                    self.channel.hung_up = True
            elif type(ev) is Environment:
                self._start(ev)
            elif type(ev) is ProtocolError:
                self._protocol_error(ev)
            elif type(ev) is ConnectionClosed:
                self._fail(ConnectionLost("Asterisk closed the connection"))

    def _reply(self, reply: Reply) -> None:
        waiter = self.waiter
        if waiter is not None:
            self.waiter = None
            self.command_deadline = 0.0
            if not waiter.done():
                waiter.set_result(reply)
        # else: the reply to a command whose awaiter gave up (a flow's own timeout): dropped
        if self.quiet is not None and not self.conn.pending:
            self.quiet.set()

    def _fail(self, exc: Exception) -> None:
        """Every command from now on raises ``exc``; so does the one in flight, unless its
        reply has already arrived (then the flow's next command raises it)."""
        if self.error is None:
            self.error = exc
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)
        if self.quiet is not None:
            self.quiet.set()

    def _start(self, env: Environment) -> None:
        self.env_deadline = 0.0
        server = self.server
        flow = server.registry.resolve(env.script)
        if flow is None:
            server.stats.unknown_flow += 1
            log_event(log, "agi.unknown_flow", logging.ERROR, script=env.script,
                      uniqueid=env.uniqueid, known=server.registry.names(),
                      hint="AGI(agi://host:4573/<flow>) must name a registered flow")
            self._fail_now()
            return
        self.channel = FastAgiChannel(env, self)
        self.budget_deadline = self.loop.time() + server.config.session_budget_s
        self.task = self.loop.create_task(self._run(flow, self.channel))

    def _protocol_error(self, ev: ProtocolError) -> None:
        log_event(log, "agi.protocol_error", logging.ERROR, peer=self.peer, phase=ev.phase,
                  line=ev.line, error=ev.message,
                  uniqueid=self.channel.env.uniqueid if self.channel else None)
        if self.channel is None:  # the environment was bad
            self.server.stats.bad_environment += 1
            self._fail_now()
            return
        self._fail(AgiProtocolViolation(str(ev)))

    def _fail_now(self) -> None:
        """End a session that never reached a flow, with AGISTATUS=FAILURE."""
        self.finished = True
        self.env_deadline = 0.0
        self.server.stats.failed += 1
        if not self.transport.is_closing():
            self.transport.write(FAILURE_LINE)
            self.transport.close()

    # -- deadlines (checked by the server's sweep) -------------------------------------

    def check_deadlines(self, now: float) -> None:
        if self.env_deadline and now >= self.env_deadline:
            self.env_deadline = 0.0
            if not self.finished and self.channel is None:
                self.server.stats.bad_environment += 1
                log_event(log, "agi.env_timeout", logging.WARNING, peer=self.peer,
                          timeout_s=self.server.config.env_timeout_s,
                          received_bytes=self.received,
                          hint="the peer did not finish the AGI environment in time")
                self._fail_now()
        if self.command_deadline and now >= self.command_deadline:
            self.command_deadline = 0.0
            waiter = self.waiter
            if waiter is not None and not waiter.done():
                waiter.set_exception(AgiTimeout(
                    f"{self.command}: no reply from Asterisk within "
                    f"{self.server.config.command_timeout_s:g} s"))
        if self.budget_deadline and now >= self.budget_deadline:
            self.budget_deadline = 0.0
            self._cancel("budget")

    def abort(self) -> None:
        """End the session with FAILURE whatever it is doing (shutdown past its grace)."""
        if self.task is not None:
            self._cancel("shutdown")
        elif not self.finished:
            self._fail_now()

    def _cancel(self, reason: str) -> None:
        if self.task is not None and not self.finished and not self.cancel_reason:
            self.cancel_reason = reason
            self.task.cancel()

    async def wait_turn(self, verb: str) -> None:
        """Wait until no reply is due, within the command timeout (a rare path: a command
        the flow gave up on, or commands from several tasks at once)."""
        timeout_s = self.server.config.command_timeout_s
        try:
            async with asyncio.timeout(timeout_s):
                while self.conn.pending and self.error is None:
                    if self.quiet is None:
                        self.quiet = asyncio.Event()
                    self.quiet.clear()
                    await self.quiet.wait()
        except TimeoutError:
            raise AgiTimeout(f"{verb}: the reply to an earlier command did not come within "
                             f"{timeout_s:g} s") from None

    # -- the flow ----------------------------------------------------------------------

    async def _run(self, flow: Flow, channel: FastAgiChannel) -> None:
        server = self.server
        stats = server.stats
        outcome = "success"
        try:
            await flow(channel)
            if self.cancel_reason:  # the flow swallowed the cancellation: still a FAILURE
                raise asyncio.CancelledError
        except ChannelHungUp:
            outcome = "hangup"
        except ConnectionLost as exc:
            outcome = "lost"
            log_event(log, "agi.connection_lost", logging.WARNING, uniqueid=channel.env.uniqueid,
                      script=channel.env.script, error=str(exc))
        except asyncio.CancelledError:
            outcome = "failure"
            self._log_abort(channel)
            if not self.cancel_reason:
                raise  # not ours: let it propagate
        except CallInputError as exc:  # bad call facts: an input error, no traceback
            outcome = "failure"
            log_event(log, "agi.bad_call_facts", logging.WARNING, uniqueid=channel.env.uniqueid,
                      script=channel.env.script, peer=self.peer, error=str(exc),
                      action="FAILURE: the dialplan's fallback takes the call")
        except Exception as exc:
            outcome = "failure"
            log.error("agi.session_failed", exc_info=True, extra={"fields": {
                "uniqueid": channel.env.uniqueid, "script": channel.env.script,
                "error": mask_text(f"{type(exc).__name__}: {exc}")}})
        finally:
            self.finished = True
            self.budget_deadline = self.command_deadline = 0.0
            if self.error is None:  # commands from tasks the flow left behind
                self.error = ConnectionLost("the session with Asterisk is over")
            t = self.transport
            if outcome == "failure":
                stats.failed += 1
                if not t.is_closing():
                    t.write(FAILURE_LINE)
            elif outcome == "hangup":
                stats.hung_up += 1
            elif outcome == "lost":
                stats.lost += 1
            else:
                stats.succeeded += 1
            if not t.is_closing():
                t.close()
            self._maybe_release()
            log_event(log, "agi.session_end", logging.DEBUG, uniqueid=channel.env.uniqueid,
                      script=channel.env.script, outcome=outcome,
                      duration_ms=round((self.loop.time() - self.started) * 1000, 1))

    def _log_abort(self, channel: FastAgiChannel) -> None:
        if self.cancel_reason == "budget":
            log_event(log, "agi.session_budget_exceeded", logging.ERROR,
                      uniqueid=channel.env.uniqueid, script=channel.env.script,
                      budget_s=self.server.config.session_budget_s)
        else:
            log_event(log, "agi.session_aborted", logging.ERROR, uniqueid=channel.env.uniqueid,
                      script=channel.env.script,
                      reason=self.cancel_reason or "cancelled")


class FastAgiServer:
    """Serves the flows of a :class:`FlowRegistry` over FastAGI."""

    def __init__(self, registry: FlowRegistry, config: ServerConfig | None = None) -> None:
        self.registry = registry
        self.config = config or ServerConfig()
        self._allowed = parse_allow_list(self.config.allowed_hosts)
        self._peer_verdicts: dict[str, bool] = {}
        # What the sessions of this server remember between calls; nothing is shared with
        # another server in the same process.
        self.replies = ReplyCache()
        self.mset_plans = MSetPlans()
        self._server: asyncio.Server | None = None
        self._sessions: set[_Session] = set()
        self._idle = asyncio.Event()
        self._idle.set()
        self._saturated = False
        self._rejected_in_episode = 0
        self.closing = False
        self.stats = ServerStats()
        self.loop: asyncio.AbstractEventLoop = None  # type: ignore[assignment]
        self._sweeper: asyncio.TimerHandle | None = None
        cfg = self.config
        # Deadlines are checked by one periodic sweep for all sessions: a timer per
        # command would cost each command a heap push and a cancelled handle.
        self.tick_s = min(0.25, cfg.env_timeout_s / 4, cfg.command_timeout_s / 4,
                          cfg.session_budget_s / 4)

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        cfg = self.config
        self._server = await self.loop.create_server(
            lambda: _Session(self), cfg.host, cfg.port, backlog=cfg.backlog,
            reuse_address=True)
        self._sweeper = self.loop.call_later(self.tick_s, self._sweep)
        log_event(log, "agi.listening", host=cfg.host, port=self.port,
                  flows=self.registry.names(), max_sessions=cfg.max_sessions,
                  allowed_hosts=list(cfg.allowed_hosts))

    def _sweep(self) -> None:
        try:
            now = self.loop.time()
            for session in list(self._sessions):
                try:
                    session.check_deadlines(now)
                except Exception:  # one broken session must not stop the deadlines of all
                    log.error("agi.sweep_failed", exc_info=True,
                              extra={"fields": {"peer": session.peer}})
        finally:
            self._sweeper = self.loop.call_later(self.tick_s, self._sweep)

    @property
    def port(self) -> int:
        assert self._server is not None, "server not started"
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def active_sessions(self) -> int:
        return len(self._sessions)

    async def shutdown(self, grace_s: float | None = None) -> None:
        """Stop accepting; let running sessions finish within the grace period; end the
        rest with FAILURE so the dialplan's fallback takes those calls."""
        grace = self.config.shutdown_grace_s if grace_s is None else grace_s
        self.closing = True
        if self._server is not None:
            self._server.close()
        running = len(self._sessions)
        log_event(log, "agi.shutdown", running=running, grace_s=grace)
        if running:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(grace):
                    await self._idle.wait()
        leftover = list(self._sessions)
        if leftover:
            log_event(log, "agi.shutdown_abort", logging.WARNING, aborted=len(leftover))
            tasks = [s.task for s in leftover if s.task is not None]
            for s in leftover:
                s.abort()
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None

    async def __aenter__(self) -> FastAgiServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.shutdown()

    # -- bookkeeping used by sessions ------------------------------------------------

    def peer_allowed(self, host: str) -> bool:
        verdict = self._peer_verdicts.get(host)
        if verdict is None:
            verdict = self._check_peer(host)
            if len(self._peer_verdicts) >= 1024:
                self._peer_verdicts.clear()
            self._peer_verdicts[host] = verdict
        return verdict

    def _check_peer(self, host: str) -> bool:
        try:
            ip = ipaddress.ip_address(host.split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return any(ip in net for net in self._allowed)

    def admit(self, session: _Session) -> bool:
        if len(self._sessions) >= self.config.max_sessions:
            self.stats.rejected_capacity += 1
            self._rejected_in_episode += 1
            if not self._saturated:
                self._saturated = True
                log_event(log, "agi.capacity_reached", logging.WARNING,
                          max_sessions=self.config.max_sessions, peer=session.peer,
                          action="new sessions answered with FAILURE (dialplan fallback)",
                          hint="raise --max-sessions or add controllers")
            return False
        if not self._sessions:
            self._idle.clear()
        self._sessions.add(session)
        return True

    def release(self, session: _Session) -> None:
        self._sessions.discard(session)
        if self._saturated and len(self._sessions) < self.config.max_sessions * 0.9:
            self._saturated = False
            log_event(log, "agi.capacity_recovered", logging.WARNING,
                      active=len(self._sessions), rejected=self._rejected_in_episode)
            self._rejected_in_episode = 0
        if not self._sessions:
            self._idle.set()
