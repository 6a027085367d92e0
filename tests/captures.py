"""Where the real Asterisk 22 captures are: ``../shared/asterisk-22-captures`` beside the
clone (as on the developers' machines and in CI), or ``$HOTLINE12345_CAPTURES``."""

from __future__ import annotations

import os
from pathlib import Path

CAPTURES = Path(os.environ.get("HOTLINE12345_CAPTURES")
                or Path(__file__).resolve().parents[2] / "shared" / "asterisk-22-captures")

if not (CAPTURES / "README.md").is_file():
    raise RuntimeError(
        f"the real Asterisk 22 captures are not at {CAPTURES}: the tests replay them. They live "
        "in shared/asterisk-22-captures beside the clone; or set HOTLINE12345_CAPTURES to "
        "their folder")
