"""Every command the README shows works as written.

The README's ``sh`` blocks are run in order, in one shell as a reader runs them in one
terminal, from a fresh directory, with the virtual environment activated the way the
README says (``. .venv/bin/activate`` is itself one of the lines). ``make`` lines are the
two set-up commands that brought us here (the test suite runs under ``make test``), so they
are only checked to be targets the Makefile defines.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
BLOCK = re.compile(r"```sh\n(.*?)```", re.S)


def sh_blocks() -> list[str]:
    return BLOCK.findall(README.read_text(encoding="utf-8"))


def commands(block: str) -> list[str]:
    lines = []
    for raw in block.splitlines():
        line = raw.split("  #", 1)[0].strip()
        if line and not line.startswith("#"):
            lines.append(line)
    return lines


def test_readme_has_the_two_commands_and_they_are_make_targets() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    make_lines = [c for b in sh_blocks() for c in commands(b) if c.startswith("make ")]
    assert make_lines[:2] == ["make run", "make test"]
    for line in make_lines:
        target = line.split()[1]
        assert re.search(rf"^{re.escape(target)}:", makefile, re.M), f"no make target {target}"
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert re.search(r"^make test$", ci, re.M), ".ci/run must call the README's test command"


def test_readme_commands_run_as_written(tmp_path: Path) -> None:
    lines = [c for b in sh_blocks() for c in commands(b) if not c.startswith("make ")]
    assert any(line.startswith("hotline12345 ") for line in lines)
    # The README's relative paths (.venv/bin/activate) are the repository's: link them in.
    (tmp_path / ".venv").symlink_to(Path(sys.prefix))
    script = "set -ex\n" + "\n".join(lines) + "\n"
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE12345_")}
    env["HOTLINE12345_DATA_DIR"] = str(tmp_path / "data")
    env["PATH"] = "/usr/local/bin:/usr/bin:/bin"  # no venv on it until the README puts it there
    done = subprocess.run(["bash", "-c", script], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, (
        f"a README command failed ({done.returncode}):\n"
        f"stdout:\n{done.stdout[-2000:]}\nstderr (last command last):\n{done.stderr[-3000:]}")
