"""Surge warnings: the statistics on known values, a planted hourly spike against a Poisson
baseline of the same hour in earlier weeks (found, with its evidence and sample tickets),
the steady values beside it (not found), a place found by the dictionary, and a new system
without history (no warnings). SQL aggregates on SQLite and PostgreSQL."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from hotline12345.analytics.index import catch_up
from hotline12345.analytics.publish import publish_surges
from hotline12345.analytics.segment import Segmenter
from hotline12345.analytics.stats import g2, poisson_sf, signed_g2
from hotline12345.analytics.surges import (
    Dimension,
    Span,
    SurgeSettings,
    assess,
    find_surges,
    window_counts,
)
from hotline12345.config.schema import FeedKind, FeedSubscription
from hotline12345.sharing.models import FeedDelivery, FeedOutbox
from hotline12345.sharing.outbox import Outbox

from .conftest import Planted, plant

NOW = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)  # Monday 11:00 in Hangzhou


def test_poisson_tail_on_known_values() -> None:
    # P(X >= 10 | mu = 2) = 1 - sum_{k<10} e^-2 2^k / k!
    exact = 1 - sum(math.exp(-2) * 2**k / math.factorial(k) for k in range(10))
    assert math.isclose(poisson_sf(10, 2.0), exact, rel_tol=1e-9)
    assert math.isclose(poisson_sf(1, 3.0), 1 - math.exp(-3), rel_tol=1e-12)
    assert poisson_sf(0, 5.0) == 1.0
    assert 0 < poisson_sf(60, 2.0) < 1e-50  # tiny tails stay positive, not 1 - 1 = 0
    assert poisson_sf(3, 10.0) > 0.99


def test_g2_on_known_values() -> None:
    # Same rate in both periods: nothing to see.
    assert g2(10, 100, 40, 400) == 0.0
    # 20/100 against 20/1000: Dunning's example form, computed by hand.
    a, n1, b, n2 = 20, 100, 20, 1000
    total, k = n1 + n2, a + b
    cells = [(a, n1 * k / total), (n1 - a, n1 * (total - k) / total),
             (b, n2 * k / total), (n2 - b, n2 * (total - k) / total)]
    assert math.isclose(g2(a, n1, b, n2), 2 * sum(o * math.log(o / e) for o, e in cells))
    assert signed_g2(2, 100, 40, 400) < 0 < signed_g2(40, 100, 2, 400)
    assert g2(1, 0, 1, 10) == 0.0


def test_a_spike_against_its_poisson_baseline() -> None:
    spike = assess(12, [1, 2, 0, 1], min_count=5, alpha=1e-3, min_ratio=1.5)
    assert spike is not None and spike.surge
    assert spike.baseline_mean == (4 + 0.5) / 4
    assert spike.p_value == poisson_sf(12, 4.5 / 4)
    normal = assess(4, [3, 5, 4, 2], min_count=5, alpha=1e-3, min_ratio=1.5)
    assert normal is not None and not normal.surge
    # Never seen before, but below the minimum count: not a warning.
    small = assess(4, [0, 0, 0, 0], min_count=5, alpha=1e-3, min_ratio=1.5)
    assert small is not None and small.p_value < 1e-3 and not small.surge
    # A large mean: a significant but small rise is not a surge (ratio).
    large = assess(1150, [1000, 1000, 1000, 1000], min_count=5, alpha=1e-3, min_ratio=1.5)
    assert large is not None and large.p_value < 1e-3 and not large.surge
    assert assess(9, [], min_count=5, alpha=1e-3, min_ratio=1.5) is None


def _history(rng: random.Random) -> list[Planted]:
    """Four weeks of the same Monday hour (10:00-11:00 local), and other hours around it,
    on a system started five weeks ago."""
    out = [Planted(NOW - timedelta(weeks=5), transcript="系统 启用", category="咨询")]
    for week in range(1, 5):
        hour = NOW - timedelta(weeks=week, hours=1)
        for n, category, department, legacy, text in (
                (rng.randint(3, 5), "咨询", "民政局", "12349", "咨询 低保 政策"),
                (rng.randint(0, 1), "燃气", "燃气集团", "96777", "燃气 问题")):
            for i in range(n):
                out.append(Planted(hour + timedelta(minutes=7 * i + 1), transcript=text,
                                   category=category, department=department,
                                   legacy_number=legacy))
        # Busy other hours that must not be counted as this hour's baseline.
        for i in range(30):
            out.append(Planted(hour + timedelta(hours=3, minutes=i), transcript="燃气 问题",
                               category="燃气", department="燃气集团"))
    return out


def _spike() -> list[Planted]:
    out = [Planted(NOW - timedelta(minutes=50 - 4 * i), transcript="上 城区 燃气泄漏 有 味道",
                   category="燃气", department="燃气集团", legacy_number="96777")
           for i in range(12)]
    out += [Planted(NOW - timedelta(minutes=55 - 10 * i), transcript="咨询 低保 政策",
                    category="咨询", department="民政局", legacy_number="12349")
            for i in range(4)]
    out.append(Planted(NOW - timedelta(minutes=90), transcript="燃气泄漏",
                       category="燃气"))  # before the hour: not in it
    return out


def test_a_planted_hourly_spike_is_found_with_its_evidence(engine: Engine,
                                                           segmenter: Segmenter) -> None:
    plant(engine, _history(random.Random(7)))
    spike_ids = plant(engine, _spike())
    with Session(engine) as s:
        catch_up(s, segmenter)
        warnings = find_surges(s, NOW, spans=[Span.HOUR])
    found = {(w.dimension, w.value) for w in warnings}
    assert found == {(Dimension.CATEGORY, "燃气"), (Dimension.DEPARTMENT, "燃气集团"),
                     (Dimension.LEGACY_NUMBER, "96777"), (Dimension.PLACE, "上城区")}
    gas = next(w for w in warnings if w.dimension is Dimension.CATEGORY)
    assert gas.count == 12 and gas.baseline_weeks == 4
    assert gas.baseline_mean < 2 and gas.p_value < 1e-6
    assert gas.window_start == NOW - timedelta(hours=1) and gas.window_end == NOW
    # The newest five of the twelve planted tickets.
    assert gas.ticket_ids == tuple(reversed(spike_ids[7:12]))
    place = next(w for w in warnings if w.dimension is Dimension.PLACE)
    assert place.count == 12 and place.baseline_mean == 0.5 / 4
    payload = gas.to_payload()
    assert payload["kind"] == "surge" and payload["label"] == "类别"
    assert payload["ticket_ids"] == list(gas.ticket_ids)
    assert payload["p_value"] == gas.p_value
    assert payload["key"] == "surge:category:燃气:hour:2026-12-07T03"


def test_the_windows_are_the_same_hour_of_the_week(engine: Engine,
                                                   segmenter: Segmenter) -> None:
    rng = random.Random(7)
    history = _history(rng)
    plant(engine, history + _spike())
    windows = [(NOW - timedelta(hours=1, weeks=i), NOW - timedelta(weeks=i)) for i in range(5)]
    with Session(engine) as s:
        counts = window_counts(s, Dimension.CATEGORY, windows)
    expected_gas = [12] + [sum(1 for p in history if p.category == "燃气" and lo <= p.at < hi)
                           for lo, hi in windows[1:]]
    assert counts["燃气"] == expected_gas
    assert max(expected_gas[1:]) <= 1  # the busy hours three hours later are not in it
    assert counts["咨询"][0] == 4


def test_a_new_system_without_history_warns_about_nothing(engine: Engine,
                                                          segmenter: Segmenter) -> None:
    plant(engine, _spike())
    with Session(engine) as s:
        catch_up(s, segmenter)
        assert find_surges(s, NOW) == []


def test_the_day_span_has_its_own_minimum(engine: Engine, segmenter: Segmenter) -> None:
    plant(engine, _history(random.Random(7)))
    plant(engine, _spike())
    with Session(engine) as s:
        catch_up(s, segmenter)
        day = find_surges(s, NOW, spans=[Span.DAY], dimensions=[Dimension.CATEGORY])
        strict = find_surges(s, NOW, spans=[Span.DAY], dimensions=[Dimension.CATEGORY],
                             settings=SurgeSettings(min_count_day=20))
    # 13 燃气 tickets in the last 24 h (the 30 busy ones of each earlier Monday came after
    # 11:00, outside the same 24 h of those weeks): a surge from 10 a day, not from 20.
    assert [(w.value, w.span, w.count) for w in day] == [("燃气", Span.DAY, 13)]
    assert strict == []


def test_warnings_reach_the_departments_feeds_once(engine: Engine,
                                                   segmenter: Segmenter) -> None:
    plant(engine, _history(random.Random(7)))
    plant(engine, _spike())
    gas = FeedSubscription(name="gas-hook", department="燃气集团", kind=FeedKind.PULL,
                           events=("surge",))
    other = FeedSubscription(name="other", department="交通运输局", kind=FeedKind.PULL,
                             events=("surge",))
    outbox = Outbox([gas, other])
    with Session(engine) as s:
        catch_up(s, segmenter)
        warnings = find_surges(s, NOW, spans=[Span.HOUR])
    with Session(engine) as s, s.begin():
        assert publish_surges(s, warnings, outbox, NOW) == 4  # all four concern 燃气集团
        assert publish_surges(s, warnings, outbox, NOW) == 0  # checked again: nothing new
    with Session(engine) as s:
        rows = s.scalars(select(FeedOutbox).where(FeedOutbox.kind == "surge")).all()
        assert sorted(r.department or "" for r in rows) == ["燃气集团"] * 4
        targets = set(s.scalars(select(FeedDelivery.subscription).where(
            FeedDelivery.outbox_id.in_([r.id for r in rows]))))
        assert targets == {"gas-hook"}
