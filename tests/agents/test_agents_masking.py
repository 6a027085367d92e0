"""Seat interfaces, member names and pause reasons can hold phone numbers
(``PJSIP/13912345678``, ``回拨13912345678``): they are masked wherever callers' numbers are
(the state API, the SSE stream, /metrics, the audit API, action answers and errors, logs),
and a supervisor still acts on such a seat by the masked interface the wallboard shows.
Over real TCP against the wallboard and a fake Asterisk."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hotline12345.agents.service import AgentsServices
from hotline12345.logs import mask_text

from .fake_ami import FakeAmi, FakeMember
from .test_agents_web import basic, client, login, start

SEAT = "PJSIP/13912345678"
LOCAL_SEAT = "Local/13800002222@agents/n"
FULL_NUMBERS = ("13912345678", "13900001111", "13800002222", "13911112222", "13999999999")


@pytest.fixture
async def board(fake_ami: FakeAmi, tmp_path: Path) -> AsyncIterator[AgentsServices]:
    fake_ami.add_member("q-general", FakeMember(SEAT, "13912345678", paused=True,
                                                reason="回拨13900001111"))
    fake_ami.add_member("q-general", FakeMember(LOCAL_SEAT, "张三"))
    services = await start(tmp_path, fake_ami, confirm_timeout_s=2.0)
    try:
        yield services
    finally:
        await services.close()


def assert_masked(text: str, where: str) -> None:
    for number in FULL_NUMBERS:
        assert number not in text, f"{where} shows {number}: {text[:2000]}"


def test_mask_text() -> None:
    assert mask_text(SEAT) == "PJSIP/139****5678"
    assert mask_text("回拨13912345678。") == "回拨139****5678。"
    assert mask_text("回拨13912345678.") == "回拨139****5678."
    assert mask_text("PJSIP/8001 queue 12345") == "PJSIP/8001 queue 12345"
    assert mask_text("call 1795849881.4 failed") == "call 1795849881.4 failed"


async def test_state_stream_and_metrics_mask_seat_numbers(
    board: AgentsServices, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        async with client(board) as s:
            await login(s)
            text = await (await s.get("/api/state")).text()
            assert_masked(text, "/api/state")
            state = json.loads(text)
            seats = {x["interface"]: x for x in state["seats"]}
            assert set(seats) == {"PJSIP/139****5678", "Local/138****2222@agents/n"}
            seat = seats["PJSIP/139****5678"]
            assert (seat["name"], seat["paused_reason"]) == ("139****5678", "回拨139****1111")
            assert seat["queues"][0]["paused_reason"] == "回拨139****1111"
            general = next(q for q in state["queues"] if q["name"] == "q-general")
            assert sorted(general["members"]) == sorted(seats)
            r = await s.get("/api/stream")
            frame = b""
            while b"\n\n" not in frame:
                frame += await asyncio.wait_for(r.content.readany(), 10)
            r.close()
            assert b"139****5678" in frame
            assert_masked(frame.decode("utf-8"), "/api/stream")
        async with client(board) as s:
            r = await s.get("/metrics", headers=basic("admin", "admin-pass-1"))
            assert r.status == 200
            assert_masked(await r.text(), "/metrics")
    assert_masked(logged(caplog), "the log")


async def test_a_supervisor_acts_by_the_masked_interface(
    board: AgentsServices, fake_ami: FakeAmi, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        async with client(board) as s:
            h = await login(s)
            r = await s.post("/api/seats/pause", headers=h, json={
                "interface": "PJSIP/139****5678", "paused": True, "reason": "回拨13911112222"})
            text = await r.text()
            assert r.status == 200, text
            assert json.loads(text)["result"] == "confirmed"
            assert_masked(text, "the action's answer")
            sent = [a for a in fake_ami.actions if a.get("Action") == "QueuePause"][-1]
            assert (sent["Interface"], sent["Reason"]) == (SEAT, "回拨13911112222")
            r = await s.post("/api/seats/penalty", headers=h, json={
                "interface": "Local/138****2222@agents/n", "penalty": 2})
            assert (await r.json())["result"] == "confirmed"
            sent = [a for a in fake_ami.actions if a.get("Action") == "QueuePenalty"][-1]
            assert sent["Interface"] == LOCAL_SEAT
            audit = await (await s.get("/api/audit")).text()
            assert_masked(audit, "/api/audit")
            entries = json.loads(audit)["entries"]
            assert [(e["interface"], e["detail"]) for e in entries] == [
                ("Local/138****2222@agents/n", {"penalty": 2}),
                ("PJSIP/139****5678", {"reason": "回拨139****2222"})]
            r = await s.post("/api/seats/pause", headers=h, json={
                "interface": "PJSIP/13999999999", "paused": False})
            text = await r.text()
            assert (r.status, json.loads(text)["field"]) == (404, "interface")
            assert "PJSIP/139****5678" in text  # the known seats, masked
            assert_masked(text, "an error")
            r = await s.post("/api/seats/pause", headers=h, json={
                "interface": "PJSIP/139****0000", "paused": False})
            assert (r.status, (await r.json())["field"]) == (404, "interface")
    assert_masked(logged(caplog), "the log")


def logged(caplog: pytest.LogCaptureFixture) -> str:
    return "\n".join(f"{r.getMessage()} {json.dumps(getattr(r, 'fields', {}), ensure_ascii=False)}"
                     for r in caplog.records)
