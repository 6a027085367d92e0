"""Shared state through the real Redis (127.0.0.1:6379, database 1, a unique key prefix per
test): controllers and dashboards see one truth, and it survives a controller restart.
Events are formatted as in ../shared/asterisk-22-captures/ami-queue-call.raw."""

from __future__ import annotations

import asyncio
import json

import pytest

from hotline12345.agents.client import AmiConfig
from hotline12345.agents.queues import QueueDef
from hotline12345.agents.runtime import AgentsRuntime
from hotline12345.agents.store import RedisStore, store_from_env
from tests.waiting import until

from .conftest import REDIS_URL
from .fake_ami import FakeAmi, FakeCaller, FakeMember, frame

QUEUES = [QueueDef("q-general", "综合受理", 15)]
AGENT1 = "Local/agent1@agents/n"



def controller(ami: FakeAmi, prefix: str) -> AgentsRuntime:
    config = AmiConfig("127.0.0.1", "hotline", "s3cret", port=ami.port,
                       backoff_initial_s=0.05, backoff_max_s=0.2)
    return AgentsRuntime(QUEUES, ami=config, store=RedisStore(REDIS_URL, prefix=prefix),
                         save_interval_s=0.01)


def answer(ami: FakeAmi, caller: FakeCaller) -> None:
    """QueueCallerLeave then AgentConnect, in the capture's order."""
    q = ami.queues["q-general"]
    q.callers.remove(caller)
    chan = ami.channel_fields(caller)
    ami.broadcast(
        frame(("Event", "QueueCallerLeave"), ("Privilege", "agent,all"), *chan,
              ("Queue", "q-general"), ("Position", 1), ("Count", 0))
        + frame(("Event", "AgentConnect"), ("Privilege", "agent,all"), *chan,
                ("DestChannel", "Local/agent1@agents-00000003;1"), ("Queue", "q-general"),
                ("Interface", AGENT1), ("MemberName", "Agent One"), ("HoldTime", 3),
                ("RingTime", 1)))


async def test_dashboard_follows_a_controller_and_restart_keeps_the_day(
    fake_ami: FakeAmi, redis_prefix: str
) -> None:
    fake_ami.add_member("q-general", FakeMember(AGENT1, "Agent One", membership="static"))
    ctl = controller(fake_ami, redis_prefix)
    await ctl.start()
    dash = AgentsRuntime(QUEUES, store=RedisStore(REDIS_URL, prefix=redis_prefix))
    try:
        assert ctl.monitor is not None
        await ctl.monitor.wait_connected(10)
        caller = FakeCaller("1795849881.4", "Local/s@caller2-00000002;1", "13900139000",
                            "王五", 0)
        fake_ami.caller_join("q-general", caller)
        await until(lambda: bool(ctl.state.queues["q-general"].callers))
        await dash.start()  # a dashboard without AMI: loads, then follows
        assert dash.ami_status()["state"] == "following"
        await until(lambda: "1795849881.4" in dash.state.queues["q-general"].callers)
        assert dash.state.queues["q-general"].callers["1795849881.4"].name == "王五"
        answer(fake_ami, caller)
        await until(lambda: len(dash.state.overall) == 1)
        now = ctl.clock()
        assert dash.state.figures("q-general", "today", now) == ctl.state.figures(
            "q-general", "today", now)
        assert dash.state.queues["q-general"].callers == {}
        assert dash.state.seats[AGENT1].talking == "1795849881.4"
        since = ctl.state.seats[AGENT1].since
    finally:
        await ctl.stop()
    # The controller restarts: what it knew comes back from Redis, then AMI resyncs.
    again = controller(fake_ami, redis_prefix)
    await again.start()
    try:
        assert len(again.state.overall) == 1
        record = again.state.overall.records[0]
        assert (record.id, record.outcome, record.interface) == (
            "q-general|1795849881.4|1", "answered", AGENT1)
        assert again.state.seats[AGENT1].since == since
        assert again.monitor is not None
        await again.monitor.wait_connected(10)
        # The fake's member is idle (Status 1, InCall 0): the resync ends the stale call.
        await until(lambda: again.state.seats[AGENT1].talking == "")
        f = again.state.figures("q-general", "today", again.clock())
        assert (f.offered, f.answered) == (1, 1)
    finally:
        await again.stop()
        await dash.stop()


async def test_two_controllers_count_a_call_once(fake_ami: FakeAmi, redis_prefix: str) -> None:
    import redis.asyncio as aioredis

    fake_ami.add_member("q-general", FakeMember(AGENT1, "Agent One", membership="static"))
    a, b = controller(fake_ami, redis_prefix), controller(fake_ami, redis_prefix)
    await a.start()
    await b.start()
    try:
        assert a.monitor is not None and b.monitor is not None
        await a.monitor.wait_connected(10)
        await b.monitor.wait_connected(10)
        caller = FakeCaller("42.1", "PJSIP/trunk-1", "13800138000", "张三", 0)
        fake_ami.caller_join("q-general", caller)
        await until(lambda: bool(a.state.queues["q-general"].callers)
                    and bool(b.state.queues["q-general"].callers))
        answer(fake_ami, caller)
        await until(lambda: len(a.state.overall) == 1 and len(b.state.overall) == 1)
        r = aioredis.from_url(REDIS_URL, decode_responses=True)
        try:
            for _ in range(500):
                if await r.zcard(f"{redis_prefix}records:by_time") and await r.get(
                        f"{redis_prefix}live"):
                    break
                await asyncio.sleep(0.01)
            stored = await r.hgetall(f"{redis_prefix}records")
            assert list(stored) == ["q-general|42.1|1"]
            assert json.loads(stored["q-general|42.1|1"])["outcome"] == "answered"
        finally:
            await r.aclose()
    finally:
        await a.stop()
        await b.stop()


async def test_unreachable_redis_is_a_clear_error() -> None:
    store = RedisStore("redis://:hunter2@127.0.0.1:1/1")
    with pytest.raises(ConnectionError) as info:
        await store.open()
    assert "HOTLINE12345_REDIS_URL" in str(info.value) and "hunter2" not in str(info.value)


def test_store_from_environment() -> None:
    assert store_from_env({}).shared is False
    store = store_from_env({"HOTLINE12345_REDIS_URL": REDIS_URL})
    assert isinstance(store, RedisStore) and store.url == REDIS_URL
