"""Routing-core throughput and latency on one core: the default register (29 hotlines) plus
200 generated rules of every condition kind. Target (issue 2): p99 <= 20 us.

Baseline, measured in the same run on the same calls: the default site as shipped (its 3
rules), so the cost of 200 extra rules shows beside it.

Run: .venv/bin/python bench/route_bench.py [--decisions N]
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from hotline12345.config import default_site_path, load_site
from hotline12345.routing import CallContext, Router

TARGET_P99_US = 20.0


def site_with_rules(count: int, directory: Path) -> Path:
    general = load_site(None).centre.general_queue
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
                     f"    then: {{action: queue, target: {general}, priority: {i % 10}}}\n")
    text = base.replace("rules:\n", "rules:\n" + "".join(lines), 1)
    path = directory / "bench-site.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def measure(router: Router, contexts: list[CallContext], count: int) -> tuple[float, float, float]:
    """(decisions/s, p50 us, p99 us) over ``count`` decisions."""
    for ctx in contexts:  # warm-up
        router.decide(ctx)
    decide = router.decide
    clock = time.perf_counter_ns
    samples = [0] * count
    n = len(contexts)
    t0 = clock()
    for i in range(count):
        ctx = contexts[i % n]
        a = clock()
        decide(ctx)
        samples[i] = clock() - a
    wall = (clock() - t0) / 1e9
    samples.sort()
    return count / wall, samples[len(samples) // 2] / 1000, samples[int(len(samples) * 0.99)] / 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--decisions", type=int, default=200_000)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    baseline_site = load_site(None)
    with tempfile.TemporaryDirectory() as tmp:
        site = load_site(site_with_rules(200, Path(tmp)))
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
    base_per_s, base_p50, base_p99 = measure(Router(baseline_site), contexts, args.decisions)
    per_s, p50, p99 = measure(Router(site), contexts, args.decisions)
    print(f"{len(site.register)} hotlines; one core; {args.decisions} decisions each")
    print(f"{'':<14}{'203 rules':>12}{'baseline':>12}{'target':>12}")
    print(f"{'':<14}{'':>12}{'(3 rules)':>12}")
    print(f"{'p50 (us)':<14}{p50:>12.2f}{base_p50:>12.2f}")
    print(f"{'p99 (us)':<14}{p99:>12.2f}{base_p99:>12.2f}{TARGET_P99_US:>12.2f}  "
          f"{'met' if p99 <= TARGET_P99_US else 'MISSED'}")
    print(f"{'decisions/s':<14}{per_s:>12.0f}{base_per_s:>12.0f}")
    print(f"decisions_per_s={per_s:.0f} p50_us={p50:.2f} p99_us={p99:.2f}")


if __name__ == "__main__":
    main()
