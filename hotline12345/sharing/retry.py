"""When a failed delivery is tried again: exponential backoff with full jitter, within
the subscription's retry window (``retry_hours``, 24 by default), then the dead letters.

The n-th failure waits a random time between 0 and ``min(cap_s, base_s * 2**(n-1))``
("full jitter": receivers coming back are not hit by every sender at once). The last
attempt is made at the window's end; a delivery that fails then is dead.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

__all__ = ["Backoff"]


@dataclass(frozen=True, slots=True)
class Backoff:
    base_s: float = 2.0  # the first failure waits up to this
    cap_s: float = 3600.0  # no wait is longer than this

    def delay_s(self, failures: int, rng: random.Random) -> float:
        """The wait after the ``failures``-th failure in a row (1 for the first)."""
        ceiling = min(self.cap_s, self.base_s * 2.0 ** min(max(failures - 1, 0), 60))
        return rng.uniform(0.0, ceiling)

    def next_attempt(self, failures: int, failed_at: datetime, window_ends: datetime,
                     rng: random.Random) -> datetime | None:
        """When to try again after a failure at ``failed_at``; ``None``: the window is over
        (the delivery is dead)."""
        if failed_at >= window_ends:
            return None
        return min(failed_at + timedelta(seconds=self.delay_s(failures, rng)), window_ends)
