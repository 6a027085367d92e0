"""``hotline12345 db upgrade`` (registered by db/, not by recordings/): creates the schema
where it is told, is idempotent, and answers a bad database URL with one line, no
traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from hotline12345.db.migrate import current_revision, head_revision

CLI = [sys.executable, "-m", "hotline12345.cli"]


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE12345_")}
    return subprocess.run([*CLI, "db", "upgrade", *args], capture_output=True, text=True,
                          timeout=120, env={**base, **(env or {})})


def test_db_upgrade_creates_the_schema_in_the_data_directory(tmp_path: Path) -> None:
    for _ in range(2):  # idempotent
        out = run("--data-dir", str(tmp_path))
        assert out.returncode == 0, out.stderr
        assert "schema up to date" in out.stdout
    url = f"sqlite:///{tmp_path / 'hotline12345.sqlite3'}"
    assert current_revision(url) == head_revision()
    out = run(env={"HOTLINE12345_DATA_DIR": str(tmp_path / "env")})
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "env" / "hotline12345.sqlite3").is_file()


def test_db_upgrade_refuses_a_bad_url_in_one_line(tmp_path: Path) -> None:
    out = run("--database-url", "not a url")
    assert out.returncode == 2
    assert "is no database URL" in out.stderr and "Traceback" not in out.stderr
    (tmp_path / "a-file").write_text("", encoding="utf-8")
    out = run("--database-url", f"sqlite:///{tmp_path}/a-file/x.sqlite3")
    assert out.returncode == 2
    assert "cannot use it" in out.stderr and "Traceback" not in out.stderr


def test_serve_with_a_database_it_cannot_make_says_so_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("", encoding="utf-8")
    base = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE12345_")}
    out = subprocess.run(
        [*CLI, "serve", "--data-dir", str(tmp_path / "data"), "--agi-port", "0",
         "--http-port", "0"], capture_output=True, text=True, timeout=120,
        env={**base, "HOTLINE12345_DATABASE_URL": f"sqlite:///{tmp_path}/a-file/x.sqlite3"})
    assert out.returncode != 0
    assert "cannot use it" in out.stderr and "HOTLINE12345_DATABASE_URL" in out.stderr
    assert "Traceback" not in out.stderr
