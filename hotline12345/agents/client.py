"""A thin asyncio AMI client around the sans-IO codec.

:class:`AmiSession` is one TCP connection: greeting, ``Login``, actions matched to their
replies by ``ActionID``, list actions (``QueueStatus``) collected to their ``...Complete``
event. :class:`AmiMonitor` keeps a session alive: it pings with a reply deadline (a
half-open TCP connection is noticed within ``ping_interval_s + ping_timeout_s``),
reconnects with capped exponential backoff, and on every connect resyncs the whole
queue state with ``QueueStatus`` before it reports itself connected.

Why not panoramisk's ``Manager`` (1.4): it decodes each TCP read separately with
``errors="ignore"`` (a Chinese name split across reads loses characters), its action
future never resolves for ``Response: Success / Message: Added interface to queue`` (it
takes that reply for the start of a list), and its ping has no reply deadline.

Credentials come from the environment or a secret file (:meth:`AmiConfig.from_env`),
never from the site file.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

from hotline12345.logs import log_event
from hotline12345.secrets import read_secret

from .codec import AmiMessage, AmiParser, AmiProtocolError, encode_action

__all__ = [
    "AmiActionError",
    "AmiConfig",
    "AmiConfigError",
    "AmiConnectionLost",
    "AmiError",
    "AmiLoginError",
    "AmiMonitor",
    "AmiNotConnected",
    "AmiSession",
    "AmiTimeout",
    "new_action_id",
]

_log = logging.getLogger("hotline12345.agents.ami")
ENV_HOST: Final = "HOTLINE12345_AMI_HOST"
ENV_PORT: Final = "HOTLINE12345_AMI_PORT"
ENV_USER: Final = "HOTLINE12345_AMI_USER"
ENV_SECRET: Final = "HOTLINE12345_AMI_SECRET"
ENV_READ_INTERVAL: Final = "HOTLINE12345_AMI_READ_INTERVAL_MS"
_ERROR_RESPONSES: Final = frozenset({"Error", "Fail", "Failure"})


class AmiError(Exception):
    """Base of the AMI client's errors."""


class AmiConfigError(AmiError):
    """The AMI settings in the environment are incomplete or wrong."""


class AmiLoginError(AmiError):
    """Asterisk refused the login; the message says why."""


class AmiActionError(AmiError):
    """Asterisk answered an action with ``Response: Error``."""

    def __init__(self, action: str, message: str, response: AmiMessage | None = None) -> None:
        super().__init__(f"AMI {action} failed: {message}")
        self.action = action
        self.message = message
        self.response = response


class AmiNotConnected(AmiError):
    """No AMI session is up."""


class AmiConnectionLost(AmiError):
    """The connection closed while an action was waiting for its reply."""


class AmiTimeout(AmiError):
    """No reply within the deadline."""


@dataclass(frozen=True, slots=True)
class AmiConfig:
    host: str
    username: str
    secret: str = field(repr=False)
    port: int = 5038
    connect_timeout_s: float = 5.0
    action_timeout_s: float = 10.0
    ping_interval_s: float = 10.0
    ping_timeout_s: float = 5.0
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 30.0
    backoff_jitter: float = 0.2
    #: Events wait in the socket at most this long between reads (0: read every segment).
    #: Asterisk writes events a few at a time; each read costs the event loop a wake-up and
    #: a system call, so batching reads is what keeps the monitor's CPU per event near its
    #: parser's (docs/performance.md). An action's reply is never held back.
    read_interval_s: float = 0.05

    def __post_init__(self) -> None:
        if not 0.0 <= self.read_interval_s <= self.ping_interval_s:
            raise AmiConfigError(
                f"AMI read_interval_s={self.read_interval_s}: expected 0 (read every "
                f"segment) up to ping_interval_s={self.ping_interval_s}; events wait at most "
                "this long, so keep it short (the default is 0.05 s)")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> AmiConfig | None:
        """``HOTLINE12345_AMI_HOST``, ``_PORT`` (default 5038), ``_USER`` and the secret
        ``HOTLINE12345_AMI_SECRET`` or the file named by ``HOTLINE12345_AMI_SECRET_FILE``;
        ``HOTLINE12345_AMI_READ_INTERVAL_MS`` (default 50) sets ``read_interval_s``.

        ``None`` when none of them is set (AMI not configured); :class:`AmiConfigError`
        naming the variable when only some are."""
        env = os.environ if env is None else env
        host = env.get(ENV_HOST, "").strip()
        user = env.get(ENV_USER, "").strip()
        secret = read_secret(ENV_SECRET) if env is os.environ else (
            env.get(ENV_SECRET) or None
        )
        if not host and not user and not secret:
            return None
        missing = [
            name
            for name, value in ((ENV_HOST, host), (ENV_USER, user), (ENV_SECRET, secret))
            if not value
        ]
        if missing:
            raise AmiConfigError(
                f"AMI is partly configured: set {', '.join(missing)} "
                f"(the secret may also come from {ENV_SECRET}_FILE), "
                f"or unset {ENV_HOST}/{ENV_USER}/{ENV_SECRET} to run without AMI"
            )
        port_text = env.get(ENV_PORT, "5038").strip() or "5038"
        try:
            port = int(port_text)
            if not 0 < port < 65536:
                raise ValueError
        except ValueError:
            raise AmiConfigError(
                f"{ENV_PORT}={port_text!r} is not a TCP port; use a number from 1 to 65535 "
                "(Asterisk's default is 5038)"
            ) from None
        interval_text = env.get(ENV_READ_INTERVAL, "").strip() or "50"
        try:
            read_interval_s = int(interval_text) / 1000
            if not 0 <= read_interval_s <= 1:
                raise ValueError
        except ValueError:
            raise AmiConfigError(
                f"{ENV_READ_INTERVAL}={interval_text!r}: expected milliseconds from 0 to "
                "1000 (how long AMI events may wait in the socket between reads; 0 reads "
                "every segment; the default is 50)"
            ) from None
        assert secret is not None
        return cls(host=host, port=port, username=user, secret=secret,
                   read_interval_s=read_interval_s)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


class _Pending:
    __slots__ = ("action", "future", "is_list", "items")

    def __init__(self, action: str, future: asyncio.Future[list[AmiMessage]], is_list: bool):
        self.action = action
        self.future = future
        self.is_list = is_list
        self.items: list[AmiMessage] = []


_ids = itertools.count(1)


def new_action_id() -> str:
    """A fresh ActionID, unique within this process."""
    return f"h12345-{next(_ids)}"


class AmiSession:
    """One AMI connection. Use :meth:`open`; every message read is passed to ``on_message``
    (synchronously, in stream order) before any action waiting on it resumes.

    The connection is an :class:`asyncio.Protocol` (as the FastAGI server's): each read goes
    from ``data_received`` through the sans-IO parser to ``on_message`` in the same
    callback, with no task woken per read. Asterisk writes its events a few at a time, so
    after a read the session stops reading for ``read_interval_s`` and lets events gather
    in the socket: one wake-up and one ``recv`` then carry many events. While an action
    waits for its reply, reading is never paused."""

    def __init__(
        self,
        transport: asyncio.Transport,
        on_message: Callable[[AmiMessage], None],
        *,
        logger: logging.Logger | None = None,
        read_interval_s: float = 0.0,
    ) -> None:
        self._transport = transport
        self._on_message = on_message
        self._log = logger or _log
        self._parser = AmiParser(logger=self._log)
        self._pending: dict[str, _Pending] = {}
        self._read_interval_s = read_interval_s
        self.read_cpu_s = 0.0  # CPU spent on what was read: parsing and on_message
        self.reads = 0  # reads from the socket
        self._resume_handle: asyncio.TimerHandle | None = None  # reading paused until then
        loop = asyncio.get_running_loop()
        self._loop = loop
        self.greeting: asyncio.Future[str] = loop.create_future()
        self.closed: asyncio.Future[str] = loop.create_future()
        self._gone: asyncio.Future[None] = loop.create_future()  # connection_lost happened

    @classmethod
    async def open(
        cls,
        config: AmiConfig,
        on_message: Callable[[AmiMessage], None],
        *,
        logger: logging.Logger | None = None,
    ) -> AmiSession:
        """Connect, read the greeting and log in. Raises :class:`AmiLoginError` with
        Asterisk's reason when the login is refused, :class:`OSError` or
        :class:`AmiTimeout` when the server cannot be reached."""
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(config.connect_timeout_s):
                _, protocol = await loop.create_connection(
                    lambda: _AmiProtocol(on_message, logger, config.read_interval_s),
                    config.host, config.port)
        except TimeoutError:
            raise AmiTimeout(
                f"no TCP connection to {config.address} within {config.connect_timeout_s} s"
            ) from None
        session = protocol.session
        assert session is not None  # made in connection_made, before create_connection returns
        try:
            try:
                async with asyncio.timeout(config.connect_timeout_s):
                    await asyncio.shield(session.greeting)
            except TimeoutError:
                raise AmiTimeout(
                    f"{config.address} sent no AMI greeting within {config.connect_timeout_s} s"
                ) from None
            try:
                await session.action(
                    "Login",
                    {"Username": config.username, "Secret": config.secret},
                    timeout=config.action_timeout_s,
                )
            except AmiActionError as exc:
                raise AmiLoginError(
                    f"AMI login as {config.username!r} to {config.address} refused: "
                    f"{exc.message}"
                ) from None
            except (AmiConnectionLost, AmiTimeout) as exc:
                raise AmiLoginError(
                    f"AMI login as {config.username!r} to {config.address} got no answer: {exc}"
                ) from None
        except BaseException:
            await session.close()
            raise
        return session

    @property
    def is_open(self) -> bool:
        return not self.closed.done()

    def _data_received(self, data: bytes) -> None:
        if self.closed.done():
            return
        started = time.thread_time()
        self.reads += 1
        try:
            for msg in self._parser.feed(data):
                self._dispatch(msg)
        except AmiProtocolError as exc:
            log_event(self._log, "ami.protocol_error", logging.ERROR, error=str(exc))
            self._finish(str(exc))
        except Exception as exc:  # a bug in a message handler: end this session, loudly
            reason = f"unexpected error while reading: {type(exc).__name__}: {exc}"
            log_event(self._log, "ami.reader.error", logging.ERROR, error=reason)
            self._finish(reason)
            return
        finally:
            self.read_cpu_s += time.thread_time() - started
        if (self._read_interval_s and not self._pending and self._resume_handle is None
                and not self.closed.done()):
            self._transport.pause_reading()
            self._resume_handle = self._loop.call_later(self._read_interval_s,
                                                        self._resume_reading)

    @property
    def reading(self) -> bool:
        """False while reads are held back for ``read_interval_s``."""
        return self._resume_handle is None and not self.closed.done()

    def _resume_reading(self) -> None:
        if self._resume_handle is not None:
            self._resume_handle.cancel()
            self._resume_handle = None
            self._transport.resume_reading()  # a no-op once the transport is closing

    def _connection_lost(self, exc: Exception | None) -> None:
        self._finish("Asterisk closed the connection" if exc is None
                     else f"connection error: {exc}")
        if not self._gone.done():
            self._gone.set_result(None)

    def _finish(self, reason: str) -> None:
        if self._resume_handle is not None:
            self._resume_handle.cancel()
            self._resume_handle = None
        if not self.closed.done():
            self.closed.set_result(reason)
        if not self.greeting.done():
            self.greeting.set_exception(AmiConnectionLost(reason))
            self.greeting.exception()  # mark retrieved
        pending, self._pending = self._pending, {}
        for p in pending.values():
            if not p.future.done():
                p.future.set_exception(AmiConnectionLost(f"{p.action}: {reason}"))
        self._transport.close()

    def _dispatch(self, msg: AmiMessage) -> None:
        if msg.kind == "greeting":
            if not self.greeting.done():
                self.greeting.set_result(msg.name)
            return
        aid = msg.headers.get("ActionID")
        p = self._pending.get(aid) if aid else None
        if p is not None:
            if msg.kind == "response":
                if msg.name in _ERROR_RESPONSES:
                    del self._pending[aid]  # type: ignore[arg-type]
                    if not p.future.done():
                        p.future.set_exception(
                            AmiActionError(p.action, msg.get("Message", msg.name), msg)
                        )
                elif p.is_list and msg.get("EventList") == "start":
                    p.items.append(msg)
                else:
                    del self._pending[aid]  # type: ignore[arg-type]
                    if not p.future.done():
                        p.future.set_result([msg])
            elif p.is_list:
                p.items.append(msg)
                if msg.get("EventList") == "Complete":
                    del self._pending[aid]  # type: ignore[arg-type]
                    if not p.future.done():
                        p.future.set_result(p.items)
        self._on_message(msg)

    async def _send(
        self,
        action: str,
        fields: Mapping[str, str | int | Sequence[str]] | None,
        *,
        is_list: bool,
        timeout: float,
        action_id: str | None = None,
    ) -> list[AmiMessage]:
        if self.closed.done():
            raise AmiConnectionLost(f"{action}: {self.closed.result()}")
        action_id = action_id or new_action_id()
        if action_id in self._pending:
            raise AmiError(f"{action}: ActionID {action_id!r} is already waiting for a reply")
        data = encode_action(action, action_id, fields)
        future: asyncio.Future[list[AmiMessage]] = asyncio.get_running_loop().create_future()
        self._pending[action_id] = _Pending(action, future, is_list)
        self._resume_reading()  # the reply is read as soon as it comes
        try:
            self._transport.write(data)
            async with asyncio.timeout(timeout):
                await asyncio.shield(future)
        except TimeoutError:
            raise AmiTimeout(f"no reply to {action} within {timeout} s") from None
        finally:
            self._pending.pop(action_id, None)
        return future.result()

    async def action(
        self,
        action: str,
        fields: Mapping[str, str | int | Sequence[str]] | None = None,
        *,
        timeout: float = 10.0,
        action_id: str | None = None,
    ) -> AmiMessage:
        """Send one action; return its reply. ``Response: Error`` raises
        :class:`AmiActionError` with Asterisk's message. ``action_id``: the ActionID to
        send (from :func:`new_action_id`), when the caller must know it before the reply,
        e.g. to wait for the event an asynchronous action sends with it later."""
        return (await self._send(action, fields, is_list=False, timeout=timeout,
                                 action_id=action_id))[0]

    async def list_action(
        self,
        action: str,
        fields: Mapping[str, str | int | Sequence[str]] | None = None,
        *,
        timeout: float = 30.0,
    ) -> list[AmiMessage]:
        """Send a list action (``QueueStatus``...): the reply then every event of the list,
        up to and including its ``...Complete`` event."""
        return await self._send(action, fields, is_list=True, timeout=timeout)

    def abort(self) -> None:
        """Drop the connection at once (a half-open peer never answers a FIN)."""
        self._transport.abort()

    async def close(self) -> None:
        self._finish("closed by us")
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._gone


class _AmiProtocol(asyncio.Protocol):
    """The transport's callbacks, handed to the :class:`AmiSession` it makes."""

    def __init__(self, on_message: Callable[[AmiMessage], None],
                 logger: logging.Logger | None, read_interval_s: float = 0.0) -> None:
        self.on_message = on_message
        self.logger = logger
        self.read_interval_s = read_interval_s
        self.session: AmiSession | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.session = AmiSession(transport, self.on_message, logger=self.logger,
                                  read_interval_s=self.read_interval_s)

    def data_received(self, data: bytes) -> None:
        assert self.session is not None
        self.session._data_received(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.session is not None:
            self.session._connection_lost(exc)


@dataclass(slots=True)
class MonitorStatus:
    state: str = "stopped"  # connecting | connected | disconnected | login_failed | stopped
    detail: str = ""
    since: float = 0.0
    connects: int = 0
    reconnects: int = 0
    last_resync_at: float = 0.0

    def to_dict(self) -> dict[str, object]:
        return {
            "state": self.state,
            "detail": self.detail,
            "since": self.since,
            "connects": self.connects,
            "reconnects": self.reconnects,
            "last_resync_at": self.last_resync_at,
        }


EventPredicate = Callable[[AmiMessage], bool]


class AmiMonitor:
    """Keeps one AMI session up: connect, login, resync, ping, reconnect.

    ``on_message`` receives every message of every session in stream order (the state
    model's ``apply``); ``on_status`` is called whenever :attr:`status` changes.
    """

    def __init__(
        self,
        config: AmiConfig,
        on_message: Callable[[AmiMessage], None],
        *,
        on_status: Callable[[MonitorStatus], None] | None = None,
        clock: Callable[[], float] = time.time,
        logger: logging.Logger | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self._on_message = on_message
        self._on_status = on_status
        self._clock = clock
        self._log = logger or _log
        self._rng = rng or random.Random()
        self.status = MonitorStatus()
        self.session: AmiSession | None = None
        self._ended_read_cpu_s = 0.0  # read_cpu_s of the sessions that are over
        self._task: asyncio.Task[None] | None = None
        self._waiters: list[tuple[EventPredicate, asyncio.Future[AmiMessage]]] = []
        self._connected = asyncio.Event()

    # lifecycle ---------------------------------------------------------------

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="ami-monitor")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
            except Exception as exc:  # _run catches everything; never let stop() raise
                log_event(self._log, "ami.monitor.error", logging.ERROR,
                          address=self.config.address,
                          error=f"{type(exc).__name__}: {exc}")
        if self.session is not None:
            await self.session.close()
            self.session = None
        self._connected.clear()
        self._set_status("stopped", "")

    @property
    def read_cpu_s(self) -> float:
        """CPU seconds the sessions spent on what they read (parsing, ``on_message``)."""
        live = self.session.read_cpu_s if self.session is not None else 0.0
        return self._ended_read_cpu_s + live

    async def wait_connected(self, timeout: float | None = None) -> None:
        async with asyncio.timeout(timeout):
            await self._connected.wait()

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def _set_status(self, state: str, detail: str) -> None:
        s = self.status
        if s.state != state or s.detail != detail:
            if state != s.state:
                s.since = self._clock()
            s.state, s.detail = state, detail
            if self._on_status is not None:
                try:
                    self._on_status(s)
                except Exception as exc:  # a broken observer must not stop the monitor
                    log_event(self._log, "ami.status_callback.error", logging.ERROR,
                              error=f"{type(exc).__name__}: {exc}")

    def backoff(self, attempt: int) -> float:
        """Delay before reconnect attempt ``attempt`` (1, 2, ...): doubling, capped, jittered."""
        c = self.config
        base: float = min(c.backoff_max_s, c.backoff_initial_s * 2.0 ** max(0, attempt - 1))
        return max(0.0, base * (1 + self._rng.uniform(-c.backoff_jitter, c.backoff_jitter)))

    async def _run(self) -> None:
        """Connect, serve, reconnect, until cancelled. Whatever a session raises ends that
        session (logged, connected state cleared), never the monitor."""
        attempt = 0
        while True:
            served = await self._one_session()
            attempt = 1 if served else attempt + 1
            delay = self.backoff(attempt)
            log_event(self._log, "ami.reconnect.wait", logging.INFO, delay_s=round(delay, 3),
                      attempt=attempt)
            await asyncio.sleep(delay)

    async def _one_session(self) -> bool:
        """One connect-resync-serve cycle; True if the session got connected."""
        address = self.config.address
        session: AmiSession | None = None
        connected = stopping = False
        try:
            self._set_status("connecting", f"connecting to {address}")
            session = await self._connect_and_resync()
            connected = True
            reason = await self._serve(session)
            log_event(self._log, "ami.disconnected", logging.WARNING, address=address,
                      reason=reason)
            self._set_status("disconnected", reason)
        except AmiLoginError as exc:
            reason = str(exc)
            log_event(self._log, "ami.login.failed", logging.ERROR, address=address,
                      user=self.config.username, error=reason)
            self._set_status("login_failed", reason)
        except (OSError, AmiError) as exc:
            if connected:
                reason = f"connection to {address} lost: {type(exc).__name__}: {exc}"
                log_event(self._log, "ami.disconnected", logging.WARNING, address=address,
                          reason=reason)
            else:
                reason = f"cannot connect to {address}: {exc}"
                log_event(self._log, "ami.connect.failed", logging.WARNING, address=address,
                          error=str(exc))
            self._set_status("disconnected", reason)
        except Exception as exc:  # keep monitoring whatever happened
            reason = f"unexpected error: {type(exc).__name__}: {exc}"
            log_event(self._log, "ami.monitor.error", logging.ERROR, address=address,
                      error=reason, connected=connected)
            with contextlib.suppress(Exception):
                self._set_status("disconnected", reason)
        except asyncio.CancelledError:  # stop()
            stopping = True
            raise
        finally:
            # Never claim a connection we no longer have, however the session ended.
            self._connected.clear()
            if connected and not stopping:
                self.status.reconnects += 1
            if session is not None:
                if self.session is session:
                    self.session = None
                self._ended_read_cpu_s += session.read_cpu_s
                with contextlib.suppress(Exception):
                    session.abort()
                await session.close()
        return connected

    async def _connect_and_resync(self) -> AmiSession:
        session = await AmiSession.open(self.config, self._dispatch, logger=self._log)
        log_event(self._log, "ami.login.ok", address=self.config.address,
                  user=self.config.username, version=session.greeting.result())
        try:
            items = await session.list_action(
                "QueueStatus", timeout=max(30.0, self.config.action_timeout_s)
            )
        except BaseException:
            await session.close()
            raise
        self.session = session
        self.status.connects += 1
        self.status.last_resync_at = self._clock()
        log_event(self._log, "ami.resync.done", address=self.config.address,
                  queues=sum(1 for m in items if m.name == "QueueParams"),
                  members=sum(1 for m in items if m.name == "QueueMember"),
                  callers=sum(1 for m in items if m.name == "QueueEntry"))
        self._connected.set()
        self._set_status("connected", f"connected to {self.config.address}")
        return session

    async def _serve(self, session: AmiSession) -> str:
        """Ping with a deadline until the session ends; return why it ended. A Ping that
        times out or is answered with an error ends the session (the caller reconnects)."""
        c = self.config
        while True:
            done, _ = await asyncio.wait({session.closed}, timeout=c.ping_interval_s)
            if done:
                return session.closed.result()
            try:
                await session.action("Ping", timeout=c.ping_timeout_s)
            except AmiTimeout:
                log_event(self._log, "ami.ping.timeout", logging.WARNING,
                          address=c.address, timeout_s=c.ping_timeout_s)
                return f"no reply to Ping within {c.ping_timeout_s} s (half-open connection)"
            except AmiConnectionLost:
                return session.closed.result() if session.closed.done() else "connection lost"
            except AmiActionError as exc:
                log_event(self._log, "ami.ping.error", logging.WARNING, address=c.address,
                          error=exc.message)
                return f"Ping answered with an error ({exc.message}); reconnecting"

    # messages and actions ----------------------------------------------------

    def _dispatch(self, msg: AmiMessage) -> None:
        self._on_message(msg)
        if self._waiters and msg.kind == "event":
            keep = []
            for pred, fut in self._waiters:
                if fut.done():
                    continue
                try:
                    hit = pred(msg)
                except Exception:  # a broken predicate must not break the reader
                    hit = False
                if hit:
                    fut.set_result(msg)
                else:
                    keep.append((pred, fut))
            self._waiters = keep

    def expect_event(self, predicate: EventPredicate) -> asyncio.Future[AmiMessage]:
        """A future for the next event matching ``predicate``; register it *before*
        sending the action whose effect it confirms."""
        fut: asyncio.Future[AmiMessage] = asyncio.get_running_loop().create_future()
        self._waiters.append((predicate, fut))
        return fut

    def _live_session(self) -> AmiSession:
        session = self.session
        if session is None or not session.is_open or not self._connected.is_set():
            detail = self.status.detail or self.status.state
            raise AmiNotConnected(f"not connected to Asterisk AMI ({detail})")
        return session

    async def action(self, action: str, /, *, action_id: str | None = None,
                     **fields: str | int) -> AmiMessage:
        """Send ``action`` on the live session; ``action_id`` as in
        :meth:`AmiSession.action`."""
        return await self._live_session().action(
            action, fields, timeout=self.config.action_timeout_s, action_id=action_id
        )

    async def list_action(self, action: str, **fields: str | int) -> list[AmiMessage]:
        return await self._live_session().list_action(
            action, fields, timeout=max(30.0, self.config.action_timeout_s)
        )
