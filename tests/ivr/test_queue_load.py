"""Live queue figures in routing: the AMI monitor's waiting callers reach each inbound
decision, so ``waiting_over`` overflow rules act on them.

End to end over real TCP: a fake Asterisk AMI peer (tests/agents/fake_ami.py, Asterisk 22's
wire format) sends QueueCallerJoin events, the agents runtime's AMI monitor applies them to
its state, the :class:`QueueLoadBoard` snapshots that state, and an inbound FastAGI call to a
number routed to ``market`` (default site: ``overflow: [{waiting_over: 20, to_queue:
q-general}]``) goes to ``q-general`` once 20 callers wait.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from hotline12345.agents.client import AmiConfig
from hotline12345.agents.runtime import AgentsRuntime, ChangeSignal
from hotline12345.agents.state import queue_defs
from hotline12345.calls.recorder import CallRecorder
from hotline12345.calls.store import SqlCallStore
from hotline12345.config import load_site
from hotline12345.db.migrate import upgrade
from hotline12345.ivr.flows import Services, build_registry
from hotline12345.ivr.queue_load import QueueLoadBoard
from hotline12345.ivr.simulate import CallScript, capture_like_env, run_session
from hotline12345.routing import QueueLoad, Router
from tests.agents.fake_ami import FakeAmi, FakeCaller
from tests.waiting import until

from .conftest import FIXED_NOW, ServerFactory, serve_process

MARKET_NUMBER = "12315"  # a dual-number legacy hotline queued at `market`


def waiting(board: QueueLoadBoard, queue: str) -> int:
    load = board().get(queue)
    return load.waiting if load is not None else -1


async def test_inbound_call_overflows_when_the_ami_monitor_sees_the_queue_full(
        serve: ServerFactory, tmp_path: Path) -> None:
    site = load_site(None)
    router = Router(site)
    url = f"sqlite:///{tmp_path / 'calls.sqlite3'}"
    upgrade(url)
    store = SqlCallStore(url)
    recorder = CallRecorder(store, linger_s=0)
    board = QueueLoadBoard(min_interval_s=0.01)
    registry = build_registry(Services(router, recorder, clock=lambda: FIXED_NOW,
                                       queue_load=board))
    server = await serve(registry)

    async def route(i: int) -> tuple[str, tuple[str, ...]]:
        uid = f"1795849900.{i}"
        r = await run_session("127.0.0.1", server.port, CallScript(capture_like_env(
            uniqueid=uid, dialled=MARKET_NUMBER, caller="13800138000", script="inbound")),
            timeout_s=10)
        assert r.status == "SUCCESS", r.error
        assert recorder.flush(5)
        row = store.get(uid)
        assert row is not None and row.target == r.variables["HOTLINE_QUEUE"]
        return r.variables["HOTLINE_QUEUE"], row.reasons

    async with FakeAmi() as ami:
        ami.add_queue("market")
        runtime = AgentsRuntime(queue_defs(site), ami=AmiConfig(
            "127.0.0.1", "hotline", "s3cret", port=ami.port, backoff_initial_s=0.05,
            backoff_max_s=0.2))
        await runtime.start()
        try:
            assert runtime.monitor is not None
            await runtime.monitor.wait_connected(10)
            board.follow(runtime)
            await until(lambda: waiting(board, "market") == 0)
            assert (await route(0))[0] == "market"

            callers = [FakeCaller(f"1795849800.{i}", f"PJSIP/trunk-{i:08x}",
                                  f"139{i:08d}", "张三", time.time()) for i in range(20)]
            for c in callers[:19]:
                ami.caller_join("market", c)
            await until(lambda: waiting(board, "market") == 19)
            assert (await route(1))[0] == "market"  # 19 waiting: below the threshold

            ami.caller_join("market", callers[19])
            await until(lambda: waiting(board, "market") == 20)
            queue, reasons = await route(2)
            assert queue == "q-general"  # 20 waiting: overflow (多援一)
            assert "market has 20 callers waiting (overflow at 20)" in reasons
            assert board()["market"].longest_wait_s >= 0.0

            ami.caller_abandon("market", callers[0].uniqueid)
            await until(lambda: waiting(board, "market") == 19)
            assert (await route(3))[0] == "market"
        finally:
            await board.stop()
            await runtime.stop()
            recorder.close()
            store.close()
    assert board() == {}


@dataclass
class FakeQueue:
    joined: list[float] = field(default_factory=list)

    @property
    def callers(self) -> dict[str, Any]:
        return {str(i): t for i, t in enumerate(self.joined)}

    def longest_wait(self, now: float) -> float:
        return max((now - t for t in self.joined), default=0.0)


@dataclass
class FakeState:
    queues: dict[str, FakeQueue] = field(default_factory=dict)


@dataclass
class FakeMonitor:
    connected: bool = True


@dataclass
class FakeStore:
    shared: bool = False


class FakeRuntime(ChangeSignal):
    """The parts of AgentsRuntime the board reads, with its own change notification."""

    def __init__(self, monitor: FakeMonitor | None = None, shared: bool = False) -> None:
        super().__init__()
        self.state = FakeState()
        self.monitor = monitor
        self.store = FakeStore(shared)
        self.now = 1000.0

    def clock(self) -> float:
        return self.now


async def test_board_refreshes_on_change_not_per_call() -> None:
    rt = FakeRuntime(FakeMonitor())
    rt.state.queues["market"] = FakeQueue([990.0, 995.0])
    board = QueueLoadBoard(min_interval_s=0, max_age_s=30)
    assert board() == {}
    board.follow(rt)  # type: ignore[arg-type]
    try:
        assert board() == {"market": QueueLoad(2, 10.0)}
        refreshes = board.refreshes
        snapshot = board()
        for _ in range(1000):  # decisions read the snapshot: no rebuilding
            assert board() is snapshot
        assert board.refreshes == refreshes
        rt.state.queues["market"].joined.append(999.0)
        rt.state.queues["health"] = FakeQueue()
        rt.notify()
        await until(lambda: board().get("market") == QueueLoad(3, 10.0))
        assert board()["health"] == QueueLoad(0, 0.0)
        with pytest.raises(TypeError):
            board()["market"] = QueueLoad()  # type: ignore[index]
    finally:
        await board.stop()


async def test_only_a_change_of_waiting_callers_builds_a_new_snapshot() -> None:
    """Most AMI events change seats or calls, not the callers waiting: the board looks, but
    the snapshot stays; a change in one queue renews that queue's entry only."""
    rt = FakeRuntime(FakeMonitor())
    rt.state.queues["market"] = FakeQueue([990.0, 995.0])
    rt.state.queues["health"] = FakeQueue([998.0])
    board = QueueLoadBoard(min_interval_s=0, max_age_s=30)
    board.follow(rt)  # type: ignore[arg-type]
    try:
        snapshot, refreshes = board(), board.refreshes
        async def a_change_the_board_looked_at() -> None:
            before = board.looks
            rt.notify()
            await until(lambda: board.looks > before)

        for _ in range(3):  # e.g. a seat paused, a hangup of a call not queued
            await a_change_the_board_looked_at()
        assert board() is snapshot and board.refreshes == refreshes
        health = board()["health"]
        rt.state.queues["market"].joined.append(999.0)
        rt.notify()
        await until(lambda: board().get("market") == QueueLoad(3, 10.0))
        assert board()["health"] is health  # unchanged queue: its entry kept
        assert board.refreshes == refreshes + 1
        rt.state.queues["health"].joined.clear()  # a caller leaves, another queue appears
        rt.state.queues["water"] = FakeQueue()
        rt.notify()
        await until(lambda: board().get("health") == QueueLoad(0, 0.0))
        assert board()["water"] == QueueLoad(0, 0.0)
    finally:
        await board.stop()


async def test_longest_wait_ages_without_events() -> None:
    rt = FakeRuntime(FakeMonitor())
    rt.state.queues["market"] = FakeQueue([990.0])
    board = QueueLoadBoard(min_interval_s=0, max_age_s=0.05)
    board.follow(rt)  # type: ignore[arg-type]
    try:
        assert board()["market"].longest_wait_s == 10.0
        rt.now = 1030.0  # no AMI event: the board still refreshes every max_age_s
        await until(lambda: board()["market"].longest_wait_s == 40.0)
    finally:
        await board.stop()


@pytest.mark.parametrize(("monitor", "shared", "live"), [
    (FakeMonitor(connected=False), False, False),  # AMI down: no stale counts
    (None, False, False),  # no AMI and nothing to follow
    (None, True, True),  # following a shared store another controller's monitor keeps
])
async def test_only_live_figures_are_published(monitor: FakeMonitor | None, shared: bool,
                                               live: bool) -> None:
    rt = FakeRuntime(monitor, shared)
    rt.state.queues["market"] = FakeQueue([990.0] * 25)
    board = QueueLoadBoard(min_interval_s=0)
    board.follow(rt)  # type: ignore[arg-type]
    try:
        assert (board().get("market") == QueueLoad(25, 10.0)) is live
        assert bool(board()) is live
    finally:
        await board.stop()


async def test_monitor_going_down_empties_the_board() -> None:
    monitor = FakeMonitor()
    rt = FakeRuntime(monitor)
    rt.state.queues["market"] = FakeQueue([990.0] * 25)
    board = QueueLoadBoard(min_interval_s=0)
    board.follow(rt)  # type: ignore[arg-type]
    try:
        assert board()["market"].waiting == 25
        monitor.connected = False
        rt.notify()  # the runtime notifies on every monitor status change
        await until(lambda: board() == {})
    finally:
        await board.stop()


async def test_a_broken_state_empties_the_board_and_routing_goes_on(
        caplog: pytest.LogCaptureFixture) -> None:
    rt = FakeRuntime(FakeMonitor())
    rt.state.queues["market"] = FakeQueue([990.0] * 25)
    board = QueueLoadBoard(min_interval_s=0)
    board.follow(rt)  # type: ignore[arg-type]
    try:
        assert board()["market"].waiting == 25
        rt.state = None  # type: ignore[assignment]
        rt.notify()
        await until(lambda: board() == {})
        assert [r for r in caplog.records if r.getMessage() == "ivr.queue_load.refresh_failed"]
        rt.state = FakeState({"market": FakeQueue([995.0])})
        rt.notify()
        await until(lambda: board().get("market") == QueueLoad(1, 5.0))
    finally:
        await board.stop()


def test_board_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="max_age_s"):
        QueueLoadBoard(max_age_s=0)


async def test_serve_feeds_the_ami_monitors_queues_to_routing(tmp_path: Path) -> None:
    """``hotline12345 serve`` as a process, its AMI monitor on a fake Asterisk: once 20
    callers wait in ``market``, its FastAGI calls for ``market`` go to ``q-general``."""
    async with FakeAmi() as ami:
        ami.add_queue("market")
        async with serve_process(tmp_path, ami.port) as port:
            await until(lambda: ami.logins > 0 and bool(ami.live), timeout=30)

            async def route(i: int) -> str:
                r = await run_session("127.0.0.1", port, CallScript(capture_like_env(
                    uniqueid=f"1795849950.{i}", dialled=MARKET_NUMBER, caller="13800138000",
                    script="inbound")), timeout_s=10)
                assert r.status == "SUCCESS", r.error
                return r.variables["HOTLINE_QUEUE"]

            assert await route(0) == "market"
            for i in range(20):
                ami.caller_join("market", FakeCaller(f"1795849801.{i}", f"PJSIP/t-{i:08x}",
                                                     f"139{i:08d}", "张三", time.time()))
            routed: list[str] = []
            loop = asyncio.get_running_loop()
            end = loop.time() + 15
            while loop.time() < end and (not routed or routed[-1] != "q-general"):
                routed.append(await route(len(routed) + 1))
                await asyncio.sleep(0.05)
            assert routed[-1] == "q-general", routed
            assert set(routed) <= {"market", "q-general"}

