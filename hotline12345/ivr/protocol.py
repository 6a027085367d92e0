"""The AGI wire protocol as a sans-IO codec (in the style of h11).

:class:`AgiConnection` is the *server* side of one FastAGI session (or of one classic
AGI process): feed it the bytes Asterisk sent with :meth:`AgiConnection.receive_data`
(``b""`` means EOF) and it returns events; ask it for the bytes of a command with
:meth:`AgiConnection.send_command`. It never touches a socket, a clock or a thread, so
it can be driven by asyncio, by blocking pipes, by a test or by Hypothesis alike.

Events:

- :class:`Environment`: the ``agi_*`` variables Asterisk sends first, ended by a blank
  line, with ``agi_network_script`` split into the script name and its query string,
  ``agi_arg_N`` collected into :attr:`Environment.args`, and the literal ``unknown``
  that Asterisk writes into empty caller fields turned into ``None``.
- :class:`Reply`: a command's reply (``200 result=1 (data) endpos=123``, ``510 ...``,
  ``511 ...``, or a whole ``520-`` usage block read to its closing ``520 `` line).
  ``100 Trying...`` lines are provisional and skipped.
- :class:`HangupEvent`: the unsolicited ``HANGUP`` line Asterisk writes when the caller
  hangs up. It is never the reply to a command: the reply still follows (``511`` for
  media commands, ``200`` for ``GET/SET VARIABLE`` and ``VERBOSE``).
- :class:`ProtocolError`: a line the protocol does not allow (garbage, oversized, an
  environment that is too large or cut short). It names the line and what is wrong;
  after one, the connection accepts no more input.
- :class:`ConnectionClosed`: EOF.

Wire facts (from Asterisk 22's ``res/res_agi.c`` and the captures in
``../shared/asterisk-22-captures/``):

- Asterisk reads each command with ``fgets`` into ``char buf[AGI_BUF_LEN]`` (2048), so a
  command line, newline included, must fit in 2047 bytes or it is split in two.
- Its ``parse_args`` splits on spaces and tabs; ``"`` toggles quoting and ``\\`` escapes
  the next character (also inside quotes). :func:`format_command` quotes to match, and
  :func:`parse_command` is a faithful port used by the Asterisk-side simulator.
- A line beginning with ``failure`` (any case) makes ``run_agi`` return
  ``AGI_RESULT_FAILURE``, so the dialplan sees ``AGISTATUS=FAILURE``:
  :data:`FAILURE_LINE`. Closing the socket without it is a success.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from types import MappingProxyType
from typing import Final
from urllib.parse import parse_qsl, unquote

from hotline12345.logs import mask_text

__all__ = [
    "CALLER_FIELDS",
    "FAILURE_LINE",
    "MAX_COMMAND_BYTES",
    "AgiConnection",
    "CommandError",
    "ConnectionClosed",
    "Environment",
    "EnvironmentValueError",
    "Event",
    "HangupEvent",
    "Limits",
    "ProtocolError",
    "Quoted",
    "Reply",
    "ReplyCache",
    "State",
    "format_command",
    "format_environment",
    "format_mset",
    "mset_pair",
    "parse_command",
    "parse_reply_line",
]

#: res_agi reads a command with fgets() into a 2048-byte buffer: 2047 bytes with the newline.
MAX_COMMAND_BYTES: Final = 2047

#: The line that makes Asterisk end AGI() with AGISTATUS=FAILURE (res_agi.c, run_agi():
#: ``if (*buf && strncasecmp(buf, "failure", 7) == 0) returnstatus = AGI_RESULT_FAILURE;``).
FAILURE_LINE: Final = b"FAILURE\n"

#: Environment fields in which Asterisk writes the literal ``unknown`` for "no value".
CALLER_FIELDS: Final = frozenset({"agi_callerid", "agi_calleridname", "agi_dnid", "agi_rdnis"})

_ENV_KEY = re.compile(r"[A-Za-z0-9_]+\Z")
#: One environment line, ``name: value`` (the space is optional), in a block of lines.
_ENV_LINE = re.compile(r"^([A-Za-z0-9_]+): ?(.*)$", re.M)
_ARG_KEY = re.compile(r"agi_arg_([0-9]+)\Z")
_VERB = re.compile(r"[A-Za-z]+(?: [A-Za-z]+)*\Z")
_REPLY_HEAD = re.compile(r"([0-9]{3})([ -])(.*)\Z", re.S)
_RESULT = re.compile(r"result=(\S*)(?: \((.*)\))?(?: endpos=(-?[0-9]+))?\Z", re.S)
_INT = re.compile(r"-?[0-9]+\Z")
_SPECIAL = re.compile(r'[ \t"\\\r\n\0]')  # to quote, or a line break
_VAR_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_MSET_UNSAFE = re.compile(r"[\x00-\x1f$\x7f]")
_BREAKS = re.compile(r"[\r\n\0]")
_AGI_ESCAPES = str.maketrans({"\\": "\\\\", '"': '\\"'})
_APP_ESCAPES = str.maketrans({c: "\\" + c for c in '\\",()[]'})

#: Pairs per ``MSet``: its argument array holds 24 entries in older Asterisk (99 in newer),
#: and the last entry takes the unparsed rest, so stay well below 23.
MSET_MAX_PAIRS: Final = 20


class CommandError(ValueError):
    """A command that cannot be sent as asked (bad verb, line break in an argument, too long)."""


class EnvironmentValueError(ValueError):
    """An AGI environment whose fields cannot be interpreted (names the field)."""


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds on what one session may send; every violation is a :class:`ProtocolError`."""

    max_line_bytes: int = 8192  # any single line, environment or reply
    max_env_bytes: int = 65536  # the whole environment, blank line included
    max_env_lines: int = 512
    max_block_bytes: int = 65536  # a multi-line 520 usage block
    max_block_lines: int = 512
    max_query_fields: int = 64

    def __post_init__(self) -> None:
        for name in ("max_line_bytes", "max_env_bytes", "max_env_lines", "max_block_bytes",
                     "max_block_lines", "max_query_fields"):
            if getattr(self, name) < 1:
                raise ValueError(f"Limits.{name} must be at least 1, got {getattr(self, name)}")


# --------------------------------------------------------------------------------------
# Events


@dataclass(frozen=True, slots=True)
class Environment:
    """The AGI environment of one call. Immutable: its mappings are read-only views of
    dicts built for this call alone, so nothing a flow does reaches another call."""

    variables: Mapping[str, str]
    script: str | None  # agi_network_script without its query string; None in classic AGI
    query: Mapping[str, str]  # agi_network_script's query string (last value of a repeated key)
    args: tuple[str, ...]  # agi_arg_1, agi_arg_2, ...

    @classmethod
    def from_variables(
        cls, variables: Mapping[str, str], *, max_query_fields: int = 64
    ) -> Environment:
        """Interpret raw ``agi_*`` variables. Raises :class:`EnvironmentValueError`."""
        return cls._interpret(dict(variables), max_query_fields)

    @classmethod
    def _interpret(cls, variables: dict[str, str], max_query_fields: int) -> Environment:
        """:meth:`from_variables` on a dict the environment may keep (not copied)."""
        args: tuple[str, ...] = ()
        if "agi_arg_" in " ".join(variables):
            args = _numbered_args(variables)
        script: str | None = None
        query: Mapping[str, str] = _NO_QUERY
        raw = variables.get("agi_network_script")
        if raw is not None:
            script, query = parse_script(raw, max_query_fields=max_query_fields)
        return cls(variables=MappingProxyType(variables), script=script, query=query, args=args)

    def get(self, key: str) -> str | None:
        """A field's value; caller fields that Asterisk reports as ``unknown`` are ``None``."""
        value = self.variables.get(key)
        if value is None or (key in CALLER_FIELDS and value == "unknown"):
            return None
        return value

    @property
    def uniqueid(self) -> str | None:
        return self.variables.get("agi_uniqueid")

    @property
    def channel(self) -> str | None:
        return self.variables.get("agi_channel")

    @property
    def callerid(self) -> str | None:
        return self.get("agi_callerid")

    @property
    def calleridname(self) -> str | None:
        return self.get("agi_calleridname")

    @property
    def dnid(self) -> str | None:
        return self.get("agi_dnid")

    @property
    def rdnis(self) -> str | None:
        return self.get("agi_rdnis")

    @property
    def extension(self) -> str | None:
        return self.variables.get("agi_extension")

    @property
    def context(self) -> str | None:
        return self.variables.get("agi_context")

    @property
    def language(self) -> str | None:
        return self.variables.get("agi_language")

    @property
    def request(self) -> str | None:
        return self.variables.get("agi_request")


@dataclass(frozen=True, slots=True)
class Reply:
    """One reply. ``result`` is the ``result=`` value as an int when it is one; digits read by
    ``GET DATA`` (which may hold ``*`` or a leading ``0``) are in ``result_text``."""

    code: int
    result: int | None
    result_text: str
    data: str | None  # the text in parentheses: a variable's value, "timeout", "dtmf", ...
    endpos: int | None
    text: str  # the reply as received, lines joined with "\n", without the final newline

    @property
    def ok(self) -> bool:
        return self.code == 200


@dataclass(frozen=True, slots=True)
class HangupEvent:
    """Asterisk's unsolicited ``HANGUP`` line: the caller hung up."""


@dataclass(frozen=True, slots=True)
class ProtocolError:
    """Input the protocol does not allow. ``line`` is the 1-based input line number."""

    message: str
    line: int
    phase: str  # "environment" or "reply"

    def __str__(self) -> str:
        return f"{self.phase} line {self.line}: {self.message}"


@dataclass(frozen=True, slots=True)
class ConnectionClosed:
    """EOF. ``clean`` is false when it cut an environment, a line, a block or a reply short."""

    clean: bool


Event = Environment | Reply | HangupEvent | ProtocolError | ConnectionClosed


class State(Enum):
    ENVIRONMENT = "environment"
    COMMANDS = "commands"
    ERROR = "error"
    CLOSED = "closed"


# --------------------------------------------------------------------------------------
# Parsing helpers

#: The query of every environment without a query string: read-only, so sharing it is safe.
_NO_QUERY: Final[Mapping[str, str]] = MappingProxyType({})


def _numbered_args(variables: Mapping[str, str]) -> tuple[str, ...]:
    """``agi_arg_1``, ``agi_arg_2``, ... in order; a gap or a bad name raises."""
    numbered: dict[int, str] = {}
    for key, value in variables.items():
        if key.startswith("agi_arg_"):
            m = _ARG_KEY.match(key)
            if m is None or int(m.group(1)) < 1:
                raise EnvironmentValueError(
                    f"environment field {key}: expected agi_arg_N with N = 1, 2, ...")
            numbered[int(m.group(1))] = value
    for n in range(1, len(numbered) + 1):
        if n not in numbered:
            missing = max(numbered)
            raise EnvironmentValueError(
                f"environment field agi_arg_{missing} present but agi_arg_{n} is missing")
    return tuple(numbered[n] for n in range(1, len(numbered) + 1))


def parse_script(raw: str, *, max_query_fields: int = 64) -> tuple[str, Mapping[str, str]]:
    """``inbound/?dialled=12317&x=1`` -> ``("inbound", {"dialled": "12317", "x": "1"})``,
    the query as a read-only mapping."""
    if "?" not in raw and "%" not in raw:  # the usual agi://host/inbound: nothing to decode
        name = raw.strip("/")
        if name:
            return name, _NO_QUERY
    path, _, qs = raw.partition("?")
    name = unquote(path).strip("/")
    if not name:
        raise EnvironmentValueError(
            f"environment field agi_network_script: {raw!r} names no script; use "
            "AGI(agi://host:4573/<flow>?key=value,...)")
    try:
        pairs = parse_qsl(qs, keep_blank_values=True, max_num_fields=max_query_fields)
    except ValueError as exc:
        raise EnvironmentValueError(
            f"environment field agi_network_script: query string {qs!r}: {exc}") from None
    return name, MappingProxyType(dict(pairs)) if pairs else _NO_QUERY


def parse_reply_line(line: str) -> Reply | None:
    """Parse one complete (single-line) reply; ``None`` if it is not a reply line."""
    m = _REPLY_HEAD.match(line)
    if m is None or m.group(2) != " ":
        return None
    code = int(m.group(1))
    rest = m.group(3)
    result: int | None = None
    result_text = ""
    data: str | None = None
    endpos: int | None = None
    if rest.startswith("result="):
        r = _RESULT.match(rest)
        if r is not None:
            result_text = r.group(1)
            data = r.group(2)
            endpos = int(r.group(3)) if r.group(3) is not None else None
        else:  # e.g. "100 result=0 Trying...": keep the token, the text stays in .text
            result_text = rest[7:].split(" ", 1)[0]
        if _INT.match(result_text):
            result = int(result_text)
    return Reply(code, result, result_text, data, endpos, line)


class ReplyCache:
    """Replies already parsed, by line, for the sessions of one server.

    The same few replies (``200 result=0``, ...) recur call after call; :class:`Reply` is
    frozen, so sessions can share them. Bounded (emptied when full); a reply carrying data
    (a variable's value) is never kept. Each server owns one: two servers in one process
    share nothing.
    """

    __slots__ = ("_by_text", "max_entries")

    def __init__(self, max_entries: int = 256) -> None:
        self.max_entries = max_entries
        self._by_text: dict[str, Reply] = {}

    def __len__(self) -> int:
        return len(self._by_text)

    def __contains__(self, text: object) -> bool:
        return text in self._by_text

    def parse(self, text: str) -> Reply | None:
        """:func:`parse_reply_line`, remembered."""
        reply = self._by_text.get(text)
        if reply is not None:
            return reply
        reply = parse_reply_line(text)
        if reply is not None and reply.data is None and len(text) <= 48:
            if len(self._by_text) >= self.max_entries:
                self._by_text.clear()
            self._by_text[text] = reply
        return reply


def _snippet(text: str) -> str:
    """A bad line for an error message: cut to 80 characters, and any run of 7 digits or
    more masked as logs mask callers' numbers (138****8000), since it may be one."""
    return mask_text(text[:80])


def _decode(raw: bytes | bytearray) -> str:
    # Asterisk passes names through as bytes; a caller name that is not UTF-8 must not cost
    # the caller their call, so undecodable bytes become U+FFFD instead of an error.
    return raw.decode("utf-8", "replace")


# --------------------------------------------------------------------------------------
# The server-side connection


class AgiConnection:
    """The AGI server's side of one session. Not thread-safe; one per session."""

    __slots__ = ("_block", "_block_bytes", "_buf", "_env", "_env_bytes", "_line_no", "_scan",
                 "hung_up", "limits", "pending", "replies", "state")

    def __init__(self, limits: Limits | None = None, replies: ReplyCache | None = None) -> None:
        """``replies``: the parsed-reply cache of the server this session belongs to (a
        new one if not given)."""
        self.limits = limits or Limits()
        self.replies = ReplyCache() if replies is None else replies
        self.state = State.ENVIRONMENT
        self.pending = 0  # commands sent whose reply has not arrived
        self.hung_up = False  # a HANGUP line was seen: media commands will get 511 now
        self._buf = bytearray()
        self._scan = 0  # bytes of _buf already searched for a newline
        self._line_no = 0
        self._env: dict[str, str] = {}
        self._env_bytes = 0
        self._block: list[str] | None = None  # an open 520- usage block
        self._block_bytes = 0

    # -- output ------------------------------------------------------------------------

    def send_command(self, verb: str, *args: str | int) -> bytes:
        """The bytes of one command. A reply is then expected; see :func:`format_command`."""
        if self.state is not State.COMMANDS:
            raise CommandError(f"cannot send {verb!r}: connection is in state {self.state.value}")
        data = format_command(verb, *args)
        self.pending += 1
        return data

    def send_raw_command(self, line: bytes) -> bytes:
        """Account for a pre-formatted command line (``b"ANSWER\\n"``) and return it."""
        if self.state is not State.COMMANDS:
            raise CommandError(f"cannot send {line!r}: connection is in state {self.state.value}")
        if not line.endswith(b"\n") or b"\n" in line[:-1] or len(line) > MAX_COMMAND_BYTES:
            raise CommandError(f"{line!r} is not one command line of at most "
                               f"{MAX_COMMAND_BYTES} bytes ending in a newline")
        self.pending += 1
        return line

    # -- input -------------------------------------------------------------------------

    def receive_data(self, data: bytes) -> list[Event]:
        """Feed bytes from Asterisk (``b""`` for EOF); return the events they complete."""
        if self.state is State.CLOSED or self.state is State.ERROR:
            if not data and self.state is State.ERROR:
                self.state = State.CLOSED
                return [ConnectionClosed(clean=False)]
            return []
        if not data:
            return self._eof()
        self._buf += data
        events: list[Event] = []
        if self.state is State.ENVIRONMENT:
            self._environment(events)
            if not self._buf or self._current() is not State.COMMANDS:
                return events
        self._replies(events)
        return events

    def _errored(self) -> bool:
        return self.state is State.ERROR

    def _current(self) -> State:  # re-read after a call that may change the state
        return self.state

    def _fail(self, events: list[Event], message: str) -> None:
        phase = "environment" if self.state is State.ENVIRONMENT else "reply"
        events.append(ProtocolError(message, self._line_no, phase))
        self.state = State.ERROR
        self._buf.clear()
        self._scan = 0

    def _environment(self, events: list[Event]) -> None:
        """Take the environment's complete lines at once: one decode, one match of every
        line against the ``name: value`` syntax, one dict. Only when the limits or the
        syntax do not hold are the lines walked one by one, to name the first bad one."""
        buf = self._buf
        lim = self.limits
        last = buf.rfind(b"\n", self._scan)
        if last < 0:  # no complete line yet
            self._scan = len(buf)
            self._check_partial(events)
            return
        # The blank line ends the environment: "\n" or "\r\n" at the start of a line.
        if buf[0] == 10 or buf.startswith(b"\r\n"):
            blank = 0
        else:
            blank = buf.find(b"\n\n", 0, last + 1) + 1  # 0: not found
            cr = buf.find(b"\n\r\n", 0, last + 1) + 1
            if cr and (not blank or cr < blank):
                blank = cr
            if not blank:
                blank = -1
        cut = last + 1 if blank < 0 else blank  # the complete lines before the blank one
        if cut:
            lines = buf.count(b"\n", 0, cut)
            text = buf[:cut].decode("utf-8", "replace")
            if "\r" in text:
                text = text.replace("\r\n", "\n")  # one CR before each newline
            fields = dict(pairs := _ENV_LINE.findall(text))
            if (len(pairs) != lines or len(fields) != lines
                    or self._line_no + lines > lim.max_env_lines
                    or self._env_bytes + cut > lim.max_env_bytes
                    or (cut > lim.max_line_bytes
                        and max(map(len, buf[:cut].split(b"\n"))) > lim.max_line_bytes)
                    or (self._env and not self._env.keys().isdisjoint(fields))):
                self._bad_line(events, cut)
                return
            self._line_no += lines
            self._env_bytes += cut
            if self._env:
                self._env.update(fields)
            else:
                self._env = fields
        if blank < 0:
            del buf[:cut]
            self._scan = len(buf)
            self._check_partial(events)
            return
        end = buf.index(b"\n", blank) + 1
        self._line_no += 1
        self._env_bytes += end - blank
        if self._env_bytes > lim.max_env_bytes:
            self._fail(events, f"environment larger than {lim.max_env_bytes} bytes")
            return
        del buf[:end]
        self._scan = 0
        try:
            environment = Environment._interpret(self._env, lim.max_query_fields)
        except EnvironmentValueError as exc:
            self._fail(events, str(exc))
            return
        self.state = State.COMMANDS
        self._env = {}
        events.append(environment)

    def _check_partial(self, events: list[Event]) -> None:
        """The limits on an environment line that has no newline yet (all of ``_buf``)."""
        partial = len(self._buf)
        lim = self.limits
        if partial > lim.max_line_bytes:
            self._line_no += 1
            self._fail(events, f"line longer than {lim.max_line_bytes} bytes (no newline "
                               f"after {partial} bytes)")
        elif self._env_bytes + partial > lim.max_env_bytes:
            self._line_no += 1
            self._fail(events, f"environment larger than {lim.max_env_bytes} bytes")

    def _bad_line(self, events: list[Event], cut: int) -> None:
        """Fail on the first of the environment lines in ``_buf[:cut]`` that breaks a
        limit or the syntax, checked in the order one line at a time would meet them."""
        lim = self.limits
        seen = set(self._env)
        env_bytes = self._env_bytes
        for raw in bytes(self._buf[:cut - 1]).split(b"\n"):
            self._line_no += 1
            if len(raw) > lim.max_line_bytes:
                self._fail(events, f"line longer than {lim.max_line_bytes} bytes "
                                   f"({len(raw)} bytes)")
                return
            env_bytes += len(raw) + 1
            if env_bytes > lim.max_env_bytes:
                self._fail(events, f"environment larger than {lim.max_env_bytes} bytes")
                return
            if self._line_no > lim.max_env_lines:
                self._fail(events, f"environment has more than {lim.max_env_lines} lines")
                return
            text = _decode(raw[:-1] if raw.endswith(b"\r") else raw)
            key, sep, _ = text.partition(":")
            if not sep or _ENV_KEY.match(key) is None:
                self._fail(events, f"expected 'agi_name: value', got {_snippet(text)!r}")
                return
            if key in seen:
                self._fail(events, f"environment field {key} sent twice")
                return
            seen.add(key)
        self._fail(events, "environment line rejected")  # not reached: a line above failed

    def _replies(self, events: list[Event]) -> None:
        buf = self._buf
        limit = self.limits.max_line_bytes
        start = 0
        while True:
            nl = buf.find(b"\n", self._scan)
            if nl < 0:
                self._scan = len(buf)
                if len(buf) - start > limit:
                    self._line_no += 1
                    self._fail(events, f"line longer than {limit} bytes (no newline after "
                                       f"{len(buf) - start} bytes)")
                    return
                break
            self._line_no += 1
            if nl - start > limit:
                self._fail(events, f"line longer than {limit} bytes ({nl - start} bytes)")
                return
            end = nl - 1 if nl > start and buf[nl - 1] == 13 else nl
            text = _decode(buf[start:end])
            self._reply_line(text, end - start, events)
            start = self._scan = nl + 1
            if self._errored():
                return
        if start:
            del buf[:start]
            self._scan -= start

    def _reply_line(self, text: str, size: int, events: list[Event]) -> None:
        """One reply line, decoded; ``size``: its bytes without the line end."""
        block = self._block
        if block is not None:
            self._block_bytes += size + 1
            block.append(text)
            lim = self.limits
            if self._block_bytes > lim.max_block_bytes or len(block) > lim.max_block_lines:
                self._fail(events, f"520 usage block larger than {lim.max_block_bytes} bytes "
                                   f"or {lim.max_block_lines} lines")
                return
            if text.startswith("520 "):
                self._block = None
                self._reply(Reply(520, None, "", None, None, "\n".join(block)), events)
            return
        if text == "HANGUP":
            self.hung_up = True
            events.append(HangupEvent())
            return
        if text.startswith("520-"):
            if self.pending <= 0:
                self._fail(events, f"reply {_snippet(text)!r} to no command")
                return
            self._block = [text]
            self._block_bytes = size + 1
            return
        reply = self.replies.parse(text)
        if reply is None:
            self._fail(events, f"not an AGI reply: {_snippet(text)!r}")
            return
        if reply.code == 100:  # "100 result=0 Trying...": provisional, the real reply follows
            return
        self._reply(reply, events)

    def _reply(self, reply: Reply, events: list[Event]) -> None:
        if self.pending <= 0:
            self._fail(events, f"reply {_snippet(reply.text)!r} to no command")
            return
        self.pending -= 1
        events.append(reply)

    def _eof(self) -> list[Event]:
        events: list[Event] = []
        if self.state is State.ENVIRONMENT:
            got = self._env_bytes + len(self._buf)
            self._line_no += 1
            self._fail(events, f"connection closed before the end of the environment "
                               f"(after {got} bytes, {len(self._env)} fields)")
        clean = not self._buf and self._block is None and self.pending == 0 and not events
        self.state = State.CLOSED
        self._buf.clear()
        events.append(ConnectionClosed(clean=clean))
        return events


# --------------------------------------------------------------------------------------
# Commands


class Quoted(str):
    """An argument that is always sent in double quotes (``SET VARIABLE X "value"``)."""

    __slots__ = ()


def _arg(verb: str, index: int, value: str | int) -> str:
    """One argument as ``parse_args`` reads it back: as is, or quoted with ``"`` and ``\\``
    escaped when it is empty, a :class:`Quoted`, or holds a space, tab, ``"`` or ``\\``.
    One scan finds any character that needs a look (those four and the line breaks)."""
    if isinstance(value, str):
        special = _SPECIAL.search(value)
        if special is not None and _BREAKS.search(value, special.start()) is not None:
            raise CommandError(f"{verb} argument {index}: {value[:40]!r} contains a line break "
                               "or NUL, which would end the command early")
        if special is None and value and not isinstance(value, Quoted):
            return value
        return '"' + value.translate(_AGI_ESCAPES) + '"'
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise CommandError(f"{verb} argument {index}: expected str or int, got "
                       f"{type(value).__name__}")


def format_command(verb: str, *args: str | int) -> bytes:
    """Serialise one command for Asterisk's ``parse_args``.

    Arguments that are empty or hold a space, tab, ``"`` or ``\\`` are quoted, with ``"``
    and ``\\`` escaped; :class:`Quoted` arguments are always quoted. Raises
    :class:`CommandError` for a bad verb, a line break in an argument, or a command longer
    than :data:`MAX_COMMAND_BYTES`.
    """
    if not _VERB.match(verb):
        raise CommandError(f"command verb {verb!r}: expected words of letters such as "
                           "'STREAM FILE'")
    parts = [verb]
    for i, a in enumerate(args, 1):
        parts.append(_arg(verb, i, a))
    line = (" ".join(parts) + "\n").encode("utf-8")
    if len(line) > MAX_COMMAND_BYTES:
        raise CommandError(f"{verb}: command is {len(line)} bytes; Asterisk reads at most "
                           f"{MAX_COMMAND_BYTES} (res_agi AGI_BUF_LEN)")
    return line


def parse_command(line: str) -> list[str]:
    """Split a command line exactly as Asterisk's ``parse_args`` (res_agi.c) does."""
    argv: list[str] = []
    cur: list[str] | None = None
    quoted = escaped = False
    whitespace = True
    for ch in line:
        if ch == '"' and not escaped:
            quoted = not quoted
            if quoted and whitespace:
                cur = []
                argv.append("")
                whitespace = False
            escaped = False
            continue
        if ch in " \t" and not quoted and not escaped:
            if cur is not None:
                argv[-1] = "".join(cur)
                cur = None
            whitespace = True
            continue
        if ch == "\\" and not escaped:
            escaped = True
            continue
        if whitespace:
            cur = []
            argv.append("")
            whitespace = False
        assert cur is not None
        cur.append(ch)
        escaped = False
    if cur is not None:
        argv[-1] = "".join(cur)
    return argv


def format_environment(variables: Mapping[str, str]) -> bytes:
    """The bytes Asterisk sends for an environment: ``key: value`` lines and a blank line."""
    out = []
    for key, value in variables.items():
        if not _ENV_KEY.match(key) or "\n" in value:
            raise ValueError(f"environment field {key!r}: not sendable")
        out.append(f"{key}: {value}\n")
    out.append("\n")
    return "".join(out).encode("utf-8")



def mset_safe(name: str, value: str) -> bool:
    """Whether a variable can go through ``EXEC MSet``: a plain name, and a value without
    ``$`` (EXEC would expand it if the site sets ``AGIEXECFULL=yes``) or control characters."""
    return _VAR_NAME.match(name) is not None and _MSET_UNSAFE.search(value) is None


def mset_pair(name: str, value: str) -> str | None:
    """``name=value`` escaped for ``MSet``, or ``None`` if the pair must use SET VARIABLE."""
    return f"{name}={value.translate(_APP_ESCAPES)}" if mset_safe(name, value) else None


def format_mset(pairs: Sequence[tuple[str, str]]) -> str:
    """The argument of ``EXEC MSet`` setting ``pairs``, escaped for Asterisk's
    ``__ast_app_separate_args`` (main/app.c): a backslash before ``\\ " , ( ) [ ]`` makes
    each literal; MSet then splits each pair at its first ``=`` and keeps the rest raw."""
    if not pairs or len(pairs) > MSET_MAX_PAIRS:
        raise CommandError(f"MSet takes 1-{MSET_MAX_PAIRS} variables, got {len(pairs)}")
    out = []
    for name, value in pairs:
        pair = mset_pair(name, value)
        if pair is None:
            raise CommandError(f"variable {name!r}: not settable through MSet; use SET VARIABLE")
        out.append(pair)
    return ",".join(out)
