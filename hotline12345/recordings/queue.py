"""Durable recording jobs: a Redis Stream with a consumer group, or a table in SQL.

Both queues give the same guarantees:

- **at least once**: a job leaves the queue only after its ticket is committed
  (:meth:`complete`); a worker killed in mid-job leaves it leased, and once the lease
  expires (``lease_s`` without a heartbeat) another worker takes it over: Redis with
  ``XAUTOCLAIM``, SQL by claiming rows whose lease has run out;
- **no duplicates**: enqueueing is idempotent per uniqueid, and so is ticket creation
  (a unique constraint), so a job run twice still makes one ticket;
- **retry with backoff**: a failed attempt comes back after ``base_s * 2**attempt``
  (capped at ``max_s``); after ``max_attempts``, or at once for a bad recording, the job
  goes to the dead-letter list with its error, which :meth:`failed` lists;
- a job whose worker died ``max_deliveries`` times (a recording that crashes the decoder)
  is dead-lettered too, rather than killing workers forever.

Redis keys (``prefix`` defaults to ``hotline12345:recordings``): ``<prefix>:stream`` (the
stream; group ``workers``), ``<prefix>:leases`` (sorted set: each delivered entry's lease
deadline, taken with the delivery in one script), ``<prefix>:delayed`` (sorted set of jobs
waiting for their retry time), ``<prefix>:dead`` (dead-letter list, JSON with the error),
and ``<prefix>:seen:<uniqueid>`` (enqueue de-duplication, kept 30 days). Lease deadlines
and retry times are on the queue's clock (``clock``, Unix seconds; tests inject their own),
as in SQL; an entry delivered by an older version, which has no lease, is reclaimed by its
idle time on the Redis server. Run Redis with
``appendonly yes`` so that a restart keeps the stream; the directory scan re-enqueues
any recording that has no ticket if it does not.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol, cast

from sqlalchemy import Table, delete, func, or_, select, update
from sqlalchemy.exc import (
    DBAPIError,
    DisconnectionError,
    InterfaceError,
    OperationalError,
    SQLAlchemyError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session, sessionmaker

from hotline12345.db.engine import error_text
from hotline12345.env import DATABASE_URL_ENV
from hotline12345.logs import log_event
from hotline12345.recordings.jobs import JobError, RecordingJob
from hotline12345.recordings.models import JobState, RecordingJobRow

log = logging.getLogger(__name__)

DEFAULT_PREFIX = "hotline12345:recordings"
GROUP = "workers"
SEEN_TTL_S = 30 * 24 * 3600

Writer = Callable[[Session], object]


class QueueUnavailable(Exception):
    """Redis or the database cannot be reached; try again later. Nothing was lost."""


def transient(exc: SQLAlchemyError) -> bool:
    """Whether a database error means "unreachable or busy, try again" (connection lost,
    database locked, pool exhausted) rather than "this statement is refused" (a value too
    long, a constraint), which no retry mends."""
    if isinstance(exc, OperationalError | InterfaceError | DisconnectionError | PoolTimeout):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 5
    base_s: float = 2.0
    max_s: float = 300.0
    lease_s: float = 60.0
    max_deliveries: int = 5

    def backoff(self, attempt: int) -> float:
        """Delay before attempt ``attempt + 1`` (``attempt`` failures so far, from 1)."""
        return float(min(self.max_s, self.base_s * (2 ** max(0, attempt - 1))))


@dataclass(frozen=True, slots=True)
class Claimed:
    job: RecordingJob
    token: str  # stream entry id, or row id
    attempts: int  # failed attempts before this one
    deliveries: int  # times handed to a worker without an outcome, this one included


@dataclass(frozen=True, slots=True)
class FailedJob:
    uniqueid: str
    error: str
    attempts: int
    failed_at: float
    job: RecordingJob | None

    def as_dict(self) -> dict[str, Any]:
        return {"uniqueid": self.uniqueid, "error": self.error, "attempts": self.attempts,
                "failed_at": self.failed_at,
                "files": dict(self.job.files) if self.job else {},
                "source": self.job.source if self.job else ""}


class JobQueue(Protocol):
    policy: RetryPolicy
    kind: str

    def enqueue(self, job: RecordingJob) -> bool:
        """Add ``job`` unless its uniqueid is already known; True if added."""

    def enqueue_many(self, jobs: Sequence[RecordingJob]) -> int:
        """Add each job unless its uniqueid is already known, in one round trip (SQL: one
        transaction); how many were added."""

    def claim(self, consumer: str, block_s: float = 1.0) -> Claimed | None: ...

    def heartbeat(self, claimed: Claimed, consumer: str) -> None:
        """Extend the lease of a job still being worked on."""

    def complete(self, claimed: Claimed, write: Writer | None) -> None:
        """Commit ``write`` (the ticket) then remove the job; SQL does both in one transaction."""

    def defer(self, claimed: Claimed, delay_s: float, error: str | None,
              count_attempt: bool) -> None:
        """Put the job back, to be claimed again after ``delay_s``."""

    def dead(self, claimed: Claimed, error: str) -> None:
        """Move the job to the dead-letter list with ``error``."""

    def forget(self, claimed: Claimed) -> None:
        """Drop the job without a ticket (the call was not recorded); a later scan may
        enqueue it again."""

    def known(self, uniqueid: str) -> bool: ...

    def failed(self, limit: int = 1000) -> list[FailedJob]: ...

    def retry_failed(self, uniqueid: str) -> bool:
        """Put a dead-lettered job back in the queue with its attempts reset."""

    def pending(self) -> int:
        """Jobs not finished yet (queued, delayed or being worked on)."""

    def close(self) -> None: ...


def _fail_attempts(claimed: Claimed, count: bool) -> int:
    return claimed.attempts + 1 if count else claimed.attempts


# --- abandoned calls (the callback list) ---------------------------------------------------

#: ``meta["outcome"]`` of the job of a call that was never answered.
ABANDONED = "abandoned"
_ABANDONED_MARK = f'"outcome": "{ABANDONED}"'  # as RecordingJob.to_json writes it


def record_abandoned(session: Session, job: RecordingJob, now: float | None = None) -> None:
    """Keep a call that was never answered (the caller hung up while waiting: MixMonitor,
    recording only while bridged, wrote nothing) on the callback list: its row of
    ``recording_jobs`` is done, with ``"outcome": "abandoned"`` in its payload. The row is
    made when the job travelled through Redis, so both queues keep the list in SQL."""
    now = time.time() if now is None else now
    payload = replace(job, meta={**job.meta, "outcome": ABANDONED}).to_json()
    result = session.execute(
        update(RecordingJobRow).where(RecordingJobRow.uniqueid == job.uniqueid)
        .values(payload=payload, state=JobState.DONE, worker=None, lease_until=None,
                error=None, updated_at=now))
    if not getattr(result, "rowcount", 0):
        session.add(RecordingJobRow(uniqueid=job.uniqueid, payload=payload,
                                    state=JobState.DONE, attempts=0, deliveries=0,
                                    not_before=now, created_at=now, updated_at=now))


def abandoned_jobs(session: Session, limit: int = 1000) -> list[tuple[RecordingJob, float]]:
    """The abandoned calls, newest first, with when each was recorded as abandoned."""
    rows = session.execute(
        select(RecordingJobRow.payload, RecordingJobRow.updated_at)
        .where(RecordingJobRow.state == JobState.DONE,
               RecordingJobRow.payload.contains(_ABANDONED_MARK, autoescape=True))
        .order_by(RecordingJobRow.updated_at.desc(), RecordingJobRow.id.desc())
        .limit(limit)).all()
    out = []
    for row in rows:
        try:
            job = RecordingJob.from_json(row.payload)
        except JobError:
            continue
        if job.meta.get("outcome") == ABANDONED:
            out.append((job, float(row.updated_at)))
    return out


# --- SQL -----------------------------------------------------------------------------------

class SqlJobQueue:
    """The queue as the ``recording_jobs`` table, in the tickets' database (SQLite on
    embedded defaults), so that completing a job and committing its ticket is one
    transaction."""

    kind = "sql"

    def __init__(self, sessions: sessionmaker[Session], policy: RetryPolicy | None = None,
                 poll_s: float = 0.25, clock: Callable[[], float] = time.time) -> None:
        self.sessions = sessions
        self.policy = policy or RetryPolicy()
        self.poll_s = poll_s
        self.clock = clock  # Unix seconds: leases, retry times (tests inject their own)
        self._insert: Any = None

    def _run(self, fn: Callable[[Session], Any]) -> Any:
        try:
            with self.sessions.begin() as session:
                return fn(session)
        except SQLAlchemyError as exc:
            if not transient(exc):  # refused (e.g. a constraint): the caller decides
                raise
            raise QueueUnavailable(f"database: {error_text(exc)}") from exc

    def enqueue(self, job: RecordingJob) -> bool:
        return self.enqueue_many([job]) == 1

    def enqueue_many(self, jobs: Sequence[RecordingJob]) -> int:
        """One statement in one transaction for the whole batch: ``INSERT ... ON CONFLICT
        (uniqueid) DO NOTHING RETURNING uniqueid`` (SQLite and PostgreSQL), so a uniqueid
        already known, also one that another process enqueued a moment ago, is skipped
        without a lookup first; what comes back counts the jobs added."""
        batch: dict[str, RecordingJob] = {}
        for job in jobs:
            batch.setdefault(job.uniqueid, job)
        if not batch:
            return 0
        now = self.clock()
        rows = [{"uniqueid": uid, "payload": job.to_json(), "state": JobState.QUEUED,
                 "attempts": 0, "deliveries": 0, "not_before": now, "created_at": now,
                 "updated_at": now} for uid, job in batch.items()]
        return int(self._run(lambda session: len(session.execute(
            self._insert_new(session), rows).all())))

    def _insert_new(self, session: Session) -> Any:
        """The insert of :meth:`enqueue_many` in the session's dialect (built once)."""
        if self._insert is None:
            dialect = session.get_bind().dialect.name
            if dialect == "sqlite":
                from sqlalchemy.dialects.sqlite import insert as dialect_insert
            elif dialect == "postgresql":
                from sqlalchemy.dialects.postgresql import (  # type: ignore[assignment]
                    insert as dialect_insert,
                )
            else:
                raise ValueError(f"database {dialect}: the recordings' job queue runs on "
                                 f"SQLite or PostgreSQL; set {DATABASE_URL_ENV} to one of them")
            table = cast(Table, RecordingJobRow.__table__)
            self._insert = (dialect_insert(table)
                            .on_conflict_do_nothing(index_elements=[table.c.uniqueid])
                            .returning(table.c.uniqueid))
        return self._insert

    def _claimable(self, now: float) -> Any:
        return or_(
            (RecordingJobRow.state == JobState.QUEUED) & (RecordingJobRow.not_before <= now),
            (RecordingJobRow.state == JobState.RUNNING) & (RecordingJobRow.lease_until < now))

    def claim(self, consumer: str, block_s: float = 1.0) -> Claimed | None:
        deadline = time.monotonic() + block_s
        while True:
            claimed = self._claim_once(consumer)
            if claimed is not None or time.monotonic() >= deadline:
                return claimed
            time.sleep(min(self.poll_s, max(0.0, deadline - time.monotonic())))

    def _claim_once(self, consumer: str) -> Claimed | None:
        for _ in range(5):  # lost races against other workers: look again
            result = self._run(lambda s: self._take(s, consumer, self.clock()))
            if result is None:
                return None
            if result[0] == "ok":
                claimed: Claimed | None = result[1]
                return claimed
        return None

    def _take(self, session: Session, consumer: str,
              now: float) -> tuple[str, Claimed | None] | None:
        row = session.execute(
            select(RecordingJobRow.id, RecordingJobRow.payload, RecordingJobRow.attempts,
                   RecordingJobRow.deliveries)
            .where(self._claimable(now)).order_by(RecordingJobRow.not_before,
                                                  RecordingJobRow.id)
            .limit(1).with_for_update(skip_locked=True)).first()
        if row is None:
            return None
        got = session.execute(
            update(RecordingJobRow)
            .where(RecordingJobRow.id == row.id, self._claimable(now))
            .values(state=JobState.RUNNING, worker=consumer,
                    lease_until=now + self.policy.lease_s,
                    deliveries=RecordingJobRow.deliveries + 1, updated_at=now)
            .execution_options(synchronize_session=False))
        if getattr(got, "rowcount", 0) != 1:
            return ("race", None)
        deliveries = int(row.deliveries) + 1
        try:
            job = RecordingJob.from_json(row.payload)
        except JobError as exc:
            session.execute(update(RecordingJobRow).where(RecordingJobRow.id == row.id)
                            .values(state=JobState.FAILED, error=str(exc),
                                    worker=None, lease_until=None, updated_at=now))
            return ("race", None)
        if deliveries > self.policy.max_deliveries:
            error = (f"a worker died {deliveries - 1} times while processing this "
                     "recording (a crash in the decoder?); inspect the files, then "
                     "hotline12345 jobs retry UNIQUEID")
            session.execute(update(RecordingJobRow).where(RecordingJobRow.id == row.id)
                            .values(state=JobState.FAILED, error=error, worker=None,
                                    lease_until=None, updated_at=now))
            log_event(log, "recordings.job.dead", logging.ERROR,
                      uniqueid=job.uniqueid, error=error)
            return ("race", None)
        return ("ok", Claimed(job, str(row.id), int(row.attempts), deliveries))

    def heartbeat(self, claimed: Claimed, consumer: str) -> None:
        now = self.clock()
        self._run(lambda s: s.execute(
            update(RecordingJobRow)
            .where(RecordingJobRow.id == int(claimed.token),
                   RecordingJobRow.state == JobState.RUNNING, RecordingJobRow.worker == consumer)
            .values(lease_until=now + self.policy.lease_s, updated_at=now)))

    def complete(self, claimed: Claimed, write: Writer | None) -> None:
        now = self.clock()

        def finish(session: Session) -> None:
            if write is not None:
                write(session)
            session.execute(update(RecordingJobRow)
                            .where(RecordingJobRow.id == int(claimed.token))
                            .values(state=JobState.DONE, worker=None, lease_until=None,
                                    error=None, updated_at=now))

        self._run(finish)

    def defer(self, claimed: Claimed, delay_s: float, error: str | None,
              count_attempt: bool) -> None:
        now = self.clock()
        self._run(lambda s: s.execute(
            update(RecordingJobRow).where(RecordingJobRow.id == int(claimed.token))
            .values(state=JobState.QUEUED, worker=None, lease_until=None,
                    not_before=now + delay_s, attempts=_fail_attempts(claimed, count_attempt),
                    deliveries=0, error=error, updated_at=now)))

    def dead(self, claimed: Claimed, error: str) -> None:
        now = self.clock()
        self._run(lambda s: s.execute(
            update(RecordingJobRow).where(RecordingJobRow.id == int(claimed.token))
            .values(state=JobState.FAILED, worker=None, lease_until=None,
                    attempts=claimed.attempts + 1, error=error, updated_at=now)))

    def forget(self, claimed: Claimed) -> None:
        self._run(lambda s: s.execute(
            delete(RecordingJobRow).where(RecordingJobRow.id == int(claimed.token))))

    def known(self, uniqueid: str) -> bool:
        return bool(self._run(lambda s: s.scalar(
            select(RecordingJobRow.id).where(RecordingJobRow.uniqueid == uniqueid)) is not None))

    def failed(self, limit: int = 1000) -> list[FailedJob]:
        def read(session: Session) -> list[FailedJob]:
            rows = session.execute(
                select(RecordingJobRow.uniqueid, RecordingJobRow.error, RecordingJobRow.attempts,
                       RecordingJobRow.updated_at, RecordingJobRow.payload)
                .where(RecordingJobRow.state == JobState.FAILED)
                .order_by(RecordingJobRow.updated_at, RecordingJobRow.id).limit(limit)).all()
            out = []
            for r in rows:
                try:
                    job: RecordingJob | None = RecordingJob.from_json(r.payload)
                except JobError:
                    job = None
                out.append(FailedJob(r.uniqueid, r.error or "", int(r.attempts),
                                     float(r.updated_at), job))
            return out

        result: list[FailedJob] = self._run(read)
        return result

    def retry_failed(self, uniqueid: str) -> bool:
        now = self.clock()
        result = self._run(lambda s: s.execute(
            update(RecordingJobRow)
            .where(RecordingJobRow.uniqueid == uniqueid, RecordingJobRow.state == JobState.FAILED)
            .values(state=JobState.QUEUED, attempts=0, deliveries=0, not_before=now,
                    updated_at=now)))
        return bool(getattr(result, "rowcount", 0))

    def pending(self) -> int:
        return int(self._run(lambda s: s.scalar(
            select(func.count()).select_from(RecordingJobRow)
            .where(RecordingJobRow.state.in_([JobState.QUEUED, JobState.RUNNING])))) or 0)

    def close(self) -> None:
        pass


# --- Redis ---------------------------------------------------------------------------------

_ENQUEUE = """
if redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[2]) then
  redis.call('XADD', KEYS[2], '*', 'job', ARGV[1], 'attempts', '0')
  return 1
end
return 0
"""

_HEARTBEAT = """
local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[2], ARGV[2], 1)
if p[1] and p[1][2] == ARGV[3] then
  redis.call('ZADD', KEYS[2], 'XX', ARGV[4], ARGV[2])
  return 1
end
return 0
"""

# A new entry for this consumer, and its lease, in one step (no BLOCK inside a script).
_READ_NEW = """
local got = redis.call('XREADGROUP', 'GROUP', ARGV[1], ARGV[2], 'COUNT', 1,
                       'STREAMS', KEYS[1], '>')
if not got then return false end
local entry = got[1][2][1]
redis.call('ZADD', KEYS[2], ARGV[3], entry[1])
return entry
"""

# An entry whose lease ran out (by the queue's clock), taken over with a new lease; then
# entries an older version delivered without a lease, by their idle time on the server.
_RECLAIM = """
local due = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[3], 'LIMIT', 0, 10)
for _, id in ipairs(due) do
  local got = redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, id)
  if got[1] and got[1][2] then
    redis.call('ZADD', KEYS[2], ARGV[4], id)
    return got[1]
  end
  redis.call('ZREM', KEYS[2], id)
end
local idle = redis.call('XPENDING', KEYS[1], ARGV[1], 'IDLE', ARGV[5], '-', '+', 10)
for _, p in ipairs(idle) do
  if not redis.call('ZSCORE', KEYS[2], p[1]) then
    local got = redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], ARGV[5], p[1])
    if got[1] and got[1][2] then
      redis.call('ZADD', KEYS[2], ARGV[4], p[1])
      return got[1]
    end
  end
end
return false
"""

_PROMOTE = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
for _, member in ipairs(due) do
  local entry = cjson.decode(member)
  redis.call('XADD', KEYS[2], '*', 'job', entry['job'], 'attempts', tostring(entry['attempts']))
  redis.call('ZREM', KEYS[1], member)
end
return #due
"""


def _s(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _pairs(flat: Any) -> dict[Any, Any]:
    """A stream entry's fields as a script returns them (a flat list) as a mapping."""
    items = list(flat or [])
    return dict(zip(items[0::2], items[1::2], strict=False))


class RedisJobQueue:
    """The queue as a Redis Stream with consumer group ``workers``; tickets go to the
    database through ``sessions`` and the entry is acknowledged only after they commit."""

    kind = "redis"

    def __init__(self, client: Any, sessions: sessionmaker[Session],
                 policy: RetryPolicy | None = None, prefix: str = DEFAULT_PREFIX,
                 ack_retry_s: float = 10.0, poll_s: float = 0.25,
                 clock: Callable[[], float] = time.time) -> None:
        self.r = client
        self.sessions = sessions
        self.policy = policy or RetryPolicy()
        self.prefix = prefix
        self.stream = f"{prefix}:stream"
        self.leases = f"{prefix}:leases"
        self.delayed = f"{prefix}:delayed"
        self.dead_key = f"{prefix}:dead"
        self.ack_retry_s = ack_retry_s
        self.poll_s = poll_s
        self.clock = clock  # Unix seconds: leases, retry times (tests inject their own)
        self._enqueue = client.register_script(_ENQUEUE)
        self._promote = client.register_script(_PROMOTE)
        self._heartbeat = client.register_script(_HEARTBEAT)
        self._read_new_script = client.register_script(_READ_NEW)
        self._reclaim_script = client.register_script(_RECLAIM)
        self._group_ready = False

    @classmethod
    def from_url(cls, url: str, sessions: sessionmaker[Session],
                 policy: RetryPolicy | None = None, prefix: str = DEFAULT_PREFIX,
                 ack_retry_s: float = 10.0, poll_s: float = 0.25,
                 clock: Callable[[], float] = time.time) -> RedisJobQueue:
        import redis

        client = redis.Redis.from_url(url, socket_timeout=10, socket_connect_timeout=5,
                                      health_check_interval=15)
        return cls(client, sessions, policy, prefix, ack_retry_s, poll_s, clock)

    def _seen(self, uniqueid: str) -> str:
        return f"{self.prefix}:seen:{uniqueid}"

    def _call(self, fn: Callable[[], Any]) -> Any:
        import redis

        try:
            return fn()
        except redis.exceptions.ResponseError as exc:
            if "NOGROUP" in str(exc):  # Redis restarted empty: make the group again
                self._group_ready = False
                raise QueueUnavailable(f"redis: {exc}") from exc
            raise
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError,
                OSError) as exc:
            self._group_ready = False
            raise QueueUnavailable(f"redis: {exc.__class__.__name__}: {exc}") from exc

    def _ensure_group(self) -> None:
        if self._group_ready:
            return
        import redis

        def create() -> None:
            try:
                self.r.xgroup_create(self.stream, GROUP, id="0", mkstream=True)
            except redis.exceptions.ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

        self._call(create)
        self._group_ready = True

    def enqueue(self, job: RecordingJob) -> bool:
        self._ensure_group()
        added = self._call(lambda: self._enqueue(keys=[self._seen(job.uniqueid), self.stream],
                                                 args=[job.to_json(), SEEN_TTL_S]))
        return bool(added)

    def enqueue_many(self, jobs: Sequence[RecordingJob]) -> int:
        if not jobs:
            return 0
        self._ensure_group()

        def run() -> list[Any]:
            pipe = self.r.pipeline(transaction=False)
            for job in jobs:
                self._enqueue(keys=[self._seen(job.uniqueid), self.stream],
                              args=[job.to_json(), SEEN_TTL_S], client=pipe)
            result: list[Any] = pipe.execute()
            return result

        return sum(1 for added in self._call(run) if added)

    def _claimed(self, entry_id: Any, fields: Any, deliveries: int) -> Claimed | None:
        data = {_s(k): _s(v) for k, v in dict(fields or {}).items()}
        token = _s(entry_id)
        try:
            job = RecordingJob.from_json(data.get("job", ""))
        except JobError as exc:
            entry = json.dumps({"uniqueid": "", "error": str(exc), "attempts": 0,
                                "failed_at": time.time(), "job": None}, ensure_ascii=False)
            self._call(lambda: self.r.pipeline(transaction=True)
                       .xack(self.stream, GROUP, token).xdel(self.stream, token)
                       .rpush(self.dead_key, entry).execute())
            return None
        return Claimed(job, token, int(data.get("attempts", "0") or 0), deliveries)

    def _pending_info(self, entry_id: Any) -> list[dict[str, Any]]:
        info: list[dict[str, Any]] = self._call(lambda: self.r.xpending_range(
            self.stream, GROUP, min=entry_id, max=entry_id, count=1))
        return info

    def claim(self, consumer: str, block_s: float = 1.0) -> Claimed | None:
        self._ensure_group()
        deadline = time.monotonic() + block_s
        while True:
            self._call(lambda: self._promote(keys=[self.delayed, self.stream],
                                             args=[self.clock(), 100]))
            claimed = self._reclaim(consumer)
            if claimed is None:
                claimed = self._read_new(consumer)
            if claimed is not None or time.monotonic() >= deadline:
                return claimed
            time.sleep(min(self.poll_s, max(0.0, deadline - time.monotonic())))

    def _read_new(self, consumer: str) -> Claimed | None:
        while True:
            entry = self._call(lambda: self._read_new_script(
                keys=[self.stream, self.leases],
                args=[GROUP, consumer, self.clock() + self.policy.lease_s]))
            if not entry:
                return None
            claimed = self._claimed(entry[0], _pairs(entry[1]), 1)
            if claimed is not None:
                return claimed

    def _reclaim(self, consumer: str) -> Claimed | None:
        """Take over an entry whose lease ran out (its worker has not been heard of for
        ``lease_s``, by the queue's clock)."""
        while True:
            now = self.clock()
            args = [GROUP, consumer, now, now + self.policy.lease_s,
                    int(self.policy.lease_s * 1000)]
            entry = self._call(lambda args=args: self._reclaim_script(  # type: ignore[misc]
                keys=[self.stream, self.leases], args=args))
            if not entry:
                return None
            info = self._pending_info(entry[0])
            deliveries = int(info[0]["times_delivered"]) if info else 1
            claimed = self._claimed(entry[0], _pairs(entry[1]), deliveries)
            if claimed is None:
                continue
            log_event(log, "recordings.job.reclaimed", logging.WARNING,
                      uniqueid=claimed.job.uniqueid, deliveries=deliveries)
            if deliveries > self.policy.max_deliveries:
                self.dead(claimed, f"a worker died {deliveries - 1} times while processing this "
                                   "recording (a crash in the decoder?); inspect the files, "
                                   "then hotline12345 jobs retry UNIQUEID")
                continue
            return claimed

    def heartbeat(self, claimed: Claimed, consumer: str) -> None:
        """Extend the entry's lease, if this consumer still owns it (a worker whose lease
        ran out must not take the job back from the one that reclaimed it)."""
        self._call(lambda: self._heartbeat(
            keys=[self.stream, self.leases],
            args=[GROUP, claimed.token, consumer, self.clock() + self.policy.lease_s]))

    def _ack(self, claimed: Claimed, extra: Callable[[Any], Any] | None = None) -> None:
        def run() -> None:
            pipe = self.r.pipeline(transaction=True)
            pipe.xack(self.stream, GROUP, claimed.token)
            pipe.xdel(self.stream, claimed.token)
            pipe.zrem(self.leases, claimed.token)
            if extra is not None:
                extra(pipe)
            pipe.execute()

        self._call(run)

    def complete(self, claimed: Claimed, write: Writer | None) -> None:
        if write is not None:
            try:
                with self.sessions.begin() as session:
                    write(session)
            except SQLAlchemyError as exc:
                if not transient(exc):
                    raise
                raise QueueUnavailable(f"database: {error_text(exc)}") from exc
        # The ticket is committed. If Redis is away the entry stays pending and is
        # reclaimed later; the ticket then exists and the job is just acknowledged.
        deadline = time.monotonic() + self.ack_retry_s
        while True:
            try:
                self._ack(claimed)
                return
            except QueueUnavailable:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.5)

    def defer(self, claimed: Claimed, delay_s: float, error: str | None,
              count_attempt: bool) -> None:
        member = json.dumps({"job": claimed.job.to_json(),
                             "attempts": _fail_attempts(claimed, count_attempt),
                             "error": error, "token": uuid.uuid4().hex}, ensure_ascii=False)
        self._ack(claimed, lambda p: p.zadd(self.delayed, {member: self.clock() + delay_s}))

    def dead(self, claimed: Claimed, error: str) -> None:
        entry = json.dumps({"uniqueid": claimed.job.uniqueid, "error": error,
                            "attempts": claimed.attempts + 1, "failed_at": time.time(),
                            "job": claimed.job.to_json()}, ensure_ascii=False)
        self._ack(claimed, lambda p: p.rpush(self.dead_key, entry))

    def forget(self, claimed: Claimed) -> None:
        self._ack(claimed, lambda p: p.delete(self._seen(claimed.job.uniqueid)))

    def known(self, uniqueid: str) -> bool:
        return bool(self._call(lambda: self.r.exists(self._seen(uniqueid))))

    def _dead_entries(self) -> list[tuple[bytes, dict[str, Any]]]:
        raw = self._call(lambda: self.r.lrange(self.dead_key, 0, -1))
        out = []
        for item in raw or []:
            try:
                out.append((item, dict(json.loads(item))))
            except ValueError:
                continue
        return out

    def failed(self, limit: int = 1000) -> list[FailedJob]:
        out: list[FailedJob] = []
        for _raw, data in self._dead_entries()[:limit]:
            try:
                job: RecordingJob | None = (RecordingJob.from_json(data["job"])
                                            if data.get("job") else None)
            except JobError:
                job = None
            out.append(FailedJob(str(data.get("uniqueid", "")), str(data.get("error", "")),
                                 int(data.get("attempts", 0)), float(data.get("failed_at", 0)),
                                 job))
        return out

    def retry_failed(self, uniqueid: str) -> bool:
        self._ensure_group()
        for raw, data in self._dead_entries():
            if data.get("uniqueid") == uniqueid and data.get("job"):
                def move(raw: bytes = raw, job: str = str(data["job"])) -> list[Any]:
                    pipe = self.r.pipeline(transaction=True)
                    pipe.lrem(self.dead_key, 1, raw)
                    pipe.xadd(self.stream, {"job": job, "attempts": "0"})
                    result: list[Any] = pipe.execute()
                    return result

                removed = self._call(move)
                return bool(removed and removed[0])
        return False

    def pending(self) -> int:
        def count() -> int:
            pipe = self.r.pipeline(transaction=False)
            pipe.xlen(self.stream)
            pipe.zcard(self.delayed)
            stream_len, delayed = pipe.execute()
            return int(stream_len) + int(delayed)

        return int(self._call(count))

    def close(self) -> None:
        with contextlib.suppress(Exception):  # closing a broken connection
            self.r.close()
