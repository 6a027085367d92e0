"""The sender: delivers the outbox to the webhook and Redis Stream subscriptions, in
``serve``.

One task per subscription, each with its own connections, so a receiver that is slow or
down delays only its own feed. A task takes the deliveries that are due, sends each
ticket's one after the other (in order per ticket: a failure stops the ticket's chain),
different tickets side by side, up to ``concurrency`` at once, records what came of them
in one transaction, and starts again; with nothing due it waits
``poll_s`` or until :meth:`FeedSender.nudge`. A failure is retried with backoff and full
jitter for the subscription's ``retry_hours``, then dead (``feed status``, ``feed
replay``). Everything it knows is in the database: a sender that is killed resumes where
the outbox says, and an event whose delivery was in flight is sent again with the same
``webhook-id`` (at least once; receivers deduplicate by it).

Several controllers on one PostgreSQL each run a sender: a subscription is sent by the one
holding its lease (``feed_leases``, renewed every third of ``lease_s``); the others stand
by and take over when it stops (at once) or dies (when its lease runs out).

The database is used from one thread of its own (the deliveries never wait for it inside
the event loop); ``clock`` and ``rng`` are injectable, so tests run the 24 hours of retries
in a moment.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import random
import socket
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, TypeVar

from aiohttp.abc import AbstractResolver
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from hotline12345.config.schema import FeedKind, FeedSubscription
from hotline12345.db.engine import error_text, make_engine
from hotline12345.logs import log_event

from .channels import Channel, DeliveryFailed, RedisStreamChannel, WebhookChannel
from .retry import Backoff
from .signing import SecretProblem, Signer, signer_for
from .store import (
    Attempt,
    DueDelivery,
    due,
    hold_lease,
    release_leases,
    renew_leases,
    save_attempts,
)

__all__ = ["FeedSender", "SenderSettings"]

log = logging.getLogger(__name__)
T = TypeVar("T")


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class SenderSettings:
    poll_s: float = 1.0  # look for new events this often (nudge() looks at once)
    batch: int = 100  # deliveries taken per round, per subscription
    concurrency: int = 8  # deliveries in flight per subscription
    backoff: Backoff = field(default_factory=Backoff)
    # a subscription is sent by one sender at a time: its lease lasts this long unless
    # renewed (a sender that dies is replaced by a standby after it)
    lease_s: float = 30.0


class _Worker:
    """One subscription's delivery loop."""

    def __init__(self, sender: FeedSender, subscription: FeedSubscription,
                 channel: Channel) -> None:
        self.sender = sender
        self.subscription = subscription
        self.channel = channel
        self.wake = asyncio.Event()
        self._slots = asyncio.Semaphore(sender.settings.concurrency)
        self._recheck_at = float("-inf")
        self._standby = False
        self._completed: list[Attempt] = []  # the current round's attempts that are done

    async def run(self) -> None:
        while True:
            try:
                await self._rounds()
            except Exception:  # a bug must not end the feed: logged, and the loop goes on
                log.exception("feed.worker.crashed")
                await asyncio.sleep(self.sender.settings.poll_s)

    async def _holds_lease(self) -> bool:
        """Whether this sender sends the subscription now (rechecked every third of the
        lease; a standby asks every ``poll_s``)."""
        sender = self.sender
        loop = asyncio.get_running_loop()
        if loop.time() < self._recheck_at:
            return True
        held = await sender.in_db(functools.partial(
            hold_lease, subscription=self.subscription.name, owner=sender.owner,
            now=sender.clock(), lease_s=sender.settings.lease_s), commit=True)
        if held:
            self._recheck_at = loop.time() + sender.settings.lease_s / 3
        elif not self._standby:
            log_event(log, "feed.subscription.standby", subscription=self.subscription.name)
        self._standby = not held
        return held

    async def _rounds(self) -> None:
        sender, sub = self.sender, self.subscription
        settings = sender.settings
        while True:
            self.wake.clear()
            try:
                if not await self._holds_lease():
                    await asyncio.sleep(settings.poll_s)
                    continue
            except SQLAlchemyError as exc:
                log_event(log, "feed.db.failed", logging.WARNING, subscription=sub.name,
                          error=error_text(exc))
                await asyncio.sleep(settings.poll_s)
                continue
            try:
                batch = await sender.in_db(lambda s: due(s, sub, sender.clock(), settings.batch))
            except SQLAlchemyError as exc:
                log_event(log, "feed.db.failed", logging.WARNING, subscription=sub.name,
                          error=error_text(exc))
                batch = []
            if not batch:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(settings.poll_s):
                        await self.wake.wait()
                continue
            self._completed = []
            try:
                attempts = await self._send(batch)
            except asyncio.CancelledError:  # stopping: keep what got through, then stop
                await self._save_on_stop()
                raise
            try:
                dead = await sender.in_db(functools.partial(
                    save_attempts, subscription=sub, attempts=attempts,
                    backoff=settings.backoff, rng=sender.rng), commit=True)
            except SQLAlchemyError as exc:  # delivered ones go again: at least once
                log_event(log, "feed.db.failed", logging.WARNING, subscription=sub.name,
                          error=error_text(exc))
                await asyncio.sleep(settings.poll_s)
                continue
            self._log(attempts, dead)

    async def _save_on_stop(self) -> None:
        """Record the attempts of the interrupted round that are done, so that a sender
        that is stopped sends again only what was really in flight."""
        done = list(self._completed)
        if not done:
            return
        sender = self.sender
        try:
            await sender.in_db(functools.partial(
                save_attempts, subscription=self.subscription, attempts=done,
                backoff=sender.settings.backoff, rng=sender.rng), commit=True)
        except SQLAlchemyError as exc:
            log_event(log, "feed.db.failed", logging.WARNING,
                      subscription=self.subscription.name, error=error_text(exc))

    async def _send(self, batch: Sequence[DueDelivery]) -> list[Attempt]:
        """Send ``batch``: a ticket's events one after the other, up to its first failure
        (the rest wait, untried); different tickets side by side, or all in order on a
        sequential channel."""
        if self.channel.sequential:
            failed: set[int] = set()
            done: list[Attempt] = []
            for item in batch:
                if item.ticket_id is not None and item.ticket_id in failed:
                    continue
                attempt = await self._attempt(item)
                done.append(attempt)
                if attempt.error is not None and item.ticket_id is not None:
                    failed.add(item.ticket_id)
            return done
        chains: dict[object, list[DueDelivery]] = {}
        for item in batch:
            key = item.ticket_id if item.ticket_id is not None else ("event", item.delivery_id)
            chains.setdefault(key, []).append(item)

        async def chain(items: list[DueDelivery]) -> list[Attempt]:
            out: list[Attempt] = []
            for item in items:
                out.append(await self._attempt(item))
                if out[-1].error is not None:
                    break
            return out

        results = await asyncio.gather(*(chain(items) for items in chains.values()))
        return [attempt for part in results for attempt in part]

    async def _attempt(self, item: DueDelivery) -> Attempt:
        async with self._slots:
            at = self.sender.clock()
            error: str | None = None
            try:
                await self.channel.send(item, at)
            except DeliveryFailed as exc:
                error = str(exc) or type(exc).__name__
            except OSError as exc:  # a refused target, a socket error
                error = str(exc) or type(exc).__name__
            except Exception as exc:  # a bug must not stop the feed; it is logged
                log.exception("feed.send.crashed")
                error = f"{type(exc).__name__}: {exc}"
            attempt = Attempt(item, at, error)
            self._completed.append(attempt)
            return attempt

    def _log(self, attempts: Sequence[Attempt], dead: int) -> None:
        failed = [a for a in attempts if a.error is not None]
        if failed:
            first = failed[0]
            log_event(log, "feed.delivery.failed", logging.WARNING,
                      subscription=self.subscription.name, failed=len(failed),
                      delivered=len(attempts) - len(failed), dead=dead,
                      event_id=first.delivery.event_id, error=first.error)


class FeedSender:
    """Delivers the outbox of the database at ``database_url`` to ``subscriptions``
    (webhook and redis_stream; pull subscriptions are read, not sent).

    ``signers``: a subscription's signer by name (default: from its environment
    variables); ``redis``: the ``redis.asyncio.Redis`` client of the redis_stream
    subscriptions (default: from ``redis_url``); ``resolver``: makes the DNS resolver the
    SSRF guard checks (default: the system's). A subscription that cannot run (no secret,
    no Redis) is left out, with one ``feed.subscription.disabled`` line and an entry in
    :attr:`problems`; its events wait in the outbox.
    """

    def __init__(self, database_url: str, subscriptions: Sequence[FeedSubscription], *,
                 settings: SenderSettings | None = None,
                 signers: Mapping[str, Signer] | None = None,
                 redis: Any = None, redis_url: str | None = None,
                 resolver: Callable[[], AbstractResolver] | None = None,
                 clock: Callable[[], datetime] = _utc_now,
                 rng: random.Random | None = None) -> None:
        self.database_url = database_url
        self.subscriptions = tuple(s for s in subscriptions if s.kind is not FeedKind.PULL)
        self.settings = settings or SenderSettings()
        self.clock = clock
        self.rng = rng or random.Random()
        self.problems: dict[str, str] = {}
        self._signers = signers
        self._redis = redis
        self._redis_url = redis_url
        self._own_redis = False
        self._resolver = resolver
        self._workers: list[_Worker] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._engine = make_engine(database_url)
        self._db = ThreadPoolExecutor(max_workers=1, thread_name_prefix="feed-db")
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

    async def in_db(self, work: Callable[[Session], T], *, commit: bool = False) -> T:
        """Run ``work`` in a session on the database thread."""
        def run() -> T:
            with Session(self._engine) as session:
                result = work(session)
                if commit:
                    session.commit()
                return result

        return await asyncio.get_running_loop().run_in_executor(self._db, run)

    def _channel(self, sub: FeedSubscription) -> Channel:
        if sub.kind is FeedKind.WEBHOOK:
            signer = (self._signers[sub.name] if self._signers is not None
                      and sub.name in self._signers else signer_for(sub))
            return WebhookChannel(sub, signer, concurrency=self.settings.concurrency,
                                  resolver=self._resolver)
        if self._redis is None:
            if not self._redis_url:
                from hotline12345.env import REDIS_URL_ENV

                raise SecretProblem(f"feeds[{sub.name}]: a redis_stream subscription needs "
                                    f"Redis: set {REDIS_URL_ENV}")
            import redis.asyncio as aioredis

            self._redis = aioredis.Redis.from_url(self._redis_url)
            self._own_redis = True
        return RedisStreamChannel(sub, self._redis)

    async def start(self) -> None:
        """Start one task per subscription that can run."""
        for sub in self.subscriptions:
            try:
                channel = self._channel(sub)
            except SecretProblem as exc:
                self.problems[sub.name] = str(exc)
                log_event(log, "feed.subscription.disabled", logging.ERROR,
                          subscription=sub.name, error=str(exc))
                continue
            worker = _Worker(self, sub, channel)
            self._workers.append(worker)
            self._tasks.append(asyncio.create_task(worker.run(), name=f"feed:{sub.name}"))
        if self._workers:
            self._tasks.append(asyncio.create_task(self._heartbeat(), name="feed:leases"))
        log_event(log, "feed.sender.started", subscriptions=len(self._workers),
                  disabled=len(self.problems), owner=self.owner)

    async def _heartbeat(self) -> None:
        """Renew this sender's leases every third of their length, so that a long round
        (slow receivers) does not lose them."""
        while True:
            await asyncio.sleep(self.settings.lease_s / 3)
            try:
                await self.in_db(functools.partial(
                    renew_leases, owner=self.owner, now=self.clock(),
                    lease_s=self.settings.lease_s), commit=True)
            except SQLAlchemyError as exc:
                log_event(log, "feed.db.failed", logging.WARNING, error=error_text(exc))

    def nudge(self) -> None:
        """Look for new events now (call after committing a transition)."""
        for worker in self._workers:
            worker.wake.set()

    async def stop(self) -> None:
        """Stop every task; what was in flight is sent again by the next sender."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        for worker in self._workers:
            await worker.channel.close()
        if self._workers:
            try:
                await self.in_db(functools.partial(release_leases, owner=self.owner),
                                 commit=True)
            except SQLAlchemyError as exc:  # a standby takes over when the lease runs out
                log_event(log, "feed.db.failed", logging.WARNING, error=error_text(exc))
        self._workers.clear()
        if self._own_redis and self._redis is not None:
            await self._redis.aclose()
            self._redis = None
        await asyncio.get_running_loop().run_in_executor(None, self._db.shutdown)
        self._engine.dispose()

    async def __aenter__(self) -> FeedSender:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.stop()
