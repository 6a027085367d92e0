"""Live queue figures for routing: the AMI monitor's waiting callers, as a snapshot.

The routing core's overflow rules (``waiting_over``) read ``CallContext.queue_load``. A
:class:`QueueLoadBoard` is what the inbound flow asks for it (``Services.queue_load``):
calling it returns the current snapshot, a read-only mapping ``queue -> QueueLoad`` built
from the agents runtime's state (:class:`hotline12345.agents.state.QueueState`). The
snapshot is rebuilt when that state changes (the runtime's change notification, at most
every ``min_interval_s``) and at least every ``max_age_s`` so that ``longest_wait_s`` ages,
never on the call path: a decision costs one attribute read.

Only live figures are published: with the AMI monitor disconnected (or none and no shared
store to follow), the snapshot is empty, so routing falls back to the configured queues
instead of acting on stale counts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, Protocol

from hotline12345.logs import log_event
from hotline12345.routing import QueueLoad

log = logging.getLogger(__name__)

_EMPTY: Mapping[str, QueueLoad] = MappingProxyType({})


class _Queue(Protocol):
    @property
    def callers(self) -> Mapping[str, Any]: ...

    def longest_wait(self, now: float) -> float: ...


class _State(Protocol):
    @property
    def queues(self) -> Mapping[str, _Queue]: ...


class _Monitor(Protocol):
    @property
    def connected(self) -> bool: ...


class _Store(Protocol):
    shared: bool


class AgentsRuntimeLike(Protocol):
    """What the board reads of :class:`hotline12345.agents.runtime.AgentsRuntime`."""

    @property
    def state(self) -> _State: ...

    @property
    def monitor(self) -> _Monitor | None: ...

    @property
    def store(self) -> _Store: ...

    @property
    def version(self) -> int: ...

    @property
    def clock(self) -> Callable[[], float]: ...

    async def wait_change(self, version: int, timeout: float) -> int: ...


class QueueLoadBoard:
    """``board()`` -> the current ``queue -> QueueLoad`` snapshot (empty until it follows a
    runtime with live data)."""

    def __init__(self, *, min_interval_s: float = 0.05, max_age_s: float = 1.0) -> None:
        if min_interval_s < 0 or max_age_s <= 0:
            raise ValueError("min_interval_s must be >= 0 and max_age_s > 0")
        self.min_interval_s = min_interval_s
        self.max_age_s = max_age_s
        self.snapshot: Mapping[str, QueueLoad] = _EMPTY
        self.refreshes = 0
        self._runtime: AgentsRuntimeLike | None = None
        self._task: asyncio.Task[None] | None = None

    def __call__(self) -> Mapping[str, QueueLoad]:
        return self.snapshot

    # -- following a runtime ------------------------------------------------------------

    def follow(self, runtime: AgentsRuntimeLike) -> None:
        """Rebuild the snapshot from ``runtime`` now and whenever it changes (call from the
        event loop the runtime runs in; :meth:`stop` ends it)."""
        if self._task is not None:
            raise RuntimeError("QueueLoadBoard already follows a runtime")
        self._runtime = runtime
        version = runtime.version  # what this first snapshot shows
        self.refresh()
        self._task = asyncio.get_running_loop().create_task(self._follow(runtime, version),
                                                            name="queue-load-board")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._runtime = None
        self.snapshot = _EMPTY

    async def _follow(self, runtime: AgentsRuntimeLike, version: int) -> None:
        while True:
            version = await runtime.wait_change(version, self.max_age_s)
            try:
                self.refresh()
            except Exception as exc:  # a bad state must not stop the board, nor routing
                self.snapshot = _EMPTY
                log_event(log, "ivr.queue_load.refresh_failed", logging.ERROR,
                          error=f"{type(exc).__name__}: {exc}",
                          hint="overflow by waiting callers is off until the next refresh")
            if self.min_interval_s:
                await asyncio.sleep(self.min_interval_s)  # coalesce bursts of AMI events

    def refresh(self) -> None:
        """Rebuild the snapshot from the followed runtime's state."""
        runtime = self._runtime
        if runtime is None:
            return
        self.refreshes += 1
        monitor = runtime.monitor
        live = monitor.connected if monitor is not None else runtime.store.shared
        if not live:
            self.snapshot = _EMPTY
            return
        now = runtime.clock()
        self.snapshot = MappingProxyType({
            name: QueueLoad(waiting=len(q.callers), longest_wait_s=q.longest_wait(now))
            for name, q in runtime.state.queues.items()})
