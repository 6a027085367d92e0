"""A catalogue of malformed site files, each with its exact expected message and position."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from hotline12345.config import ConfigError, check_site, default_site_path, load_site

from .cases import BASE, CASES


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "site.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_base_site_is_valid(tmp_path: Path) -> None:
    assert check_site(write(tmp_path, BASE)) == []


def test_catalogue_has_at_least_20_cases() -> None:
    assert len(CASES) >= 20
    assert len({case for case, _, _ in CASES}) == len(CASES)


@pytest.mark.parametrize(("case", "edits", "expected"), CASES, ids=[c[0] for c in CASES])
def test_malformed_site(tmp_path: Path, case: str, edits: list[tuple[str, str]],
                        expected: list[str]) -> None:
    text = BASE
    for old, new in edits:
        assert old in text, f"case {case}: edit target not found"
        text = text.replace(old, new, 1)
    path = write(tmp_path, text)
    got = [str(issue).replace(str(path), "site.yaml") for issue in check_site(path)]
    assert got == expected
    with pytest.raises(ConfigError) as raised:
        load_site(path)
    assert len(raised.value.issues) == len(expected)


def test_config_check_lists_all_errors_and_exits_nonzero(tmp_path: Path) -> None:
    text = BASE.replace("    label: 综合\n", "    label: 综合\n    lable: x\n").replace(
        "then: {action: queue, target: tax}", "then: {action: queue, target: taxes}")
    path = write(tmp_path, text)
    run = subprocess.run([sys.executable, "-m", "hotline12345.cli", "config", "check", str(path)],
                         capture_output=True, text=True, env={**os.environ, "PYTHONUTF8": "1"})
    assert run.returncode == 1
    lines = run.stdout.strip().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(f"{path}:13:5 queues[q-general].lable: unknown key")
    assert lines[1].startswith(f"{path}:39:27 rules[r1].then.target:")
    assert "2 errors" in run.stderr


def test_config_check_default_site_ok() -> None:
    run = subprocess.run([sys.executable, "-m", "hotline12345.cli", "config", "check"],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.strip().endswith("OK")


def test_enterprise_numbers_file_errors_name_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "ent.txt").write_text("# enterprises\n02066668888\nnot-a-number\n",
                                      encoding="utf-8")
    text = BASE.replace("prompts:\n", "enterprise: {queue: q-general, numbers_file: ent.txt}\n"
                        "prompts:\n")
    got = [str(i) for i in check_site(write(tmp_path, text))]
    assert got == [f'{tmp_path / "ent.txt"}:3:1 enterprise.numbers_file: "not-a-number" is not '
                   "a phone number; one number per line, digits only, # starts a comment"]
    missing = text.replace("ent.txt", "missing.txt")
    got = [str(i) for i in check_site(write(tmp_path, missing))]
    assert len(got) == 1 and "enterprise.numbers_file: cannot read \"missing.txt\"" in got[0]


def test_site_overrides_a_default_register_row(tmp_path: Path) -> None:
    text = default_site_path().read_text(encoding="utf-8").replace(
        "hotlines: []\n",
        'hotlines:\n  - {number: "12317", target: market, after_cutover: hangup}\n'
        '  - {number: "96116", name: 自来水热线}\n')
    site = load_site(write(tmp_path, text))
    rows = {r.number: r for r in site.register}
    assert (rows["12317"].target, rows["12317"].after_cutover) == ("market", "hangup")
    assert rows["12317"].name == "扶贫监督举报热线"  # fields not overridden are kept
    assert rows["96116"].name == "自来水热线"
    assert len(rows) == 29


def test_site_can_remove_and_replace_register_rows(tmp_path: Path) -> None:
    text = default_site_path().read_text(encoding="utf-8").replace(
        "  remove: []\n", '  remove: ["12301", "12369"]\n')
    site = load_site(write(tmp_path, text))
    assert len(site.register) == 27
    assert not {"12301", "12369"} & {r.number for r in site.register}
