"""``hotline12345 serve`` runs the feeds: a webhook subscription is sent to, a pull
subscription is served at /api/feed, a subscription without its secret is named at start,
and a transition made through the ticket API reaches the webhook."""

from __future__ import annotations

import asyncio
import base64
import os
import re
import signal
import sys
from pathlib import Path

import aiohttp
from sqlalchemy.orm import Session
from standardwebhooks.webhooks import Webhook

from hotline12345.config.schema import FeedKind, FeedSubscription
from hotline12345.db.engine import make_engine
from hotline12345.sharing.signing import new_secret
from hotline12345.tickets.store import TicketDraft, save_ticket
from tests.waiting import until

from .conftest import Receiver, events, record, site_with_feeds, webhook

EXE = Path(sys.executable).with_name("hotline12345")
CMD = [str(EXE)] if EXE.exists() else [sys.executable, "-m", "hotline12345.cli"]
PASSWORD = "test-only-password"


def _new_ticket(url: str) -> int:
    """A ticket as the recordings pipeline files it (受理)."""
    engine = make_engine(url)
    try:
        with Session(engine) as session, session.begin():
            ticket_id, _ = save_ticket(session, TicketDraft(
                uniqueid="serve-feed.1", caller="13900139000", category="消费投诉"))
            return ticket_id
    finally:
        engine.dispose()


async def _line(stream: asyncio.StreamReader, pattern: str, seen: list[str]) -> re.Match[str]:
    while True:
        raw = await asyncio.wait_for(stream.readline(), 60)
        if not raw:
            raise AssertionError(f"serve ended before {pattern!r}: {''.join(seen)}")
        seen.append(raw.decode())
        found = re.search(pattern, seen[-1])
        if found:
            return found


async def test_serve_sends_and_serves_the_feeds(tmp_path: Path, receiver: Receiver) -> None:
    secret = new_secret()
    subs = [webhook("market-hook", receiver.url),
            webhook("no-secret", receiver.url),
            FeedSubscription(name="market-pull", department="市场监督管理局",
                             kind=FeedKind.PULL)]
    env = dict(os.environ, HOTLINE12345_DATA_DIR=str(tmp_path),
               HOTLINE12345_ADMIN_PASSWORD=PASSWORD,
               HOTLINE12345_FEED_MARKET_HOOK_SECRET=secret)
    for key in ("HOTLINE12345_AMI_HOST", "HOTLINE12345_REDIS_URL", "HOTLINE12345_DATABASE_URL",
                "HOTLINE12345_FEED_NO_SECRET_SECRET", "HOTLINE12345_FEED_NO_SECRET_SECRET_FILE"):
        env.pop(key, None)
    serve = await asyncio.create_subprocess_exec(
        *CMD, "serve", "--config", str(site_with_feeds(tmp_path, subs)), "--agi-port", "0",
        "--http-port", "0", "--log-level", "ERROR", env=env, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    seen: list[str] = []
    try:
        assert serve.stderr is not None and serve.stdout is not None
        said = await _line(serve.stderr, r"feeds: sending to (.*)", seen)
        assert said.group(1) == "market-hook"
        await _line(serve.stderr, r"feed no-secret is not sent: .*set "
                    r"HOTLINE12345_FEED_NO_SECRET_SECRET", seen)
        await _line(serve.stderr, r"GET /api/feed serves market-pull", seen)
        url = (await _line(serve.stdout, r"wallboard: (http://\S+)", seen)).group(1)
        record(f"sqlite:///{tmp_path / 'hotline12345.sqlite3'}", subs,
               events(tickets=2, per_ticket=2, first_ticket=1000))  # no real tickets' ids
        await until(lambda: len(receiver.accepted) == 4, timeout=30)
        for request in receiver.accepted:
            Webhook(secret).verify(request.body, request.headers)
        basic = base64.b64encode(f"admin:{PASSWORD}".encode()).decode()
        async with aiohttp.ClientSession(headers={"Authorization": f"Basic {basic}"}) as http:
            r = await http.get(f"{url}api/feed", params={"subscription": "market-pull"})
            assert r.status == 200, await r.text()
            page = await r.json()
        assert sorted(e["id"] for e in page["events"]) == sorted(
            r.headers["webhook-id"] for r in receiver.accepted)
        # a transition through the ticket API reaches the feed (the workflow's listener)
        ticket_id = _new_ticket(f"sqlite:///{tmp_path / 'hotline12345.sqlite3'}")
        async with aiohttp.ClientSession(headers={"Authorization": f"Basic {basic}"}) as http:
            r = await http.post(f"{url}api/tickets/{ticket_id}/actions/dispatch",
                                json={"department": "市场监督管理局"})
            assert r.status == 200, await r.text()
        await until(lambda: f"ticket-{ticket_id}-2" in {
            r.headers["webhook-id"] for r in receiver.accepted}, timeout=30)
        dispatched = next(r for r in receiver.accepted
                          if r.headers["webhook-id"] == f"ticket-{ticket_id}-2")
        assert Webhook(secret).verify(dispatched.body, dispatched.headers)["type"] == \
            "ticket.dispatched"
    finally:
        if serve.returncode is None:
            serve.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(serve.wait(), 60) == 0
