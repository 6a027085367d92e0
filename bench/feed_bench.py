"""Feed delivery throughput: signed webhooks delivered per second from the outbox to a local
receiver, with 1 and with 50 subscriptions, beside the raw aiohttp client posting the same
bodies with the same concurrency (the floor the sender's bookkeeping adds to).

The receiver is a plain aiohttp server in a process of its own answering 204. The outbox
is filled first (one transaction per event, as transitions write it); the clock runs from
the sender's start until the receiver has counted every delivery and the database says
delivered. The raw client posts the stored bodies with a fixed header set, no database.

Run: .venv/bin/python bench/feed_bench.py [--events N] [--database-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from hotline12345.config.schema import FeedKind, FeedSubscription
from hotline12345.db.engine import make_engine
from hotline12345.db.migrate import upgrade
from hotline12345.sharing.models import FeedDelivery, FeedOutbox
from hotline12345.sharing.outbox import Outbox
from hotline12345.sharing.sender import FeedSender, SenderSettings
from hotline12345.sharing.signing import Signer, new_secret
from hotline12345.tickets.events import TicketEvent

RECEIVER = """
import sys
from aiohttp import web
count = 0
async def hook(request):
    global count
    await request.read()
    count += 1
    return web.Response(status=204)
async def counted(request):
    return web.Response(text=str(count))
app = web.Application()
app.router.add_post("/hook", hook)
app.router.add_get("/count", counted)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)
"""
CONCURRENCY = 8  # per subscription, the sender's default


def bench_event(ticket_id: int, seq: int) -> TicketEvent:
    """A dispatched consumer complaint, as the workflow makes its events."""
    return TicketEvent(kind="dispatched", ticket_id=ticket_id, history_seq=seq,
                       at=datetime(2026, 12, 7, 9, 0, tzinfo=UTC) + timedelta(seconds=seq),
                       action="派单", state="待签收", department="市场监督管理局",
                       category="消费投诉", legacy_number="12315", caller="13912345678",
                       deadlines={"sign_due": "2026-12-07T13:00:00+08:00"})


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def receiver_count(http: aiohttp.ClientSession, base: str) -> int:
    async with http.get(f"{base}/count") as r:
        return int(await r.text())


def fill(url: str, subs: list[FeedSubscription], events: int) -> list[bytes]:
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM feed_audit"))
        conn.execute(text("DELETE FROM feed_deliveries"))
        conn.execute(text("DELETE FROM feed_cursors"))
        conn.execute(text("DELETE FROM feed_outbox"))
    outbox = Outbox(subs)
    tickets = max(1, events // 5)
    for i in range(events):
        with Session(engine) as session:
            outbox.record(session, bench_event(i % tickets + 1, i // tickets + 1))
            session.commit()
    with Session(engine) as session:
        bodies = [b.encode() for b in session.scalars(select(FeedOutbox.body)
                                                      .order_by(FeedOutbox.id))]
    engine.dispose()
    return bodies


def delivered(url: str) -> int:
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            return int(session.scalar(select(func.count()).select_from(FeedDelivery)
                                      .where(FeedDelivery.status == "delivered")) or 0)
    finally:
        engine.dispose()


async def run_sender(url: str, subs: list[FeedSubscription], base: str, total: int) -> float:
    async with aiohttp.ClientSession() as http:
        before = await receiver_count(http, base)
        sender = FeedSender(url, subs, settings=SenderSettings(poll_s=0.01, batch=100,
                                                               concurrency=CONCURRENCY),
                            signers={s.name: Signer([new_secret()]) for s in subs})
        start = time.perf_counter()
        await sender.start()
        try:
            while await receiver_count(http, base) - before < total:
                await asyncio.sleep(0.005)
            while delivered(url) < total:
                await asyncio.sleep(0.005)
            return time.perf_counter() - start
        finally:
            await sender.stop()


async def run_raw(bodies: list[bytes], subscriptions: int, hook: str) -> float:
    headers = {"content-type": "application/json", "webhook-id": "bench",
               "webhook-timestamp": "1796600000", "webhook-signature": "v1,bench"}

    async def one_subscription() -> None:
        connector = aiohttp.TCPConnector(limit=CONCURRENCY)
        async with aiohttp.ClientSession(connector=connector) as http:
            slots = asyncio.Semaphore(CONCURRENCY)

            async def post(body: bytes) -> None:
                async with slots, http.post(hook, data=body, headers=headers) as r:
                    await r.read()
                    assert r.status == 204

            await asyncio.gather(*(post(b) for b in bodies))

    start = time.perf_counter()
    await asyncio.gather(*(one_subscription() for _ in range(subscriptions)))
    return time.perf_counter() - start


async def main_async(args: argparse.Namespace, url: str) -> dict[str, str]:
    port = free_port()
    receiver = subprocess.Popen([sys.executable, "-c", RECEIVER, str(port)])
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(500):
                try:
                    await receiver_count(http, base)
                    break
                except aiohttp.ClientError:
                    await asyncio.sleep(0.02)
        results: dict[str, str] = {}
        for count, events in ((1, args.events), (50, max(1, args.events // 10))):
            subs = [FeedSubscription(name=f"bench-{i}", department="市场监督管理局",
                                     kind=FeedKind.WEBHOOK, url=f"{base}/hook",
                                     allow_private_targets=True) for i in range(count)]
            bodies = fill(url, subs, events)
            total = events * count
            took = await run_sender(url, subs, base, total)
            raw = await run_raw(bodies, count, f"{base}/hook")
            feed_rate, raw_rate = total / took, total / raw
            print(f"{count:>2} subscription(s), {events} events, {total} deliveries: "
                  f"feed {feed_rate:8.0f}/s ({took:.2f} s)   raw aiohttp {raw_rate:8.0f}/s "
                  f"({raw:.2f} s)   feed/raw {feed_rate / raw_rate:.2f}")
            results[f"feed_{count}sub_per_s"] = f"{feed_rate:.0f}"
            results[f"raw_{count}sub_per_s"] = f"{raw_rate:.0f}"
            results[f"ratio_{count}sub"] = f"{feed_rate / raw_rate:.2f}"
        return results
    finally:
        receiver.terminate()
        receiver.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=2000,
                        help="events with 1 subscription (a tenth of them with 50)")
    parser.add_argument("--database-url", help="default: SQLite in a temporary directory")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'bench.sqlite3'}"
        upgrade(url)
        db = url.split(":", 1)[0]
        results = asyncio.run(main_async(args, url))
    print(" ".join([f"database={db}", f"events={args.events}",
                    *(f"{k}={v}" for k, v in results.items())]))


if __name__ == "__main__":
    main()
