"""The data directory holds callers' data: it is created owner-only whatever the umask."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_data_and_recordings_directories_are_private_under_umask_0(tmp_path: Path) -> None:
    root = tmp_path / "new" / "data"
    code = ("import os; os.umask(0); from hotline12345 import paths; "
            f"r = paths.data_dir({str(root)!r}); paths.recordings_dir(r)")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
    assert root.stat().st_mode & 0o777 == 0o700
    assert (root / "recordings").stat().st_mode & 0o777 == 0o750
