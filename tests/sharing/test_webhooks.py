"""Webhooks to a real HTTP receiver: down, then slow, then 500, then fine; every event
arrives exactly as signed, at least once, in order per ticket; a slow receiver delays only
its own feed; the signatures verify with the standardwebhooks reference code, with either
secret during a rotation; after retry_hours a delivery is dead, and replay brings it back."""

from __future__ import annotations

import json
import os
import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from hotline12345.cli import main
from hotline12345.config.schema import FeedSubscription
from hotline12345.db.engine import make_engine
from hotline12345.sharing.models import FeedDelivery, FeedOutbox
from hotline12345.sharing.retry import Backoff
from hotline12345.sharing.sender import FeedSender, SenderSettings
from hotline12345.sharing.signing import Signer, new_secret
from hotline12345.sharing.store import status
from tests.waiting import until

from .conftest import Receiver, events, record, site_with_feeds, webhook

FAST = SenderSettings(poll_s=0.02, batch=50, concurrency=4,
                      backoff=Backoff(base_s=0.01, cap_s=0.05))


def deliveries(url: str, subscription: str) -> list[FeedDelivery]:
    engine = make_engine(url)
    try:
        with Session(engine) as s:
            return list(s.scalars(select(FeedDelivery)
                                  .where(FeedDelivery.subscription == subscription)
                                  .order_by(FeedDelivery.outbox_id)))
    finally:
        engine.dispose()


def stored_bodies(url: str) -> dict[str, bytes]:
    engine = make_engine(url)
    try:
        with Session(engine) as s:
            return {row.event_id: row.body.encode() for row in s.scalars(select(FeedOutbox))}
    finally:
        engine.dispose()


def error_seen(url: str, subscription: str, text: str) -> bool:
    return any(text in (d.last_error or "") for d in deliveries(url, subscription))


def all_delivered(url: str, subscription: str, count: int) -> bool:
    rows = deliveries(url, subscription)
    return len(rows) == count and all(d.status == "delivered" for d in rows)


async def test_down_slow_500_then_recovered(db_url: str, receiver: Receiver) -> None:
    secret = new_secret()
    slow = webhook("slow", receiver.url, timeout_s=0.3)
    other = Receiver()
    await other.up()
    fast = webhook("fast", other.url)
    batch = events(tickets=5, per_ticket=6)
    record(db_url, [slow, fast], batch)
    await receiver.down()  # 1. down: nothing listens on the port
    sender = FeedSender(db_url, [slow, fast], settings=FAST,
                        signers={"slow": Signer([secret]), "fast": Signer([new_secret()])})
    try:
        await sender.start()
        await until(lambda: error_seen(db_url, "slow", "cannot connect"))
        receiver.mode = "slow"  # 2. slow: answers after the sender's timeout
        await receiver.up()
        await until(lambda: error_seen(db_url, "slow", "no answer within 0.3 s"))
        # the slow receiver held only its own feed: the other one has everything
        await until(lambda: all_delivered(db_url, "fast", len(batch)))
        assert not receiver.accepted
        receiver.mode = "error"  # 3. HTTP 500
        receiver.release.set()
        await until(lambda: error_seen(db_url, "slow", "HTTP 500"))
        receiver.mode = "ok"  # 4. recovered
        await until(lambda: all_delivered(db_url, "slow", len(batch)), timeout=30)
    finally:
        await sender.stop()
        await other.down()
    bodies = stored_bodies(db_url)
    assert {"slow", "error", "ok"} <= {r.mode for r in receiver.requests}
    seen: dict[str, bytes] = {}
    order: dict[int, list[int]] = defaultdict(list)
    for request in receiver.accepted:
        event_id = request.headers["webhook-id"]
        assert request.body == bodies[event_id]  # exactly the stored bytes
        assert seen.setdefault(event_id, request.body) == request.body  # one id, one event
        payload = Webhook(secret).verify(request.body, request.headers)
        order[payload["data"]["ticket_id"]].append(payload["data"]["seq"])
    assert set(seen) == set(bodies)  # every event, at least once
    for ticket, seqs in order.items():  # in order per ticket, a repeat being the same event
        assert list(dict.fromkeys(seqs)) == list(range(1, 7)), (ticket, seqs)
    for request in receiver.requests:  # the failed attempts carried the same event too
        assert request.body == bodies[request.headers["webhook-id"]]


async def test_rotation_signs_with_both_secrets(sqlite_url: str, receiver: Receiver) -> None:
    old, new, stranger = new_secret(), new_secret(), new_secret()
    sub = webhook("rotating", receiver.url)
    record(sqlite_url, [sub], events(tickets=1, per_ticket=2))
    async with FeedSender(sqlite_url, [sub], settings=FAST, signers={"rotating":
                                                                      Signer([new, old])}):
        await until(lambda: len(receiver.accepted) == 2)
    for request in receiver.accepted:
        signatures = request.headers["webhook-signature"].split(" ")
        assert len(signatures) == 2 and all(s.startswith("v1,") for s in signatures)
        assert Webhook(old).verify(request.body, request.headers)  # a receiver not yet moved
        assert Webhook(new).verify(request.body, request.headers)  # one that has
        with pytest.raises(WebhookVerificationError):
            Webhook(stranger).verify(request.body, request.headers)
        assert json.loads(request.body)["data"]["caller"] == "139****5678"


async def test_secrets_from_the_environment(sqlite_url: str, receiver: Receiver,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    current, previous = new_secret(), new_secret()
    sub = webhook("env-sub", receiver.url)
    monkeypatch.setenv("HOTLINE12345_FEED_ENV_SUB_SECRET", current)
    monkeypatch.setenv("HOTLINE12345_FEED_ENV_SUB_SECRET_PREVIOUS", previous)
    record(sqlite_url, [sub], events(tickets=1, per_ticket=1))
    async with FeedSender(sqlite_url, [sub], settings=FAST) as sender:
        await until(lambda: len(receiver.accepted) == 1)
        assert sender.problems == {}
    request = receiver.accepted[0]
    Webhook(current).verify(request.body, request.headers)
    Webhook(previous).verify(request.body, request.headers)


async def test_a_missing_or_bad_secret_disables_only_its_subscription(
        sqlite_url: str, receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> None:
    good = webhook("good", receiver.url)
    missing = webhook("missing", receiver.url)
    bad = webhook("bad", receiver.url)
    monkeypatch.setenv("HOTLINE12345_FEED_GOOD_SECRET", new_secret())
    if "HOTLINE12345_FEED_MISSING_SECRET" in os.environ:  # the subscription's secret is unset
        monkeypatch.delenv("HOTLINE12345_FEED_MISSING_SECRET")
    monkeypatch.setenv("HOTLINE12345_FEED_BAD_SECRET", "whsec_c2hvcnQ=")
    record(sqlite_url, [good, missing, bad], events(tickets=1, per_ticket=1))
    async with FeedSender(sqlite_url, [good, missing, bad], settings=FAST) as sender:
        await until(lambda: len(receiver.accepted) == 1)
        assert set(sender.problems) == {"missing", "bad"}
        assert "set HOTLINE12345_FEED_MISSING_SECRET" in sender.problems["missing"]
        assert "HOTLINE12345_FEED_BAD_SECRET" in sender.problems["bad"]
        assert "24 to 64" in sender.problems["bad"]
    assert [d.status for d in deliveries(sqlite_url, "missing")] == ["pending"]


class Clock:
    """A clock the test moves."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


async def test_retried_for_24_hours_then_dead_then_replayed(db_url: str, receiver: Receiver,
                                                            tmp_path: Path) -> None:
    clock = Clock(datetime(2026, 12, 7, 1, 0, tzinfo=UTC))
    sub = webhook("flaky", receiver.url)
    receiver.mode = "error"
    record(db_url, [sub], events(tickets=2, per_ticket=1), clock=clock)
    settings = SenderSettings(poll_s=0.02, backoff=Backoff(base_s=60, cap_s=3600))
    sender = FeedSender(db_url, [sub], settings=settings, clock=clock, rng=random.Random(7),
                        signers={"flaky": Signer([new_secret()])})
    async with sender:
        await until(lambda: all(d.attempts for d in deliveries(db_url, "flaky")))
        rows = deliveries(db_url, "flaky")
        assert all(d.status == "pending" and d.attempts >= 1 for d in rows)
        assert all(timedelta(0) <= d.next_attempt_at - clock.now <= timedelta(seconds=60)
                   for d in rows)  # full jitter under the first ceiling
        for hour in range(1, 25):  # a day of retries, none of them more than an hour apart
            clock.now += timedelta(hours=1)
            tried = len(receiver.requests)
            await until(lambda t=tried: len(receiver.requests) >= t + 2)  # type: ignore[misc]
            if hour < 24:
                assert all(d.status == "pending" for d in deliveries(db_url, "flaky"))
        await until(lambda: all(d.status == "dead" for d in deliveries(db_url, "flaky")))
    engine = make_engine(db_url)
    with Session(engine) as s:
        (line,) = status(s, [sub])
    engine.dispose()
    assert (line.dead, line.pending, line.delivered) == (2, 0, 0)
    assert line.last_error == "HTTP 500 Internal Server Error"
    await _replay_dead(db_url, sub, receiver, site_with_feeds(tmp_path, [sub]))


async def _replay_dead(db_url: str, sub: FeedSubscription, receiver: Receiver,
                       site: Path) -> None:
    assert main(["feed", "replay", "--config", str(site), "--database-url", db_url,
                 "--subscription", "flaky", "--dead"]) == 0
    receiver.mode = "ok"
    async with FeedSender(db_url, [sub], settings=FAST,
                          signers={"flaky": Signer([new_secret()])}):
        await until(lambda: all(d.status == "delivered"
                                for d in deliveries(db_url, "flaky")))
    assert len(receiver.accepted) == 2
