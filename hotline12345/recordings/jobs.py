"""Recording jobs, and finding finished recordings from AMI events (sans-IO).

A :class:`RecordingJob` names one call (its uniqueid) and, optionally, its files; a worker
finds the files by the naming convention (:mod:`hotline12345.recordings.naming`) when the
job does not list them. Jobs are JSON, so they travel through Redis or SQL unchanged.

From AMI, a call's recording is finished when one of these arrives:

- ``UserEvent`` named :data:`~hotline12345.recordings.naming.RECORDING_USEREVENT`, which
  the rendered dialplan's hangup handler sends after ``StopMixMonitor`` (headers
  ``Uniqueid``, ``Base`` (the file name, when it is not the uniqueid), ``Dialled``,
  ``LegacyNumber``, ``LegacyMode``, ``Route``, ``Queue``, ``Seat``);
- ``MixMonitorStop`` for the channel (StopMixMonitor was run);
- ``Hangup`` of the caller's channel: the channel that starts the call, whose ``Uniqueid``
  equals its ``Linkedid``, or one on which ``MixMonitorStart`` was seen.

:func:`job_from_event` decides from one event alone. :class:`RecordingEvents` keeps a
little state per call (the MixMonitor file name, the queue and the seat from
``AgentConnect``) to enrich the job, and emits each call once: at the UserEvent (which
carries the call's facts), else at the Hangup that follows ``MixMonitorStop``. Both take
the event as a
mapping of AMI headers (``{"Event": "Hangup", "Uniqueid": "1795849881.4", ...}``) and
never do I/O, so the AMI monitor calls them from its event loop and enqueues the result.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from hotline12345.recordings.naming import RECORDING_USEREVENT, Leg, file_name, valid_uniqueid

#: Metadata keys a job may carry (all optional, all strings).
META_KEYS = ("caller", "caller_name", "dialled", "legacy_number", "legacy_mode", "route",
             "queue", "seat", "started_at", "ended_at")

_UNKNOWN = {"", "unknown", "<unknown>"}


class JobError(ValueError):
    """A job payload that cannot be read."""


@dataclass(frozen=True, slots=True)
class RecordingJob:
    uniqueid: str
    source: str  # ami:Hangup, ami:MixMonitorStop, ami:UserEvent, scan, import
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
    """A job if this one AMI event says a call's recording is finished, else None."""
    kind = event.get("Event", "")
    uniqueid = (event.get("Uniqueid") or "").strip()
    created = time.time() if now is None else now
    if kind == "UserEvent" and event.get("UserEvent") == RECORDING_USEREVENT:
        target = (event.get("Uniqueid") or "").strip()
        if not valid_uniqueid(target):
            return None
        meta = _caller_meta(event)
        for key in META_KEYS:  # the dialplan may pass any of these as headers, e.g. Queue:
            header = key.replace("_", " ").title().replace(" ", "")
            value = _clean(event.get(header))
            if value:
                meta[key] = value
        base = (event.get("Base") or "").strip()
        files = ({leg.value: file_name(base, leg) for leg in Leg}
                 if base and base != target and valid_uniqueid(base) else {})
        return RecordingJob(target, "ami:UserEvent", files=files, meta=meta, created_at=created)
    if not valid_uniqueid(uniqueid):
        return None
    if kind == "MixMonitorStop":
        return RecordingJob(uniqueid, "ami:MixMonitorStop", meta=_caller_meta(event),
                            created_at=created)
    if kind == "Hangup" and uniqueid == (event.get("Linkedid") or "").strip():
        return RecordingJob(uniqueid, "ami:Hangup", meta=_caller_meta(event), created_at=created)
    return None


@dataclass
class _CallState:
    recording: bool = False
    stopped: bool = False
    mixed: str | None = None
    meta: dict[str, str] = field(default_factory=dict)


class RecordingEvents:
    """Feed every AMI event to :meth:`handle`; it returns a job once per recorded call.

    State is bounded: calls are forgotten when they produce a job, and at most
    ``max_calls`` are remembered (the oldest go first; the directory scan catches those)."""

    def __init__(self, max_calls: int = 50_000) -> None:
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

    def handle(self, event: Mapping[str, str], now: float | None = None) -> RecordingJob | None:
        kind = event.get("Event", "")
        uniqueid = (event.get("Uniqueid") or "").strip()
        if kind == "MixMonitorStart" and valid_uniqueid(uniqueid):
            state = self._state(uniqueid)
            state.recording = True
            state.meta.update(_caller_meta(event))
            return None
        if (kind == "VarSet" and event.get("Variable") == "MIXMONITOR_FILENAME"
                and valid_uniqueid(uniqueid) and event.get("Value")):
            state = self._state(uniqueid)
            state.recording = True
            state.mixed = event["Value"]
            return None
        if kind in ("AgentConnect", "QueueCallerJoin") and uniqueid in self._calls:
            state = self._calls[uniqueid]
            queue = _clean(event.get("Queue"))
            if queue:
                state.meta["queue"] = queue
            seat = _clean(event.get("MemberName")) or _clean(event.get("Interface"))
            if kind == "AgentConnect" and seat:
                state.meta["seat"] = seat
            return None
        known = self._calls.get(uniqueid)
        if kind == "MixMonitorStop" and valid_uniqueid(uniqueid):
            # the dialplan's UserEvent, with the call's facts, follows; else the Hangup
            state = self._state(uniqueid)
            state.recording = state.stopped = True
            state.meta.update(_caller_meta(event))
            return None
        job = job_from_event(event, now)
        if job is None and kind == "Hangup" and known is not None and known.recording:
            job = RecordingJob(uniqueid, "ami:Hangup", meta=_caller_meta(event),
                               created_at=time.time() if now is None else now)
        if job is None:
            return None
        done = self._calls.pop(job.uniqueid) if job.uniqueid in self._calls else None
        if job.uniqueid in self._emitted:
            return None
        self._emitted[job.uniqueid] = None
        if len(self._emitted) > self.max_calls:
            self._emitted.pop(next(iter(self._emitted)))
        if done is not None:
            files = dict(job.files)
            if done.mixed:
                files["mixed"] = done.mixed
            job = replace(job, files=files, meta={**done.meta, **job.meta})
        return job
