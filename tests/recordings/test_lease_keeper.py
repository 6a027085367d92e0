"""The lease keeper renews a running job's lease every third of the lease by the queue's
clock, whatever the renewal itself takes (the clock injected, no sleeps)."""

from __future__ import annotations

import threading

from hotline12345.recordings.pipeline import LeaseKeeper
from tests.recordings.conftest import wait_for

LEASE_S = 3 / 32  # a third of it, and the sums below, exact in binary; looked at every 16 ms


class SteppedClock:
    """A clock the test moves; it counts how often it was read."""

    def __init__(self) -> None:
        self.value = 1_024.0
        self.reads = 0
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            self.reads += 1
            return self.value

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.value += seconds


def test_the_lease_is_renewed_once_a_third_of_it_has_passed() -> None:
    clock = SteppedClock()
    renewals: list[float] = []
    with LeaseKeeper(lambda: renewals.append(clock.value), LEASE_S, clock):
        assert wait_for(lambda: clock.reads >= 5, timeout=30, every=0.01)
        assert renewals == []  # five looks at a clock that did not move
        clock.advance(LEASE_S / 3)
        assert wait_for(lambda: len(renewals) == 1, timeout=30, every=0.01)
        reads = clock.reads
        assert wait_for(lambda: clock.reads >= reads + 5, timeout=30, every=0.01)
        assert len(renewals) == 1  # not again until another third has passed
    assert renewals == [1_024.0 + LEASE_S / 3]


def test_time_spent_renewing_counts_towards_the_next_renewal() -> None:
    """The clock moves while the first renewal runs (a slow UPDATE, or the test's clock
    stepped on at that moment): the next renewal is due a third of a lease after the first
    began, not after it ended, so the lease it wrote never runs out unrenewed."""
    clock = SteppedClock()
    renewals: list[float] = []

    def renew() -> None:
        renewals.append(clock.value)
        if len(renewals) == 1:
            clock.advance(LEASE_S / 3)

    with LeaseKeeper(renew, LEASE_S, clock):
        clock.advance(LEASE_S / 3)
        assert wait_for(lambda: len(renewals) >= 2, timeout=30, every=0.01), renewals
    assert renewals[:2] == [1_024.0 + LEASE_S / 3, 1_024.0 + 2 * LEASE_S / 3]


def test_a_failed_renewal_is_tried_again_at_the_next_look() -> None:
    clock = SteppedClock()
    attempts: list[float] = []

    def renew() -> None:
        attempts.append(clock.value)
        if len(attempts) == 1:
            raise OSError("database is locked")

    with LeaseKeeper(renew, LEASE_S, clock):
        clock.advance(LEASE_S / 3)
        assert wait_for(lambda: len(attempts) >= 2, timeout=30, every=0.01), attempts
    assert attempts[:2] == [1_024.0 + LEASE_S / 3] * 2
