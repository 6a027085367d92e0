"""One recordings directory for Asterisk and the workers: ``HOTLINE12345_RECORDINGS_DIR`` is
the default of ``asterisk-conf render --recordings-dir`` and of the pipeline."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hotline12345.asterisk import CONF_FILES, RenderOptions, render
from hotline12345.cli import main
from hotline12345.config import load_site
from hotline12345.env import RECORDINGS_DIR_ENV
from hotline12345.recordings.settings import settings_from

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "asterisk_conf"
DIALPLAN = "extensions_hotline12345.conf"
SPOOL = "/var/spool/asterisk/monitor/hotline12345"


def _rec_dir(out: Path) -> str:
    for line in (out / DIALPLAN).read_text(encoding="utf-8").splitlines():
        if "Set(HOTLINE_REC_DIR=" in line:
            return line.split("HOTLINE_REC_DIR=", 1)[1].rstrip(")")
    raise AssertionError(f"{DIALPLAN}: no HOTLINE_REC_DIR")


def test_without_the_variable_the_render_is_the_default_one(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    """The default render is the shipped one (tests/asterisk checks that byte for byte)."""
    if RECORDINGS_DIR_ENV in os.environ:  # the default is what is rendered
        monkeypatch.delenv(RECORDINGS_DIR_ENV)
    assert main(["asterisk-conf", "render", "--out", str(tmp_path / "out")]) == 0
    default = render(load_site(None), RenderOptions())
    for name in CONF_FILES:
        assert (tmp_path / "out" / name).read_text(encoding="utf-8") == default.files[name]
    assert _rec_dir(tmp_path / "out") == SPOOL == RenderOptions().recordings_dir
    assert f"HOTLINE_REC_DIR={SPOOL}" in (SHIPPED / DIALPLAN).read_text(encoding="utf-8")


def test_the_variable_sets_both_the_dialplan_and_the_workers(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch
                                                             ) -> None:
    monkeypatch.setenv(RECORDINGS_DIR_ENV, "/srv/hotline12345/recordings")
    assert main(["asterisk-conf", "render", "--out", str(tmp_path / "out")]) == 0
    assert _rec_dir(tmp_path / "out") == "/srv/hotline12345/recordings"
    workers = settings_from(data_dir=str(tmp_path / "data"))
    assert str(workers.recordings_dir) == "/srv/hotline12345/recordings"

    # an explicit option still wins
    assert main(["asterisk-conf", "render", "--out", str(tmp_path / "o2"),
                 "--recordings-dir", SPOOL]) == 0
    assert _rec_dir(tmp_path / "o2") == SPOOL


def test_a_bad_value_names_the_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv(RECORDINGS_DIR_ENV, "recordings")  # relative
    assert main(["asterisk-conf", "render", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert '--recordings-dir "recordings" must be an absolute path' in err
    assert f"(the value comes from {RECORDINGS_DIR_ENV})" in err
