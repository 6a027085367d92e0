"""A sender killed in the middle of deliveries (SIGKILL of its process, or its tasks
cancelled) loses nothing: the next one resumes from the outbox, and what was in flight
is sent again with the same id and body (at least once, in order per ticket). A sender
that is stopped records what got through first, so it sends nothing twice."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from hotline12345.config.schema import FeedSubscription
from hotline12345.db.engine import make_engine
from hotline12345.sharing.models import FeedDelivery, FeedOutbox
from hotline12345.sharing.retry import Backoff
from hotline12345.sharing.sender import FeedSender, SenderSettings
from hotline12345.sharing.signing import Signer, new_secret
from hotline12345.sharing.store import status
from tests.waiting import until

from .conftest import Receiver, events, record, webhook

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = SenderSettings(poll_s=0.02, batch=10, concurrency=4,
                          backoff=Backoff(base_s=0.01, cap_s=0.05))


def statuses(url: str) -> list[str]:
    engine = make_engine(url)
    try:
        with Session(engine) as s:
            return list(s.scalars(select(FeedDelivery.status)))
    finally:
        engine.dispose()


def sender_of(url: str, sub: FeedSubscription) -> str | None:
    engine = make_engine(url)
    try:
        with Session(engine) as s:
            (line,) = status(s, [sub])
            return line.sender
    finally:
        engine.dispose()


def bodies(url: str) -> dict[str, bytes]:
    engine = make_engine(url)
    try:
        with Session(engine) as s:
            return {r.event_id: r.body.encode() for r in s.scalars(select(FeedOutbox))}
    finally:
        engine.dispose()


def check_everything_arrived(url: str, receiver: Receiver, tickets: int, per_ticket: int
                             ) -> None:
    stored = bodies(url)
    arrived: dict[str, bytes] = {}
    order: dict[int, list[int]] = defaultdict(list)
    for request in receiver.accepted:
        event_id = request.headers["webhook-id"]
        assert request.body == stored[event_id]
        assert arrived.setdefault(event_id, request.body) == request.body
        data = json.loads(request.body)["data"]
        order[data["ticket_id"]].append(data["seq"])
    assert set(arrived) == set(stored)
    assert len(order) == tickets
    for seqs in order.values():
        # in order per ticket: each event first arrives after all the earlier ones; what
        # was in flight when the sender died may come again (same id and body)
        assert list(dict.fromkeys(seqs)) == list(range(1, per_ticket + 1)), seqs


async def test_a_killed_sender_process_resumes_from_the_outbox(db_url: str,
                                                               receiver: Receiver) -> None:
    secret = new_secret()
    sub = webhook("killed", receiver.url, timeout_s=30)
    record(db_url, [sub], events(tickets=8, per_ticket=5))
    receiver.slow_after = 8  # the next requests stay in flight ...
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.sharing.sender_process", db_url, receiver.url, secret,
        cwd=ROOT, stdout=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert process.stdout is not None
        assert await asyncio.wait_for(process.stdout.readline(), 60) == b"started\n"
        await until(lambda: any(r.mode == "slow" for r in receiver.requests))
        process.send_signal(signal.SIGKILL)  # ... when the sender dies
        assert await asyncio.wait_for(process.wait(), 30) == -signal.SIGKILL
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert "pending" in statuses(db_url)
    receiver.slow_after = None
    receiver.release.set()
    receiver.mode = "ok"
    async with FeedSender(db_url, [sub], settings=SETTINGS,
                          signers={"killed": Signer([secret])}):
        await until(lambda: set(statuses(db_url)) == {"delivered"}, timeout=30)
    check_everything_arrived(db_url, receiver, tickets=8, per_ticket=5)


async def test_a_cancelled_sender_resumes(sqlite_url: str, receiver: Receiver) -> None:
    secret = new_secret()
    sub = webhook("cancelled", receiver.url, timeout_s=30)
    record(sqlite_url, [sub], events(tickets=6, per_ticket=4))
    receiver.slow_after = 5
    first = FeedSender(sqlite_url, [sub], settings=SETTINGS,
                       signers={"cancelled": Signer([secret])})
    await first.start()
    await until(lambda: any(r.mode == "slow" for r in receiver.requests))
    await first.stop()  # cancels the task with deliveries in flight
    in_flight = {r.headers["webhook-id"] for r in receiver.requests if r.mode == "slow"}
    receiver.slow_after = None
    receiver.release.set()
    receiver.mode = "ok"
    assert "pending" in statuses(sqlite_url)
    async with FeedSender(sqlite_url, [sub], settings=SETTINGS,
                          signers={"cancelled": Signer([secret])}):
        await until(lambda: set(statuses(sqlite_url)) == {"delivered"}, timeout=30)
    check_everything_arrived(sqlite_url, receiver, tickets=6, per_ticket=4)
    accepted = [r.headers["webhook-id"] for r in receiver.accepted]
    # only what was in flight went twice (it was not accepted the first time, either)
    assert len(accepted) == len(set(accepted)) == 24
    assert in_flight


async def test_two_senders_on_one_database_send_once(db_url: str, receiver: Receiver) -> None:
    """Two controllers' senders: the one holding the lease sends, the other stands by and
    takes over as soon as the first stops."""
    sub = webhook("shared", receiver.url)
    secret = new_secret()
    settings = SenderSettings(poll_s=0.02, lease_s=10.0,
                              backoff=Backoff(base_s=0.01, cap_s=0.05))
    record(db_url, [sub], events(tickets=4, per_ticket=3))
    first = FeedSender(db_url, [sub], settings=settings, signers={"shared": Signer([secret])})
    second = FeedSender(db_url, [sub], settings=settings, signers={"shared": Signer([secret])})
    await first.start()
    try:
        await until(lambda: len(receiver.accepted) >= 1)  # the first holds the lease
        await second.start()
        await until(lambda: set(statuses(db_url)) == {"delivered"})
        assert sender_of(db_url, sub) == first.owner != second.owner
        await first.stop()  # gives the lease up: the second sends from now on
        record(db_url, [sub], events(tickets=2, per_ticket=2, first_ticket=10))
        await until(lambda: len(statuses(db_url)) == 16
                    and set(statuses(db_url)) == {"delivered"})
        assert sender_of(db_url, sub) == second.owner
    finally:
        await first.stop()
        await second.stop()
    ids = [r.headers["webhook-id"] for r in receiver.accepted]
    assert len(ids) == len(set(ids)) == 16  # one sender at a time: nothing sent twice
