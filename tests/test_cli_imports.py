"""Every ``hotline12345`` command builds the whole parser first: that must not load the
web server, the migrations or the speech stack, or every command (``route`` in a telecom
engineer's loop included) pays for them at start-up. Each command's handler imports what
it runs."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("aiohttp", "alembic", "vosk", "pydub", "redis", "hotline12345.agents.service",
         "hotline12345.agents.web", "hotline12345.app")

PROBE = f"""
import json, sys
from hotline12345.cli import build_parser
build_parser().parse_args(["route", "12345"])
print(json.dumps([m for m in {list(HEAVY)!r} if m in sys.modules]))
"""


def test_building_the_parser_loads_nothing_heavy() -> None:
    run = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                         check=False)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout) == []
