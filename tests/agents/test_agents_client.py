"""The AMI client against a fake Asterisk over real TCP (formats of
../shared/asterisk-22-captures/ami-queue-call.raw): login, resync, actions, ping deadline,
reconnect, a slow peer, malformed frames."""

from __future__ import annotations

import asyncio
import logging
import os
import random
from pathlib import Path

import pytest

from hotline12345.agents.client import (
    AmiActionError,
    AmiConfig,
    AmiConfigError,
    AmiConnectionLost,
    AmiLoginError,
    AmiMonitor,
    AmiNotConnected,
    AmiSession,
)
from hotline12345.agents.codec import AmiMessage
from hotline12345.agents.queues import QueueDef
from hotline12345.agents.state import QueueState
from tests.waiting import until

from .fake_ami import FakeAmi, FakeCaller, FakeMember

T = 1795849900.0
AGENT1 = "Local/agent1@agents/n"
AGENT2 = "Local/agent2@agents/n"


def cfg(port: int, **over: object) -> AmiConfig:
    base: dict[str, object] = dict(host="127.0.0.1", port=port, username="hotline",
                                   secret="s3cret", connect_timeout_s=2.0, action_timeout_s=3.0,
                                   ping_interval_s=5.0, ping_timeout_s=2.0,
                                   backoff_initial_s=0.05, backoff_max_s=0.2)
    base.update(over)
    return AmiConfig(**base)  # type: ignore[arg-type]


def seed(ami: FakeAmi) -> None:
    ami.add_member("q-general", FakeMember(AGENT1, "Agent One", membership="static"))
    ami.add_member("q-general", FakeMember(AGENT2, "李四", penalty=1, paused=True,
                                           reason="培训", last_pause=int(T) - 60))



def monitor_for(ami: FakeAmi, **over: object) -> tuple[AmiMonitor, QueueState]:
    state = QueueState([QueueDef("q-general", "综合受理", 15)])

    def apply(msg: AmiMessage) -> None:
        state.apply(msg, T)

    mon = AmiMonitor(cfg(ami.port, **over), apply, clock=lambda: T)
    return mon, state


async def test_login_and_resync_build_the_state(fake_ami: FakeAmi) -> None:
    seed(fake_ami)
    fake_ami.add_queue("q-general").callers.append(
        FakeCaller("1795849881.4", "Local/s@caller2-00000002;1", "13900139000", "王五", 0, wait=42))
    mon, state = monitor_for(fake_ami)
    mon.start()
    try:
        await mon.wait_connected(10)
        assert mon.status.state == "connected" and mon.status.connects == 1
        assert sorted(state.seats) == [AGENT1, AGENT2]
        li = state.seats[AGENT2]
        assert (li.name, li.state, li.since, li.paused_reason()) == (
            "李四", "paused", T - 60, "培训")
        assert state.seats[AGENT1].state == "idle"
        caller = state.queues["q-general"].callers["1795849881.4"]
        assert (caller.name, caller.number, caller.joined_at) == ("王五", "13900139000", T - 42)
        actions = [a["Action"] for a in fake_ami.actions]
        assert actions[:2] == ["Login", "QueueStatus"]
    finally:
        await mon.stop()


async def test_login_failure_is_an_error_with_the_reason(fake_ami: FakeAmi) -> None:
    with pytest.raises(AmiLoginError, match="refused: Authentication failed"):
        await AmiSession.open(cfg(fake_ami.port, secret="wrong"), lambda m: None)
    mon = AmiMonitor(cfg(fake_ami.port, secret="wrong"), lambda m: None)
    mon.start()
    try:
        await until(lambda: mon.status.state == "login_failed")
        assert "Authentication failed" in mon.status.detail
        assert not mon.connected
        with pytest.raises(AmiNotConnected, match="Authentication failed"):
            await mon.action("Ping")
    finally:
        await mon.stop()


async def test_queue_actions_resolve_and_errors_raise(fake_ami: FakeAmi) -> None:
    seed(fake_ami)
    seen: list[AmiMessage] = []
    session = await AmiSession.open(cfg(fake_ami.port), seen.append)
    try:
        reply = await session.action("QueueAdd", {"Queue": "q-general", "Interface": "PJSIP/8001",
                                                  "MemberName": "王小明", "Penalty": 1})
        assert reply.get("Message") == "Added interface to queue"
        reply = await session.action("QueuePause", {"Interface": "PJSIP/8001", "Paused": "true",
                                                    "Reason": "小休"})
        assert reply.get("Message") == "Interface paused successfully"
        reply = await session.action("QueuePenalty", {"Interface": "PJSIP/8001", "Penalty": 3})
        assert reply.get("Message") == "Interface penalty set successfully"
        reply = await session.action("QueueRemove", {"Queue": "q-general",
                                                     "Interface": "PJSIP/8001"})
        assert reply.get("Message") == "Removed interface from queue"
        with pytest.raises(AmiActionError) as info:
            await session.action("QueueRemove", {"Queue": "q-general",
                                                 "Interface": "PJSIP/8001"})
        assert info.value.message == "Unable to remove interface: Not there"
        items = await session.list_action("QueueStatus")
        assert [m.name for m in items] == ["Success", "QueueParams", "QueueMember",
                                           "QueueMember", "QueueStatusComplete"]
        await until(lambda: any(m.name == "QueueMemberRemoved" for m in seen))
        events = [(m.name, m.get("MemberName")) for m in seen
                  if m.name.startswith("QueueMember") and m.name != "QueueMember"]
        assert events == [("QueueMemberAdded", "王小明"), ("QueueMemberPause", "王小明"),
                          ("QueueMemberPenalty", "王小明"), ("QueueMemberRemoved", "王小明")]
    finally:
        await session.close()


async def test_half_open_connection_is_detected_by_the_ping_deadline(
    fake_ami: FakeAmi, caplog: pytest.LogCaptureFixture
) -> None:
    seed(fake_ami)
    fake_ami.answer_pings = False  # the TCP connection stays open, nothing answers
    mon, _ = monitor_for(fake_ami, ping_interval_s=0.1, ping_timeout_s=0.2)
    with caplog.at_level(logging.WARNING, logger="hotline12345.agents.ami"):
        mon.start()
        try:
            await mon.wait_connected(10)
            await until(lambda: fake_ami.connections >= 2 and mon.status.reconnects >= 1)
            fake_ami.answer_pings = True
            await until(lambda: mon.connected and mon.status.connects >= 2)
        finally:
            await mon.stop()
    timeouts = [r for r in caplog.records if r.getMessage() == "ami.ping.timeout"]
    assert timeouts and timeouts[0].fields["timeout_s"] == 0.2  # type: ignore[attr-defined]
    lost = [r for r in caplog.records if r.getMessage() == "ami.disconnected"]
    assert "half-open" in lost[0].fields["reason"]  # type: ignore[attr-defined]


async def test_reconnect_resyncs_to_exactly_what_asterisk_has(fake_ami: FakeAmi) -> None:
    seed(fake_ami)
    mon, state = monitor_for(fake_ami)
    mon.start()
    try:
        await mon.wait_connected(10)
        assert sorted(state.seats) == [AGENT1, AGENT2]
        # While we are cut off, Asterisk changes: 李四 leaves, Agent One pauses, a caller joins.
        fake_ami.drop_all()
        q = fake_ami.queues["q-general"]
        del q.members[AGENT2]
        q.members[AGENT1].paused, q.members[AGENT1].reason = True, "会议"
        q.callers.append(FakeCaller("77.1", "PJSIP/trunk-01", "13700137000", "韩梅梅", 0,
                                    wait=7))
        await until(lambda: mon.status.connects >= 2 and mon.connected)
        assert sorted(state.seats) == [AGENT1]
        assert state.seats[AGENT1].paused_reason() == "会议"
        assert state.seats[AGENT1].state == "paused"
        callers = state.queues["q-general"].callers
        assert [(c.uniqueid, c.name, c.joined_at) for c in callers.values()] == [
            ("77.1", "韩梅梅", T - 7)]
        assert [a["Action"] for a in fake_ami.actions].count("QueueStatus") == 2
    finally:
        await mon.stop()


async def test_slow_peer_dribbling_bytes(fake_ami: FakeAmi) -> None:
    """Every 3 bytes in its own write with a pause: UTF-8 names are cut across reads."""
    seed(fake_ami)
    fake_ami.drip_bytes, fake_ami.drip_delay = 3, 0.0005
    fake_ami.reply_delay["QueuePause"] = 0.3
    mon, state = monitor_for(fake_ami)
    mon.start()
    try:
        await mon.wait_connected(20)
        assert state.seats[AGENT2].name == "李四"
        assert state.seats[AGENT2].paused_reason() == "培训"
        reply = await mon.action("QueuePause", Interface=AGENT1, Paused="true", Reason="午餐休息")
        assert reply.get("Message") == "Interface paused successfully"
        await until(lambda: state.seats[AGENT1].paused_reason() == "午餐休息")
    finally:
        await mon.stop()


async def test_malformed_frames_are_logged_and_skipped(
    fake_ami: FakeAmi, caplog: pytest.LogCaptureFixture
) -> None:
    seed(fake_ami)
    mon, state = monitor_for(fake_ami)
    with caplog.at_level(logging.WARNING, logger="hotline12345.agents.ami"):
        mon.start()
        try:
            await mon.wait_connected(10)
            fake_ami.broadcast(b"this is not AMI\r\n\r\n")
            fake_ami.broadcast(b"Event: QueueCallerJoin\r\nQueue q-general\r\n\r\n")
            fake_ami.broadcast(b"Event: QueueCallerJoin\r\nCallerIDName: \xff\xfe\r\n"
                               b"Queue: q-general\r\nUniqueid: bad.1\r\n\r\n")
            fake_ami.caller_join("q-general", FakeCaller("9.9", "PJSIP/t-9", "13900139000",
                                                         "王五", 0))
            await until(lambda: "9.9" in state.queues["q-general"].callers)
        finally:
            await mon.stop()
    reasons = [r.fields["reason"] for r in caplog.records  # type: ignore[attr-defined]
               if r.getMessage() == "ami.frame.malformed"]
    assert reasons[0] == "line 1 is not 'Key: Value'"
    assert "neither 'Event' nor 'Response'" in reasons[1]
    assert reasons[2] == "line 2 is not 'Key: Value'"
    assert reasons[3].startswith("invalid UTF-8")
    assert fake_ami.connections == 1 and mon.status.reconnects == 0
    assert state.queues["q-general"].callers["bad.1"].name == "\ufffd\ufffd"


async def test_a_server_that_is_not_asterisk() -> None:
    async def http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 400 Bad Request\r\n\r\n")
        await writer.drain()
        await reader.read()  # until the client hangs up
        writer.close()
        await writer.wait_closed()

    server = await asyncio.start_server(http, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        with pytest.raises(AmiConnectionLost, match="not an AMI server"):
            await AmiSession.open(cfg(port), lambda m: None)
    finally:
        server.close()
        await server.wait_closed()


async def test_nothing_listening_keeps_retrying() -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    mon = AmiMonitor(cfg(port), lambda m: None)
    mon.start()
    try:
        await until(lambda: mon.status.state == "disconnected")
        assert f"127.0.0.1:{port}" in mon.status.detail
        assert "cannot connect" in mon.status.detail
    finally:
        await mon.stop()
    assert mon.status.state == "stopped"


def test_backoff_doubles_and_is_capped() -> None:
    mon = AmiMonitor(cfg(1, backoff_initial_s=0.5, backoff_max_s=30.0, backoff_jitter=0.0),
                     lambda m: None)
    assert [mon.backoff(n) for n in range(1, 10)] == [0.5, 1, 2, 4, 8, 16, 30, 30, 30]
    jittery = AmiMonitor(cfg(1, backoff_max_s=30.0, backoff_jitter=0.2), lambda m: None,
                         rng=random.Random(1))
    values = [jittery.backoff(20) for _ in range(50)]
    assert all(24.0 <= v <= 36.0 for v in values) and len(set(values)) > 1


def test_config_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert AmiConfig.from_env({}) is None
    with pytest.raises(AmiConfigError, match="HOTLINE12345_AMI_SECRET") as info:
        AmiConfig.from_env({"HOTLINE12345_AMI_HOST": "pbx", "HOTLINE12345_AMI_USER": "u"})
    assert "HOTLINE12345_AMI_HOST" not in str(info.value).split("set ")[1].split(" (")[0]
    with pytest.raises(AmiConfigError, match="HOTLINE12345_AMI_PORT='x'"):
        AmiConfig.from_env({"HOTLINE12345_AMI_HOST": "pbx", "HOTLINE12345_AMI_USER": "u",
                            "HOTLINE12345_AMI_SECRET": "s", "HOTLINE12345_AMI_PORT": "x"})
    with pytest.raises(AmiConfigError, match="HOTLINE12345_AMI_READ_INTERVAL_MS='5000'"):
        AmiConfig.from_env({"HOTLINE12345_AMI_HOST": "pbx", "HOTLINE12345_AMI_USER": "u",
                            "HOTLINE12345_AMI_SECRET": "s",
                            "HOTLINE12345_AMI_READ_INTERVAL_MS": "5000"})
    quick = AmiConfig.from_env({"HOTLINE12345_AMI_HOST": "pbx", "HOTLINE12345_AMI_USER": "u",
                                "HOTLINE12345_AMI_SECRET": "s",
                                "HOTLINE12345_AMI_READ_INTERVAL_MS": "0"})
    assert quick is not None and quick.read_interval_s == 0
    secret = tmp_path / "ami-secret"
    secret.write_text("from-file\n", encoding="utf-8")
    if "HOTLINE12345_AMI_SECRET" in os.environ:  # the file must be what is read
        monkeypatch.delenv("HOTLINE12345_AMI_SECRET")
    monkeypatch.setenv("HOTLINE12345_AMI_SECRET_FILE", str(secret))
    monkeypatch.setenv("HOTLINE12345_AMI_HOST", "10.0.0.5")
    monkeypatch.setenv("HOTLINE12345_AMI_USER", "hotline12345")
    monkeypatch.setenv("HOTLINE12345_AMI_PORT", "5039")
    config = AmiConfig.from_env()
    assert config is not None
    assert (config.host, config.port, config.username, config.secret) == (
        "10.0.0.5", 5039, "hotline12345", "from-file")
    assert config.read_interval_s == 0.05  # the default
    assert "from-file" not in repr(config)


async def test_a_ping_error_reconnects_and_never_claims_a_connection(
    fake_ami: FakeAmi, caplog: pytest.LogCaptureFixture
) -> None:
    """``Response: Error`` to Ping (Asterisk's "Invalid/unknown command" or "Permission
    denied" after a manager.conf reload) ends the session: logged, status not "connected",
    reconnect with backoff, and stop() stays quiet."""
    seed(fake_ami)
    fake_ami.ping_error = "Permission denied"
    mon, _ = monitor_for(fake_ami, ping_interval_s=0.05)
    states: list[str] = []
    mon._on_status = lambda s: states.append(s.state)
    with caplog.at_level(logging.INFO, logger="hotline12345.agents.ami"):
        mon.start()
        try:
            await mon.wait_connected(10)
            await until(lambda: fake_ami.connections >= 3 and mon.status.reconnects >= 2)
            fake_ami.ping_error = ""
            await until(lambda: mon.connected and fake_ami.connections == fake_ami.logins)
            assert mon.status.state == "connected"
        finally:
            await mon.stop()
    assert mon.status.state == "stopped" and not mon.connected
    assert states[:4] == ["connecting", "connected", "disconnected", "connecting"]
    errors = [r for r in caplog.records if r.getMessage() == "ami.ping.error"]
    assert errors and errors[0].fields["error"] == "Permission denied"  # type: ignore[attr-defined]
    lost = [r for r in caplog.records if r.getMessage() == "ami.disconnected"]
    assert "Ping answered with an error (Permission denied)" in lost[0].fields["reason"]  # type: ignore[attr-defined]
    assert any(r.getMessage() == "ami.reconnect.wait" for r in caplog.records)


async def test_any_exception_in_a_session_reconnects_and_clears_the_connection(
    fake_ami: FakeAmi, caplog: pytest.LogCaptureFixture
) -> None:
    """An unexpected exception while serving (a bug in the message handler the monitor is
    given, not an AMI error) is logged as one structured line; the connected state is
    cleared and the monitor reconnects."""
    seed(fake_ami)
    state = QueueState([QueueDef("q-general", "综合受理", 15)])
    boom = {"left": 2}

    def apply(msg: AmiMessage) -> None:
        if msg.name == "QueueCallerJoin" and boom["left"]:
            boom["left"] -= 1
            raise RuntimeError("bug in event handling")
        state.apply(msg, T)

    mon = AmiMonitor(cfg(fake_ami.port), apply, clock=lambda: T)
    with caplog.at_level(logging.INFO, logger="hotline12345.agents.ami"):
        mon.start()
        try:
            for attempt in (1, 2):
                await until(lambda a=attempt: mon.connected
                            and fake_ami.connections == a)
                fake_ami.caller_join("q-general", FakeCaller(f"1795849881.{attempt}",
                                                             "Local/s@caller2;1",
                                                             "13900139000", "王五", 0))
                await until(lambda a=attempt: boom["left"] == 2 - a)
            await until(lambda: mon.connected and fake_ami.connections == 3)
            assert mon.status.state == "connected"
        finally:
            await mon.stop()
    errors = [r for r in caplog.records if r.getMessage() == "ami.reader.error"]
    assert len(errors) == 2
    assert errors[0].fields["error"] == (  # type: ignore[attr-defined]
        "unexpected error while reading: RuntimeError: bug in event handling")
    lost = [r for r in caplog.records if r.getMessage() == "ami.disconnected"]
    assert len(lost) == 2
    assert mon.status.reconnects == 2 and fake_ami.connections == 3


async def test_a_failing_message_handler_ends_the_session_loudly(
    fake_ami: FakeAmi, caplog: pytest.LogCaptureFixture
) -> None:
    """A handler that raises ends the session with one log line; the resync then brings the
    state back."""
    seed(fake_ami)
    seen: list[str] = []

    def on_message(msg: AmiMessage) -> None:
        seen.append(msg.name)
        if msg.get("Uniqueid") == "boom" and "boom" not in seen:
            seen.append("boom")
            raise ValueError("handler bug")

    mon = AmiMonitor(cfg(fake_ami.port), on_message)
    with caplog.at_level(logging.INFO, logger="hotline12345.agents.ami"):
        mon.start()
        try:
            await mon.wait_connected(10)
            fake_ami.caller_join("q-general", FakeCaller("boom", "PJSIP/t-1", "13800138000",
                                                         "甲", 0))
            await until(lambda: mon.status.reconnects == 1 and mon.connected)
        finally:
            await mon.stop()
    errors = [r for r in caplog.records if r.getMessage() == "ami.reader.error"]
    assert errors[0].fields["error"] == (  # type: ignore[attr-defined]
        "unexpected error while reading: ValueError: handler bug")


async def test_reads_wait_for_the_interval_but_never_hold_back_a_reply(
        fake_ami: FakeAmi) -> None:
    """After a read, events gather in the socket for ``read_interval_s`` (an hour here);
    sending an action reads at once: the events before its reply, in order, then the
    reply, in one or two reads instead of one per event."""
    seed(fake_ami)
    mon, state = monitor_for(fake_ami, read_interval_s=3600.0, ping_interval_s=3600.0)
    mon.start()
    try:
        await mon.wait_connected(10)
        session = mon.session
        assert session is not None
        await until(lambda: not session.reading)  # the resync's last read started a pause
        reads = session.reads
        for i in range(50):
            fake_ami.caller_join("q-general", FakeCaller(f"1795849881.{i}", f"PJSIP/t-{i}",
                                                         "13900139000", "王五", 0))
        await until(fake_ami.sent_everything)
        # Reading is paused, so none of them can have been read yet.
        assert session.reads == reads and not state.queues["q-general"].callers
        reply = await mon.action("Ping")
        assert reply.name == "Success"
        assert len(state.queues["q-general"].callers) == 50
        assert session.reads - reads <= 2
    finally:
        await mon.stop()


async def test_events_wait_no_longer_than_the_read_interval(fake_ami: FakeAmi) -> None:
    seed(fake_ami)
    mon, state = monitor_for(fake_ami, read_interval_s=0.05)
    mon.start()
    try:
        await mon.wait_connected(10)
        session = mon.session
        assert session is not None
        await until(lambda: not session.reading)
        fake_ami.caller_join("q-general", FakeCaller("1795849881.7", "PJSIP/t-7",
                                                     "13900139000", "王五", 0))
        await until(lambda: "1795849881.7" in state.queues["q-general"].callers)
        await until(lambda: not session.reading)  # read, and paused again
    finally:
        await mon.stop()


def test_read_interval_must_be_sane() -> None:
    with pytest.raises(AmiConfigError, match="read_interval_s"):
        cfg(5038, read_interval_s=-1.0)
    with pytest.raises(AmiConfigError, match="read_interval_s"):
        cfg(5038, read_interval_s=6.0, ping_interval_s=5.0)


@pytest.mark.parametrize("action", ["Ping", "QueueStatus"])
async def test_a_stop_that_meets_the_reply_is_never_lost(fake_ami: FakeAmi, action: str) -> None:
    """The task waiting for an action's reply is cancelled (the monitor stopped, as SIGTERM
    does) 0, 1, 2... loop iterations after the reply arrives: unless the action had already
    returned, it ends cancelled. (``asyncio.wait_for`` in Python 3.11 returns the reply
    instead when it is already there: the monitor then went on serving while ``serve``
    waited for it to stop, for ever.)"""
    loop = asyncio.get_running_loop()
    last = "Success" if action == "Ping" else "QueueStatusComplete"
    task: asyncio.Task[object] | None = None
    delay = 0
    requested: list[bool] = []  # task.cancel(): False when the action had already returned
    fired = asyncio.Event()

    def cancel_after(n: int, target: asyncio.Task[object]) -> None:
        if n:
            loop.call_soon(cancel_after, n - 1, target)
        else:
            requested.append(target.cancel())
            fired.set()

    def on_message(msg: AmiMessage) -> None:
        # the reply (or the list's last event) has just completed the action's future
        if task is not None and msg.name == last:
            cancel_after(delay, task)

    session = await AmiSession.open(cfg(fake_ami.port), on_message)
    outcomes = []
    try:
        for delay in range(8):
            requested.clear()
            fired.clear()
            task = asyncio.create_task(session.action("Ping", timeout=5.0) if action == "Ping"
                                       else session.list_action("QueueStatus", timeout=5.0))
            try:
                await task
                returned = True
            except asyncio.CancelledError:
                returned = False
            await fired.wait()
            outcomes.append("returned" if returned else "cancelled")
            assert requested == [not returned], (
                f"cancelled {delay} loop iterations after the reply came: "
                + ("the action returned the reply instead" if returned
                   else "a cancelled action that had already returned"))
    finally:
        task = None
        await session.close()
    # both ways were seen: a stop in time cancels the action, a late one finds it done
    assert outcomes[0] == "cancelled" and outcomes[-1] == "returned", outcomes
