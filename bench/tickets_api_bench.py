"""Ticket API benchmark: transitions per second through HTTP (``POST
/api/tickets/{id}/actions/{action}``), each one a locked read, the lifecycle check, the
history row and a commit, as a browser or a script makes them.

Seeds ``--tickets`` tickets (受理), then takes each round the loop's first three steps over
the API — 派单 (as 班长), 签收 and 答复 (as the department's 承办单位) — ``--concurrency``
tickets at a time, and prints transitions per second of wall-clock time. PostgreSQL by
default (a database of its own at 127.0.0.1:5432, dropped afterwards); ``--url`` for another
(empty) database, e.g. ``sqlite:////tmp/bench.sqlite3``.

    .venv/bin/python bench/tickets_api_bench.py [--tickets 300] [--concurrency 8]

The last line is ``key=value`` pairs, ``transitions_per_s`` first.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import aiohttp
from sqlalchemy import text
from sqlalchemy.orm import sessionmaker

from hotline12345.agents.service import start_agents_services
from hotline12345.agents.store import MemoryStore
from hotline12345.agents.tickets_access import TicketsAccess
from hotline12345.config.schema import TicketLoopSettings
from hotline12345.db.engine import make_engine
from hotline12345.db.migrate import upgrade
from hotline12345.tickets.deadlines import DeadlinePolicy
from hotline12345.tickets.store import TicketDraft, save_ticket
from hotline12345.tickets.workdays import WorkCalendar
from hotline12345.tickets.workflow import Workflow

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
DEPARTMENT = "市场监督管理局"
PASSWORD = "bench-pass-1"


def seed(url: str, count: int) -> list[int]:
    engine = make_engine(url)
    ids = []
    with sessionmaker(engine)() as session:
        for i in range(count):
            ticket_id, _ = save_ticket(session, TicketDraft(
                uniqueid=f"bench.{i}", caller=f"138{i:08d}", category="消费投诉",
                transcript="来电人：超市卖过期牛奶"), now=datetime.now(UTC))
            ids.append(ticket_id)
        session.commit()
    engine.dispose()
    return ids


async def login(session: aiohttp.ClientSession, user: str) -> dict[str, str]:
    r = await session.post("/api/login", json={"user": user, "password": PASSWORD})
    r.raise_for_status()
    me = await (await session.get("/api/me")).json()
    return {"X-CSRF-Token": me["csrf"]}


async def run(url: str, tickets: int, concurrency: int) -> tuple[int, float]:
    ids = seed(url, tickets)
    settings = TicketLoopSettings()
    workflow = Workflow(DeadlinePolicy(settings, WorkCalendar()), settings,
                        departments=[DEPARTMENT])
    engine = make_engine(url)
    access = TicketsAccess(workflow, sessionmaker(engine, expire_on_commit=False),
                           [DEPARTMENT])
    with tempfile.TemporaryDirectory() as data:
        services = await start_agents_services(
            {}, Path(data), "127.0.0.1", 0, env={"HOTLINE12345_ADMIN_PASSWORD": PASSWORD},
            ami=None, store=MemoryStore(), database_url=url, bcrypt_rounds=4,
            say=lambda line: None, tickets=access)
        services.users.set("boss", PASSWORD, "supervisor")
        services.users.set("market", PASSWORD, "handler", department=DEPARTMENT)
        jar = aiohttp.CookieJar(unsafe=True)
        other = aiohttp.CookieJar(unsafe=True)
        limits = aiohttp.TCPConnector(limit=concurrency * 2)
        try:
            async with aiohttp.ClientSession(services.url, cookie_jar=jar,
                                             connector=limits) as boss, \
                    aiohttp.ClientSession(services.url, cookie_jar=other) as market:
                boss_h, market_h = await login(boss, "boss"), await login(market, "market")
                gate = asyncio.Semaphore(concurrency)

                async def act(s: aiohttp.ClientSession, h: dict[str, str], tid: int,
                              action: str, body: dict[str, str]) -> None:
                    r = await s.post(f"/api/tickets/{tid}/actions/{quote(action)}",
                                     json=body, headers=h)
                    if r.status != 200:
                        raise RuntimeError(f"{action} on {tid}: {r.status} {await r.text()}")

                async def loop(tid: int) -> None:
                    async with gate:
                        await act(boss, boss_h, tid, "派单", {"department": DEPARTMENT})
                        await act(market, market_h, tid, "签收", {})
                        await act(market, market_h, tid, "答复", {"reply": "已处理"})

                start = time.perf_counter()
                await asyncio.gather(*(loop(t) for t in ids))
                elapsed = time.perf_counter() - start
        finally:
            await services.close()
            engine.dispose()
    return 3 * len(ids), elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tickets", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--url", default=None, help="an empty database (default: a fresh "
                        "PostgreSQL database at 127.0.0.1:5432, dropped afterwards)")
    args = parser.parse_args()
    url, name = args.url, None
    admin = None
    if url is None:
        name = f"hotline12345_apibench_{uuid.uuid4().hex[:10]}"
        admin = make_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    try:
        upgrade(url)
        transitions, elapsed = asyncio.run(run(url, args.tickets, args.concurrency))
    finally:
        if admin is not None:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
    kind = url.split(":", 1)[0].split("+", 1)[0]
    print(f"{transitions} transitions (派单, 签收, 答复 on {args.tickets} tickets) over HTTP in "
          f"{elapsed:.2f} s, {args.concurrency} tickets at a time, on {kind}")
    print(f"transitions_per_s={transitions / elapsed:.1f} tickets={args.tickets} "
          f"concurrency={args.concurrency} database={kind}")


if __name__ == "__main__":
    main()
