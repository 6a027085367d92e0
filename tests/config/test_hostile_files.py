"""``config check`` and ``route`` as subprocesses on hostile or mistaken input: every one is
a clear error naming the file, line and fix, with a non-zero exit and no traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from hotline12345.config import default_site_path

EXE = str(Path(sys.executable).with_name("hotline12345"))
DEFAULT = default_site_path().read_text(encoding="utf-8")


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([EXE, *args], capture_output=True, text=True, timeout=120,
                          check=False)


def check(path: Path | str) -> subprocess.CompletedProcess[str]:
    run = cli("config", "check", str(path))
    assert run.returncode == 1, run.stdout + run.stderr
    assert "Traceback" not in run.stderr and "Error:" not in run.stderr
    return run


def site(tmp_path: Path, text: str | bytes) -> Path:
    path = tmp_path / "site.yaml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def test_yaml_nested_20000_levels(tmp_path: Path) -> None:
    path = site(tmp_path, "centre:\n  name: " + "[" * 20000 + "]" * 20000 + "\n")
    run = check(path)
    assert run.stdout.startswith(f"{path}:2:")
    assert "nests lists or mappings more than 50 levels deep" in run.stdout


def test_an_unquoted_impossible_date(tmp_path: Path) -> None:
    row = '  - {number: "12317", cutover: 2021-13-45}'
    path = site(tmp_path, DEFAULT.replace("hotlines: []\n", f"hotlines:\n{row}\n"))
    line = path.read_text(encoding="utf-8").splitlines().index(row) + 1
    run = check(path)
    assert f"{path}:{line}:" in run.stdout
    assert '"2021-13-45" is not a valid date or date-time (month must be in 1..12)' in run.stdout


def test_a_nul_byte_is_named_by_line_and_column(tmp_path: Path) -> None:
    path = site(tmp_path, DEFAULT.replace("  city: 省会市\n", "  city: 省会\x00市\n").encode())
    line = DEFAULT.splitlines().index("  city: 省会市") + 1
    run = check(path)
    assert run.stdout.startswith(f"{path}:{line}:11 the character U+0000 (NUL) is not allowed")


def test_dev_zero_is_refused_by_size() -> None:
    run = check("/dev/zero")
    assert "/dev/zero is larger than 1024 KiB, the most a site file may hold" in run.stdout


def test_a_directory_is_named(tmp_path: Path) -> None:
    assert "is a directory" in check(tmp_path).stdout


@pytest.mark.parametrize(("old", "new", "path"), [
    ('access_numbers: ["12345"]', "access_numbers: 12345", "centre.trunks[telecom].access_numbers"),
    ("expert_seats: [PJSIP/8001]", "expert_seats: PJSIP/8001", "queues[q-general].expert_seats"),
])
def test_a_scalar_where_a_list_belongs(tmp_path: Path, old: str, new: str, path: str) -> None:
    assert old in DEFAULT
    run = check(site(tmp_path, DEFAULT.replace(old, new, 1)))
    assert f" {path}: expected a list, got " in run.stdout
    assert "write it as a list in brackets" in run.stdout


def test_every_error_in_one_run_with_bounded_numbers(tmp_path: Path) -> None:
    text = (DEFAULT.replace("overflow: [{after_s: 90, to_queue: backup}]",
                            "overflow: [{after_s: 1e32, to_queue: backup}]")
            .replace("  priority: 10\n", "  priority: 100000000000000000000000\n")
            .replace("then: {action: expert, target: market, priority: 10}",
                     "then: {action: expert, target: markets, priority: 1e23}")
            .replace("  协同联动: {priority: 5}", "  协同联动: {priority: -1}")
            .replace("{name: legal, label: 公共法律服务, skills: [legal], service_level_s: 15,",
                     "{name: legal, label: 公共法律服务, skills: [legal], service_level_s: "
                     "fifteen,"))
    run = check(site(tmp_path, text))
    out = run.stdout
    expected = [
        "queues[q-general].overflow[0].after_s: expected a whole number, got the number 1e+32",
        "enterprise.priority: 100000000000000000000000 is out of range: a queue priority "
        "(QUEUE_PRIO) goes from 0 to 100",
        "rules[market-enterprise].then.priority: expected a whole number, got the number 1e+23",
        'rules[market-enterprise].then.target: queue with expert_seats "markets" is not defined',
        "mode_defaults[协同联动].priority: -1 is out of range",
        "queues[legal].service_level_s: expected a whole number, got the text 'fifteen'",
    ]
    for message in expected:
        assert message in out, message
    assert len(out.splitlines()) == len(expected)  # nothing else, nothing twice
    assert f"{len(expected)} errors in" in run.stderr


@pytest.mark.parametrize(("args", "message"), [
    (["abc"], "NUMBER 'abc' is not a phone number"),
    ([""], "NUMBER '' is not a phone number"),
    (["-1"], "NUMBER '-1' is not a phone number"),
    (["12345", "--caller", "13800138000x"], "--caller '13800138000x' is not a phone number"),
    (["12317", "--at", "9999-12-31T23:59:59-23:59"], "--at '9999-12-31T23:59:59-23:59': out "
     "of range once converted to UTC or Asia/Shanghai"),
    (["12317", "--at", "0001-01-01T00:00+14:00"], "out of range"),
])
def test_route_refuses_what_is_not_a_number_or_a_time(args: list[str], message: str) -> None:
    run = cli("route", *args)
    assert run.returncode != 0 and run.stdout == ""
    assert message in run.stderr and "Traceback" not in run.stderr


def test_route_still_answers_numbers_in_every_form() -> None:
    for number in ("12345", "+8612366", "057112317"):
        assert cli("route", number, "--at", "2026-11-28T14:30").returncode == 0
