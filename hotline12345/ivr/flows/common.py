"""Helpers shared by the flows: reading call facts from the environment, with errors that
name the field and say how to fix the dialplan."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Protocol

from hotline12345.calls.store import StoreItem
from hotline12345.ivr.channel import CallInputError
from hotline12345.ivr.protocol import Environment

_UNIQUEID = re.compile(r"[A-Za-z0-9._-]{1,150}\Z")
_NUMBER = re.compile(r"\+?[0-9*#]{1,32}\Z")
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"", "0", "false", "no", "off"})


class FlowInputError(CallInputError):
    """The call's environment cannot drive the flow; the message names the field."""


class Recorder(Protocol):
    """Where flows hand call facts (see :class:`hotline12345.calls.recorder.CallRecorder`)."""

    def submit(self, item: StoreItem) -> None: ...


def utc_now() -> datetime:
    return datetime.now(UTC)


def require_uniqueid(env: Environment, override: str | None = None) -> str:
    """The call's uniqueid. It names the recording file, so only safe characters pass."""
    value = override if override is not None else env.uniqueid
    if value is None:
        raise FlowInputError("environment field agi_uniqueid is missing")
    if not _UNIQUEID.match(value):
        raise FlowInputError(f"uniqueid {value[:60]!r}: expected letters, digits, '.', '_' or "
                             "'-' (it names the recording file)")
    return value


def dialled_number(env: Environment) -> str:
    """The number the caller dialled: ``?dialled=`` in the AGI URL, else the first AGI
    argument, else ``agi_extension``, else ``agi_dnid``."""
    for source, value in (("query parameter dialled", env.query.get("dialled")),
                          ("agi_arg_1", env.args[0] if env.args else None)):
        if value:
            if _NUMBER.match(value):
                return value
            raise FlowInputError(f"{source} {value[:40]!r}: expected the dialled number (digits)")
    for value in (env.extension, env.dnid):
        if value and _NUMBER.match(value):
            return value
    raise FlowInputError("no dialled number: call AGI(agi://HOST:4573/inbound?dialled=${EXTEN}) "
                         "or pass ${EXTEN} as the first argument")


def flag(env: Environment, name: str) -> bool:
    if not env.query:
        return False
    value = env.query.get(name, "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise FlowInputError(f"query parameter {name}={value[:20]!r}: expected 1/0, true/false or "
                         "yes/no")
