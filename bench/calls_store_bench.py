"""Call store benchmark: facts written per second through ``SqlCallStore.write``.

Writes ``--batches`` batches of ``--batch`` facts (routing facts, and a survey result for one
call in five, as the recorder hands them over) into a fresh database, ``--rounds`` times,
and prints the best round: facts per second of wall-clock time, and per second of this
process's CPU time (steadier on a loaded machine; SQLite works in-process). SQLite under
a temporary directory by default; ``--url`` for another database (it must be empty: the
bench migrates it and fills the ``calls`` table).

    .venv/bin/python bench/calls_store_bench.py [--batches 200] [--batch 100] [--rounds 3]

The last line is ``key=value`` pairs, ``rows_per_s`` first.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hotline12345.calls.store import RoutedCall, SqlCallStore, StoreItem, SurveyResult
from hotline12345.db.migrate import upgrade

T0 = datetime(2026, 12, 7, 1, 0, tzinfo=UTC)


def facts(round_: int, batch_no: int, size: int) -> list[StoreItem]:
    out: list[StoreItem] = []
    for i in range(size):
        uid = f"{round_}.{batch_no}.{i}"
        at = T0 + timedelta(seconds=batch_no, microseconds=i)
        out.append(RoutedCall(uniqueid=uid, caller=f"138{i:08d}", caller_name="张三",
                              dialled="12345", action="queue", target="q-general",
                              priority=i % 10, reasons=("12345 access number", "rule matched"),
                              answer=None, outcome="routed", started_at=at, routed_at=at))
        if i % 5 == 0:
            out.append(SurveyResult(uid, 1 + i % 5, at + timedelta(minutes=3)))
    return out


def one_round(url: str, round_: int, batches: int, size: int) -> tuple[int, float, float]:
    upgrade(url)
    store = SqlCallStore(url)
    work = [facts(round_, b, size) for b in range(batches)]
    try:
        start, cpu = time.perf_counter(), time.process_time()
        for batch in work:
            store.write(batch)
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    finally:
        store.close()
    return sum(len(b) for b in work), elapsed, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, default=200)
    parser.add_argument("--batch", type=int, default=100, help="routing facts per batch")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--url", help="database URL (default: SQLite in a temporary directory)")
    args = parser.parse_args()
    best = best_cpu = 0.0
    rows = 0
    for round_ in range(args.rounds):
        with tempfile.TemporaryDirectory() as tmp:
            url = args.url or f"sqlite:///{Path(tmp) / 'bench.sqlite3'}"
            rows, elapsed, cpu = one_round(url, round_, args.batches, args.batch)
        per_s = rows / elapsed
        best, best_cpu = max(best, per_s), max(best_cpu, rows / cpu)
        print(f"round {round_ + 1}: {rows} facts in {elapsed:.3f} s ({cpu:.3f} s CPU), "
              f"{per_s:,.0f} facts/s")
    dialect = (args.url or "sqlite").split(":", 1)[0].split("+", 1)[0]
    print(f"rows_per_s={best:.0f} cpu_rows_per_s={best_cpu:.0f} facts={rows} "
          f"batch={args.batch} dialect={dialect}")


if __name__ == "__main__":
    main()
