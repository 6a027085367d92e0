"""The route bench runs and ends with its machine-readable line (no timing is asserted)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "route_bench.py"


def test_route_bench_runs_and_ends_with_key_values() -> None:
    run = subprocess.run([sys.executable, str(BENCH), "--decisions", "2000"],
                         capture_output=True, text=True, check=False, timeout=120)
    assert run.returncode == 0, run.stderr
    last = run.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"decisions_per_s=\d+ p50_us=[\d.]+ p99_us=[\d.]+", last), last
    assert "baseline" in run.stdout and "203 rules" in run.stdout
