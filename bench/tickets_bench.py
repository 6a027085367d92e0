"""Ticket benchmark on PostgreSQL: the figures' queries on a large province's year of
tickets beside the same queries on a small one, and ticket transitions per second.

1. Two fresh databases are migrated and filled in SQL (``INSERT ... SELECT`` over
   ``generate_series``, one statement each, seeded so every run makes the same rows):
   ``--tickets`` (default 1,000,000) and ``--small`` (default 10,000) tickets created over
   the year before 2026-12-01, spread unevenly over 40 departments, 25 categories and the
   legacy numbers, in every state with the timestamps, deadlines, counts and ratings that
   state implies (about 80 % signed in time, 85 % answered in time, 85 % satisfied ...).
2. Every query the figures page runs (all figures at once, per grouping: department,
   category, legacy number, day, week, month over the whole year; and a 承办单位 handler's
   view through the workflow's ``visible``), then each figure alone by department and by
   day, is timed on both databases through
   :func:`hotline12345.tickets.figures.compute_figures`: the best wall-clock time of
   ``--repeat`` runs after one warm-up, and the server's CPU time for it in one process
   (parallel workers off; read from /proc when PostgreSQL runs on this machine), which
   does not depend on what else the machine is doing. Printed side by side, with the
   machine's load average.
3. Transitions per second, ``--transitions`` tickets: through the ticket API over HTTP
   (``transitions_per_s``: bench/tickets_api_bench.py's run, 派单 → 签收 → 答复 with a
   logged-in session, 8 tickets at a time, in a fresh database), and through
   ``Workflow.apply`` alone (``workflow_transitions_per_s``: 派单 → 签收 → 答复 → 办结, one
   transaction per transition, one at a time, on the small database).

    .venv/bin/python bench/tickets_bench.py [--tickets 1000000] [--small 10000]
        [--repeat 3] [--transitions 500] [--admin-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres]
        [--keep]

The databases are dropped at the end unless ``--keep``. The last line is ``key=value``
pairs, among them ``max_figure_s_1m=`` (the slowest query's wall-clock seconds on the large
database, whatever ``--tickets`` is), ``max_figure_cpu_s_1m=`` (the most CPU seconds one
query took there, in one process) and ``transitions_per_s=``. Not a test: nothing here
asserts a time.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import sessionmaker
from tickets_api_bench import run as http_transitions  # bench/, beside this file

from hotline12345.config.schema import TicketLoopSettings
from hotline12345.db.engine import make_engine
from hotline12345.db.migrate import upgrade
from hotline12345.tickets.deadlines import DeadlinePolicy
from hotline12345.tickets.enums import Action, Role
from hotline12345.tickets.figures import (
    FIGURES,
    FigureQuery,
    GroupBy,
    Period,
    compute_figures,
)
from hotline12345.tickets.store import TicketDraft, save_ticket
from hotline12345.tickets.workdays import WorkCalendar
from hotline12345.tickets.workflow import Actor, Workflow, visible

ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
END = datetime(2026, 12, 1, tzinfo=UTC)  # the year before this instant (16:00Z: 00:00 local)
NOW = datetime(2026, 12, 1, 4, 0, tzinfo=UTC)
YEAR: dict[str, Any] = {"start": date(2025, 12, 1), "end": date(2026, 11, 30)}
HANDLER_DEPARTMENT = "部门03"

DEPARTMENTS = [f"部门{i:02d}" for i in range(40)]
CATEGORIES = ["咨询", "投诉", "求助", "建议", "举报", "消费投诉", "物业", "噪音", "交通",
              "医保", "社保", "供水", "供电", "燃气", "教育", "户籍", "环保", "城管", "拆迁",
              "劳动", "住房", "市政", "食品安全", "公交", "其他"]
LEGACY = ["12315", "12369", "12358", "12319", "12333", "12351"]


def _sql_array(values: list[str]) -> str:
    return "ARRAY[" + ", ".join(f"'{v}'" for v in values) + "]"


# One statement: per row, uniform draws (u1..u9) and a skewed department/category (the
# square of a uniform draw favours the first ones); each later step happens only in a state
# at least that far (ranks 0 受理 .. 6 已评价).
GENERATE = f"""
INSERT INTO tickets (
    uniqueid, state, caller, dialled, legacy_number, route, queue, seat, created_at,
    call_started_at, call_ended_at, duration_s, transcript, summary, department, category,
    urgency, dispatched_at, sign_due, signed_at, answer_due, answered_at, closed_at,
    revisit_due, revisited_at, rated_at, extensions_used, extension_pending, return_pending,
    returns_count, unjust_returns, reassign_count, reopen_count, rating, survey_rating,
    resolved, callback_outcome, real_name, handling_wd, history_seq)
SELECT
    'bench.' || g,
    (ARRAY['受理', '待签收', '办理中', '已答复', '已办结', '已回访', '已评价'])[rank + 1],
    '138' || lpad((g::bigint * 7919 % 100000000)::text, 8, '0'),
    CASE WHEN legacy IS NULL THEN '12345' ELSE legacy END,
    legacy,
    'queue general', 'q-general', 'seat' || (g % 300),
    created, created, created + interval '3 minutes', 180.0,
    '', '来电人反映' || category || '问题，请尽快处理。',
    CASE WHEN rank >= 1 THEN department END,
    category,
    CASE WHEN u9 < 0.02 THEN '紧急' ELSE '一般' END,
    dispatched, dispatched + interval '4 hours',
    CASE WHEN rank >= 2 THEN dispatched + u2 * interval '5 hours' END,
    dispatched + interval '7 days' + CASE WHEN u7 < 0.05 THEN interval '3 days'
                                          ELSE interval '0' END,
    answered,
    CASE WHEN rank >= 4 THEN answered + interval '1 hour' END,
    answered + interval '1 day',
    CASE WHEN rank >= 5 THEN answered + u4 * interval '30 hours' END,
    CASE WHEN rank >= 6 THEN answered + interval '1 day' END,
    CASE WHEN u7 < 0.05 THEN 1 ELSE 0 END, false, false,
    CASE WHEN u6 < 0.05 THEN 1 ELSE 0 END, CASE WHEN u6 < 0.01 THEN 1 ELSE 0 END,
    CASE WHEN u6 BETWEEN 0.05 AND 0.08 THEN 1 ELSE 0 END,
    CASE WHEN u6 BETWEEN 0.08 AND 0.10 THEN 1 ELSE 0 END,
    CASE WHEN rank >= 6 THEN
        (ARRAY['非常满意', '满意', '基本满意', '不满意', '非常不满意'])[
            CASE WHEN u5 < 0.5 THEN 1 WHEN u5 < 0.75 THEN 2 WHEN u5 < 0.85 THEN 3
                 WHEN u5 < 0.95 THEN 4 ELSE 5 END] END,
    (ARRAY['非常满意', '满意', '基本满意', '不满意', '非常不满意'])[1 + (g % 5)],
    CASE WHEN rank >= 5 AND u8 < 0.9 THEN u5 < 0.85 END,
    CASE WHEN rank >= 5 THEN CASE WHEN u8 < 0.9 THEN '联系上' ELSE '未接通' END END,
    u9 < 0.3,
    CASE WHEN answered IS NOT NULL THEN
        extract(epoch FROM answered - dispatched) / 86400.0 * 5 / 7 END,
    rank + 1
FROM (
    SELECT g, u2, u4, u5, u6, u7, u8, u9, created, department, category, legacy, rank,
           CASE WHEN rank >= 1 THEN created + u1 * interval '20 minutes' END AS dispatched,
           CASE WHEN rank >= 3 THEN created + u1 * interval '20 minutes'
                                            + u3 * interval '8 days' END AS answered
    FROM (
        SELECT g, random() AS u1, random() AS u2, random() AS u3, random() AS u4,
               random() AS u5, random() AS u6, random() AS u7, random() AS u8,
               random() AS u9,
               TIMESTAMP '{END.replace(tzinfo=None).isoformat()}'
                   - random() * interval '365 days' AS created,
               ({_sql_array(DEPARTMENTS)})[1 + floor(40 * power(random(), 2))::int]
                   AS department,
               ({_sql_array(CATEGORIES)})[1 + floor(25 * power(random(), 2))::int]
                   AS category,
               CASE WHEN random() < 0.3
                    THEN ({_sql_array(LEGACY)})[1 + floor(6 * random())::int] END AS legacy,
               width_bucket(random(), 0, 1, 100) AS bucket
        FROM generate_series(1, :n) AS g
    ) AS draws
    CROSS JOIN LATERAL (SELECT CASE
        WHEN bucket <= 4 THEN 0 WHEN bucket <= 7 THEN 1 WHEN bucket <= 13 THEN 2
        WHEN bucket <= 18 THEN 3 WHEN bucket <= 38 THEN 4 WHEN bucket <= 58 THEN 5
        ELSE 6 END AS rank) AS r
) AS t
"""


@contextmanager
def database(admin: Engine, label: str, keep: bool) -> Iterator[str]:
    name = f"hotline12345_bench_{label}_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = admin.url.set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        if keep:
            print(f"kept database {name}")
        else:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def generate(engine: Engine, n: int) -> float:
    """Fill ``tickets`` with ``n`` rows; return the seconds it took (VACUUM ANALYZE too)."""
    start = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(text("SELECT setseed(0.12345)"))
        conn.execute(text(GENERATE), {"n": n})
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE tickets"))
    return time.perf_counter() - start


@dataclass(frozen=True)
class Case:
    name: str
    query: FigureQuery
    where: ColumnElement[bool] | None = None


def cases() -> list[Case]:
    """What the page runs (all figures, per grouping; a handler's view), then each figure
    alone by department and by day."""
    groupings: list[tuple[str, dict[str, Any]]] = [
        ("department", {"by": GroupBy.DEPARTMENT}),
        ("category", {"by": GroupBy.CATEGORY}),
        ("legacy_number", {"by": GroupBy.LEGACY_NUMBER}),
        ("day", {"by": GroupBy.PERIOD, "period": Period.DAY}),
        ("week", {"by": GroupBy.PERIOD, "period": Period.WEEK}),
        ("month", {"by": GroupBy.PERIOD, "period": Period.MONTH}),
    ]
    out = [Case(f"all figures by {name}", FigureQuery(now=NOW, **YEAR, **kw))
           for name, kw in groupings]
    out.append(Case("all figures by day, one department (承办单位's view)",
                    FigureQuery(now=NOW, by=GroupBy.PERIOD, period=Period.DAY, **YEAR),
                    visible(Actor("h", Role.HANDLER, HANDLER_DEPARTMENT))))
    for figure in FIGURES:
        for name, kw in (groupings[0], groupings[3]):
            out.append(Case(f"{figure.label} ({figure.key}) by {name}",
                            FigureQuery(now=NOW, figures=(figure.key,), **YEAR, **kw)))
    return out


@dataclass(frozen=True)
class Timing:
    wall_s: float  # the best of the runs, parallel workers allowed
    cpu_s: float | None  # the server's CPU seconds in one process (None: not on this host)
    tickets: int


def backend_cpu_s(conn: Connection) -> float | None:
    """The CPU seconds (user + system) of this connection's server process so far, read
    from /proc when PostgreSQL runs on this machine; None otherwise."""
    pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed(engine: Engine, case: Case, repeat: int) -> Timing:
    """The best (least) wall-clock seconds of ``repeat`` runs after a warm-up (on a shared
    machine the least disturbed run is the steadiest measure), and the least CPU time the
    server spent on it in one process (parallel workers off): what the query costs
    whatever else the machine is doing."""
    def once() -> tuple[float, int]:
        start = time.perf_counter()
        with engine.connect() as conn:
            table = compute_figures(conn, case.query, case.where)
        return time.perf_counter() - start, table.total.tickets

    once()
    runs = [once() for _ in range(repeat)]
    cpu: list[float] = []
    with engine.connect() as conn:
        conn.execute(text("SET max_parallel_workers_per_gather = 0"))
        for _ in range(repeat):
            before = backend_cpu_s(conn)
            compute_figures(conn, case.query, case.where)
            after = backend_cpu_s(conn)
            if before is not None and after is not None:
                cpu.append(after - before)
        conn.rollback()
    return Timing(min(s for s, _ in runs), min(cpu) if cpu else None, runs[0][1])


def transitions_per_s(url: str, count: int) -> tuple[float, str]:
    """``count`` new tickets taken 派单 → 签收 → 答复 → 办结, one transaction per transition
    (as one API request each would be); transitions per second of wall-clock time."""
    settings = TicketLoopSettings()
    workflow = Workflow(DeadlinePolicy(settings, WorkCalendar()), settings,
                        departments=DEPARTMENTS)
    seat, chief = Actor("seat1", Role.SEAT), Actor("chief", Role.SUPERVISOR)
    engine = make_engine(url)
    sessions = sessionmaker(engine)
    try:
        ids = []
        with sessions.begin() as session:
            for i in range(count):
                ticket_id, _ = save_ticket(session, TicketDraft(
                    uniqueid=f"transition.{i}", caller="13800138000", category="消费投诉",
                    transcript="来电人：楼下餐馆噪音扰民", call_started_at=NOW), now=NOW)
                ids.append(ticket_id)
        start = time.perf_counter()
        for i, ticket_id in enumerate(ids):
            department = DEPARTMENTS[i % len(DEPARTMENTS)]
            handler = Actor(f"h{i % 40}", Role.HANDLER, department)
            steps: list[tuple[Action, Actor, dict[str, Any]]] = [
                (Action.DISPATCH, seat, {"department": department}),
                (Action.SIGN, handler, {}),
                (Action.ANSWER, handler, {"reply": "已联系商户整改"}),
                (Action.CLOSE, chief, {}),
            ]
            for minutes, (action, actor, fields) in enumerate(steps, start=1):
                with sessions.begin() as session:
                    workflow.apply(session, ticket_id, action, actor,
                                   now=NOW + timedelta(minutes=minutes), **fields)
        elapsed = time.perf_counter() - start
    finally:
        engine.dispose()
    return 4 * count / elapsed, "Workflow.apply"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tickets", type=int, default=1_000_000,
                        help="tickets in the large database (default 1,000,000)")
    parser.add_argument("--small", type=int, default=10_000,
                        help="tickets in the small database (default 10,000)")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per query")
    parser.add_argument("--transitions", type=int, default=500,
                        help="tickets taken through four transitions each")
    parser.add_argument("--admin-url", default=ADMIN_URL,
                        help="a PostgreSQL database to create the bench databases from")
    parser.add_argument("--keep", action="store_true", help="keep the databases")
    args = parser.parse_args(argv)
    for name in ("tickets", "small", "repeat"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    admin = make_engine(args.admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect():
            pass
    except Exception as exc:  # any failure to connect: one line, and the fix
        print(f"error: cannot reach PostgreSQL at {admin.url.render_as_string()}: "
              f"{type(exc).__name__}; start it or pass --admin-url", file=sys.stderr)
        return 2
    results: dict[str, dict[str, Timing]] = {}
    generated: dict[str, float] = {}
    with database(admin, "large", args.keep) as large_url, \
            database(admin, "small", args.keep) as small_url:
        for label, url, n in (("small", small_url, args.small), ("large", large_url, args.tickets)):
            upgrade(url)
            engine = make_engine(url)
            try:
                generated[label] = generate(engine, n)
                print(f"{label}: {n} tickets generated in {generated[label]:.1f} s", flush=True)
                results[label] = {c.name: timed(engine, c, args.repeat) for c in cases()}
            finally:
                engine.dispose()
        _print_table(results, args.small, args.tickets)
        wf_per_s, via = transitions_per_s(small_url, args.transitions)
        print(f"transitions: {wf_per_s:.0f}/s through {via} ({args.transitions} tickets, "
              "4 each)")
    with database(admin, "http", args.keep) as http_url:
        upgrade(http_url)
        count, elapsed = asyncio.run(http_transitions(http_url, args.transitions, 8))
        per_s = count / elapsed
        print(f"transitions: {per_s:.0f}/s through the ticket API over HTTP ({count}: 派单, "
              f"签收, 答复 on {args.transitions} tickets, 8 at a time; "
              "bench/tickets_api_bench.py's run)")
    load = os.getloadavg()[0]
    large = results["large"]
    slowest = max(large, key=lambda k: large[k].wall_s)
    cpus = [t.cpu_s for t in large.values() if t.cpu_s is not None]
    cpu_text = f"{max(cpus):.3f}" if cpus else "nan"
    print(f"max_figure_s_1m={large[slowest].wall_s:.3f} max_figure_cpu_s_1m={cpu_text} "
          f"max_figure_s_10k={max(t.wall_s for t in results['small'].values()):.3f} "
          f"tickets_large={args.tickets} tickets_small={args.small} "
          f"generate_s_large={generated['large']:.1f} transitions_per_s={per_s:.0f} "
          f"transitions_via=http workflow_transitions_per_s={wf_per_s:.0f} "
          f"load_avg_1m={load:.1f} slowest=\"{slowest}\"")
    return 0


def _print_table(results: dict[str, dict[str, Timing]], small: int, large: int) -> None:
    def cpu(t: Timing) -> str:
        return f"{t.cpu_s:>8.3f}s" if t.cpu_s is not None else f"{'-':>9}"

    width = max(len(name) for name in results["large"])
    print(f"{'query (a year of tickets)':<{width}}  {'wall ' + str(small):>10}  "
          f"{'wall ' + str(large):>12}  {'cpu ' + str(small):>10}  {'cpu ' + str(large):>12}")
    for name, big in results["large"].items():
        little = results["small"][name]
        print(f"{name:<{width}}  {little.wall_s:>9.3f}s  {big.wall_s:>11.3f}s  "
              f"{cpu(little):>10}  {cpu(big):>12}")


if __name__ == "__main__":
    sys.exit(main())
