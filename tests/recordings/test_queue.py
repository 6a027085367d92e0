"""The two job queues behave alike: idempotent enqueue, ack after commit, reclaim of a dead
worker's job, retry with backoff, dead letters that carry the error. Leases and retry times
run on a clock the test moves (never the wall clock)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from hotline12345.recordings.jobs import RecordingJob
from hotline12345.recordings.queue import (
    JobQueue,
    RedisJobQueue,
    RetryPolicy,
    SqlJobQueue,
)
from hotline12345.tickets.store import TicketDraft, save_ticket
from tests.recordings.conftest import REDIS_URL, count_tickets, sessions_for

POLICY = RetryPolicy(max_attempts=3, base_s=30.0, max_s=100.0, lease_s=60.0,
                     max_deliveries=3)


class Clock:
    """Unix seconds that move only when the test says so."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(params=["sql", "redis"])
def queue(request: pytest.FixtureRequest, db_url: str, clock: Clock) -> Iterator[JobQueue]:
    sessions = sessions_for(db_url)
    q: JobQueue
    if request.param == "redis":
        q = RedisJobQueue.from_url(REDIS_URL, sessions, POLICY,
                                   prefix=request.getfixturevalue("redis_prefix"),
                                   poll_s=0.05, clock=clock)
    else:
        q = SqlJobQueue(sessions, POLICY, poll_s=0.05, clock=clock)
    yield q
    q.close()


def _sessions(q: JobQueue) -> sessionmaker[Session]:
    return q.sessions  # type: ignore[attr-defined,no-any-return]


def _write(uniqueid: str):  # type: ignore[no-untyped-def]
    return lambda s: save_ticket(s, TicketDraft(uniqueid=uniqueid, transcript="x"))


def test_enqueue_claim_complete(queue: JobQueue, db_url: str) -> None:
    job = RecordingJob("1.1", "scan", meta={"caller": "13800138000"})
    assert queue.enqueue(job) and not queue.enqueue(job)
    assert queue.known("1.1") and not queue.known("2.2")
    assert queue.pending() == 1
    claimed = queue.claim("w1", block_s=0.5)
    assert claimed is not None and claimed.job == job
    assert (claimed.attempts, claimed.deliveries) == (0, 1)
    assert queue.claim("w2", block_s=0.2) is None  # leased to w1
    queue.complete(claimed, _write("1.1"))
    assert queue.pending() == 0 and count_tickets(db_url, "1.1") == 1
    assert queue.claim("w2", block_s=0.2) is None
    assert not queue.enqueue(job)  # done calls are not queued again


def test_a_batch_adds_only_the_jobs_not_known(queue: JobQueue, db_url: str) -> None:
    """enqueue_many skips the uniqueids already queued (by this queue or another on the same
    store) and the repeats within the batch, and counts only what it added."""
    first = [RecordingJob(f"7.{i}", "ami:UserEvent", meta={"caller": "13800138000"})
             for i in range(5)]
    assert queue.enqueue_many(first[:2]) == 2
    if isinstance(queue, SqlJobQueue):  # another process's queue on the same database
        other = SqlJobQueue(sessions_for(db_url), POLICY)
        assert other.enqueue_many([first[2]]) == 1
        other.sessions.kw["bind"].dispose()
    else:
        assert queue.enqueue(first[2])
    again = [*first, first[4], RecordingJob("7.0", "scan")]
    assert queue.enqueue_many(again) == 2  # 7.3 and 7.4; the others were known
    assert queue.enqueue_many([]) == 0
    assert queue.pending() == 5 and all(queue.known(j.uniqueid) for j in first)
    claimed = [queue.claim("w1", block_s=0.5) for _ in first]
    assert sorted(c.job.uniqueid for c in claimed if c is not None) == [j.uniqueid
                                                                        for j in first]
    assert {c.job.source for c in claimed if c is not None} == {"ami:UserEvent"}


def test_a_dead_workers_job_is_reclaimed(queue: JobQueue, db_url: str, clock: Clock) -> None:
    lease = POLICY.lease_s
    queue.enqueue(RecordingJob("1.1", "scan"))
    first = queue.claim("dead-worker", block_s=0.5)
    assert first is not None
    clock.advance(lease / 2)
    queue.heartbeat(first, "dead-worker")  # alive: keeps its lease
    clock.advance(lease / 2 + 1)  # past the first lease, within the renewed one
    assert queue.claim("w2", block_s=0.0) is None
    clock.advance(lease)  # no heartbeat any more: the worker died
    second = queue.claim("w2", block_s=0.5)
    assert second is not None and second.job.uniqueid == "1.1" and second.deliveries == 2
    clock.advance(lease * 0.6)
    queue.heartbeat(first, "dead-worker")  # back to life: it must not renew w2's lease
    clock.advance(lease * 0.4 + 1)
    third = queue.claim("w3", block_s=0.0)  # w2 went silent: its lease ran out
    assert third is not None and third.deliveries == 3
    queue.complete(second, _write("1.1"))
    queue.complete(third, _write("1.1"))
    # the first worker finishes too: still one ticket
    queue.complete(first, _write("1.1"))
    assert count_tickets(db_url) == 1 and queue.pending() == 0


def test_a_lease_holds_exactly_until_its_end(queue: JobQueue, clock: Clock) -> None:
    queue.enqueue(RecordingJob("1.1", "scan"))
    assert queue.claim("w1", block_s=0.5) is not None
    clock.advance(POLICY.lease_s)  # the last instant of the lease
    assert queue.claim("w2", block_s=0.0) is None
    clock.advance(0.001)
    taken = queue.claim("w2", block_s=0.5)
    assert taken is not None and taken.deliveries == 2


def test_a_recording_that_keeps_killing_workers_is_dead_lettered(queue: JobQueue,
                                                                 clock: Clock) -> None:
    queue.enqueue(RecordingJob("1.1", "scan"))
    for _ in range(POLICY.max_deliveries):
        assert queue.claim("w", block_s=0.5) is not None
        clock.advance(POLICY.lease_s + 1)
    assert queue.claim("w", block_s=0.0) is None
    failed = queue.failed()
    assert [f.uniqueid for f in failed] == ["1.1"]
    assert "a worker died 3 times while processing this recording" in failed[0].error


def test_retry_with_backoff_then_dead_letter(queue: JobQueue, clock: Clock) -> None:
    queue.enqueue(RecordingJob("1.1", "scan", files={"mixed": "1.1.wav"}))
    claimed = queue.claim("w", block_s=0.5)
    assert claimed is not None
    queue.defer(claimed, POLICY.backoff(1), "boom 1", count_attempt=True)
    assert queue.claim("w", block_s=0.0) is None  # not before its time
    clock.advance(POLICY.backoff(1) - 1)
    assert queue.claim("w", block_s=0.0) is None
    clock.advance(1)
    claimed = queue.claim("w", block_s=0.5)
    assert claimed is not None and claimed.attempts == 1
    queue.defer(claimed, 0.0, None, count_attempt=False)  # not ready: no attempt counted
    claimed = queue.claim("w", block_s=0.5)
    assert claimed is not None and claimed.attempts == 1
    queue.dead(claimed, "1.1.wav: stereo; split the channels")
    assert queue.pending() == 0
    [failed] = queue.failed()
    assert (failed.uniqueid, failed.error, failed.attempts) == (
        "1.1", "1.1.wav: stereo; split the channels", 2)
    assert failed.job is not None and failed.job.files == {"mixed": "1.1.wav"}
    assert failed.as_dict()["files"] == {"mixed": "1.1.wav"}
    assert queue.retry_failed("1.1") and not queue.retry_failed("9.9")
    again = queue.claim("w", block_s=0.5)
    assert again is not None and again.attempts == 0 and queue.failed() == []


def test_forget_lets_a_later_scan_enqueue_again(queue: JobQueue) -> None:
    queue.enqueue(RecordingJob("1.1", "ami:Hangup"))
    claimed = queue.claim("w", block_s=0.5)
    assert claimed is not None
    queue.forget(claimed)
    assert not queue.known("1.1") and queue.pending() == 0
    assert queue.enqueue(RecordingJob("1.1", "scan"))


def test_backoff_doubles_up_to_the_cap() -> None:
    policy = RetryPolicy(base_s=2.0, max_s=10.0)
    assert [policy.backoff(n) for n in range(1, 6)] == [2.0, 4.0, 8.0, 10.0, 10.0]


def test_redis_unreadable_entries_are_dead_lettered(redis_prefix: str, tmp_path: Path) -> None:
    import redis

    sessions = sessions_for(f"sqlite:///{tmp_path / 'x.db'}")
    queue = RedisJobQueue.from_url(REDIS_URL, sessions, POLICY, prefix=redis_prefix,
                                   poll_s=0.05)
    queue.enqueue(RecordingJob("1.1", "scan"))  # creates the group
    redis.Redis.from_url(REDIS_URL).xadd(queue.stream, {"job": "{garbage"})
    claimed = queue.claim("w", block_s=0.5)
    assert claimed is not None and claimed.job.uniqueid == "1.1"
    assert queue.claim("w", block_s=0.0) is None
    assert "unreadable job payload" in queue.failed()[0].error
