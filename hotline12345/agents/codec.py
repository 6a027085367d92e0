"""Sans-IO Asterisk Manager Interface (AMI) codec, in the style of h11.

Bytes go in with :meth:`AmiParser.feed`, whole messages come out; actions go out with
:func:`encode_action`. No sockets, no asyncio, no clock.

What real Asterisk sends (``../shared/asterisk-22-captures/ami-*.raw``):

- first a greeting line ``Asterisk Call Manager/11.0.0\\r\\n`` with *no* blank line after it;
- then messages of ``Key: Value\\r\\n`` lines, each message ended by an empty ``\\r\\n`` line;
- values are UTF-8 (Chinese caller and seat names).

Framing is done on bytes and a frame is decoded only once it is complete, so a UTF-8
character split across TCP reads (or across any byte boundary at all) arrives whole.
panoramisk 1.4 decodes every read on its own with ``errors="ignore"`` and silently drops
such characters; this codec is why we do not use its protocol class.

Malformed frames (a line that is not ``Key: Value``, a frame with neither ``Event`` nor
``Response``, bytes that are not UTF-8, a frame that never ends) are reported with one
structured log line (``ami.frame.malformed``) and skipped or repaired; the parser never
raises on them. Only a peer that is not an AMI server at all (wrong greeting) raises
:class:`AmiProtocolError`, because nothing sensible can follow.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Final, Literal

from hotline12345.logs import log_event, mask_text

__all__ = [
    "GREETING_PREFIX",
    "AmiEncodeError",
    "AmiMessage",
    "AmiParser",
    "AmiProtocolError",
    "encode_action",
]

GREETING_PREFIX: Final = "Asterisk Call Manager/"
_TERMINATOR: Final = b"\r\n\r\n"
_MAX_GREETING: Final = 256
_log = logging.getLogger("hotline12345.agents.ami")

Kind = Literal["greeting", "event", "response"]


class AmiProtocolError(Exception):
    """The peer does not speak AMI (for example, the greeting is wrong)."""


class AmiEncodeError(ValueError):
    """An action field cannot be sent (it would break AMI framing)."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"AMI action field {field!r}: {problem}")
        self.field = field
        self.problem = problem


class AmiMessage:
    """One AMI message: an event, a response, or the greeting.

    ``name`` is the event name (``QueueCallerJoin``), the response status (``Success``,
    ``Error``, ``Goodbye``, ``Follows``) or, for the greeting, the protocol version.
    ``headers`` maps each key to its value (the last one if a key repeats; ``pairs`` then
    keeps all of them, in order). ``body`` holds the free-text lines of a
    ``Response: Follows`` (old-style ``Command`` output).
    """

    __slots__ = ("body", "headers", "kind", "name", "pairs")

    def __init__(
        self,
        kind: Kind,
        name: str,
        headers: dict[str, str],
        pairs: tuple[tuple[str, str], ...] | None = None,
        body: tuple[str, ...] = (),
    ) -> None:
        self.kind: Kind = kind
        self.name = name
        self.headers = headers
        self.pairs = pairs
        self.body = body

    def get(self, key: str, default: str = "") -> str:
        return self.headers.get(key, default)

    def get_all(self, key: str) -> list[str]:
        """Every value of a key that may repeat (``ChanVariable``, ``Variable``)."""
        if self.pairs is None:
            value = self.headers.get(key)
            return [] if value is None else [value]
        return [v for k, v in self.pairs if k == key]

    @property
    def action_id(self) -> str:
        return self.headers.get("ActionID", "")

    @property
    def is_event(self) -> bool:
        return self.kind == "event"

    @property
    def is_response(self) -> bool:
        return self.kind == "response"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, AmiMessage):
            return NotImplemented
        return (
            self.kind == other.kind
            and self.name == other.name
            and self.headers == other.headers
            and self.pairs == other.pairs
            and self.body == other.body
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"AmiMessage({self.kind}={self.name!r}, {self.headers!r})"


def _sample(text: str) -> str:
    """A short, log-safe sample of a bad frame: phone numbers masked by the project's one
    rule (:func:`hotline12345.logs.mask_text`)."""
    return mask_text(text[:120])


class AmiParser:
    """Incremental AMI parser. ``feed(bytes)`` returns the messages completed so far.

    ``max_frame_bytes`` bounds the memory a peer can make us hold: a frame that grows past
    it without its blank line is dropped (logged once) up to the next blank line.
    """

    def __init__(
        self,
        *,
        expect_greeting: bool = True,
        max_frame_bytes: int = 1 << 20,
        logger: logging.Logger | None = None,
    ) -> None:
        self._buf = bytearray()
        self._scan_from = 0
        self._need_greeting = expect_greeting
        self._discarding = False
        self._max = max_frame_bytes
        self._log = logger or _log
        self.version: str | None = None
        self.malformed = 0

    @property
    def buffered(self) -> int:
        return len(self._buf)

    def feed(self, data: bytes) -> list[AmiMessage]:
        buf = self._buf
        buf += data
        out: list[AmiMessage] = []
        start = 0
        if self._need_greeting:
            end = buf.find(b"\r\n")
            if end < 0:
                if len(buf) > _MAX_GREETING:
                    raise AmiProtocolError(
                        f"not an AMI server: no greeting line in the first {_MAX_GREETING} "
                        f"bytes ({bytes(buf[:40])!r}...)"
                    )
                return out
            line = bytes(buf[:end]).decode("utf-8", "replace")
            if not line.startswith(GREETING_PREFIX):
                raise AmiProtocolError(
                    f"not an AMI server: greeting {line[:60]!r} does not start with "
                    f"{GREETING_PREFIX!r}"
                )
            self.version = line[len(GREETING_PREFIX) :].strip()
            self._need_greeting = False
            out.append(AmiMessage("greeting", self.version, {}))
            start = end + 2
            self._scan_from = start
        find = buf.find
        scan = max(self._scan_from, start)
        while True:
            end = find(_TERMINATOR, scan)
            if end < 0:
                break
            if self._discarding:
                self._discarding = False
            elif end > start:
                msg = self._parse_frame(bytes(buf[start:end]))
                if msg is not None:
                    out.append(msg)
            start = end + 4
            scan = start
        if start:
            del buf[:start]
        # Resume the search where a terminator could still complete.
        self._scan_from = max(0, len(buf) - 3)
        if len(buf) > self._max:
            if not self._discarding:
                self._malformed("frame too large", bytes(buf[:120]), size=len(buf))
                self._discarding = True
            keep = bytes(buf[-3:])
            buf.clear()
            buf += keep
            self._scan_from = 0
        return out

    def _malformed(self, reason: str, raw: bytes, **fields: object) -> None:
        self.malformed += 1
        log_event(
            self._log,
            "ami.frame.malformed",
            logging.WARNING,
            reason=reason,
            sample=_sample(raw.decode("utf-8", "replace")),
            **fields,
        )

    def _parse_frame(self, raw: bytes) -> AmiMessage | None:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            self._malformed(
                f"invalid UTF-8 at byte {exc.start}; undecodable bytes replaced", raw
            )
            text = raw.decode("utf-8", "replace")
        # A stray leading CRLF (an empty line between messages) is not an error.
        text = text.lstrip("\r\n")
        if not text:
            return None
        lines = text.split("\r\n")
        pairs: tuple[tuple[str, str], ...] | None = None
        body: tuple[str, ...] = ()
        try:
            headers = dict(line.split(": ", 1) for line in lines)  # type: ignore[misc]
            if len(headers) != len(lines):
                raise ValueError("repeated key")
        except ValueError:
            headers, pairs, body, bad = self._slow_headers(lines)
            if bad is not None:
                self._malformed(f"line {bad + 1} is not 'Key: Value'", raw)
        # The first line says what the frame is: OriginateResponse is an event that also
        # carries a Response field.
        first = lines[0]
        if first.startswith("Event: "):
            return AmiMessage("event", first[7:], headers, pairs, body)
        if first.startswith("Response: "):
            return AmiMessage("response", first[10:], headers, pairs, body)
        event = headers.get("Event")
        if event is not None:
            return AmiMessage("event", event, headers, pairs, body)
        response = headers.get("Response")
        if response is not None:
            return AmiMessage("response", response, headers, pairs, body)
        self._malformed("frame has neither 'Event' nor 'Response'", raw)
        return None

    @staticmethod
    def _slow_headers(
        lines: list[str],
    ) -> tuple[dict[str, str], tuple[tuple[str, str], ...] | None, tuple[str, ...], int | None]:
        headers: dict[str, str] = {}
        pairs: list[tuple[str, str]] = []
        body: list[str] = []
        bad: int | None = None
        repeated = False
        follows = lines[0] == "Response: Follows"
        for index, line in enumerate(lines):
            key, sep, value = line.partition(": ")
            if not sep:
                if line.endswith(":") and " " not in line:
                    key, value = line[:-1], ""
                elif follows:
                    body.append(line)
                    continue
                else:
                    if bad is None:
                        bad = index
                    continue
            if key in headers:
                repeated = True
            headers[key] = value
            pairs.append((key, value))
        if follows and body and body[-1] == "--END COMMAND--":
            body.pop()
        return headers, (tuple(pairs) if repeated else None), tuple(body), bad


def encode_action(
    action: str,
    action_id: str,
    fields: Mapping[str, str | int | Sequence[str]] | None = None,
) -> bytes:
    """Serialise one action. Every value is checked: a CR or LF inside a value would let
    a supervisor's pause reason inject a second action, so it is refused with the field
    named (:class:`AmiEncodeError`)."""
    lines = [f"Action: {_clean('Action', action)}", f"ActionID: {_clean('ActionID', action_id)}"]
    for key, value in (fields or {}).items():
        _clean("field name", key)
        if not key or ":" in key or " " in key:
            raise AmiEncodeError(key, "field names must be non-empty, without ':' or spaces")
        if isinstance(value, (str, int)):
            lines.append(f"{key}: {_clean(key, str(value))}")
        else:
            lines.extend(f"{key}: {_clean(key, str(v))}" for v in value)
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")


def _clean(field: str, value: str) -> str:
    for ch in value:
        if ch in "\r\n\x00":
            raise AmiEncodeError(field, "must not contain CR, LF or NUL characters")
    return value
