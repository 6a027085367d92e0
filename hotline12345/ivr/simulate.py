"""Asterisk's side of FastAGI, for load tests and capacity planning (``hotline12345 simulate``).

:class:`AsteriskPeer` is sans-IO and answers commands the way Asterisk 22's ``res_agi``
does (reply formats as in ``../shared/asterisk-22-captures/fastagi-session.log``):
``200 result=...`` replies, ``510`` for unknown commands, a ``520-`` usage block for bad
syntax, and after the caller hangs up the unsolicited ``HANGUP`` line followed by ``511``
for every command that cannot run on a dead channel (``GET/SET VARIABLE``, ``GET FULL
VARIABLE``, ``VERBOSE``, ``EXEC``, ``NOOP`` and ``DATABASE`` still answer ``200``).
It reports the ``AGISTATUS`` Asterisk would set: ``FAILURE`` when the server sent a line
beginning with ``failure``, else ``HANGUP`` if the caller hung up, else ``SUCCESS``.

:func:`run_load` drives many peers over real TCP with a given concurrency and returns a
:class:`LoadReport` (sessions/s, latency percentiles, outcomes, errors).
"""

from __future__ import annotations

import asyncio
import errno
import random
import re
import selectors
import socket
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from hotline12345.ivr.protocol import format_environment, parse_command

#: Commands res_agi runs on a dead channel (``dead`` = 1 in its command table).
DEAD_OK = frozenset({"ASYNCAGI BREAK", "DATABASE DEL", "DATABASE DELTREE", "DATABASE GET",
                     "DATABASE PUT", "EXEC", "GET FULL VARIABLE", "GET VARIABLE", "NOOP",
                     "SET VARIABLE", "VERBOSE"})
KNOWN = DEAD_OK | frozenset({"ANSWER", "CHANNEL STATUS", "CONTROL STREAM FILE", "GET DATA",
                             "GET OPTION", "HANGUP", "RECEIVE CHAR", "RECORD FILE", "SAY ALPHA",
                             "SAY DIGITS", "SAY NUMBER", "SET AUTOHANGUP", "SET CALLERID",
                             "SET CONTEXT", "SET EXTENSION", "SET MUSIC", "SET PRIORITY",
                             "STREAM FILE", "WAIT FOR DIGIT"})
_BY_WORDS: dict[tuple[str, ...], str] = {tuple(k.split()): k for k in KNOWN}

DEAD_REPLY = b"511 Command Not Permitted on a dead channel or intercept routine\n"
UNKNOWN_REPLY = b"510 Invalid or unknown command\n"
#: The usage block Asterisk 22.10.1 sent for a bare ``STREAM FILE`` (fastagi-session.log).
STREAM_FILE_USAGE = (
    b"520-Invalid command syntax.  Proper usage follows:\n"
    b"Send the given file, allowing playback to be interrupted by the given digits, if any. "
    b"Returns <literal>0</literal> if playback completes without a digit being pressed, or "
    b"the ASCII numerical value of the digit if one was pressed, or <literal>-1</literal> on "
    b"error or if the channel was disconnected. If musiconhold is playing before calling "
    b"stream file it will be automatically stopped and will not be restarted after "
    b"completion.\n"
    b"It sets the following channel variables upon completion:\n"
    b"<variable>PLAYBACKSTATUS</variable>: The status of the playback attempt as a text "
    b"string.\n"
    b"    <value>SUCCESS</value>\n"
    b"    <value>FAILED</value>\n"
    b"520 End of proper usage.\n")
GENERIC_USAGE = (b"520-Invalid command syntax.  Proper usage follows:\nUsage.\n"
                 b"520 End of proper usage.\n")
_APP_SPECIAL = re.compile(r'[()\[\]"\\]')
#: Minimum argc (verb words included) per command, as res_agi's handlers check it.
_MIN_ARGC = {"STREAM FILE": 4, "GET DATA": 3, "WAIT FOR DIGIT": 4, "SET VARIABLE": 4,
             "GET VARIABLE": 3, "GET FULL VARIABLE": 4, "VERBOSE": 2, "EXEC": 2}


@dataclass(slots=True)
class CallScript:
    """One simulated call: the environment Asterisk sends and how the caller behaves."""

    env: dict[str, str]
    digits: list[str] = field(default_factory=list)  # GET DATA answers in order ("" = none)
    hangup_at: int | None = None  # the caller hangs up at this command (0-based)
    hangup_style: str = "before"  # "before": HANGUP then 511; "during": -1, then HANGUP

    _env_bytes: bytes = field(default=b"", init=False, repr=False)

    def __post_init__(self) -> None:
        if self.hangup_style not in ("before", "during"):
            raise ValueError(f"hangup_style {self.hangup_style!r}: expected before or during")

    def env_bytes(self) -> bytes:
        if not self._env_bytes:
            self._env_bytes = format_environment(self.env)
        return self._env_bytes


class AsteriskPeer:
    """Asterisk's side of one AGI session (sans-IO)."""

    def __init__(self, script: CallScript) -> None:
        self.script = script
        self.commands: list[str] = []
        self.variables: dict[str, str] = {}
        self.dead = False
        self.failure = False  # the server sent FAILURE
        self.closed = False
        self._digits = list(script.digits)
        self._buf = b""

    @property
    def status(self) -> str:
        """The AGISTATUS Asterisk would set."""
        if self.failure:
            return "FAILURE"
        return "HANGUP" if self.dead else "SUCCESS"

    def start(self) -> bytes:
        return self.script.env_bytes()

    def receive_data(self, data: bytes) -> bytes:
        """Commands in, replies out. After a FAILURE line, nothing more is read (as run_agi)."""
        if self.failure or self.closed:
            return b""
        buf = self._buf + data
        out: list[bytes] = []
        while True:
            nl = buf.find(b"\n")
            if nl < 0:
                break
            line = buf[:nl]
            buf = buf[nl + 1:]
            if line[:7].lower() == b"failure":
                self.failure = True
                buf = b""
                break
            out.append(self._command(line.decode("utf-8", "replace")))
        self._buf = buf
        return b"".join(out)

    def eof(self) -> None:
        self.closed = True

    def _command(self, line: str) -> bytes:
        index = len(self.commands)
        self.commands.append(line)
        argv = line.split() if '"' not in line and "\\" not in line else parse_command(line)
        words = tuple(w.upper() for w in argv[:3])
        name = _BY_WORDS.get(words) or _BY_WORDS.get(words[:2]) or _BY_WORDS.get(words[:1])
        prefix = b""
        script = self.script
        if script.hangup_at == index and not self.dead:
            if script.hangup_style == "during" and name is not None and name not in DEAD_OK:
                self.dead = True
                reply = (b"200 result=-1 endpos=4000\n" if name == "STREAM FILE"
                         else b"200 result=-1\n")
                return reply + b"HANGUP\n"
            self.dead = True
            prefix = b"HANGUP\n"
        if name is None:
            return prefix + UNKNOWN_REPLY
        if self.dead and name not in DEAD_OK:
            return prefix + DEAD_REPLY
        if len(argv) < _MIN_ARGC.get(name, 0):
            return prefix + (STREAM_FILE_USAGE if name == "STREAM FILE" else GENERIC_USAGE)
        return prefix + self._reply(name, argv)

    def _reply(self, name: str, argv: list[str]) -> bytes:
        if name == "SET VARIABLE":
            self.variables[argv[2]] = argv[3]
            return b"200 result=1\n"
        if name == "STREAM FILE":
            return b"200 result=0 endpos=11234\n"
        if name == "ANSWER" or name == "NOOP":
            return b"200 result=0\n"
        if name == "GET DATA":
            digits = self._digits.pop(0) if self._digits else ""
            if not digits:
                return b"200 result= (timeout)\n"
            return f"200 result={digits}\n".encode()
        if name == "WAIT FOR DIGIT":
            digits = self._digits.pop(0) if self._digits else ""
            return f"200 result={ord(digits[0]) if digits else 0}\n".encode()
        if name == "GET VARIABLE":
            value = self._lookup(argv[2])
            return (b"200 result=0\n" if value is None
                    else f"200 result=1 ({value})\n".encode())
        if name == "GET FULL VARIABLE":
            expr = argv[3]
            if expr.startswith("${") and expr.endswith("}"):
                value = self._lookup(expr[2:-1])
                return f"200 result=1 ({value or ''})\n".encode()
            return f"200 result=1 ({expr})\n".encode()
        if name == "VERBOSE":
            return b"200 result=1\n"
        if name == "EXEC":
            return self._exec(argv[1], argv[2] if len(argv) > 2 else "")
        if name == "HANGUP":
            self.dead = True
            return b"200 result=1\nHANGUP\n"
        return b"200 result=0\n"

    def _exec(self, app: str, data: str) -> bytes:
        """``EXEC``: ``MSet`` and ``Set`` change variables as Asterisk does; other
        applications succeed without effect."""
        if app.lower() == "mset":
            for pair in separate_app_args(data, ",", arraylen=99):
                parts = separate_app_args(pair, "=", arraylen=2)
                if len(parts) == 2:
                    self.variables[parts[0]] = parts[1]
        elif app.lower() == "set":
            name, sep, value = data.partition("=")
            if sep:
                self.variables[name] = value
        return b"200 result=0\n"

    def _lookup(self, name: str) -> str | None:
        env = self.script.env
        special = {"CALLERID(num)": env.get("agi_callerid"),
                   "CALLERID(name)": env.get("agi_calleridname"),
                   "CHANNEL": env.get("agi_channel"), "UNIQUEID": env.get("agi_uniqueid")}
        if name in special:
            value = special[name]
            return None if value in (None, "unknown") else value
        return self.variables.get(name)


def separate_app_args(buf: str, delim: str = ",", *, remove_chars: bool = True,
                      arraylen: int = 24) -> list[str]:
    """A port of Asterisk's ``__ast_app_separate_args`` (main/app.c): split application
    arguments at ``delim`` outside ``()``, ``[]`` and quotes; with ``remove_chars`` quotes
    are dropped and a backslash makes the next character literal. The last of ``arraylen``
    entries takes the rest of the string unparsed."""
    if not buf:
        return []
    if _APP_SPECIAL.search(buf) is None:  # nothing to track: a plain split does the same
        return buf.split(delim, arraylen - 1)
    out: list[str] = []
    n = len(buf)
    i = 0
    paren = bracket = 0
    quote = False
    wasdelim = -1
    while i < n and len(out) < arraylen - 1:
        cur: list[str] = []
        while i < n:
            c = buf[i]
            if c == "(":
                paren += 1
            elif c == ")":
                if paren:
                    paren -= 1
            elif c == "[":
                bracket += 1
            elif c == "]":
                if bracket:
                    bracket -= 1
            elif c == '"' and delim != '"':
                quote = not quote
                if remove_chars:
                    i += 1
                    continue
            elif c == "\\":
                if remove_chars:
                    if i + 1 < n:
                        cur.append(buf[i + 1])
                    i += 2
                    continue
                cur.append(c)
                if i + 1 < n:
                    cur.append(buf[i + 1])
                i += 2
                continue
            elif c == delim and not paren and not quote and not bracket:
                wasdelim = i
                i += 1
                break
            cur.append(c)
            i += 1
        out.append("".join(cur))
    if i < n or (i > 0 and i - 1 == wasdelim):
        out.append(buf[i:])
    return out


# --------------------------------------------------------------------------------------
# Session shapes

_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
_GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚"


def capture_like_env(*, uniqueid: str, dialled: str, caller: str | None,
                     caller_name: str | None = None, script: str = "inbound", query: str = "",
                     args: Sequence[str] = (), host: str = "127.0.0.1", port: int = 4573,
                     channel: str | None = None, language: str = "zh") -> dict[str, str]:
    """An environment with the fields, order and conventions of the captured Asterisk 22 one."""
    path = f"{script}?{query}" if query else script
    env = {
        "agi_network": "yes",
        "agi_network_script": path,
        "agi_request": f"agi://{host}:{port}/{path}",
        "agi_channel": channel or f"PJSIP/trunk-{abs(hash(uniqueid)) % 0xFFFFFFFF:08x}",
        "agi_language": language,
        "agi_type": "PJSIP",
        "agi_uniqueid": uniqueid,
        "agi_version": "22.10.1",
        "agi_callerid": caller if caller else "unknown",
        "agi_calleridname": caller_name if caller_name else "unknown",
        "agi_callingpres": "0",
        "agi_callingani2": "0",
        "agi_callington": "0",
        "agi_callingtns": "0",
        "agi_dnid": dialled,
        "agi_rdnis": "unknown",
        "agi_context": "from-trunk",
        "agi_extension": dialled,
        "agi_priority": "2",
        "agi_enhanced": "0.0",
        "agi_accountcode": "",
        "agi_threadid": "140350571112128",
    }
    for i, a in enumerate(args, 1):
        env[f"agi_arg_{i}"] = a
    return env


def realistic_scripts(count: int, *, dialled: Sequence[str], seed: int = 12345,
                      hangup_ratio: float = 0.1, unknown_caller_ratio: float = 0.1,
                      port: int = 4573, flow: str = "inbound",
                      max_commands: int = 4) -> Iterator[CallScript]:
    """``count`` inbound calls: mobile callers with Chinese names (some ``unknown``), the
    given dialled numbers, the one question answered or not, and ``hangup_ratio`` of the
    callers hanging up at a random step, half before and half during a command."""
    if not dialled:
        raise ValueError("dialled: give at least one number to call")
    rng = random.Random(seed)
    base = 1795849847
    for i in range(count):
        number = dialled[i % len(dialled)]
        known = rng.random() >= unknown_caller_ratio
        caller = f"1{rng.choice('3456789')}{rng.randrange(10**9):09d}" if known else None
        name = rng.choice(_SURNAMES) + rng.choice(_GIVEN) if known else None
        env = capture_like_env(uniqueid=f"{base + i // 1000}.{i}", dialled=number,
                               caller=caller, caller_name=name, script=flow, port=port)
        digits = [rng.choice(["", "1", "2", "9"]) for _ in range(3)]
        hangup_at = None
        style = "before"
        if rng.random() < hangup_ratio:
            hangup_at = rng.randrange(max_commands)
            style = rng.choice(["before", "during"])
        yield CallScript(env, digits, hangup_at, style)


# --------------------------------------------------------------------------------------
# Running sessions over TCP


@dataclass(slots=True)
class SessionResult:
    status: str  # SUCCESS / FAILURE / HANGUP, or ERROR / TIMEOUT
    latency_s: float
    commands: list[str]
    variables: dict[str, str]
    error: str = ""


class _Client(asyncio.Protocol):
    def __init__(self, peer: AsteriskPeer, done: asyncio.Future[None]) -> None:
        self.peer = peer
        self.done = done
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(self.peer.start())

    def data_received(self, data: bytes) -> None:
        out = self.peer.receive_data(data)
        if out:
            assert self.transport is not None
            self.transport.write(out)
        if self.peer.failure and self.transport is not None:
            self.transport.close()  # run_agi stops reading after "failure" and ends AGI()

    def eof_received(self) -> bool | None:
        self.peer.eof()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            if exc is not None and not self.peer.failure and not self.peer.closed:
                self.done.set_exception(exc)
            else:
                self.done.set_result(None)


async def run_session(host: str, port: int, script: CallScript, timeout_s: float = 30.0,
                      peer: AsteriskPeer | None = None) -> SessionResult:
    """Play one call against a FastAGI server (``peer``: a customised Asterisk side)."""
    loop = asyncio.get_running_loop()
    peer = peer or AsteriskPeer(script)
    done: asyncio.Future[None] = loop.create_future()
    t0 = time.perf_counter()
    transport: asyncio.Transport | None = None
    try:
        async with asyncio.timeout(timeout_s):
            transport, _ = await loop.create_connection(lambda: _Client(peer, done), host, port)
            assert isinstance(transport, asyncio.Transport)
            await done
    except TimeoutError:
        if transport is not None:
            transport.abort()
        return SessionResult("TIMEOUT", time.perf_counter() - t0, peer.commands, peer.variables,
                             f"no end of session within {timeout_s:g} s")
    except OSError as exc:
        return SessionResult("ERROR", time.perf_counter() - t0, peer.commands, peer.variables,
                             f"{type(exc).__name__}: {exc}")
    return SessionResult(peer.status, time.perf_counter() - t0, peer.commands, peer.variables)


@dataclass(slots=True)
class LoadReport:
    sessions: int
    elapsed_s: float
    outcomes: Counter[str]
    latencies_ms: list[float]  # sorted
    commands: int
    errors: list[str]

    @property
    def per_s(self) -> float:
        return self.sessions / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def percentile(self, p: float) -> float:
        if not self.latencies_ms:
            return 0.0
        k = min(len(self.latencies_ms) - 1, max(0, round(p / 100 * len(self.latencies_ms)) - 1))
        return self.latencies_ms[k]

    def format(self) -> str:
        out = [f"sessions:   {self.sessions} in {self.elapsed_s:.2f} s = {self.per_s:.0f}/s "
               f"({self.commands} commands)",
               f"latency:    p50 {self.percentile(50):.1f} ms, p90 {self.percentile(90):.1f} ms, "
               f"p99 {self.percentile(99):.1f} ms, max "
               f"{self.latencies_ms[-1] if self.latencies_ms else 0:.1f} ms",
               "outcomes:   " + ", ".join(f"{k}={v}" for k, v in sorted(self.outcomes.items()))]
        if self.errors:
            out.append("errors:     " + "; ".join(self.errors[:5]))
        return "\n".join(out)


async def run_load(host: str, port: int, scripts: Iterable[CallScript], *, concurrency: int,
                   timeout_s: float = 30.0) -> LoadReport:
    """Play ``scripts`` with at most ``concurrency`` calls in flight."""
    if concurrency < 1:
        raise ValueError(f"concurrency must be at least 1, got {concurrency}")
    it = iter(scripts)
    outcomes: Counter[str] = Counter()
    latencies: list[float] = []
    errors: list[str] = []
    commands = 0

    async def worker() -> None:
        nonlocal commands
        for script in it:
            r = await run_session(host, port, script, timeout_s)
            outcomes[r.status] += 1
            latencies.append(r.latency_s * 1000)
            commands += len(r.commands)
            if r.error and len(errors) < 20:
                errors.append(r.error)

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - t0
    latencies.sort()
    return LoadReport(len(latencies), elapsed, outcomes, latencies, commands, errors)


def run_load_sync(host: str, port: int, scripts: Iterable[CallScript], *, concurrency: int,
                  timeout_s: float = 30.0) -> LoadReport:
    """:func:`run_load` on a plain epoll loop instead of asyncio: several times less CPU per
    session, so that one load-generator core can saturate a server core. Blocking; run it
    in a thread (or another process) when the server shares the event loop."""
    if concurrency < 1:
        raise ValueError(f"concurrency must be at least 1, got {concurrency}")
    sel = selectors.DefaultSelector()
    it = iter(scripts)
    outcomes: Counter[str] = Counter()
    latencies: list[float] = []
    errors: list[str] = []
    commands = 0
    active: dict[int, _Slot] = {}
    perf = time.perf_counter

    def finish(slot: _Slot, status: str, error: str = "") -> None:
        nonlocal commands
        with_fd = slot.sock.fileno()
        sel.unregister(slot.sock)
        slot.sock.close()
        del active[with_fd]
        outcomes[status] += 1
        latencies.append((perf() - slot.t0) * 1000)
        commands += len(slot.peer.commands)
        if error and len(errors) < 20:
            errors.append(error)

    def send(slot: _Slot, data: bytes) -> None:
        data = slot.out + data
        try:
            n = slot.sock.send(data)
        except (BlockingIOError, InterruptedError):
            n = 0
        slot.out = data[n:]
        sel.modify(slot.sock, selectors.EVENT_READ | (selectors.EVENT_WRITE if slot.out else 0),
                   slot)

    def start() -> bool:
        script = next(it, None)
        if script is None:
            return False
        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET,
                             socket.SOCK_STREAM)
        sock.setblocking(False)
        slot = _Slot(sock, AsteriskPeer(script), perf())
        err = sock.connect_ex((host, port))
        active[sock.fileno()] = slot
        if err in (0, errno.EISCONN):
            slot.connected = True
            sel.register(sock, selectors.EVENT_READ, slot)
            send(slot, slot.peer.start())
        elif err in (errno.EINPROGRESS, errno.EAGAIN, errno.EWOULDBLOCK):
            sel.register(sock, selectors.EVENT_WRITE, slot)
        else:
            sel.register(sock, selectors.EVENT_READ, slot)
            finish(slot, "ERROR", f"connect: {errno.errorcode.get(err, err)}")
        return True

    t0 = perf()
    exhausted = False
    while not exhausted and len(active) < concurrency:
        exhausted = not start()
    next_check = perf() + 1.0
    while active:
        for key, mask in sel.select(1.0):
            slot = key.data
            if not slot.connected:
                err = slot.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    finish(slot, "ERROR", f"connect: {errno.errorcode.get(err, err)}")
                else:
                    slot.connected = True
                    send(slot, slot.peer.start())
                continue
            if mask & selectors.EVENT_WRITE and slot.out:
                send(slot, b"")
            if not mask & selectors.EVENT_READ:
                continue
            try:
                data = slot.sock.recv(65536)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError as exc:
                finish(slot, "FAILURE" if slot.peer.failure else "ERROR",
                       "" if slot.peer.failure else f"{type(exc).__name__}: {exc}")
            else:
                peer = slot.peer
                if not data:
                    peer.eof()
                    finish(slot, peer.status)
                else:
                    out = peer.receive_data(data)
                    if peer.failure:
                        finish(slot, "FAILURE")
                    elif out:
                        send(slot, out)
        now = perf()
        if now >= next_check:
            next_check = now + 1.0
            for slot in [s for s in active.values() if now - s.t0 > timeout_s]:
                finish(slot, "TIMEOUT", f"no end of session within {timeout_s:g} s")
        # Every call that ended, however it ended (FAILURE, a refused connection, a
        # timeout), makes room for the next one: the run plays all its calls.
        while not exhausted and len(active) < concurrency:
            exhausted = not start()
    sel.close()
    elapsed = perf() - t0
    latencies.sort()
    return LoadReport(len(latencies), elapsed, outcomes, latencies, commands, errors)


class _Slot:
    __slots__ = ("connected", "out", "peer", "sock", "t0")

    def __init__(self, sock: socket.socket, peer: AsteriskPeer, t0: float) -> None:
        self.sock = sock
        self.peer = peer
        self.t0 = t0
        self.out = b""
        self.connected = False
