"""The one data directory that embedded defaults keep everything under."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

DATA_DIR_ENV = "HOTLINE12345_DATA_DIR"


def data_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """Resolve the data directory: ``--data-dir``, then ``HOTLINE12345_DATA_DIR``,
    then the per-user data directory. It is created if missing, readable by its owner
    only (0700, whatever the umask): it holds callers' numbers, recordings and users."""
    chosen = explicit or os.environ.get(DATA_DIR_ENV) or platformdirs.user_data_dir("hotline12345")
    path = Path(chosen).expanduser()
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def database_url(root: Path) -> str:
    """The embedded SQLite database under the data directory."""
    return f"sqlite:///{root / 'hotline12345.sqlite3'}"


def recordings_dir(root: Path) -> Path:
    """The embedded recordings directory, created 0750 (Asterisk's group may write there
    when it runs as another user) inside the owner-only data directory."""
    path = root / "recordings"
    path.mkdir(parents=True, exist_ok=True, mode=0o750)
    return path
