"""The running agents service: state model + AMI monitor + store, and change notification.

``AgentsRuntime`` ties the pure :class:`~.state.QueueState` to its sources:

- with AMI configured, an :class:`~.client.AmiMonitor` feeds it every AMI message; the state
  is saved to the store after changes (coalesced);
- without AMI but with a shared (Redis) store, it follows the store;
- otherwise it shows configured queues only, and says AMI is not configured.

Waiters (the SSE stream) call :meth:`wait_change` and are woken on every change.

Other subsystems see every AMI event through :meth:`AgentsRuntime.add_listener` without
touching the state model (the recordings pipeline's ``JobSink.handle_event``): a listener is
called in the monitor's reader, in stream order, after the state update, so it must not
block; whatever it raises is caught (logged once per listener) and never stops the monitor.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from hotline12345.logs import log_event, mask_text

from .client import AmiConfig, AmiMonitor, MonitorStatus
from .codec import AmiMessage
from .queues import QueueDef
from .state import QueueState
from .store import MemoryStore, StateStore
from .wallboard import wallboard_snapshot

__all__ = ["AgentsRuntime", "AmiListener"]

AmiListener = Callable[[AmiMessage], None]

_log = logging.getLogger("hotline12345.agents")

HOW_TO_CONNECT = (
    "连接方法：设置环境变量 HOTLINE12345_AMI_HOST、"
    "HOTLINE12345_AMI_PORT（默认 5038）、HOTLINE12345_AMI_USER 和 HOTLINE12345_AMI_SECRET"
    "（或 HOTLINE12345_AMI_SECRET_FILE 指向密钥文件），账号使用本项目生成的 manager.conf 中的"
    "账号，然后重新运行 hotline12345 serve。"
)
NOT_CONFIGURED = "未连接 Asterisk：没有配置 AMI（Asterisk Manager Interface）。" + HOW_TO_CONNECT


@dataclass(slots=True)
class _Listener:
    callback: AmiListener
    name: str
    failures: int = 0


class ChangeSignal:
    """A version number that goes up on every change, and a wake-up for those waiting.

    A change with nobody waiting costs an increment; each waiter has its own future, woken
    by the next change or ended by its timeout."""

    def __init__(self) -> None:
        self.version = 0
        self._waiters: list[asyncio.Future[None]] = []

    def notify(self) -> None:
        self.version += 1
        if self._waiters:
            waiters, self._waiters = self._waiters, []
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)

    async def wait_change(self, version: int, timeout: float) -> int:
        """Return as soon as :attr:`version` differs from ``version`` (or after timeout)."""
        if self.version != version:
            return self.version
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout(timeout):
                await waiter
        except TimeoutError:
            pass
        finally:
            if waiter.cancelled():  # timed out or cancelled, not woken: must not pile up
                with contextlib.suppress(ValueError):
                    self._waiters.remove(waiter)
        return self.version


class AgentsRuntime(ChangeSignal):
    def __init__(
        self,
        queues: Iterable[QueueDef] = (),
        *,
        ami: AmiConfig | None = None,
        store: StateStore | None = None,
        clock: Callable[[], float] = time.time,
        save_interval_s: float | None = None,
    ) -> None:
        ChangeSignal.__init__(self)
        self.clock = clock
        self.state = QueueState(queues)
        self.store = store or MemoryStore()
        # Only a store that keeps them needs the decided calls handed over one by one.
        self._saves = self.store.shared or self.store.keeps_records
        self.state.track_new_records = self._saves
        self.ami_config = ami
        self.monitor: AmiMonitor | None = None
        if ami is not None:
            self.monitor = AmiMonitor(ami, self._on_message, on_status=self._on_status,
                                      clock=clock)
        self.events_total = 0
        self._dirty = asyncio.Event()
        self._stopping = False  # the saver finishes the save in hand, then ends
        self._saving = False
        self._save_interval = (self.store.save_interval_s if save_interval_s is None
                               else save_interval_s)
        self._tasks: list[asyncio.Task[None]] = []
        self._saver_task: asyncio.Task[None] | None = None
        self._listeners: list[_Listener] = []
        self.started_at = clock()

    # ------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        await self.store.open()
        try:
            if await self.store.load(self.state, self.clock()):
                log_event(_log, "agents.state.loaded", store=self.store.description,
                          seats=len(self.state.seats), records=len(self.state.overall))
        except Exception as exc:
            log_event(_log, "agents.state.load_failed", logging.WARNING,
                      store=self.store.description, error=str(exc))
        loop = asyncio.get_running_loop()
        if self.monitor is not None:
            self.monitor.start()
            if self._saves:
                self._saver_task = loop.create_task(self._saver(), name="agents-saver")
        elif self.store.shared:
            self._tasks.append(loop.create_task(
                self.store.follow(self.state, self.clock, self.notify), name="agents-follow"))
        self._tasks.append(loop.create_task(self._ticker(), name="agents-ticker"))

    async def stop(self) -> None:
        if self.monitor is not None:
            await self.monitor.stop()
        if self._saver_task is not None:
            # Never cancelled in the middle of a save: the records it drained from the
            # state would be lost. It finishes the save in hand; the final save below
            # writes what came after.
            self._stopping = True
            if not self._saving:
                self._saver_task.cancel()  # waiting or pausing: nothing in hand
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._saver_task
            self._saver_task = None
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        self._tasks.clear()
        if self._saves and self.monitor is not None:
            with contextlib.suppress(Exception):
                await self.store.save(self.state)
        await self.store.close()

    # ------------------------------------------------------------- changes

    def add_listener(self, callback: AmiListener, *, name: str | None = None) -> None:
        """Call ``callback(event)`` for every AMI event, after the state model has applied
        it. It runs in the monitor's reader: it must be quick and must not block. Its
        exceptions are caught; the first one of each listener is logged
        (``agents.listener.failed``), later ones only counted (:meth:`listener_failures`)."""
        label = name or getattr(callback, "__qualname__", None) or repr(callback)
        self._listeners.append(_Listener(callback, label))

    def listener_failures(self) -> dict[str, int]:
        return {li.name: li.failures for li in self._listeners}

    def _on_message(self, msg: AmiMessage) -> None:
        is_event = msg.kind == "event"
        self.events_total += is_event
        try:
            changed = self.state.apply(msg, self.clock())
        except Exception as exc:  # one odd event must not stop the monitor
            log_event(_log, "agents.state.apply_failed", logging.ERROR, ami_event=msg.name,
                      error=mask_text(f"{type(exc).__name__}: {exc}"))
            changed = False
        if changed:
            self._changed()
        if is_event and self._listeners:
            self._tell_listeners(msg)

    def _changed(self) -> None:
        """Wake the waiters; wake the saver when there is something to save: any change for
        a shared store, new decided calls for a store that keeps only those."""
        self.notify()
        if self.store.shared or self.state.new_records:
            self._dirty.set()

    def _tell_listeners(self, msg: AmiMessage) -> None:
        for listener in self._listeners:
            try:
                listener.callback(msg)
            except Exception as exc:
                listener.failures += 1
                if listener.failures == 1:
                    log_event(_log, "agents.listener.failed", logging.ERROR,
                              listener=listener.name, ami_event=msg.name,
                              error=f"{type(exc).__name__}: {exc}",
                              hint="logged once per listener; later failures are counted")

    def _on_status(self, status: MonitorStatus) -> None:
        self.notify()

    async def _saver(self) -> None:
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            self._saving = True
            pause = self._save_interval
            try:
                await self.store.save(self.state)
            except Exception as exc:
                log_event(_log, "agents.state.save_failed", logging.WARNING,
                          store=self.store.description, error=str(exc))
                self._dirty.set()
                pause = max(pause, 1.0)
            finally:
                self._saving = False
            if self._stopping:
                return
            await asyncio.sleep(pause)

    async def _ticker(self) -> None:
        """Once a second: expire calls that left without an answer; hourly pruning."""
        last_prune = 0.0
        while True:
            await asyncio.sleep(1.0)
            now = self.clock()
            if self.monitor is not None and self.state.expire(now):
                self._changed()
            if now - last_prune > 3600:
                last_prune = now
                self.state.prune(now)
                prune = getattr(self.store, "prune", None)
                if prune is not None and self.monitor is not None:
                    with contextlib.suppress(Exception):
                        await prune(now)

    # ------------------------------------------------------------- views

    def ami_status(self) -> dict[str, Any]:
        if self.monitor is None:
            following = self.store.shared
            return {
                "configured": False,
                "connected": False,
                "state": "following" if following else "not_configured",
                "detail": (f"本实例未连接 AMI，显示共享存储（{self.store.description}）中的状态。"
                           if following else NOT_CONFIGURED),
                "how_to_connect": HOW_TO_CONNECT,
            }
        s = self.monitor.status
        return {
            "configured": True,
            "connected": self.monitor.connected,
            "state": s.state,
            "detail": s.detail,
            "address": self.monitor.config.address,
            "since": s.since,
            "reconnects": s.reconnects,
            "last_resync_at": s.last_resync_at,
            "how_to_connect": HOW_TO_CONNECT,
        }

    def snapshot(self) -> dict[str, Any]:
        snap = wallboard_snapshot(self.state, self.clock())
        snap["ami"] = self.ami_status()
        snap["version"] = self.version
        snap["store"] = self.store.description
        return snap
