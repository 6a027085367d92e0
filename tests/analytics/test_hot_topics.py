"""Hot topics on a fixed corpus built here: a planted surge (燃气泄漏 in 上城区 today) is
found first; planted noise is not hot - a word every call has (小区), a one-off rare word
(独角兽), a topic that was hot last month and is quiet now (停水). SQLite and PostgreSQL."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from hotline12345.analytics.hot import TopicSettings, Window, hot_topics
from hotline12345.analytics.index import catch_up, index_ticket, update_ticket
from hotline12345.analytics.models import TopicCount, TopicPlace, TopicTicket
from hotline12345.analytics.segment import Segmenter
from hotline12345.analytics.service import TopicsService
from hotline12345.tickets.models import Ticket

from .conftest import Planted, plant

# 10:30 in Hangzhou; "today" starts at 2026-12-06 16:00 UTC.
NOW = datetime(2026, 12, 7, 2, 30, tzinfo=UTC)
TODAY = datetime(2026, 12, 6, 16, 0, tzinfo=UTC)

EVERYDAY = ["物业费 收费 太高", "公交线路 绕路", "违章停车 堵住 消防通道", "拖欠工资 三个月",
            "预付卡 退费难", "路灯不亮 很久"]


def corpus() -> list[Planted]:
    rng = random.Random(12345)
    out: list[Planted] = []
    for day in range(1, 29):  # the baseline: 28 days, 20 tickets a day
        for i in range(20):
            at = TODAY - timedelta(days=day) + timedelta(minutes=30 + 50 * i)
            words = ["我们 小区"] if i % 2 == 0 else []  # half of all calls, every day
            words.append(rng.choice(EVERYDAY))
            if day == 20 and i < 12:
                words.append("小区 停水 两天")  # hot a month ago, not now
            if day == 10 and i == 0:
                words.append("上城区 燃气泄漏")  # the surge's word, once before
            out.append(Planted(at, transcript=" ".join(words)))
    for i in range(24):  # today, 24 tickets by 10:30
        at = TODAY + timedelta(minutes=20 * i)
        words = ["我们 小区"] if i % 2 == 0 else []
        if i < 9:
            words.append("上 城区 有 燃气泄漏")  # Vosk's spaces inside the name
        else:
            words.append(rng.choice(EVERYDAY))
        if i == 23:
            words.append("门口 有 独角兽 雕塑")
        out.append(Planted(at, transcript=" ".join(words)))
    return out


def test_the_planted_surge_is_hot_and_the_noise_is_not(engine: Engine,
                                                       segmenter: Segmenter) -> None:
    plant(engine, corpus())
    with Session(engine) as s:
        assert catch_up(s, segmenter, batch=100) == 28 * 20 + 24
        hot = hot_topics(s, Window.TODAY, NOW, segmenter=segmenter)
    terms = [t.term for t in hot.terms]
    assert terms[:2] == ["燃气泄漏", "上城区"] or terms[:2] == ["上城区", "燃气泄漏"]
    assert {"小区", "独角兽", "停水"}.isdisjoint(terms)
    assert hot.tickets == 24 and hot.baseline_tickets == 28 * 20
    gas = hot.terms[terms.index("燃气泄漏")]
    assert (gas.count, gas.baseline_count) == (9, 1)
    assert gas.g2 > 30
    assert hot.terms[terms.index("上城区")].kind == "地名"
    assert len(gas.daily) == len(hot.days) == 29 and gas.daily[-1] == 9
    assert sum(gas.daily) == 10
    payload = hot.to_dict()
    assert payload["terms"][0]["share"] == round(9 / 24, 6)


def test_a_rare_word_is_hot_only_from_the_minimum_count(engine: Engine,
                                                        segmenter: Segmenter) -> None:
    plant(engine, corpus())
    with Session(engine) as s:
        catch_up(s, segmenter)
        # 独角兽: once today, never before - the largest ratio, but one ticket.
        loose = hot_topics(s, Window.TODAY, NOW, segmenter=segmenter,
                           settings=TopicSettings(min_count=1, min_g2=0.0))
        assert "独角兽" in [t.term for t in loose.terms]
        strict = hot_topics(s, Window.TODAY, NOW, segmenter=segmenter)
        assert "独角兽" not in [t.term for t in strict.terms]


def test_the_seven_day_window_and_its_baseline(engine: Engine, segmenter: Segmenter) -> None:
    plant(engine, corpus())
    with Session(engine) as s:
        catch_up(s, segmenter)
        week = hot_topics(s, Window.WEEK, NOW, segmenter=segmenter)
    assert week.start == TODAY - timedelta(days=6)
    assert week.tickets == 6 * 20 + 24 and week.baseline_tickets == 22 * 20
    assert week.terms and week.terms[0].term in {"燃气泄漏", "上城区"}
    assert "停水" not in [t.term for t in week.terms]


def test_one_new_ticket_updates_the_counts_once(engine: Engine, segmenter: Segmenter) -> None:
    plant(engine, [Planted(TODAY + timedelta(hours=1), transcript="钱塘区 噪音 扰民")])
    with Session(engine) as s:
        catch_up(s, segmenter)
    [new_id] = plant(engine, [Planted(TODAY + timedelta(hours=1, minutes=5),
                                      transcript="钱塘区 噪音 扰民 噪音 扰民",
                                      summary="钱塘区夜间施工")])
    with Session(engine) as s, s.begin():
        ticket = s.get(Ticket, new_id)
        assert ticket is not None
        assert index_ticket(s, ticket, segmenter) is True
    with Session(engine) as s, s.begin():
        ticket = s.get(Ticket, new_id)
        assert ticket is not None
        assert index_ticket(s, ticket, segmenter) is False  # already counted
        assert catch_up(s, segmenter) == 0
    with Session(engine) as s:
        counts = {term: n for term, n in s.execute(select(TopicCount.term, TopicCount.tickets))}
        indexed = s.scalar(select(func.count()).select_from(TopicTicket))
    # Document frequency: the repeated 噪音扰民 counts once per ticket.
    assert counts == {"钱塘区": 2, "噪音扰民": 2, "夜间施工": 1}
    assert indexed == 2


@dataclass(frozen=True)
class Event:
    kind: str
    ticket_id: int


def _counts(engine: Engine) -> dict[str, int]:
    with Session(engine) as s:
        return {term: n for term, n in s.execute(select(TopicCount.term, TopicCount.tickets))}


def test_the_workflow_listener_counts_a_ticket_and_follows_its_summary(
        engine: Engine, segmenter: Segmenter) -> None:
    service = TopicsService(engine, segmenter=segmenter, clock=lambda: NOW)
    first, second = plant(engine, [Planted(TODAY, transcript="钱塘区 噪音 扰民"),
                                   Planted(TODAY, transcript="柯桥区 拖欠 工资")])
    with Session(engine) as s, s.begin():
        service.listener(s, Event("created", second))
    assert _counts(engine) == {"柯桥区": 1, "拖欠工资": 1}
    with Session(engine) as s, s.begin():  # the seat writes the 诉求: one term replaced
        ticket = s.get(Ticket, second)
        assert ticket is not None
        ticket.transcript = "拖欠 工资"
        ticket.summary = "诸暨市某工地拖欠农民工工资"
        service.listener(s, Event("dispatched", second))
    assert _counts(engine) == {"拖欠工资": 1, "诸暨市": 1, "工地": 1, "拖欠": 1, "农民工工资": 1}
    with Session(engine) as s, s.begin():
        ticket = s.get(Ticket, second)
        assert ticket is not None
        assert update_ticket(s, ticket, segmenter) is False  # unchanged: nothing to do
        assert [p for p, in s.execute(select(TopicPlace.place))] == ["诸暨市"]
    with Session(engine) as s, s.begin():  # an event of a ticket not yet counted counts it
        service.listener(s, Event("signed", first))
    assert _counts(engine)["钱塘区"] == 1
    assert service.refresh() == 0
