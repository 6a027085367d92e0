"""bench/ami_bench.py finds the Asterisk 22 captures as the tests do (tests/captures.py):
``$HOTLINE12345_CAPTURES`` first, else ../shared/asterisk-22-captures."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.captures import CAPTURES

BENCH = Path(__file__).resolve().parents[2] / "bench" / "ami_bench.py"


def run_bench(captures: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HOTLINE12345_CAPTURES": str(captures)}
    return subprocess.run([sys.executable, str(BENCH), "--repeat", "1", "--rounds", "1"],
                          env=env, capture_output=True, text=True, timeout=120, check=False)


def test_bench_reads_the_captures_named_by_the_environment(tmp_path: Path) -> None:
    copy = tmp_path / "captures"
    copy.mkdir()
    for name in ("README.md", "ami-queue-call.raw", "ami-agi-call.raw"):
        shutil.copy(CAPTURES / name, copy / name)
    done = run_bench(copy)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert f"captures from {copy} " in lines[0]
    assert lines[-1].startswith("events_per_s=") and " panoramisk_parse_per_s=" in lines[-1]


def test_bench_says_where_the_captures_are_missing(tmp_path: Path) -> None:
    done = run_bench(tmp_path)
    assert done.returncode != 0
    assert f"the real Asterisk 22 captures are not at {tmp_path}" in done.stderr
    assert "HOTLINE12345_CAPTURES" in done.stderr
