"""A new user's first day with the wallboard, as processes: ``serve`` on a data directory
that has its users already says who they are and how to reset a password, and that
``HOTLINE12345_ADMIN_PASSWORD`` was ignored; ``agents users set`` without a terminal reads
the password from standard input or the environment, with clear errors."""

from __future__ import annotations

import base64
import json
import os
import select
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from hotline12345.agents.users import UserStore

EXE = Path(sys.executable).with_name("hotline12345")
CMD = [str(EXE)] if EXE.exists() else [sys.executable, "-m", "hotline12345.cli"]
ENV_ADMIN = "admin-from-env-1"


def clean_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ, HOTLINE12345_DATA_DIR=str(data_dir), **extra)
    for key in ("HOTLINE12345_AMI_HOST", "HOTLINE12345_REDIS_URL", "HOTLINE12345_DATABASE_URL",
                "HOTLINE12345_VOSK_MODEL", "HOTLINE12345_RECORDINGS_DIR",
                "HOTLINE12345_USER_PASSWORD", "HOTLINE12345_ADMIN_PASSWORD"):
        env.pop(key, None)
    env.update(extra)
    return env


def users_set(data_dir: Path, name: str, role: str, stdin: bytes | None,
              **env: str) -> subprocess.CompletedProcess[str]:
    """``agents users set`` in its own session: no controlling terminal, stdin a pipe."""
    return subprocess.run([*CMD, "agents", "users", "set", name, "--role", role],
                          input=None if stdin is None else stdin.decode("latin-1"),
                          stdin=subprocess.DEVNULL if stdin is None else None,
                          env=clean_env(data_dir, **env), capture_output=True, text=True,
                          encoding="latin-1", timeout=60, start_new_session=True)


def read_until(proc: subprocess.Popen[bytes], pattern: str, timeout: float = 60) -> list[str]:
    """Lines of stdout (unbuffered, so that select sees every byte) up to ``pattern``."""
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    seen: list[str] = []
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 0.5)
        if not ready:
            if proc.poll() is not None:
                break
            continue
        line = proc.stdout.readline().decode("utf-8")
        if not line:
            break
        seen.append(line)
        if pattern in line:
            return seen
    raise AssertionError(f"no line with {pattern!r} on stdout; got: {''.join(seen)}")


def test_serve_with_existing_users_says_who_they_are_and_ignores_the_env_password(
    tmp_path: Path,
) -> None:
    assert users_set(tmp_path, "admin", "supervisor", b"admin-secret-1\n").returncode == 0
    assert users_set(tmp_path, "zhang", "viewer", b"viewer-secret-1\n").returncode == 0
    serve = subprocess.Popen(
        [*CMD, "serve", "--agi-port", "0", "--http-port", "0", "--log-level", "WARNING"],
        env=clean_env(tmp_path, HOTLINE12345_ADMIN_PASSWORD=ENV_ADMIN), bufsize=0,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        # The wallboard's start says "AMI not configured" last (no AMI in this test).
        said = "".join(read_until(serve, "AMI not configured"))
        # serve gives the wallboard its ticket loop: the ticket API answers, empty
        url = said.split("hotline12345 wallboard: ", 1)[1].split()[0]
        request = urllib.request.Request(url + "api/tickets", headers={
            "Authorization": "Basic " + base64.b64encode(b"admin:admin-secret-1").decode()})
        with urllib.request.urlopen(request, timeout=30) as answer:
            assert json.loads(answer.read())["total"] == 0
    finally:
        serve.send_signal(signal.SIGTERM)
        err = serve.communicate(timeout=60)[1].decode("utf-8")
    assert serve.returncode == 0, err
    assert said.startswith("hotline12345 wallboard: http://127.0.0.1:")
    assert "users: admin (班长), zhang (观察员)" in said
    assert f"hotline12345 agents --data-dir {tmp_path} users set NAME --role ROLE" in said
    assert "HOTLINE12345_ADMIN_PASSWORD was ignored: users exist already" in said
    assert "admin-secret-1" not in said + err and ENV_ADMIN not in said + err
    assert '"agents.admin_password.ignored"' in err
    store = UserStore.in_data_dir(tmp_path, rounds=4)
    assert store.verify("admin", ENV_ADMIN) is None  # ignored indeed
    assert store.verify("admin", "admin-secret-1") is not None


def test_users_set_without_a_terminal_reads_one_line_from_stdin(tmp_path: Path) -> None:
    done = users_set(tmp_path, "li", "viewer", b"first-line-pw\nsecond line\n")
    assert (done.returncode, done.stderr) == (0, ""), done.stderr
    assert done.stdout.encode("latin-1").decode("utf-8") == "user li (观察员) saved\n"
    store = UserStore.in_data_dir(tmp_path, rounds=4)
    assert store.verify("li", "first-line-pw") is not None


def test_users_set_without_a_terminal_reads_the_environment(tmp_path: Path) -> None:
    done = users_set(tmp_path, "wang", "supervisor", None,
                     HOTLINE12345_USER_PASSWORD="env-password-1")
    assert (done.returncode, done.stderr) == (0, ""), done.stderr
    user = UserStore.in_data_dir(tmp_path, rounds=4).verify("wang", "env-password-1")
    assert user is not None and user.role == "班长"


@pytest.mark.parametrize(("stdin", "env", "message"), [
    (None, {}, "none given (standard input is empty)"),
    (b"\n", {}, "none given (standard input is empty)"),
    (b"short\n", {}, "the password from standard input: use at least 8 characters"),
    (None, {"HOTLINE12345_USER_PASSWORD": "short"},
     "the password from HOTLINE12345_USER_PASSWORD: use at least 8 characters"),
    (b"\xff\xfe-not-utf8\n", {}, "standard input is not UTF-8 text"),
], ids=["no-stdin", "empty-line", "too-short", "env-too-short", "not-utf8"])
def test_users_set_errors_are_clear_and_save_nothing(
    tmp_path: Path, stdin: bytes | None, env: dict[str, str], message: str
) -> None:
    done = users_set(tmp_path, "li", "viewer", stdin, **env)
    assert done.returncode == 2
    assert message in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.startswith("error: ") and done.stdout == ""
    assert UserStore.in_data_dir(tmp_path).list() == []
