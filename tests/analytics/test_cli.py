"""``hotline12345 topics index|hot|surges`` on an SQLite database: the index is built, the
planted surge is printed (text and JSON); a missing database and a bad --now are one line
each naming the fix."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from hotline12345.cli import main
from hotline12345.db.migrate import upgrade

from .conftest import Planted, plant
from .test_hot_topics import NOW, corpus


@pytest.fixture
def database(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'tickets.sqlite3'}"
    upgrade(url)
    engine = create_engine(url)
    plant(engine, corpus())
    plant(engine, [Planted(NOW - timedelta(weeks=w, minutes=40), category="燃气",
                           transcript="燃气 问题") for w in range(1, 6)])
    plant(engine, [Planted(NOW - timedelta(minutes=50 - 5 * i), category="燃气",
                           transcript="上 城区 燃气泄漏") for i in range(8)])
    engine.dispose()
    return url


def test_index_hot_and_surges(database: str, tmp_path: Path,
                              capsys: pytest.CaptureFixture[str]) -> None:
    common = ["--database-url", database, "--data-dir", str(tmp_path / "data")]
    assert main(["topics", "index", *common]) == 0
    assert capsys.readouterr().out == f"topic index: {28 * 20 + 24 + 5 + 8} ticket(s) counted\n"
    at = ["--now", NOW.isoformat()]
    assert main(["topics", "hot", *common, *at, "--json"]) == 0
    hot = json.loads(capsys.readouterr().out)
    assert hot["terms"][0]["term"] in {"燃气泄漏", "上城区"}
    assert main(["topics", "hot", *common, *at, "--window", "7d"]) == 0
    assert "燃气泄漏" in capsys.readouterr().out
    assert main(["topics", "surges", *common, *at]) == 0
    out = capsys.readouterr().out
    assert "类别 燃气  hour: 8 vs" in out


def test_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = f"sqlite:///{tmp_path / 'none.sqlite3'}"
    assert main(["topics", "surges", "--database-url", missing]) == 2
    err = capsys.readouterr().err
    assert err.startswith("hotline12345 topics: no database at ") and "db upgrade" in err
    assert len(err.strip().splitlines()) == 1
    with pytest.raises(SystemExit):
        main(["topics", "hot", "--database-url", missing, "--now", "2027-01-04T09:00"])
    assert "has no time zone" in capsys.readouterr().err
