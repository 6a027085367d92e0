"""Issue 12, the dialplan's part, through the command line as a user runs it: render, then
check the render (subprocesses, real files)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import EXT


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hotline12345.cli", *args],
                          capture_output=True, text=True, check=False)


def render(out: Path, *args: str) -> None:
    run = run_cli("asterisk-conf", "render", "--out", str(out), *args)
    assert run.returncode == 0, run.stderr


def check(directory: Path) -> subprocess.CompletedProcess[str]:
    return run_cli("asterisk-conf", "check", str(directory), "--allow-placeholders",
                   "--no-lint")


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new), encoding="utf-8")


CONTROLLERS = ("10.0.0.5", "10.0.0.6", "10.0.0.7")


# -- item 3: the README's multi-controller deployment passes its own check ---------------


@pytest.mark.parametrize("count", [1, 2, 3])
def test_render_then_check_passes_with_one_two_and_three_controllers(
        tmp_path: Path, count: int) -> None:
    hosts = [a for h in CONTROLLERS[:count] for a in ("--agi-host", h)]
    render(tmp_path, *hosts, "--ami-bind", "10.0.0.2")
    run = check(tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "0 errors" in run.stdout
    assert "no-failover" not in run.stdout


def test_check_catches_a_dialplan_that_never_tries_the_next_controller(
        tmp_path: Path) -> None:
    render(tmp_path, "--agi-host", "10.0.0.5", "--agi-host", "10.0.0.6", "--ami-bind",
           "10.0.0.2")
    edit(tmp_path / EXT, " same => n,Goto(agi)\n", " same => n,Goto(fallback)\n")
    run = check(tmp_path)
    assert run.returncode == 1
    assert "error [no-failover] 2 controllers are set but after controller 1" in run.stdout
    assert "not controller 2 (agi://10.0.0.6:4573)" in run.stdout


def test_check_catches_a_retry_that_asks_the_same_controller_again(tmp_path: Path) -> None:
    render(tmp_path, "--agi-host", "10.0.0.5", "--agi-host", "10.0.0.6", "--agi-host",
           "10.0.0.7", "--ami-bind", "10.0.0.2")
    edit(tmp_path / EXT, " same => n,Set(HOTLINE_AGI_TRY=$[${HOTLINE_AGI_TRY} + 1])\n", "")
    run = check(tmp_path)
    assert run.returncode == 1
    assert "reaches AGI(agi://10.0.0.5:4573/inbound" in run.stdout


# -- item 10: a controller that dies mid-call ---------------------------------------------


def test_check_passes_the_rendered_rule_for_a_controller_that_dies_mid_call(
        tmp_path: Path) -> None:
    """Asterisk reports a FastAGI session whose controller died as AGISTATUS=SUCCESS: the
    rendered dialplan moves on by the missing decision, which the check verifies."""
    render(tmp_path, "--agi-host", "10.0.0.5", "--agi-host", "10.0.0.6", "--ami-bind",
           "10.0.0.2")
    run = check(tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    text = (tmp_path / EXT).read_text(encoding="utf-8")
    assert 'GotoIf($["${HOTLINE_ACTION}" = ""]?retry)' in text


def test_check_catches_a_dialplan_that_retries_only_on_failure(tmp_path: Path) -> None:
    render(tmp_path, "--agi-host", "10.0.0.5", "--agi-host", "10.0.0.6", "--ami-bind",
           "10.0.0.2")
    edit(tmp_path / EXT, 'GotoIf($["${HOTLINE_ACTION}" = ""]?retry)',
         'GotoIf($["${AGISTATUS}" != "SUCCESS"]?retry)')
    run = check(tmp_path)
    assert run.returncode == 1
    assert ("after controller 1 (agi://10.0.0.5:4573) ends its session without a decision"
            in run.stdout)


def test_check_catches_a_decision_asked_for_twice(tmp_path: Path) -> None:
    render(tmp_path, "--agi-host", "10.0.0.5", "--agi-host", "10.0.0.6", "--ami-bind",
           "10.0.0.2")
    edit(tmp_path / EXT, 'GotoIf($["${HOTLINE_ACTION}" = ""]?retry)',
         'GotoIf($["${AGISTATUS}" != "SUCCESS" | "${HOTLINE_ACTION}" = ""]?retry)')
    run = check(tmp_path)
    assert run.returncode == 1
    assert "[failover-decided]" in run.stdout and "AGISTATUS=FAILURE" in run.stdout


def test_check_catches_a_hung_up_caller_sent_on(tmp_path: Path) -> None:
    render(tmp_path, "--agi-host", "10.0.0.5", "--agi-host", "10.0.0.6", "--ami-bind",
           "10.0.0.2")
    edit(tmp_path / EXT, ' same => n(retry),GotoIf($["${AGISTATUS}" = "HANGUP"]?gone)\n',
         " same => n(retry),NoOp()\n")
    run = check(tmp_path)
    assert run.returncode == 1
    assert "[failover-hangup]" in run.stdout
