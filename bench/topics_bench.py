"""Hot-topics benchmark: the topic index over ``--n`` transcripts (100,000 by default), the
hot-topic and surge queries over it, and the incremental update for one new ticket.

The transcripts are generated here, as Vosk writes Chinese (words separated by spaces):
greetings and fillers, a place of the province, one or two complaint terms drawn with a
Zipf law from a vocabulary, everyday words, spread over ``--days`` days (35: the 7-day
window and its 28-day baseline) with a planted topic today. Timed, each alone:

- ``index_s``: indexing every ticket from scratch (jieba on each text, then the counts);
- ``hot_today_s``, ``hot_7d_s``: hot topics of each window over the whole index;
- ``surges_s``: surge warnings of the last hour and day on all four dimensions;
- ``one_ticket_ms``: the median time to count one new ticket and commit (``--new`` of them).

Wall-clock and this process's CPU time are both printed: on a loaded machine the CPU time
(SQLite works in-process) is the steadier figure.

SQLite under a temporary directory by default; ``--url`` for another (empty) database.

    .venv/bin/python bench/topics_bench.py [--n 100000] [--days 35] [--new 200]

The last line is ``key=value`` pairs.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from hotline12345.analytics.hot import Window, hot_topics
from hotline12345.analytics.index import catch_up, index_ticket
from hotline12345.analytics.segment import PLACE, Segmenter, load_dictionary
from hotline12345.analytics.surges import find_surges
from hotline12345.db.engine import make_engine
from hotline12345.db.migrate import upgrade
from hotline12345.tickets.models import Ticket

NOW = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)
OPENINGS = ["喂 您好", "您好 请问 是 12345 吗", "你好 我 想 反映 一个 问题", "喂 你好 我 要 投诉"]
FILLERS = ["就是 那个", "然后 呢", "我 跟 你 说", "这个 事情", "已经 好几天 了", "一直 没有 人 管"]
COMPLAINTS = ["噪音 扰民", "拖欠 工资", "物业 纠纷", "违章 停车", "油烟 扰民", "垃圾 清运",
              "路灯 不亮", "道路 破损", "停水", "燃气 泄漏", "房屋 漏水", "电梯 故障",
              "预付卡 退费", "医保 报销", "社保 缴费", "公积金 提取", "飞线 充电", "高空 抛物",
              "占道 经营", "违章 搭建", "校外 培训", "快递 丢件", "犬只 扰民", "夜间 施工"]
EVERYDAY = ["小区", "楼下", "晚上", "早上", "孩子", "老人", "门口", "马路", "商家", "老板",
            "工地", "单位", "公司", "房东", "邻居", "业主", "街道", "社区", "学校", "医院",
            "超市", "饭店", "停车场", "电动车", "车子", "房子", "钱", "合同", "发票", "证明"]
CLOSINGS = ["希望 尽快 处理", "麻烦 你们 管 一下", "谢谢", "请 有关 部门 处理", "好的 再见"]
PLANTED = "共享 单车 乱 停放"


def transcript(rng: random.Random, places: list[str], planted: bool) -> str:
    parts = [rng.choice(OPENINGS), "我 在", rng.choice(places)]
    for _ in range(rng.randint(1, 2)):
        rank = min(int(rng.paretovariate(1.1)), len(COMPLAINTS)) - 1
        parts.append(COMPLAINTS[rank])
    if planted:
        parts.append(PLANTED)
    for _ in range(rng.randint(3, 6)):
        parts.append(rng.choice(EVERYDAY))
        parts.append(rng.choice(FILLERS))
    parts.append(rng.choice(CLOSINGS))
    return " ".join(parts)


def tickets(n: int, days: int, seed: int = 12345) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    places = [w for w, k in load_dictionary().kinds.items() if k == PLACE]
    span = timedelta(days=days).total_seconds()
    rows = []
    for i in range(n):
        at = NOW - timedelta(seconds=rng.random() * span)
        planted = at > NOW - timedelta(hours=10) and rng.random() < 0.3
        rows.append({"uniqueid": f"bench.{i}", "created_at": at,
                     "transcript": transcript(rng, places, planted),
                     "category": "共享单车管理" if planted
                     else rng.choice(["投诉", "咨询", "求助", "建议"]),
                     "department": rng.choice(["市场监督管理局", "住房和城乡建设局",
                                               "人力资源和社会保障局", "综合行政执法局"]),
                     "legacy_number": rng.choice([None, "12315", "12319", "12333"])})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100_000, help="transcripts to index")
    parser.add_argument("--days", type=int, default=35)
    parser.add_argument("--new", type=int, default=200, help="single new tickets to time")
    parser.add_argument("--url", help="database URL (default: SQLite in a temporary directory)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.url or f"sqlite:///{Path(tmp) / 'bench.sqlite3'}"
        upgrade(url)
        engine = make_engine(url)
        segmenter = Segmenter(cache_dir=Path(tmp) / "jieba")
        start = time.perf_counter()
        segmenter.terms("钱塘区")
        load_s = time.perf_counter() - start
        rows = tickets(args.n, args.days)
        chars = sum(len(r["transcript"]) for r in rows)
        with Session(engine) as s, s.begin():
            for i in range(0, len(rows), 5000):
                s.execute(insert(Ticket), rows[i:i + 5000])
        print(f"jieba loaded in {load_s:.2f} s; {len(rows)} transcripts, "
              f"{chars / len(rows):.0f} characters each on average")

        start, cpu = time.perf_counter(), time.process_time()
        with Session(engine) as s:
            indexed = catch_up(s, segmenter, batch=2000)
        index_s, index_cpu = time.perf_counter() - start, time.process_time() - cpu
        print(f"indexed {indexed} tickets in {index_s:.2f} s ({index_cpu:.2f} s CPU), "
              f"{indexed / index_s:,.0f} tickets/s")

        timings: dict[str, float] = {}
        with Session(engine) as s:
            for window in Window:
                start = time.perf_counter()
                hot = hot_topics(s, window, NOW, segmenter=segmenter)
                timings[window.value] = time.perf_counter() - start
                top = ", ".join(f"{t.term}({t.count}, G²={t.g2:.0f})" for t in hot.terms[:5])
                print(f"hot {window.value}: {timings[window.value]:.3f} s over "
                      f"{hot.tickets}+{hot.baseline_tickets} tickets; top: {top}")
            start = time.perf_counter()
            surges = find_surges(s, NOW)
            surges_s = time.perf_counter() - start
            print(f"surges: {surges_s:.3f} s, {len(surges)} warnings: " + "; ".join(
                f"{w.label} {w.value} {w.span.value} {w.count} vs {w.baseline_mean:.1f} "
                f"(p={w.p_value:.1e})" for w in surges))

        rng = random.Random(7)
        places = [w for w, k in load_dictionary().kinds.items() if k == PLACE]
        one: list[float] = []
        one_cpu: list[float] = []
        for i in range(args.new):
            with Session(engine) as s:
                ticket = Ticket(uniqueid=f"new.{i}", created_at=NOW - timedelta(minutes=1),
                                transcript=transcript(rng, places, False))
                s.add(ticket)
                s.commit()
                start, cpu = time.perf_counter(), time.process_time()
                index_ticket(s, ticket, segmenter)
                s.commit()
                one.append(time.perf_counter() - start)
                one_cpu.append(time.process_time() - cpu)
        with Session(engine) as s:
            assert s.scalar(select(Ticket.id).where(Ticket.uniqueid == "new.0")) is not None
        one_ms = statistics.median(one) * 1000
        one_cpu_ms = statistics.median(one_cpu) * 1000
        p95_ms = sorted(one)[int(len(one) * 0.95) - 1] * 1000 if one else 0.0
        print(f"one new ticket: median {one_ms:.2f} ms ({one_cpu_ms:.2f} ms CPU), "
              f"p95 {p95_ms:.2f} ms (segment, count, commit)")
        engine.dispose()
    dialect = (args.url or "sqlite").split(":", 1)[0].split("+", 1)[0]
    print(f"index_s={index_s:.2f} index_cpu_s={index_cpu:.2f} "
          f"tickets_per_s={indexed / index_s:.0f} "
          f"hot_today_s={timings['today']:.3f} hot_7d_s={timings['7d']:.3f} "
          f"surges_s={surges_s:.3f} one_ticket_ms={one_ms:.2f} one_ticket_cpu_ms={one_cpu_ms:.2f} "
          f"one_ticket_p95_ms={p95_ms:.2f} "
          f"n={args.n} dialect={dialect}")


if __name__ == "__main__":
    main()
