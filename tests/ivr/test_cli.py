"""``hotline12345 serve`` and ``hotline12345 simulate`` as processes, over real TCP."""

from __future__ import annotations

import json
import os
import re
import select
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

EXE = Path(sys.executable).with_name("hotline12345")
CMD = [str(EXE)] if EXE.exists() else [sys.executable, "-m", "hotline12345.cli"]


def _wait_for_line(proc: subprocess.Popen[str], pattern: str, timeout: float = 60) -> re.Match[str]:
    assert proc.stderr is not None
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stderr], [], [], 0.5)
        if not ready:
            if proc.poll() is not None:
                break
            continue
        line = proc.stderr.readline()
        seen.append(line)
        m = re.search(pattern, line)
        if m:
            return m
    raise AssertionError(f"no line matching {pattern!r}; got: {''.join(seen)}")


def test_serve_then_simulate(tmp_path: Path) -> None:
    env = dict(os.environ, HOTLINE12345_DATA_DIR=str(tmp_path),
               HOTLINE12345_ADMIN_PASSWORD="test-only-password")
    for key in ("HOTLINE12345_AMI_HOST", "HOTLINE12345_REDIS_URL", "HOTLINE12345_DATABASE_URL"):
        env.pop(key, None)
    serve = subprocess.Popen([*CMD, "serve", "--agi-port", "0", "--http-port", "0",
                              "--log-level", "WARNING"], env=env, text=True,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        port = int(_wait_for_line(serve, r"FastAGI on 127\.0\.0\.1:(\d+)").group(1))
        sim = subprocess.run([*CMD, "simulate", "--port", str(port), "--count", "300",
                              "--concurrency", "30", "--hangup-ratio", "0.2", "--json"],
                             env=env, capture_output=True, text=True, timeout=120)
        assert sim.returncode == 0, sim.stderr
        report = json.loads(sim.stdout)
        assert report["sessions"] == 300
        assert set(report["outcomes"]) <= {"SUCCESS", "HANGUP"}
        assert report["outcomes"].get("HANGUP", 0) > 0
        assert report["p99_ms"] >= report["p50_ms"] > 0
    finally:
        serve.send_signal(signal.SIGTERM)
        rc = serve.wait(60)
    assert rc == 0
    with sqlite3.connect(tmp_path / "hotline12345.sqlite3") as db:
        rows = dict(db.execute("SELECT outcome, count(*) FROM calls GROUP BY outcome").fetchall())
    assert sum(rows.values()) == 300 and rows.get("routed", 0) > 0


def test_simulate_against_nothing_reports_errors(tmp_path: Path) -> None:
    with __import__("socket").socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nobody listens
    sim = subprocess.run([*CMD, "simulate", "--port", str(port), "--count", "5", "--json"],
                         capture_output=True, text=True, timeout=60)
    assert sim.returncode == 2 and sim.stdout == ""  # no report of five refused calls
    assert f"no controller is listening on 127.0.0.1:{port}" in sim.stderr
    assert "start one first" in sim.stderr.lower() and "hotline12345 serve" in sim.stderr


@pytest.mark.parametrize(("args", "message"), [
    (["simulate", "--dialled", "12345,abc"], "--dialled '12345,abc'"),
    (["simulate", "--concurrency", "0"], "--concurrency 0"),
    (["serve", "--agi-allow", "asterisk.local"], "allowed Asterisk host 'asterisk.local'"),
    (["serve", "--agi-port", "99999"], "AGI port 99999"),
    (["serve", "--command-timeout", "0"],
     "--command-timeout: 0 is out of range: seconds from 0.1 to 3600"),
    (["serve", "--session-budget", "-5"], "--session-budget: -5 is out of range"),
])
def test_bad_options_are_named(args: list[str], message: str, tmp_path: Path) -> None:
    env = dict(os.environ, HOTLINE12345_DATA_DIR=str(tmp_path))
    r = subprocess.run([*CMD, *args], capture_output=True, text=True, timeout=60, env=env)
    assert r.returncode == 2 and message in r.stderr


def test_settle_process_keeps_the_log_lines_and_tunes_the_collector() -> None:
    """What serve applies once started (in a child: it changes process-wide settings)."""
    code = """
import gc, io, json, logging
from hotline12345.app import GC_GEN0_THRESHOLD, settle_process
from hotline12345.logs import JsonFormatter, log_event
stream = io.StringIO()
handler = logging.StreamHandler(stream)
handler.setFormatter(JsonFormatter())
logging.getLogger().handlers[:] = [handler]
logging.getLogger().setLevel("INFO")
log = logging.getLogger("hotline12345.test")
log_event(log, "before", caller="13800138000", n=1)
settle_process()
log_event(log, "after", caller="13800138000", n=1)
before, after = (json.loads(line) for line in stream.getvalue().splitlines())
print(json.dumps({"same": {**before, "event": "x", "ts": 0} == {**after, "event": "x", "ts": 0},
                  "caller": after["caller"], "frozen": gc.get_freeze_count(),
                  "gen0": gc.get_threshold()[0], "expected": GC_GEN0_THRESHOLD}))
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)
    assert got["same"] and got["caller"] == "138****8000"
    assert got["frozen"] > 1000 and got["gen0"] == got["expected"] > 700


def _site_with(tmp_path: Path, controller: str) -> Path:
    """The shipped site plus a ``controller:`` section."""
    shown = subprocess.run([*CMD, "config", "show"], capture_output=True, text=True,
                           timeout=60, check=True).stdout
    site = tmp_path / "site.yaml"
    site.write_text(shown + "\ncontroller:\n" + controller, encoding="utf-8")
    return site


@pytest.mark.parametrize(("in_site", "flags"), [
    ("  command_timeout_s: 0.5\n", []),
    ("  command_timeout_s: 3600\n", ["--command-timeout", "0.5"]),  # the flag wins
], ids=["site file", "command line"])
def test_the_command_timeout_reaches_the_server(
        tmp_path: Path, in_site: str, flags: list[str]) -> None:
    """A session whose first command gets no reply ends with FAILURE once the configured
    command timeout passes (the default, 120 s, would outlast the read below)."""
    import socket

    from hotline12345.ivr.simulate import capture_like_env

    env = dict(os.environ, HOTLINE12345_DATA_DIR=str(tmp_path / "data"),
               HOTLINE12345_ADMIN_PASSWORD="test-only-password")
    for key in ("HOTLINE12345_AMI_HOST", "HOTLINE12345_REDIS_URL", "HOTLINE12345_DATABASE_URL",
                "HOTLINE12345_CONFIG"):
        env.pop(key, None)
    serve = subprocess.Popen([*CMD, "serve", "--agi-port", "0", "--http-port", "0",
                              "--log-level", "WARNING", "--config",
                              str(_site_with(tmp_path, in_site)), *flags],
                             env=env, text=True, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE)
    try:
        port = int(_wait_for_line(serve, r"FastAGI on 127\.0\.0\.1:(\d+)").group(1))
        agi_env = capture_like_env(uniqueid="1.1", dialled="12345", caller="13800138000",
                                   port=port)
        with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
            conn.sendall(("".join(f"{k}: {v}\n" for k, v in agi_env.items()) + "\n").encode())
            replies = conn.makefile("rb")
            first = replies.readline()  # the flow's first command, never answered
            assert first.endswith(b"\n") and first != b"FAILURE\n"
            assert replies.read() == b"FAILURE\n"  # until the server closes the connection
    finally:
        serve.send_signal(signal.SIGTERM)
        rc = serve.wait(60)
    assert rc == 0


def test_a_bad_controller_section_is_named(tmp_path: Path) -> None:
    site = _site_with(tmp_path, "  env_timeout_s: 0\n  session_budget_s: soon\n")
    r = subprocess.run([*CMD, "serve", "--config", str(site), "--agi-port", "0"],
                       capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, HOTLINE12345_DATA_DIR=str(tmp_path / "data")))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "controller.env_timeout_s: 0 is out of range: seconds from 0.1 to 60" in r.stderr
    assert "controller.session_budget_s: expected a number" in r.stderr
