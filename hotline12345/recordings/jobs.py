"""Recording jobs, and finding finished recordings from AMI events (sans-IO).

A :class:`RecordingJob` names one call (its uniqueid) and, optionally, its files; a worker
finds the files by the naming convention (:mod:`hotline12345.recordings.naming`) when the
job does not list them. Jobs are JSON, so they travel through Redis or SQL unchanged.

From AMI, only a call that hotline12345's dialplan recorded becomes a job; every other
channel on the host (a context the product did not render, a seat's channel, a call that was
never recorded) makes none, whatever its ``Hangup`` says. A call's recording is finished when:

- ``UserEvent`` named :data:`~hotline12345.recordings.naming.RECORDING_USEREVENT` arrives,
  which the rendered dialplan's hangup handler sends after ``StopMixMonitor``, and only for
  a call it recorded (headers ``Uniqueid``, ``Base`` (the file name, when it is not the
  uniqueid), ``Dialled``, ``LegacyNumber``, ``LegacyMode``, ``Route``, ``Queue``, ``Seat``);
- or the MixMonitor of a channel whose file (``VarSet MIXMONITOR_FILENAME``) lies under the
  recordings directory stops: ``MixMonitorStop`` (StopMixMonitor was run), or, as Asterisk
  22 raises no ``MixMonitorStop`` when a channel hangs up with MixMonitor still running
  (``ami-queue-call.raw`` shows it), that channel's ``Hangup``. The job is emitted at the
  channel's ``Hangup``, so that the UserEvent, which the hangup handler sends between the
  two and which carries the call's facts, wins when it comes.

The directory scan (:mod:`hotline12345.recordings.scan`) stays the safety net for anything
these miss.

:func:`job_from_event` decides from one event alone (the UserEvent). :class:`RecordingEvents`
keeps a little state per recorded channel (its MixMonitor file, the queue and the seat from
``AgentConnect``) to enrich the job, and emits each call once. Both take the event as a
mapping of AMI headers (``{"Event": "Hangup", "Uniqueid": "1795849881.4", ...}``) and never
do I/O, so the AMI monitor calls them from its event loop and enqueues the result.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from hotline12345.recordings.naming import RECORDING_USEREVENT, Leg, file_name, valid_uniqueid

#: Metadata keys a job may carry (all optional, all strings).
META_KEYS = ("caller", "caller_name", "dialled", "legacy_number", "legacy_mode", "route",
             "queue", "seat", "started_at", "ended_at")
#: The header of the dialplan's UserEvent each meta key may come in (``legacy_number`` ->
#: ``LegacyNumber``).
META_HEADERS = tuple((key, key.replace("_", " ").title().replace(" ", "")) for key in META_KEYS)

_UNKNOWN = {"", "unknown", "<unknown>"}


class JobError(ValueError):
    """A job payload that cannot be read."""


@dataclass(frozen=True, slots=True)
class RecordingJob:
    uniqueid: str
    source: str  # ami:UserEvent, ami:MixMonitor, scan, import (ami:Hangup: older jobs)
    files: dict[str, str] = field(default_factory=dict)  # leg -> path (relative: recordings dir)
    meta: dict[str, str] = field(default_factory=dict)
    created_at: float = field(default_factory=time.time)

    def to_json(self) -> str:
        return json.dumps({"uniqueid": self.uniqueid, "source": self.source, "files": self.files,
                           "meta": self.meta, "created_at": self.created_at},
                          ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> RecordingJob:
        try:
            data: Any = json.loads(text)
            uniqueid = str(data["uniqueid"])
            return cls(uniqueid=uniqueid, source=str(data.get("source", "")),
                       files={str(k): str(v) for k, v in dict(data.get("files") or {}).items()},
                       meta={str(k): str(v) for k, v in dict(data.get("meta") or {}).items()},
                       created_at=float(data.get("created_at") or time.time()))
        except (ValueError, KeyError, TypeError) as exc:
            raise JobError(f"unreadable job payload ({exc}): {str(text)[:200]!r}") from exc


def _clean(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    return None if value.lower() in _UNKNOWN else value


def _caller_meta(event: Mapping[str, str]) -> dict[str, str]:
    meta: dict[str, str] = {}
    caller = _clean(event.get("CallerIDNum"))
    if caller:
        meta["caller"] = caller
    name = _clean(event.get("CallerIDName"))
    if name:
        meta["caller_name"] = name
    return meta


def job_from_event(event: Mapping[str, str], now: float | None = None) -> RecordingJob | None:
    """A job if this one AMI event says that a call the dialplan recorded is finished (the
    ``HotlineRecording`` UserEvent), else None. A ``Hangup`` or a ``MixMonitorStop`` alone
    says nothing about whose call it was: :class:`RecordingEvents` decides those."""
    if event.get("Event", "") != "UserEvent" or event.get("UserEvent") != RECORDING_USEREVENT:
        return None
    target = (event.get("Uniqueid") or "").strip()
    if not valid_uniqueid(target):
        return None
    created = time.time() if now is None else now
    meta = _caller_meta(event)
    for key, header in META_HEADERS:  # the dialplan may pass any of these, e.g. Queue:
        value = _clean(event.get(header))
        if value:
            meta[key] = value
    base = (event.get("Base") or "").strip()
    files = ({leg.value: file_name(base, leg) for leg in Leg}
             if base and base != target and valid_uniqueid(base) else {})
    return RecordingJob(target, "ami:UserEvent", files=files, meta=meta, created_at=created)


def under_directory(path: str, directory: str | os.PathLike[str]) -> bool:
    """Whether ``path`` (as Asterisk reports it) names a file inside ``directory``."""
    if not path or not os.path.isabs(path):
        return False
    root = os.path.normpath(os.fspath(directory))
    return os.path.normpath(path).startswith(root.rstrip("/") + "/")


@dataclass
class _CallState:
    mixed: str | None = None  # MIXMONITOR_FILENAME, when it lies under the recordings directory
    stopped: bool = False
    meta: dict[str, str] = field(default_factory=dict)


class RecordingEvents:
    """Feed every AMI event to :meth:`handle`; it returns a job once per recorded call.

    ``recordings_dir`` is the directory the rendered dialplan's MixMonitor writes to (as
    Asterisk names it); a MixMonitor writing anywhere else is someone else's. State is
    bounded: a channel is forgotten at its ``Hangup``, and at most ``max_calls`` channels are
    remembered (the oldest go first; the directory scan catches those)."""

    def __init__(self, recordings_dir: str | os.PathLike[str] | None = None,
                 max_calls: int = 50_000) -> None:
        self.recordings_dir = (os.fspath(Path(recordings_dir)) if recordings_dir is not None
                               else None)
        self.max_calls = max_calls
        self._calls: dict[str, _CallState] = {}
        self._emitted: dict[str, None] = {}

    def _state(self, uniqueid: str) -> _CallState:
        state = self._calls.get(uniqueid)
        if state is None:
            if len(self._calls) >= self.max_calls:
                self._calls.pop(next(iter(self._calls)))
            state = self._calls[uniqueid] = _CallState()
        return state

    def _ours(self, path: str) -> bool:
        return self.recordings_dir is not None and under_directory(path, self.recordings_dir)

    def handle(self, event: Mapping[str, str], now: float | None = None) -> RecordingJob | None:
        kind = event.get("Event", "")
        uniqueid = (event.get("Uniqueid") or "").strip()
        if (kind == "VarSet" and event.get("Variable") == "MIXMONITOR_FILENAME"
                and valid_uniqueid(uniqueid)):
            value = (event.get("Value") or "").strip()
            if self._ours(value):
                state = self._state(uniqueid)
                state.mixed = value
                state.meta.update(_caller_meta(event))
            return None
        known = self._calls.get(uniqueid)
        if kind in ("AgentConnect", "QueueCallerJoin") and known is not None:
            queue = _clean(event.get("Queue"))
            if queue:
                known.meta["queue"] = queue
            seat = _clean(event.get("MemberName")) or _clean(event.get("Interface"))
            if kind == "AgentConnect" and seat:
                known.meta["seat"] = seat
            return None
        if kind == "MixMonitorStop" and known is not None:
            # the dialplan's UserEvent, with the call's facts, follows; else the Hangup
            known.stopped = True
            known.meta.update(_caller_meta(event))
            return None
        job = job_from_event(event, now)
        if kind == "Hangup":
            done = self._calls.pop(uniqueid, None)
            if done is None or done.mixed is None:
                return None  # not a channel the product recorded: no job
            job = RecordingJob(uniqueid, "ami:MixMonitor", files={"mixed": done.mixed},
                               meta={**done.meta, **_caller_meta(event)},
                               created_at=time.time() if now is None else now)
        elif job is not None:
            done = self._calls.pop(job.uniqueid, None)
            if done is not None and done.mixed:
                job = replace(job, files={**job.files, "mixed": job.files.get("mixed")
                                          or done.mixed}, meta={**done.meta, **job.meta})
        if job is None or job.uniqueid in self._emitted:
            return None
        self._emitted[job.uniqueid] = None
        if len(self._emitted) > self.max_calls:
            self._emitted.pop(next(iter(self._emitted)))
        return job
