"""Routing-core throughput and latency on one core: the default register (29 hotlines) plus
200 generated rules of every condition kind. Target (issue 2): p99 <= 20 us.

Run: .venv/bin/python bench/route_bench.py [--decisions N]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from hotline12345.config import default_site_path, load_site
from hotline12345.routing import CallContext, Router

TARGET_P99_US = 20.0


def site_with_rules(count: int, directory: Path) -> Path:
    """The default site with ``count`` extra rules placed before the shipped ones, so most
    calls walk through many non-matching rules (the expensive case)."""
    rng = random.Random(12345)
    base = default_site_path().read_text(encoding="utf-8")
    numbers = ["12317", "12319", "12315", "12333", "12366", "12360", "110", "95598", "12345"]
    lines = []
    for i in range(count):
        kind = i % 4
        if kind == 0:  # dialled + caller pattern that rarely matches
            cond = f'{{dialled: ["{rng.choice(numbers)}"], caller: ["_199{i:04d}XXXX"]}}'
        elif kind == 1:  # time window on some weekdays
            cond = (f'{{dialled: ["{rng.choice(numbers)}"], time: {{days: [{1 + i % 7}], '
                    f'start: "03:{i % 60:02d}", end: "03:{i % 60:02d}"}}, enterprise: true}}')
        elif kind == 2:  # language seat
            cond = f'{{language: ["x{i}"]}}'
        else:  # caller prefix pattern on any number
            cond = f'{{caller: ["_0{i:03d}X."]}}'
        lines.append(f"  - name: gen-{i}\n    when: {cond}\n"
                     f"    then: {{action: queue, target: general, priority: {i % 10}}}\n")
    text = base.replace("rules:\n", "rules:\n" + "".join(lines), 1)
    path = directory / "bench-site.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--decisions", type=int, default=200_000)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    with tempfile.TemporaryDirectory() as tmp:
        site = load_site(site_with_rules(200, Path(tmp)))
    router = Router(site)
    tz = ZoneInfo(site.centre.timezone)
    rng = random.Random(7)
    numbers = [r.number for r in site.register] + ["12345", "12345", "12345", "99999"]
    start = datetime(2021, 1, 1, tzinfo=tz)
    contexts = [CallContext(
        dialled=rng.choice(numbers),
        at=start + timedelta(minutes=rng.randrange(0, 60 * 24 * 365 * 2)),
        caller=rng.choice(["13800138000", "02066668888", "17012345678", None]),
        enterprise=rng.random() < 0.1,
        answer=rng.choice([None, "", "1"]),
        language=rng.choice([None, "zh"]),
    ) for _ in range(4096)]
    for ctx in contexts:  # warm-up
        router.decide(ctx)
    decide = router.decide
    clock = time.perf_counter_ns
    samples = [0] * args.decisions
    n = len(contexts)
    t0 = clock()
    for i in range(args.decisions):
        ctx = contexts[i % n]
        a = clock()
        decide(ctx)
        samples[i] = clock() - a
    wall = (clock() - t0) / 1e9
    samples.sort()
    p50 = samples[len(samples) // 2] / 1000
    p99 = samples[int(len(samples) * 0.99)] / 1000
    mean = statistics.fmean(samples) / 1000
    per_s = args.decisions / wall
    print(f"site: {len(site.register)} hotlines, {len(site.file.rules)} rules; one core; "
          f"{args.decisions} decisions")
    print(f"{'':<14}{'measured':>12}{'target':>12}")
    print(f"{'p50 (us)':<14}{p50:>12.2f}{'':>12}")
    print(f"{'p99 (us)':<14}{p99:>12.2f}{TARGET_P99_US:>12.2f}  "
          f"{'met' if p99 <= TARGET_P99_US else 'MISSED'}")
    print(f"{'mean (us)':<14}{mean:>12.2f}")
    print(f"{'decisions/s':<14}{per_s:>12.0f}")
    print(f"decisions_per_s={per_s:.0f} p50_us={p50:.2f} p99_us={p99:.2f}")


if __name__ == "__main__":
    main()
