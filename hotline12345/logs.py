"""Structured logging: one JSON object per line, with callers' numbers masked.

Use ``log_event(logger, "event.name", field=value, ...)``; fields named in
``PHONE_FIELDS`` are masked with :func:`mask_number` before they are written, and the free
text of ``TEXT_FIELDS`` (``error``, ``line``) with :func:`mask_text`.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from typing import Any

PHONE_FIELDS = frozenset({"caller", "callerid", "caller_number", "number_from", "callee", "phone"})
#: Fields of free text (error messages, protocol lines) that may quote a caller's number:
#: :func:`mask_text` masks every number in them.
TEXT_FIELDS = frozenset({"error", "line"})
# A run of 7 or more digits (with its +), not part of a dotted number such as an Asterisk
# uniqueid (1795849881.4), which is no phone number.
_NUMBER_IN_TEXT = re.compile(r"(?<!\d)(?<!\d\.)\+?\d{7,}(?!\d|\.\d)")


def mask_number(number: str | None) -> str:
    """Mask a phone number for logs: ``13800138000`` -> ``138****8000``.

    Short numbers (service numbers such as 12345 or 110) are not personal data
    and stay readable; anything of 7 digits or more keeps its first 3 and last 4.
    """
    if not number:
        return ""
    if len(number) < 7:
        return number
    return f"{number[:3]}****{number[-4:]}"


def mask_text(text: str) -> str:
    """Free text with every phone number in it masked as :func:`mask_number` masks one:
    an error message or protocol line (``?caller=13912345678`` -> ``?caller=139****5678``),
    a seat interface (``PJSIP/13912345678``), a pause reason (``回拨13912345678``). Shorter
    numbers (12345, 110, 8001, line numbers) and Asterisk uniqueids (``1795849881.4``)
    stay readable."""
    return _NUMBER_IN_TEXT.sub(lambda m: mask_number(m.group()), text)


def mask_name(name: str | None) -> str:
    """A caller's name as shown to users: the first character and at most two stars
    (王小明 -> 王**, 王明 -> 王*); a one-character name stays; nothing for an unknown name."""
    if not name or name in ("<unknown>", "unknown"):
        return ""
    return name[0] + "*" * min(2, len(name) - 1) if len(name) > 1 else name


class JsonFormatter(logging.Formatter):
    """Formats records as one JSON object per line:
    ``{"ts": …, "level": …, "logger": …, "event": …, <fields>…, "exc": …}``.

    It runs once per call on the controller's hot path, so the line's head (timestamp,
    level, logger) is built once per second and logger, and reused; only the event and
    the fields are encoded per record."""

    _encode = json.JSONEncoder(ensure_ascii=False, default=str).encode
    _HEAD_KEYS = frozenset({"ts", "level", "logger", "event"})

    def __init__(self) -> None:
        super().__init__()
        # (second, its text, {(level, logger): '{"ts": …, "event": '}), swapped as one
        # object so that threads never mix two seconds.
        self._now: tuple[int, str, dict[tuple[int, str], str]] = (-1, "", {})

    def format(self, record: logging.LogRecord) -> str:
        fields = getattr(record, "fields", None)
        if not isinstance(fields, dict):
            fields = {}
        second = int(record.created)
        now = self._now
        if now[0] != second:
            now = (second, time.strftime("%Y-%m-%dT%H:%M:%S", self.converter(second)), {})
            self._now = now
        if record.exc_info or not self._HEAD_KEYS.isdisjoint(fields):
            return self._format_dict(record, now[1], fields)
        heads = now[2]
        head = heads.get((record.levelno, record.name))
        if head is None:
            encode = self._encode
            head = (f'{{"ts": {encode(now[1])}, "level": {encode(record.levelname.lower())}, '
                    f'"logger": {encode(record.name)}, "event": ')
            if len(heads) < 256:
                heads[(record.levelno, record.name)] = head
        event = self._encode(record.getMessage())
        if not fields:
            return head + event + "}"
        return head + event + ", " + self._encode(fields)[1:]

    def _format_dict(self, record: logging.LogRecord, stamp: str,
                     fields: dict[str, Any]) -> str:
        """The general case: fields that reuse a head key replace its value; ``exc``."""
        payload: dict[str, Any] = {
            "ts": stamp,
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        payload.update(fields)
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        return self._encode(payload)


def log_event(logger: logging.Logger, event: str, level: int = logging.INFO, **fields: Any) -> None:
    """Log ``event`` with structured ``fields``; phone-number fields are masked."""
    if not logger.isEnabledFor(level):
        return
    clean = {
        k: (mask_number(str(v)) if k in PHONE_FIELDS and v is not None
            else mask_text(v) if k in TEXT_FIELDS and isinstance(v, str) else v)
        for k, v in fields.items()
    }
    logger.log(level, event, extra={"fields": clean})


def setup_logging(level: str = "INFO") -> None:
    """Send structured logs to stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Libraries' chatter (migration plugins, access logs) stays out of the operator's log.
    for noisy in ("alembic", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
