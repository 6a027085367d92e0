"""Logging masks callers' numbers; the data directory and secrets resolve as documented;
the route and register commands print what an engineer needs."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hotline12345.logs import JsonFormatter, log_event, mask_number
from hotline12345.paths import data_dir, database_url
from hotline12345.secrets import SecretError, read_secret


def test_mask_number() -> None:
    assert mask_number("13800138000") == "138****8000"
    assert mask_number("02066668888") == "020****8888"
    assert mask_number("12345") == "12345"  # service numbers are not personal data
    assert mask_number(None) == ""


def test_structured_log_masks_phone_fields() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("test.mask")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        log_event(logger, "call.routed", caller="13800138000", dialled="12345", name="张三")
    finally:
        logger.removeHandler(handler)
    record = json.loads(stream.getvalue())
    assert record["event"] == "call.routed"
    assert record["caller"] == "138****8000"
    assert record["dialled"] == "12345" and record["name"] == "张三"
    assert "13800138000" not in stream.getvalue()


def test_log_timestamps_follow_the_record_time() -> None:
    formatter = JsonFormatter()
    record = logging.LogRecord("t", logging.INFO, "x", 1, "e", None, None)
    for created in (1_795_849_847.2, 1_795_849_847.9, 1_795_849_848.1, 1_700_000_000.0):
        record.created = created
        expected = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(created))
        assert json.loads(formatter.format(record))["ts"] == expected


def test_log_line_is_one_json_object_whatever_the_fields() -> None:
    """The cached head (ts, level, logger) and the per-record event and fields make one
    object; a field named like a head key replaces it; an exception is appended."""
    formatter = JsonFormatter()

    def line(name: str, fields: object = None, exc: bool = False) -> dict[str, object]:
        record = logging.LogRecord(name, logging.WARNING, "x", 1, "e %s", ("1",), None)
        if fields is not None:
            record.fields = fields
        if exc:
            try:
                raise ValueError("boom")
            except ValueError:
                record.exc_info = sys.exc_info()
        text = formatter.format(record)
        assert "\n" not in text
        parsed = json.loads(text)
        assert isinstance(parsed, dict)
        return parsed

    for _ in range(2):  # the second time from the cached head
        assert line('odd "name"\\', {"n": 1, "s": "张三\n"}) == {
            "ts": line("a")["ts"], "level": "warning", "logger": 'odd "name"\\',
            "event": "e 1", "n": 1, "s": "张三\n"}
    assert line("a", {}) == line("a") == {"ts": line("a")["ts"], "level": "warning",
                                          "logger": "a", "event": "e 1"}
    assert line("a", {"event": "other", "level": "x"})["event"] == "other"
    assert list(line("a", {"event": "other", "z": 1})) == ["ts", "level", "logger", "event", "z"]
    assert line("a", "not a dict")["event"] == "e 1"
    with_exc = line("a", {"k": "v"}, exc=True)
    assert with_exc["k"] == "v" and "ValueError: boom" in str(with_exc["exc"])


def test_data_dir_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOTLINE12345_DATA_DIR", str(tmp_path / "env"))
    assert data_dir() == tmp_path / "env" and (tmp_path / "env").is_dir()
    assert data_dir(tmp_path / "flag") == tmp_path / "flag"
    monkeypatch.delenv("HOTLINE12345_DATA_DIR")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert data_dir() == tmp_path / "xdg" / "hotline12345"
    assert database_url(tmp_path).endswith("/hotline12345.sqlite3")


def test_secret_from_env_or_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HOTLINE12345_TEST_SECRET", "HOTLINE12345_TEST_SECRET_FILE"):
        if name in os.environ:
            monkeypatch.delenv(name)
    assert read_secret("HOTLINE12345_TEST_SECRET") is None
    secret = tmp_path / "s"
    secret.write_text("s3cret\n", encoding="utf-8")
    monkeypatch.setenv("HOTLINE12345_TEST_SECRET_FILE", str(secret))
    assert read_secret("HOTLINE12345_TEST_SECRET") == "s3cret"
    monkeypatch.setenv("HOTLINE12345_TEST_SECRET", "fromenv")
    assert read_secret("HOTLINE12345_TEST_SECRET") == "fromenv"
    monkeypatch.delenv("HOTLINE12345_TEST_SECRET")
    monkeypatch.setenv("HOTLINE12345_TEST_SECRET_FILE", str(tmp_path / "missing"))
    with pytest.raises(SecretError, match=r"HOTLINE12345_TEST_SECRET_FILE=.*cannot read"):
        read_secret("HOTLINE12345_TEST_SECRET")


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hotline12345.cli", *args],
                          capture_output=True, text=True, check=False)


def test_route_dry_run_json_explains() -> None:
    run = run_cli("route", "12317", "--at", "2020-12-31T23:59", "--caller", "13800138000",
                  "--json")
    assert run.returncode == 0, run.stderr
    decision = json.loads(run.stdout)
    assert decision["action"] == "queue" and decision["target"] == "rural"
    assert decision["prompts"] == ["hotline12345/transition-12317"]
    assert decision["variables"]["HOTLINE_PHASE"] == "in_transition"
    assert any("整体并入" in r for r in decision["reasons"])
    later = json.loads(run_cli("route", "12317", "--at", "2021-01-01T00:00", "--json").stdout)
    assert later["prompts"] == ["hotline12345/now-12345"]


def test_route_text_and_bad_time() -> None:
    run = run_cli("route", "12366", "--at", "2021-07-01T09:00")
    assert run.returncode == 0
    assert "action:   sub_centre" in run.stdout and "why:" in run.stdout
    bad = run_cli("route", "12366", "--at", "tomorrow")
    assert bad.returncode != 0 and "--at 'tomorrow': not an ISO time" in bad.stderr


def test_route_with_broken_site_says_how_to_fix(tmp_path: Path) -> None:
    site = tmp_path / "site.yaml"
    site.write_text("centre: {}\n", encoding="utf-8")
    run = run_cli("route", "12345", "--config", str(site))
    assert run.returncode == 2
    assert 'centre: missing required field "name"' in run.stderr
    assert "hotline12345 config check" in run.stderr


def test_register_list_json_phases() -> None:
    run = run_cli("register", "list", "--at", "2021-06-01T00:00", "--json")
    rows = {r["number"]: r for r in json.loads(run.stdout)["rows"]}
    assert len(rows) == 29
    assert rows["12317"]["phase"] == "已停用"
    assert rows["12315"]["phase"] == "过渡期"
    assert rows["95598"]["phase"] == "保留运行"
    assert not {"110", "119", "120", "122"} & rows.keys()
