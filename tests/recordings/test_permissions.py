"""Files that hold callers' data are the owner's alone (0600) whatever the umask: the SQLite
database (full caller numbers) with its -wal and -shm files, and whatever the product writes
under the data directory while it turns a recording into a ticket. Run as subprocesses with
a permissive umask (0)."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

from tests.recordings.conftest import Speech, count_tickets, ko_model_path, make_call

CLI = [sys.executable, "-m", "hotline12345.cli"]

_OPEN_AND_LIST = """
import json, os, stat, sys
from sqlalchemy import text
from hotline12345.db.engine import make_engine
from hotline12345.db.migrate import upgrade
url = sys.argv[1]
upgrade(url)
engine = make_engine(url)
with engine.begin() as conn:  # a write: the -wal and -shm files exist while connected
    conn.execute(text("INSERT INTO calls (uniqueid, caller) VALUES ('1.1', '13900139000')"))
    folder = os.path.dirname(url.removeprefix("sqlite:///"))
    print(json.dumps({name: stat.S_IMODE(os.stat(os.path.join(folder, name)).st_mode)
                      for name in sorted(os.listdir(folder))}))
engine.dispose()
"""


def _modes(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): oct(stat.S_IMODE(p.stat().st_mode))
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_the_sqlite_database_is_created_0600_whatever_the_umask(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    url = f"sqlite:///{data / 'hotline12345.sqlite3'}"
    out = subprocess.run([sys.executable, "-c", _OPEN_AND_LIST, url], capture_output=True,
                         text=True, timeout=120, umask=0)
    assert out.returncode == 0, out.stderr
    modes = {name: oct(mode) for name, mode in json.loads(out.stdout).items()}
    assert {"hotline12345.sqlite3", "hotline12345.sqlite3-wal",
            "hotline12345.sqlite3-shm"} <= set(modes)
    assert modes == dict.fromkeys(modes, "0o600"), modes
    assert _modes(data) == dict.fromkeys(_modes(data), "0o600")


def test_an_existing_world_readable_database_is_tightened(tmp_path: Path) -> None:
    """A database made 0644 by an older version (and its leftover -wal) becomes 0600."""
    data = tmp_path / "data"
    data.mkdir()
    db = data / "hotline12345.sqlite3"
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE t (x)")
    conn.commit()
    for path in data.iterdir():
        path.chmod(0o644)
    before = _modes(data)
    assert "hotline12345.sqlite3-wal" in before and set(before.values()) == {"0o644"}
    out = subprocess.run([sys.executable, "-c", _OPEN_AND_LIST, f"sqlite:///{db}"],
                         capture_output=True, text=True, timeout=120, umask=0)
    conn.close()
    assert out.returncode == 0, out.stderr
    modes = {name: oct(mode) for name, mode in json.loads(out.stdout).items()}
    assert modes == dict.fromkeys(modes, "0o600"), modes


def test_transcribe_writes_only_private_files_under_the_data_directory(
        speech: Speech, tmp_path: Path) -> None:
    """A whole run (migration, job, decode, ticket) with umask 0: every file the product
    leaves under the data directory (database, its journal files, locks) is 0600."""
    files = make_call(tmp_path / "old", "97.1", speech)
    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE12345_")}
    env.update(HOTLINE12345_DATA_DIR=str(data))
    out = subprocess.run([*CLI, "transcribe", "--no-progress", "--model", str(ko_model_path()),
                          *map(str, files.values())],
                         capture_output=True, text=True, timeout=300, env=env, umask=0)
    assert out.returncode == 0, out.stderr
    assert count_tickets(f"sqlite:///{data / 'hotline12345.sqlite3'}", "97.1") == 1
    modes = _modes(data)
    assert "hotline12345.sqlite3" in modes
    assert modes == dict.fromkeys(modes, "0o600"), modes
