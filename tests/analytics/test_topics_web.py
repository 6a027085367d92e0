"""The 热点 page and its JSON API on a running wallboard: the planted surge in the ranked
table with a sparkline, the warnings linking to their tickets, errors that name the field,
and a 503 that says what to configure."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import create_engine

from hotline12345.agents.service import AgentsServices, start_agents_services
from hotline12345.agents.store import MemoryStore
from hotline12345.agents.topics_views import sparkline
from hotline12345.analytics.segment import Segmenter
from hotline12345.analytics.service import TopicsService
from hotline12345.config.loader import load_site
from hotline12345.db.migrate import upgrade

from .conftest import Planted, plant
from .test_hot_topics import NOW, corpus

PASSWORD = "admin-pass-1"


async def _start(tmp_path: Path, topics: TopicsService | None) -> AgentsServices:
    return await start_agents_services(
        None, tmp_path, "127.0.0.1", 0, env={"HOTLINE12345_ADMIN_PASSWORD": PASSWORD},
        ami=None, store=MemoryStore(), bcrypt_rounds=4, say=lambda _line: None, topics=topics)


@pytest.fixture
async def wallboard(tmp_path: Path, segmenter: Segmenter) -> AsyncIterator[
        tuple[AgentsServices, list[int]]]:
    url = f"sqlite:///{tmp_path / 'tickets.sqlite3'}"
    upgrade(url)
    engine = create_engine(url)
    plant(engine, corpus())
    # Four earlier Mondays' 10:00 hour, then a spike of 燃气 in the last hour.
    plant(engine, [Planted(NOW - timedelta(weeks=w, minutes=40), category="燃气",
                           transcript="燃气 问题") for w in range(1, 5)])
    spike = plant(engine, [Planted(NOW - timedelta(minutes=50 - 5 * i), category="燃气",
                                   transcript="上 城区 燃气泄漏") for i in range(8)])
    service = TopicsService(engine, segmenter=segmenter, clock=lambda: NOW)
    services = await _start(tmp_path / "web", service)
    try:
        yield services, spike
    finally:
        await services.close()
        engine.dispose()


async def _login(s: aiohttp.ClientSession) -> None:
    r = await s.post("/api/login", json={"user": "admin", "password": PASSWORD})
    assert r.status == 200, await r.text()


async def test_the_page_and_the_api(wallboard: tuple[AgentsServices, list[int]]) -> None:
    services, spike = wallboard
    async with aiohttp.ClientSession(services.url,
                                     cookie_jar=aiohttp.CookieJar(unsafe=True)) as s:
        for path in ("/topics", "/api/topics", "/api/surges"):
            assert (await s.get(path, allow_redirects=False)).status in (302, 401), path
        await _login(s)
        r = await s.get("/api/topics", params={"window": "today"})
        body = await r.json()
        assert r.status == 200, body
        assert body["terms"][0]["term"] in {"燃气泄漏", "上城区"}
        assert len(body["terms"][0]["daily"]) == len(body["days"])
        r = await s.get("/api/topics", params={"window": "7d"})
        assert r.status == 200 and (await r.json())["window"] == "7d"
        r = await s.get("/api/surges")
        surges = (await r.json())["surges"]
        gas = next(w for w in surges if w["dimension"] == "category")
        assert (gas["value"], gas["count"], gas["span"]) == ("燃气", 8, "hour")
        assert gas["ticket_ids"] == list(reversed(spike[3:]))
        r = await s.get("/topics")
        page = await r.text()
        assert r.status == 200 and r.headers["Content-Type"].startswith("text/html")
        assert "燃气泄漏" in page and "<svg" in page
        assert f'<a href="/tickets/{spike[-1]}">#{spike[-1]}</a>' in page
        assert "script" not in page  # nothing the CSP would refuse
        r = await s.get("/api/topics", params={"window": "month"})
        assert (r.status, (await r.json())["field"]) == (400, "window")
        r = await s.get("/topics", params={"window": "7 days"})
        assert (r.status, (await r.json())["field"]) == (400, "window")


async def test_without_topics_the_routes_say_what_to_configure(tmp_path: Path) -> None:
    services = await _start(tmp_path, None)
    try:
        async with aiohttp.ClientSession(services.url,
                                         cookie_jar=aiohttp.CookieJar(unsafe=True)) as s:
            await _login(s)
            r = await s.get("/api/surges")
            body = await r.json()
            assert (r.status, body["field"]) == (503, "topics")
            assert "TopicsService" in body["error"]
    finally:
        await services.close()


def test_the_sparkline_scales_to_the_largest_day() -> None:
    svg = sparkline([0, 5, 10])
    points = re.search(r'points="([^"]+)"', svg)
    assert points is not None
    ys = [float(p.split(",")[1]) for p in points.group(1).split()]
    assert ys[0] == 26.0 and ys[2] == 2.0 and ys[1] == 14.0
    assert sparkline([]) == ""


def test_the_service_for_a_site_takes_its_words_and_time_zone(tmp_path: Path) -> None:
    site = load_site()
    engine = create_engine(f"sqlite:///{tmp_path / 'x.sqlite3'}")
    service = TopicsService.for_site(site, engine, data_dir=tmp_path)
    rule = site.file.classification[0]
    assert service.segmenter.kind(rule.category) is not None
    assert rule.category in service.segmenter.terms(f"我要{rule.category}")
    assert service.topic_settings.timezone == site.file.calendar.timezone
    service.segmenter.terms("钱塘区")
    assert (tmp_path / "jieba" / "jieba.cache").is_file()
    engine.dispose()
