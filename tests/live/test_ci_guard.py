"""The rule that CI requires the live tests: with the bundle missing, a developer's run skips
them with one line saying how to get it, and a CI run (``CI=true``) fails. Not itself a live
test: it runs pytest on the live tests with the bundle pointed at a directory without it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.live.harness import BUNDLE_ENV, REPO


def run_live_tests(tmp_path: Path, ci: str | None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env[BUNDLE_ENV] = str(tmp_path / "no-bundle-here")
    env.pop("CI", None)
    if ci is not None:
        env["CI"] = ci
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "tests/live/test_config_loads.py"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


def test_without_the_bundle_a_developer_run_skips_with_one_line(tmp_path: Path) -> None:
    done = run_live_tests(tmp_path, None)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("live Asterisk tests:")]
    assert len(lines) == 1, done.stdout
    assert "skipped" in lines[0] and BUNDLE_ENV in lines[0], lines[0]
    assert "no-bundle-here" in lines[0]


@pytest.mark.parametrize("ci", ["true", "1"])
def test_without_the_bundle_a_ci_run_fails(tmp_path: Path, ci: str) -> None:
    done = run_live_tests(tmp_path, ci)
    assert done.returncode == pytest.ExitCode.TESTS_FAILED, done.stdout + done.stderr
    assert "CI requires them" in done.stdout, done.stdout
