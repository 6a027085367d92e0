"""Fixtures for the feeds' tests: a database per test (SQLite, and PostgreSQL in a
database of its own for the session), Redis keys under a unique prefix, ticket events,
and a real HTTP receiver whose behaviour the test switches (down, slow, 500, fine)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from sqlalchemy import text
from sqlalchemy.orm import Session

from hotline12345.config.loader import default_site_path
from hotline12345.config.schema import FeedKind, FeedSubscription
from hotline12345.db.engine import make_engine
from hotline12345.db.migrate import upgrade
from hotline12345.sharing.outbox import Outbox
from hotline12345.tickets.events import TicketEvent
from tests.databases import new_pg_database

REDIS_URL = "redis://127.0.0.1:6379/3"
FEED_TABLES = "feed_audit, feed_cursors, feed_deliveries, feed_outbox"
CALLER = "13912345678"
T0 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


def ticket_event(kind: str, ticket_id: int, history_seq: int, at: datetime,
                 **fields: Any) -> TicketEvent:
    """A ticket event as the workflow makes it; the fields not given are a dispatched
    consumer complaint (消费投诉) of the market regulator with the caller's number."""
    values: dict[str, Any] = {
        "action": "派单", "state": "待签收", "department": "市场监督管理局",
        "category": "消费投诉", "legacy_number": "12315", "caller": CALLER,
        "deadlines": {"sign_due": "2026-12-07T13:00:00+08:00", "answer_due": None,
                      "revisit_due": None}}
    values.update(fields)
    return TicketEvent(kind=kind, ticket_id=ticket_id, history_seq=history_seq, at=at,
                       **values)


KINDS = ("created", "dispatched", "signed", "answered", "closed", "rated")


def events(tickets: int, per_ticket: int, department: str = "市场监督管理局",
           first_ticket: int = 1) -> list[TicketEvent]:
    """``per_ticket`` events for each of ``tickets`` tickets, interleaved as they would
    happen (ticket 1's first, ticket 2's first, ..., ticket 1's second, ...)."""
    out = []
    for seq in range(1, per_ticket + 1):
        for t in range(first_ticket, first_ticket + tickets):
            out.append(ticket_event(KINDS[(seq - 1) % len(KINDS)], t, seq,
                                    T0 + timedelta(minutes=seq), department=department))
    return out


def record(url: str, subscriptions: Sequence[FeedSubscription], batch: Sequence[TicketEvent],
           clock: Any = None) -> None:
    """Record ``batch`` through the outbox listener, one transaction per event (as the
    workflow does)."""
    outbox = Outbox(subscriptions) if clock is None else Outbox(subscriptions, clock)
    engine = make_engine(url)
    try:
        for event in batch:
            with Session(engine) as session:
                outbox.record(session, event)
                session.commit()
    finally:
        engine.dispose()


def webhook(name: str, url: str, **kw: Any) -> FeedSubscription:
    kw.setdefault("department", "市场监督管理局")
    kw.setdefault("allow_private_targets", True)
    kw.setdefault("timeout_s", 0.5)
    return FeedSubscription(name=name, kind=FeedKind.WEBHOOK, url=url, **kw)


def site_with_feeds(directory: Path, subscriptions: Sequence[FeedSubscription]) -> Path:
    """The shipped default site with ``subscriptions`` as its ``feeds:``."""
    lines = [default_site_path().read_text(encoding="utf-8").rstrip("\n"), "feeds:"]
    for sub in subscriptions:
        lines += [f"  - name: {sub.name}", f"    department: {sub.department}",
                  f"    kind: {sub.kind.value}"]
        if sub.url:
            lines.append(f"    url: {sub.url}")
        if sub.allow_private_targets:
            lines.append("    allow_private_targets: true")
        if sub.full_numbers:
            lines.append("    full_numbers: true")
        if sub.stream:
            lines.append(f"    stream: {sub.stream}")
        if sub.events:
            lines.append(f"    events: [{', '.join(sub.events)}]")
    path = directory / "site.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# --- databases -----------------------------------------------------------------------------

@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    with new_pg_database("feed") as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'hotline12345.sqlite3'}"
        upgrade(url)
        return url
    pg_url: str = request.getfixturevalue("pg_database")
    engine = make_engine(pg_url)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {FEED_TABLES} RESTART IDENTITY CASCADE"))
    engine.dispose()
    return pg_url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'hotline12345.sqlite3'}"
    upgrade(url)
    return url


@pytest.fixture
async def redis_client() -> AsyncIterator[Any]:
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(REDIS_URL)
    try:
        await client.ping()
    except Exception as exc:
        pytest.fail(f"Redis at 127.0.0.1:6379 is needed: {exc}; run scripts/system-deps.sh")
    prefix = f"test:feed:{uuid.uuid4().hex[:10]}"
    client.test_prefix = prefix  # type: ignore[attr-defined]
    yield client
    async for key in client.scan_iter(f"{prefix}:*"):
        await client.delete(key)
    await client.aclose()


# --- the receiver --------------------------------------------------------------------------

@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    mode: str
    status: int


class Receiver:
    """A real HTTP server on 127.0.0.1. ``mode``: ``ok`` (204), ``slow`` (answers only
    once ``release`` is set), ``error`` (500). ``slow_after = n`` turns it ``slow`` by
    itself once it has accepted ``n`` requests, so a test can hold deliveries in flight
    however fast the sender is. ``down()``/``up()`` stop and start it on the same port.
    Every request is kept in ``requests``; ``accepted`` holds the 2xx ones."""

    def __init__(self) -> None:
        self.mode = "ok"
        self.slow_after: int | None = None
        self.requests: list[Received] = []
        self.release = asyncio.Event()
        self.port = 0
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    @property
    def accepted(self) -> list[Received]:
        return [r for r in self.requests if 200 <= r.status < 300]

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        if self.slow_after is not None and len(self.accepted) >= self.slow_after:
            self.mode = "slow"
        mode = self.mode
        if mode == "slow":
            self.requests.append(Received(dict(request.headers), body, mode, 0))
            await self.release.wait()
            return web.Response(status=503)
        status = 204 if mode == "ok" else 500
        self.requests.append(Received(dict(request.headers), body, mode, status))
        return web.Response(status=status)

    async def up(self) -> None:
        app = web.Application()
        app.router.add_post("/hook", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()
        if self.port == 0:
            self.port = int(self._runner.addresses[0][1])

    async def down(self) -> None:
        if self._runner is not None:
            self.release.set()
            await self._runner.cleanup()
            self._runner = None
            self.release = asyncio.Event()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = Receiver()
    await r.up()
    try:
        yield r
    finally:
        await r.down()
