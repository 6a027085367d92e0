"""The wallboard's snapshot cache: one snapshot (its JSON and its SSE frame) per state
version, shared by every client."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from .runtime import AgentsRuntime

__all__ = ["SnapshotCache", "dumps"]


def dumps(obj: Any) -> str:
    """JSON as the wallboard sends it: Chinese as it is, not ``\\u`` escapes."""
    return json.dumps(obj, ensure_ascii=False)


class SnapshotCache:
    """One snapshot per state version; rebuilt at most every ``max_age_s`` (read on
    ``monotonic``) while the version stays, since waits and rolling figures move with the
    clock. ``builds`` counts the snapshots built."""

    def __init__(self, runtime: AgentsRuntime, max_age_s: float,
                 monotonic: Callable[[], float]) -> None:
        self.runtime = runtime
        self.max_age_s = max_age_s
        self.monotonic = monotonic
        self.builds = 0
        self._version = -1
        self._built_at = 0.0
        self._json = b""
        self._frame = b""

    def _fresh(self) -> None:
        version = self.runtime.version
        now = self.monotonic()
        if version == self._version and now - self._built_at < self.max_age_s:
            return
        data = dumps(self.runtime.snapshot())
        self.builds += 1
        self._version, self._built_at = version, now
        self._json = data.encode("utf-8")
        self._frame = f"event: state\nid: {version}\ndata: {data}\n\n".encode()

    def json(self) -> bytes:
        self._fresh()
        return self._json

    def frame(self) -> tuple[int, bytes]:
        self._fresh()
        return self._version, self._frame
