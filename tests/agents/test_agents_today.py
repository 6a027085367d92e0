"""Embedded mode (no Redis): the wallboard's "today" figures survive a restart of the
service. Calls are answered and abandoned through a fake Asterisk over real TCP, the
service is stopped and started again on the same data directory (with an Asterisk that
has forgotten them), and the figures are read over HTTP."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from hotline12345.agents.service import AgentsServices, start_agents_services
from hotline12345.agents.store import RECORDS_FILE
from tests.waiting import until

from .fake_ami import FakeAmi, FakeCaller, FakeMember
from .test_agents_store import answer
from .test_agents_web import ADMIN_PASSWORD, AGENT1, QUEUES, ami_config, client, login

EMBEDDED_ENV = {"HOTLINE12345_ADMIN_PASSWORD": ADMIN_PASSWORD}  # no HOTLINE12345_REDIS_URL


async def start_embedded(data_dir: Path, ami: FakeAmi) -> AgentsServices:
    services = await start_agents_services(
        QUEUES, data_dir, "127.0.0.1", 0, env=EMBEDDED_ENV, ami=ami_config(ami.port),
        bcrypt_rounds=4, say=lambda line: None)
    assert services.runtime.monitor is not None
    await services.runtime.monitor.wait_connected(10)
    return services


async def today_over_http(services: AgentsServices) -> dict[str, Any]:
    async with client(services) as s:
        await login(s)
        state = await (await s.get("/api/state")).json()
    general = next(q for q in state["queues"] if q["name"] == "q-general")
    return {"overall": state["overall"]["today"], "q-general": general["figures"]["today"],
            "chart_offered": sum(b["offered"] for b in state["chart"]["buckets"])}


async def test_today_figures_are_rebuilt_at_start(tmp_path: Path) -> None:
    async with FakeAmi() as ami:
        ami.add_member("q-general", FakeMember(AGENT1, "Agent One", membership="static"))
        first = await start_embedded(tmp_path, ami)
        try:
            assert first.runtime.store.keeps_records
            answered = FakeCaller("1795849881.4", "PJSIP/t-1", "13900139000", "王五", 0)
            gone = FakeCaller("1795849882.5", "PJSIP/t-2", "13800138000", "张三", 0)
            ami.caller_join("q-general", answered)
            ami.caller_join("q-general", gone)
            await until(lambda: len(first.runtime.state.queues["q-general"].callers) == 2)
            answer(ami, answered)
            ami.caller_abandon("q-general", gone.uniqueid)
            await until(lambda: len(first.runtime.state.overall) == 2)
            before = await today_over_http(first)
        finally:
            await first.close()
    assert (before["overall"]["offered"], before["overall"]["answered"],
            before["overall"]["abandoned"]) == (2, 1, 1)
    records = tmp_path / RECORDS_FILE
    assert stat.S_IMODE(os.stat(records).st_mode) == 0o600
    assert "13900139000" not in records.read_text(encoding="utf-8")

    async with FakeAmi() as ami:  # a restarted Asterisk link: it knows nothing of them
        ami.add_member("q-general", FakeMember(AGENT1, "Agent One", membership="static"))
        second = await start_embedded(tmp_path, ami)
        try:
            after = await today_over_http(second)
            assert after == before
            # New calls count on top of the rebuilt ones, and are kept too.
            again = FakeCaller("1795849990.9", "PJSIP/t-3", "13700137000", "李四", 0)
            ami.caller_join("q-general", again)
            await until(lambda: bool(second.runtime.state.queues["q-general"].callers))
            answer(ami, again)
            await until(lambda: len(second.runtime.state.overall) == 3)
            assert (await today_over_http(second))["overall"]["answered"] == 2
        finally:
            await second.close()
    assert len(records.read_text(encoding="utf-8").splitlines()) == 3


async def test_unreadable_lines_are_skipped_with_one_log_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / RECORDS_FILE).write_text('{"id": "broken"\nnot json at all\n[1, 2]\n',
                                         encoding="utf-8")
    with caplog.at_level(logging.INFO, logger="hotline12345.agents"):
        async with FakeAmi() as ami:
            services = await start_embedded(tmp_path, ami)
            try:
                assert (await today_over_http(services))["overall"]["offered"] == 0
            finally:
                await services.close()
    lines = [r for r in caplog.records if r.getMessage() == "agents.store.unreadable_lines"]
    assert [r.fields["lines"] for r in lines] == [3]  # type: ignore[attr-defined]
    assert not [r for r in caplog.records if r.exc_info]
