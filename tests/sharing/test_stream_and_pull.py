"""Redis Stream and the pull API carry the same events in the same order; the pull cursor
skips nothing when transactions commit out of order (PostgreSQL); reading moves the
delivered count; the HTTP API's errors name the field."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from hotline12345.agents.service import AgentsServices, start_agents_services
from hotline12345.agents.store import MemoryStore
from hotline12345.config.schema import FeedKind, FeedSubscription
from hotline12345.db.engine import make_engine
from hotline12345.sharing.models import FeedAudit, FeedDelivery
from hotline12345.sharing.outbox import Outbox
from hotline12345.sharing.pull import CursorAhead, PullFeeds, read_page
from hotline12345.sharing.sender import FeedSender, SenderSettings
from hotline12345.sharing.store import status
from tests.waiting import until

from .conftest import CALLER, T0, events, record, ticket_event

MARKET = "市场监督管理局"
ADMIN_PASSWORD = "admin-pass-1"
BASIC = {"Authorization": "Basic " + base64.b64encode(f"admin:{ADMIN_PASSWORD}".encode()).decode()}


def pull(name: str, **kw: Any) -> FeedSubscription:
    return FeedSubscription(name=name, department=kw.pop("department", MARKET),
                            kind=FeedKind.PULL, **kw)


def read_all(url: str, sub: FeedSubscription, limit: int = 7) -> list[dict[str, Any]]:
    """Every event of a pull subscription, page by page."""
    feeds = PullFeeds(url, [sub])
    out: list[dict[str, Any]] = []
    after = 0
    try:
        while True:
            page = feeds.read(sub, after, limit, "tester")
            if not page.events:
                return out
            out += page.events
            after = page.next
    finally:
        feeds.close()


async def test_redis_stream_and_pull_return_the_same_events(db_url: str,
                                                            redis_client: Any) -> None:
    stream = FeedSubscription(name="stream", department=MARKET, kind=FeedKind.REDIS_STREAM,
                              stream=f"{redis_client.test_prefix}:market")
    puller = pull("pull")
    batch = events(tickets=4, per_ticket=5)
    record(db_url, [stream, puller], batch)
    sender = FeedSender(db_url, [stream, puller], redis=redis_client,
                        settings=SenderSettings(poll_s=0.02))
    async with sender:
        await until(lambda: _delivered(db_url, "stream") == len(batch))
    entries = await redis_client.xrange(stream.stream_key)
    from_stream = [(f[b"id"].decode(), json.loads(f[b"body"])) for _, f in entries]
    from_pull = [(e["id"], e["event"]) for e in read_all(db_url, puller)]
    assert len(from_stream) == len(batch)
    assert from_stream == from_pull
    assert [i for i, _ in from_pull] == [f"ticket-{e.ticket_id}-{e.history_seq}"
                                         for e in batch]
    assert all(body["data"]["caller"] == "139****5678" for _, body in from_pull)


def _delivered(url: str, name: str) -> int:
    engine = make_engine(url)
    try:
        with Session(engine) as s:
            return len(s.scalars(select(FeedDelivery.id).where(
                FeedDelivery.subscription == name, FeedDelivery.status == "delivered")).all())
    finally:
        engine.dispose()


def test_reading_on_counts_as_delivered_and_full_numbers_are_audited(db_url: str) -> None:
    sub = pull("pull-full", full_numbers=True)
    record(db_url, [sub], events(tickets=1, per_ticket=3))
    engine = make_engine(db_url)
    with Session(engine) as s:
        page = read_page(s, sub, 0, 2, reader="market-user")
        s.commit()
    assert [e["cursor"] for e in page.events] == [1, 2] and page.next == 2
    assert page.events[0]["event"]["data"]["caller"] == CALLER
    with Session(engine) as s:
        (line,) = status(s, [sub])
        assert (line.delivered, line.pending) == (0, 3)  # read, not yet confirmed
        page = read_page(s, sub, 2, 10, reader="market-user")  # coming back with next=2
        s.commit()
        (line,) = status(s, [sub])
        assert (line.delivered, line.pending) == (2, 1)
        assert [e["cursor"] for e in page.events] == [3]
        audit = s.scalars(select(FeedAudit)).all()
        assert {(a.reader, a.channel) for a in audit} == {("market-user", "pull")}
        assert len(audit) == 3
        with pytest.raises(CursorAhead, match="past the end"):
            read_page(s, sub, 99, 10, reader="market-user")
    engine.dispose()


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_a_late_commit_is_not_skipped(db_url: str) -> None:
    """Event A takes its outbox id first but commits after B; a reader that has read B
    still gets A next."""
    sub = pull("pull")
    outbox = Outbox([sub])
    engine = make_engine(db_url)
    late = Session(engine)
    outbox.record(late, ticket_event("dispatched", 1, 2, T0))  # id 1, not committed
    record(db_url, [sub], [ticket_event("dispatched", 2, 2, T0)])  # id 2, committed
    with Session(engine) as s:
        first = read_page(s, sub, 0, 10, reader="r")
        s.commit()
    assert [e["id"] for e in first.events] == ["ticket-2-2"]
    late.commit()
    late.close()
    with Session(engine) as s:
        second = read_page(s, sub, first.next, 10, reader="r")
        s.commit()
    assert [e["id"] for e in second.events] == ["ticket-1-2"]
    engine.dispose()


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_concurrent_readers_number_each_event_once(db_url: str) -> None:
    sub = pull("pull")
    record(db_url, [sub], events(tickets=10, per_ticket=3))
    pages: list[list[int]] = []
    errors: list[BaseException] = []

    def reader() -> None:
        try:
            feeds = PullFeeds(db_url, [sub])
            pages.append([e["cursor"] for e in feeds.read(sub, 0, 1000, "r").events])
            feeds.close()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert all(p == list(range(1, 31)) for p in pages)


# --- the HTTP API --------------------------------------------------------------------------

@pytest.fixture
async def wallboard(sqlite_url: str, tmp_path: Path) -> AsyncIterator[AgentsServices]:
    subs = [pull("market-pull"), pull("housing-pull", department="住房和城乡建设厅")]
    record(sqlite_url, subs, events(tickets=2, per_ticket=2))
    record(sqlite_url, subs, events(tickets=1, per_ticket=2, department="住房和城乡建设厅",
                                    first_ticket=5))
    feeds = PullFeeds(sqlite_url, subs)
    services = await start_agents_services(
        {"q-general": ("综合受理", 15)}, tmp_path, "127.0.0.1", 0,
        env={"HOTLINE12345_ADMIN_PASSWORD": ADMIN_PASSWORD}, ami=None, store=MemoryStore(),
        bcrypt_rounds=4, say=lambda _line: None, database_url=sqlite_url, feeds=feeds)
    try:
        yield services
    finally:
        await services.close()
        feeds.close()


async def test_the_api_pages_with_the_cursor(wallboard: AgentsServices) -> None:
    async with aiohttp.ClientSession(wallboard.url, headers=BASIC) as http:
        r = await http.get("/api/feed", params={"subscription": "market-pull", "limit": "3"})
        assert r.status == 200, await r.text()
        first = await r.json()
        assert first["department"] == MARKET
        assert [e["cursor"] for e in first["events"]] == [1, 2, 3] and first["next"] == 3
        r = await http.get("/api/feed", params={"subscription": "market-pull",
                                                "after": str(first["next"])})
        rest = await r.json()
        assert [e["cursor"] for e in rest["events"]] == [4]
        assert rest["events"][0]["event"]["type"].startswith("ticket.")
        r = await http.get("/api/feed", params={"subscription": "market-pull",
                                                "after": str(rest["next"])})
        assert (await r.json())["events"] == []


@pytest.mark.parametrize(("params", "status", "field", "words"), [
    ({}, 400, "subscription", "?subscription=NAME"),
    ({"subscription": "nope"}, 404, "subscription", "market-pull"),
    ({"subscription": "market-pull", "after": "-1"}, 400, "after", "whole number"),
    ({"subscription": "market-pull", "after": "x"}, 400, "after", "whole number"),
    ({"subscription": "market-pull", "limit": "0"}, 400, "limit", "1-1000"),
    ({"subscription": "market-pull", "limit": "5000"}, 400, "limit", "1-1000"),
    ({"subscription": "market-pull", "after": "99"}, 400, "after", "past the end"),
])
async def test_bad_requests_name_the_field(wallboard: AgentsServices, params: dict[str, str],
                                           status: int, field: str, words: str) -> None:
    async with aiohttp.ClientSession(wallboard.url, headers=BASIC) as http:
        r = await http.get("/api/feed", params=params)
        body = await r.json()
        assert (r.status, body["field"]) == (status, field)
        assert words in body["error"]


async def test_the_api_needs_a_login(wallboard: AgentsServices) -> None:
    async with aiohttp.ClientSession(wallboard.url) as http:
        r = await http.get("/api/feed", params={"subscription": "market-pull"})
        assert r.status == 401


def test_a_department_reads_only_its_own_feed(sqlite_url: str) -> None:
    """The rule /api/feed applies for a 承办单位 user (its department) and the centre (none)."""
    from aiohttp import web

    from hotline12345.agents.feed_views import _subscription

    market, housing = pull("market-pull"), pull("housing-pull", department="住房和城乡建设厅")
    feeds = PullFeeds(sqlite_url, [market, housing])
    try:
        assert _subscription(feeds, None, MARKET) is market  # its own, without naming it
        assert _subscription(feeds, "market-pull", MARKET) is market
        refused = _subscription(feeds, "housing-pull", MARKET)  # another's: as if absent
        assert isinstance(refused, web.Response) and refused.status == 404
        assert refused.text is not None and "housing-pull" in refused.text
        assert "market-pull" not in refused.text  # nor does it list the others
        none = _subscription(feeds, None, "交通运输局")
        assert isinstance(none, web.Response) and none.status == 404
        assert _subscription(feeds, "housing-pull", None) is housing  # the centre names it
    finally:
        feeds.close()


def _basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


async def test_department_users_read_only_their_own_feed(wallboard: AgentsServices) -> None:
    users = wallboard.users
    users.set("market1", "market-pass-1", "handler", department=MARKET)
    users.set("housing1", "housing-pass-1", "handler", department="住房和城乡建设厅")
    users.set("viewer1", "viewer-pass-1", "viewer")
    async with aiohttp.ClientSession(wallboard.url,
                                     headers=_basic("market1", "market-pass-1")) as http:
        r = await http.get("/api/feed")  # its own, without naming it
        body = await r.json()
        assert r.status == 200 and body["subscription"] == "market-pull"
        assert {e["event"]["data"]["department"] for e in body["events"]} == {MARKET}
        r = await http.get("/api/feed", params={"subscription": "housing-pull"})
        assert r.status == 404  # another department's feed is as if it did not exist
        assert "housing" not in (await r.json())["error"].replace("'housing-pull'", "")
    async with aiohttp.ClientSession(wallboard.url,
                                     headers=_basic("housing1", "housing-pass-1")) as http:
        body = await (await http.get("/api/feed")).json()
        assert body["subscription"] == "housing-pull"
        assert {e["event"]["data"]["department"] for e in body["events"]} == {"住房和城乡建设厅"}
    async with aiohttp.ClientSession(wallboard.url,
                                     headers=_basic("viewer1", "viewer-pass-1")) as http:
        r = await http.get("/api/feed", params={"subscription": "market-pull"})
        assert (r.status, (await r.json())["field"]) == (403, "role")
