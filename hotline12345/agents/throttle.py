"""Login throttling: recent failed password checks per key (``user:NAME``, ``ip:ADDRESS``).

Pure bookkeeping with the time passed in, bounded in the number of keys it remembers.
"""

from __future__ import annotations

from collections import deque

__all__ = ["FailedLogins"]


class FailedLogins:
    """Recent failed password checks per key; ``limit`` failures within ``window_s``
    throttle the key until the oldest of them is out of the window."""

    def __init__(self, limit: int, window_s: float, max_keys: int) -> None:
        self.limit = limit
        self.window_s = window_s
        self.max_keys = max_keys
        self._by_key: dict[str, deque[float]] = {}

    def __len__(self) -> int:
        return len(self._by_key)

    def throttled(self, key: str, now: float) -> bool:
        times = self._by_key.get(key)
        if times is None:
            return False
        while times and now - times[0] >= self.window_s:
            times.popleft()
        if not times:
            del self._by_key[key]
            return False
        return len(times) >= self.limit

    def add(self, key: str, now: float) -> None:
        times = self._by_key.pop(key, None) or deque(maxlen=self.limit)
        times.append(now)
        self._by_key[key] = times  # most recent last
        if len(self._by_key) > self.max_keys:
            for k in [k for k, t in self._by_key.items() if now - t[-1] >= self.window_s]:
                del self._by_key[k]
            while len(self._by_key) > self.max_keys:
                del self._by_key[next(iter(self._by_key))]
