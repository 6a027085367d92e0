"""Live queue figures for routing: the AMI monitor's waiting callers, as a snapshot.

The routing core's overflow rules (``waiting_over``) read ``CallContext.queue_load``. A
:class:`QueueLoadBoard` is what the inbound flow asks for it (``Services.queue_load``):
calling it returns the current snapshot, a read-only mapping ``queue -> QueueLoad`` built
from the agents runtime's state (:class:`hotline12345.agents.state.QueueState`). When that
state changes (the runtime's change notification, looked at most every ``min_interval_s``)
the board counts the callers waiting in each queue and rebuilds the snapshot only if a count
or the set of queues changed, and then only the entries of the queues whose count changed;
every ``max_age_s`` it also refreshes the queues with callers waiting so that
``longest_wait_s`` ages. Most AMI events (seats, dialling, hangups of calls not queued)
therefore cost a count of each queue's callers, not a new snapshot, and nothing is done on
the call path: a decision costs one attribute read. A queue whose count is unchanged keeps
its ``longest_wait_s`` until the next ageing (one caller left and another joined between
two looks), at most ``max_age_s`` old; routing's overflow rules read ``waiting`` only.

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
        self.looks = 0  # times the board looked at the state
        self.refreshes = 0  # snapshots built (a look that finds no change builds none)
        self._loads: dict[str, QueueLoad] = {}  # what the snapshot shows, to build the next
        self._state: object = None  # the state object the snapshot was built from
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
        self._publish(None, {})

    async def _follow(self, runtime: AgentsRuntimeLike, version: int) -> None:
        loop = asyncio.get_running_loop()
        aged_at = loop.time()
        while True:
            version = await runtime.wait_change(version, self.max_age_s)
            now = loop.time()
            age = now - aged_at >= self.max_age_s
            if age:
                aged_at = now
            try:
                self.refresh(age=age)
            except Exception as exc:  # a bad state must not stop the board, nor routing
                self._publish(None, {})
                log_event(log, "ivr.queue_load.refresh_failed", logging.ERROR,
                          error=f"{type(exc).__name__}: {exc}",
                          hint="overflow by waiting callers is off until the next refresh")
            if self.min_interval_s:
                await asyncio.sleep(self.min_interval_s)  # coalesce bursts of AMI events

    def refresh(self, *, age: bool = True) -> None:
        """Bring the snapshot up to date with the followed runtime's state: rebuilt if the
        callers waiting in a queue (their count) or the set of queues changed, with only
        those queues' entries new; with ``age``, also the entries of queues where callers
        wait, so that their ``longest_wait_s`` is current."""
        runtime = self._runtime
        if runtime is None:
            return
        self.looks += 1
        monitor = runtime.monitor
        live = monitor.connected if monitor is not None else runtime.store.shared
        if not live:
            if self._state is not None or self.snapshot is not _EMPTY:
                self._publish(None, {})
            return
        state = runtime.state
        queues = state.queues
        loads = self._loads
        same = state is self._state and queues.keys() == loads.keys()
        if not same:
            loads = {}  # another state or another set of queues: every entry anew
        stale = [name for name, q in queues.items()
                 if (load := loads.get(name)) is None or load.waiting != len(q.callers)
                 or (age and load.waiting)]
        if same and not stale:
            return
        now = runtime.clock()
        loads = dict(loads)
        for name in stale:
            q = queues[name]
            loads[name] = QueueLoad(waiting=len(q.callers), longest_wait_s=q.longest_wait(now))
        self._publish(state, loads)

    def _publish(self, state: object, loads: dict[str, QueueLoad]) -> None:
        self.refreshes += 1
        self._state = state
        self._loads = loads
        self.snapshot = MappingProxyType(loads) if loads else _EMPTY
