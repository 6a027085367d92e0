"""One job, start to finish: find the files, check and normalise them, decode each leg,
classify, and commit the ticket; then the job leaves the queue.

:func:`transcribe_call` is the pure part (files in, :class:`TicketDraft` out);
:class:`Processor` adds the queue protocol: what is retried, what is dead-lettered, and
that nothing is acknowledged before the ticket is committed.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from hotline12345.db.engine import error_text
from hotline12345.logs import log_event
from hotline12345.recordings.audio import (
    Audio,
    BadRecording,
    RecordingNotReady,
    check_settled,
    has_speech_signal,
    read_recording,
)
from hotline12345.recordings.jobs import RecordingJob
from hotline12345.recordings.naming import LEG_SUFFIXES, Leg, file_name, leg_paths
from hotline12345.recordings.queue import (
    Claimed,
    JobQueue,
    QueueUnavailable,
    record_abandoned,
)
from hotline12345.recordings.settings import RecordingSettings
from hotline12345.recordings.transcribe import decode, dialogue, dialogue_text
from hotline12345.recordings.vosk_model import LoadedModel
from hotline12345.sharing.outbox import Outbox
from hotline12345.tickets.classify import classify
from hotline12345.tickets.enums import Speaker
from hotline12345.tickets.events import EventListener
from hotline12345.tickets.store import (
    TicketDraft,
    UtteranceDraft,
    fit_draft,
    save_ticket,
    ticket_id_for,
)

log = logging.getLogger(__name__)

_LEG_SPEAKER = {Leg.CALLER: Speaker.CALLER, Leg.SEAT: Speaker.SEAT, Leg.MIXED: Speaker.MIXED}

#: How a leg with no speech is marked in the ticket's transcript.
NO_SPEECH = "无语音"


def no_speech_line(speaker: Speaker) -> str:
    """The transcript line of a leg that holds no speech: ``（来电人：无语音）``."""
    return f"（{speaker.value}：{NO_SPEECH}）"


def resolve_files(job: RecordingJob, recordings_dir: Path) -> dict[Leg, Path]:
    """The job's files by leg: those it names (relative to the recordings directory, or by
    their base name there when the path is Asterisk's and the store is mounted elsewhere),
    then the naming convention in the recordings directory and beside the mixed file."""
    found: dict[Leg, Path] = {}
    for leg_name, raw in job.files.items():
        try:
            leg = Leg(leg_name)
        except ValueError:
            continue
        path = Path(raw)
        if not path.is_absolute():
            path = recordings_dir / path
        if not path.exists() and (recordings_dir / path.name).exists():
            path = recordings_dir / path.name
        if path.exists():
            found[leg] = path
    for leg, path in leg_paths(recordings_dir, job.uniqueid).items():
        found.setdefault(leg, path)
    if Leg.MIXED in found and found[Leg.MIXED].parent != recordings_dir:
        for leg, path in leg_paths(found[Leg.MIXED].parent, job.uniqueid).items():
            found.setdefault(leg, path)
    return found


def legs_to_decode(files: dict[Leg, Path]) -> dict[Leg, Path]:
    """Both parties' legs when both exist (a labelled dialogue), else the mixed file,
    else whatever single leg there is."""
    if Leg.CALLER in files and Leg.SEAT in files:
        return {Leg.CALLER: files[Leg.CALLER], Leg.SEAT: files[Leg.SEAT]}
    if Leg.MIXED in files:
        return {Leg.MIXED: files[Leg.MIXED]}
    return dict(files)


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        try:
            return datetime.fromtimestamp(float(value), UTC)
        except (ValueError, OverflowError, OSError):  # not a time, nan, inf, out of range
            return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def mode_value(mode: str | None) -> str | None:
    """The dialplan passes a mode's ASCII code (``dual_number``); tickets hold its Chinese
    value (``双号并行``). Anything else is no mode: None (the register may still know the
    number's mode), never the raw string, which the column would refuse or keep as junk."""
    if not mode:
        return None
    from hotline12345.legacy_numbers.model import Mode

    mode = mode.strip()
    for member in Mode:
        if mode in (member.code, member.value, member.name):
            return member.value
    return None


@dataclass(frozen=True, slots=True)
class CallFacts:
    """What the call store knows about the call (the ivr flow writes it)."""

    caller: str | None = None
    caller_name: str | None = None
    dialled: str | None = None
    action: str | None = None
    target: str | None = None
    started_at: datetime | None = None


def call_facts(session: Session, uniqueid: str) -> CallFacts:
    from hotline12345.calls.models import CallRecord

    row = session.get(CallRecord, uniqueid)
    if row is None:
        return CallFacts()
    return CallFacts(row.caller, row.caller_name, row.dialled, row.action, row.target,
                     row.started_at)


def transcribe_call(job: RecordingJob, files: dict[Leg, Path], model: LoadedModel,
                    settings: RecordingSettings, facts: CallFacts | None = None,
                    on_chunk: Callable[[], None] | None = None) -> TicketDraft:
    """Decode the call's legs and build its ticket. Raises :class:`BadRecording` or
    :class:`RecordingNotReady` for a file that cannot be used (yet)."""
    facts = facts or CallFacts()
    for path in files.values():
        check_settled(path, settings.limits)
    chosen = legs_to_decode(files)
    rate = model.decode_rate()
    audios: dict[Leg, Audio] = {leg: read_recording(path, settings.limits, rate)
                                for leg, path in chosen.items()}
    per_leg = []
    silent: list[Leg] = []  # no samples, pure silence, or nothing Vosk could hear
    for leg, audio in audios.items():
        heard = (decode(model, audio, _LEG_SPEAKER[leg], grammar=settings.grammar,
                        on_chunk=on_chunk)
                 if has_speech_signal(audio) else [])
        if not heard:
            silent.append(leg)
        per_leg.append(heard)
    utterances = dialogue(*per_leg)
    text = " ".join(u.text for u in utterances)
    marks = [no_speech_line(_LEG_SPEAKER[leg]) for leg in silent]
    found = classify(text, settings.rules)
    meta = job.meta
    caller = meta.get("caller") or facts.caller
    dialled = meta.get("dialled") or facts.dialled
    legacy_number = meta.get("legacy_number")
    legacy_mode = mode_value(meta.get("legacy_mode"))
    if not legacy_number and dialled and dialled in settings.legacy_modes:
        legacy_number, legacy_mode = dialled, settings.legacy_modes[dialled]
    elif legacy_number and legacy_mode is None:  # unknown or no mode from the dialplan
        legacy_mode = settings.legacy_modes.get(legacy_number)
    route = ((f"{facts.action}:{facts.target}" if facts.target else facts.action)
             if facts.action else meta.get("route"))
    queue = meta.get("queue")
    if not queue and facts.action in ("queue", "expert") and facts.target:
        queue = facts.target if facts.action == "queue" else f"{facts.target}-expert"
    duration = max((a.duration_s for a in audios.values()), default=0.0)
    newest = max(p.stat().st_mtime for p in files.values())
    ended = _parse_time(meta.get("ended_at")) or datetime.fromtimestamp(newest, UTC)
    started = (_parse_time(meta.get("started_at")) or facts.started_at
               or datetime.fromtimestamp(ended.timestamp() - duration, UTC))
    draft = TicketDraft(
        uniqueid=job.uniqueid, caller=caller, caller_name=meta.get("caller_name") or
        facts.caller_name, dialled=dialled, legacy_number=legacy_number,
        legacy_mode=legacy_mode, route=route, queue=queue, seat=meta.get("seat"),
        call_started_at=started, call_ended_at=ended,
        recording_path=str(files[Leg.MIXED]) if Leg.MIXED in files else None,
        caller_leg_path=str(files[Leg.CALLER]) if Leg.CALLER in files else None,
        seat_leg_path=str(files[Leg.SEAT]) if Leg.SEAT in files else None,
        duration_s=duration, language=model.language, model=model.name,
        transcript="\n".join([*marks, dialogue_text(utterances)] if utterances else marks),
        department=found.department if found else None,
        category=found.category if found else None,
        matched_keywords=found.matched if found else (),
        utterances=[UtteranceDraft(u.speaker, u.start, u.end, u.text,
                                   [w.as_dict() for w in u.words]) for u in utterances],
    )
    fitted, cut = fit_draft(draft)
    unknown_mode = bool(meta.get("legacy_mode")) and mode_value(meta["legacy_mode"]) is None
    if silent:
        log_event(log, "recordings.leg.no_speech", uniqueid=job.uniqueid,
                  legs=",".join(leg.value for leg in silent))
    if cut or unknown_mode:  # the field names only: the values are the caller's data
        log_event(log, "recordings.ticket.fitted", logging.WARNING, uniqueid=job.uniqueid,
                  cut=cut, unknown_legacy_mode=unknown_mode,
                  hint="call facts longer than their columns were cut; a legacy mode that is "
                       "no Mode code was dropped")
    return fitted


def never_answered(job: RecordingJob) -> bool:
    """A call the dialplan recorded (an AMI job) that left no file and reached no seat: the
    caller hung up while waiting. MixMonitor records only while the call is bridged (option
    ``b``) and creates its files at the first bridged frame, so such a call has none."""
    return job.source.startswith("ami:") and not job.meta.get("seat")


def missing_message(job: RecordingJob, recordings_dir: Path) -> str:
    names = ", ".join(file_name(job.uniqueid, leg) for leg in LEG_SUFFIXES)
    listed = f" (the job names {', '.join(job.files.values())})" if job.files else ""
    return (f"{recordings_dir}: no recording for call {job.uniqueid}: expected {names}{listed}; "
            "check that MixMonitor writes to the recordings directory this worker reads "
            "(HOTLINE12345_RECORDINGS_DIR), then hotline12345 jobs retry " + job.uniqueid)


def _where(exc: BaseException) -> str:
    """Where our code raised an exception or called what raised it (``store.py:120 in
    save_ticket``), for a log line that must not carry the exception's message."""
    where = ""
    tb = exc.__traceback__
    while tb is not None:
        code = tb.tb_frame.f_code
        if "hotline12345" in code.co_filename:
            where = f"{Path(code.co_filename).name}:{tb.tb_lineno} in {code.co_name}"
        tb = tb.tb_next
    return where


class JobInterrupted(Exception):
    """The worker was told to stop in the middle of a job."""


class LeaseKeeper:
    """Renews the lease of a job while it is worked on, from a thread of its own, so that
    the lease holds however long one step takes (reading a long file, Vosk's final pass):
    no other worker is handed a job whose worker is alive. It renews every third of the
    lease by ``clock`` (the queue's clock), looking at it every ``min(1 s, lease / 6)``."""

    def __init__(self, renew: Callable[[], None], lease_s: float,
                 clock: Callable[[], float] = time.time) -> None:
        self.renew = renew
        self.every = lease_s / 3
        self.poll_s = max(0.01, min(1.0, lease_s / 6))
        self.clock = clock
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lease-keeper", daemon=True)

    def __enter__(self) -> LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._done.set()
        self._thread.join()

    def _run(self) -> None:
        last = self.clock()
        while not self._done.wait(self.poll_s):
            now = self.clock()
            if now - last >= self.every:
                try:
                    self.renew()
                except Exception as exc:  # never let the keeper die: try again next time
                    log_event(log, "recordings.job.heartbeat_failed", logging.WARNING,
                              error=error_text(exc))
                    continue
                # the renewal's lease runs from no earlier than ``now``: counting from a
                # reading taken after it would lose the time the renewal itself took
                last = now


class Processor:
    """Runs jobs in a worker process: claim, transcribe, commit, acknowledge.

    ``should_stop`` is looked at before a job and after every chunk Vosk takes: once it is
    true the job in hand goes back to the queue at once (no attempt counted) and
    :meth:`process` returns; ``on_release`` is then called."""

    def __init__(self, settings: RecordingSettings, model: LoadedModel,
                 sessions: sessionmaker[Session], queue: JobQueue, consumer: str,
                 should_stop: Callable[[], bool] | None = None,
                 on_release: Callable[[RecordingJob], None] | None = None) -> None:
        self.settings = settings
        self.model = model
        self.sessions = sessions
        self.queue = queue
        self.consumer = consumer
        self.should_stop = should_stop or (lambda: False)
        self.on_release = on_release
        # a new ticket's "created" event reaches the feeds' outbox in its transaction
        self.ticket_listeners: tuple[EventListener, ...] = (Outbox(settings.feeds).record,)

    def _hook(self, stage: str, job: RecordingJob) -> None:
        if self.settings.hook is not None:
            self.settings.hook(stage, job)

    def run_once(self, block_s: float = 1.0) -> bool:
        """Claim and process one job; False if there was none. Raises
        :class:`QueueUnavailable` when the queue cannot be reached."""
        claimed = self.queue.claim(self.consumer, block_s)
        if claimed is None:
            return False
        self.process(claimed)
        return True

    def _heartbeat(self, claimed: Claimed) -> Callable[[], None]:
        def beat() -> None:
            try:
                self.queue.heartbeat(claimed, self.consumer)
            except QueueUnavailable as exc:
                log_event(log, "recordings.job.heartbeat_failed", logging.WARNING,
                          uniqueid=claimed.job.uniqueid, error=str(exc))

        return beat

    def process(self, claimed: Claimed) -> None:
        with LeaseKeeper(self._heartbeat(claimed), self.queue.policy.lease_s,
                         getattr(self.queue, "clock", time.time)):
            try:
                self._process(claimed)
            except JobInterrupted:
                self._release(claimed)

    def _release(self, claimed: Claimed) -> None:
        """Put the job back for the next worker, as if never claimed."""
        self.queue.defer(claimed, 0.0, None, False)
        log_event(log, "recordings.job.released", logging.WARNING,
                  uniqueid=claimed.job.uniqueid, consumer=self.consumer,
                  hint="the worker was stopped in mid-job; the next worker takes it")
        if self.on_release is not None:
            self.on_release(claimed.job)

    def _checkpoint(self, job: RecordingJob) -> None:
        if self.settings.hook is not None:
            self._hook("decoding", job)
        if self.should_stop():
            raise JobInterrupted(job.uniqueid)

    def _process(self, claimed: Claimed) -> None:
        job = claimed.job
        if self.should_stop():
            raise JobInterrupted(job.uniqueid)
        self._hook("claimed", job)
        policy = self.queue.policy
        try:
            with self.sessions() as session:
                done = ticket_id_for(session, job.uniqueid)
                facts = call_facts(session, job.uniqueid) if done is None else CallFacts()
        except SQLAlchemyError as exc:
            self._defer_infra(claimed, f"database unavailable: {error_text(exc)}")
            return
        if done is not None:  # committed before, not acknowledged (a crash or Redis outage)
            self.queue.complete(claimed, None)
            log_event(log, "recordings.job.already_done", uniqueid=job.uniqueid, ticket=done)
            return
        files = resolve_files(job, self.settings.recordings_dir)
        if not files:
            age = time.time() - job.created_at
            if age < self.settings.missing_grace_s:
                self.queue.defer(claimed, min(5.0, self.settings.missing_grace_s - age + 0.1),
                                 None, False)
            elif job.source == "ami:Hangup":  # a job queued by an older version
                self.queue.forget(claimed)
                log_event(log, "recordings.job.not_recorded", uniqueid=job.uniqueid)
            elif never_answered(job):
                self._abandoned(claimed)
            else:
                self._dead(claimed, missing_message(job, self.settings.recordings_dir))
            return
        started = time.monotonic()
        try:
            log_event(log, "recordings.job.decoding", uniqueid=job.uniqueid,
                      consumer=self.consumer)
            draft = transcribe_call(job, files, self.model, self.settings, facts,
                                    on_chunk=lambda: self._checkpoint(job))
        except JobInterrupted:
            raise
        except RecordingNotReady as exc:
            self.queue.defer(claimed, exc.retry_after, None, False)
            return
        except BadRecording as exc:
            self._dead(claimed, str(exc))
            return
        except Exception as exc:  # unexpected: retry with backoff, then dead-letter
            attempts = claimed.attempts + 1
            error = f"call {job.uniqueid}: {exc.__class__.__name__}: {exc}"
            log.exception("recordings.job.error", extra={"fields": {"uniqueid": job.uniqueid}})
            if attempts >= policy.max_attempts:
                self._dead(claimed, f"{error} (gave up after {attempts} attempts)")
            else:
                self.queue.defer(claimed, policy.backoff(attempts), error, True)
            return
        self._hook("decoded", job)
        self._commit(claimed, draft)
        self._hook("committed", job)
        log_event(log, "recordings.ticket", uniqueid=job.uniqueid, caller=draft.caller,
                  department=draft.department, utterances=len(draft.utterances),
                  audio_s=round(draft.duration_s or 0.0, 2),
                  wall_s=round(time.monotonic() - started, 2))

    def _abandoned(self, claimed: Claimed) -> None:
        job = claimed.job
        self.queue.complete(claimed, lambda s: record_abandoned(s, job))
        log_event(log, "recordings.call.abandoned", uniqueid=job.uniqueid,
                  caller=job.meta.get("caller"), dialled=job.meta.get("dialled"),
                  hint="never answered: no recording; on the callback list "
                       "(hotline12345 jobs abandoned)")

    def _dead(self, claimed: Claimed, error: str) -> None:
        self.queue.dead(claimed, error)
        log_event(log, "recordings.job.failed", logging.ERROR, uniqueid=claimed.job.uniqueid,
                  error=error)

    def _defer_infra(self, claimed: Claimed, error: str) -> None:
        """Redis or the database is away: put the job back without counting an attempt;
        if even that fails, the lease runs out and the job is reclaimed later."""
        delay = self.queue.policy.backoff(max(1, claimed.deliveries))
        with contextlib.suppress(QueueUnavailable):
            self.queue.defer(claimed, delay, error, False)
        log_event(log, "recordings.job.deferred", logging.WARNING,
                  uniqueid=claimed.job.uniqueid, error=error, retry_in_s=delay)

    def _commit(self, claimed: Claimed, draft: TicketDraft) -> None:
        """Commit the ticket and acknowledge the job, retrying through short outages of the
        database or Redis for ``db_retry_s``; past that the job goes back to the queue."""
        deadline = time.monotonic() + self.settings.db_retry_s
        delay = 0.2
        beat = self._heartbeat(claimed)
        while True:
            try:
                self.queue.complete(claimed, lambda s: save_ticket(
                    s, draft, listeners=self.ticket_listeners))
                return
            except QueueUnavailable as exc:
                if time.monotonic() >= deadline:
                    self._defer_infra(claimed, str(exc))
                    return
                log_event(log, "recordings.commit.retry", logging.WARNING,
                          uniqueid=claimed.job.uniqueid, error=str(exc))
                time.sleep(delay)
                delay = min(delay * 2, 5.0)
                beat()
            except Exception as exc:  # e.g. a value the database refuses: not transient
                # error_text, never str(exc): the statement's parameters and PostgreSQL's
                # DETAIL hold the caller's number and the transcript
                error = f"call {claimed.job.uniqueid}: cannot store the ticket: {error_text(exc)}"
                log_event(log, "recordings.commit.error", logging.ERROR,
                          uniqueid=claimed.job.uniqueid, error=error, where=_where(exc))
                attempts = claimed.attempts + 1
                if attempts >= self.queue.policy.max_attempts:
                    self._dead(claimed, f"{error} (gave up after {attempts} attempts)")
                else:
                    self.queue.defer(claimed, self.queue.policy.backoff(attempts), error, True)
                return
