"""The wallboard's HTTP side: access control, the JSON API and its errors, seat actions
confirmed by the fake Asterisk's events (as in ../shared/asterisk-22-captures/
ami-queue-call.raw) and audited, SSE push, /metrics, and the fresh-install password."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from hotline12345.agents.client import AmiConfig
from hotline12345.agents.service import AgentsServices, start_agents_services
from hotline12345.agents.store import MemoryStore
from hotline12345.agents.web import CONTEXT_KEY, WebSettings
from tests.waiting import until

from .fake_ami import FakeAmi, FakeCaller, FakeMember, frame

AGENT1 = "Local/agent1@agents/n"
AGENT2 = "Local/agent2@agents/n"
QUEUES = {"q-general": ("综合受理", 15), "q-enterprise": ("为企服务专席", 15)}
ADMIN_PASSWORD = "admin-pass-1"


def ami_config(port: int) -> AmiConfig:
    return AmiConfig("127.0.0.1", "hotline", "s3cret", port=port, backoff_initial_s=0.05,
                     backoff_max_s=0.2)


async def start(tmp: Path, ami: FakeAmi | None, **kw: Any) -> AgentsServices:
    lines: list[str] = []
    services = await start_agents_services(
        QUEUES, tmp, "127.0.0.1", 0, env={"HOTLINE12345_ADMIN_PASSWORD": ADMIN_PASSWORD},
        ami=ami_config(ami.port) if ami else None, store=MemoryStore(), bcrypt_rounds=4,
        say=lines.append, **kw)
    services.said = lines  # type: ignore[attr-defined]
    if ami is not None:
        assert services.runtime.monitor is not None
        await services.runtime.monitor.wait_connected(10)
    return services


@pytest.fixture
async def wallboard(fake_ami: FakeAmi, tmp_path: Path) -> AsyncIterator[AgentsServices]:
    fake_ami.add_member("q-general", FakeMember(AGENT1, "Agent One", membership="static"))
    fake_ami.add_member("q-general", FakeMember(AGENT2, "李四", penalty=1))
    fake_ami.add_queue("q-enterprise")
    services = await start(tmp_path, fake_ami, confirm_timeout_s=1.0)
    try:
        yield services
    finally:
        await services.close()


def client(services: AgentsServices, **kw: Any) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(services.url, cookie_jar=aiohttp.CookieJar(unsafe=True), **kw)


async def login(session: aiohttp.ClientSession, user: str = "admin",
                password: str = ADMIN_PASSWORD) -> dict[str, str]:
    r = await session.post("/api/login", json={"user": user, "password": password})
    assert r.status == 200, await r.text()
    me: dict[str, str] = await (await session.get("/api/me")).json()
    return {"X-CSRF-Token": me["csrf"]}


async def test_only_health_and_login_are_anonymous(wallboard: AgentsServices) -> None:
    async with client(wallboard) as s:
        r = await s.get("/health")
        assert (r.status, await r.json()) == (200, {"status": "ok", "ami": "connected",
                                                    "ami_connected": True})
        r = await s.get("/", allow_redirects=False)
        assert (r.status, r.headers["Location"]) == (302, "/login")
        for path in ("/api/state", "/api/stream", "/api/me", "/api/audit", "/metrics",
                     "/static/wallboard.js"):
            r = await s.get(path)
            assert r.status == 401, path
            assert (await r.json())["field"] == "authorization"
        r = await s.post("/api/seats/pause", json={"interface": AGENT1, "paused": False})
        assert r.status == 401
        r = await s.get("/login")
        assert r.status == 200 and "登录" in await r.text()


async def test_login_errors_name_the_field(wallboard: AgentsServices) -> None:
    async with client(wallboard) as s:
        cases: list[tuple[Any, int, str]] = [
            ({"user": "admin", "password": "wrong-password"}, 401, "password"),
            ({"password": "x"}, 400, "user"),
            ({"user": "admin"}, 400, "password"),
            ([1, 2], 400, "body"),
        ]
        for body, status, field in cases:
            r = await s.post("/api/login", json=body)
            assert (r.status, (await r.json())["field"]) == (status, field), body
        r = await s.post("/api/login", data=b"{not json", headers={
            "Content-Type": "application/json"})
        assert (r.status, (await r.json())["field"]) == (400, "body")
        for _ in range(4):
            await s.post("/api/login", json={"user": "admin", "password": "nope-nope"})
        r = await s.post("/api/login", json={"user": "admin", "password": ADMIN_PASSWORD})
        assert r.status == 429  # throttled, even with the right password


async def test_supervisor_pauses_and_the_event_confirms(wallboard: AgentsServices,
                                                        fake_ami: FakeAmi) -> None:
    async with client(wallboard) as s:
        h = await login(s)
        r = await s.post("/api/seats/pause",
                         json={"interface": AGENT2, "paused": True, "reason": "培训"}, headers=h)
        body = await r.json()
        assert r.status == 200, body
        assert (body["result"], body["message"]) == ("confirmed", "Interface paused successfully")
        state = await (await s.get("/api/state")).json()
        li = next(x for x in state["seats"] if x["interface"] == AGENT2)
        assert (li["state"], li["state_label"], li["paused_reason"]) == ("paused", "暂停", "培训")
        sent = [a for a in fake_ami.actions if a.get("Action") == "QueuePause"]
        assert sent[-1]["Reason"] == "培训" and sent[-1]["Paused"] == "true"
        r = await s.post("/api/seats/pause", json={"interface": AGENT2, "paused": False},
                         headers=h)
        assert (await r.json())["result"] == "confirmed"
        audit = (await (await s.get("/api/audit")).json())["entries"]
        assert [(e["user"], e["action"], e["interface"], e["result"], e["detail"])
                for e in audit] == [
            ("admin", "unpause", AGENT2, "confirmed", {}),
            ("admin", "pause", AGENT2, "confirmed", {"reason": "培训"}),
        ]
        assert audit[0]["at"].endswith("+00:00")


async def test_add_remove_penalty_and_rejection(wallboard: AgentsServices,
                                                fake_ami: FakeAmi) -> None:
    async with client(wallboard) as s:
        h = await login(s)

        async def post(path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
            r = await s.post(path, json=body, headers=h)
            return r.status, await r.json()

        status, body = await post("/api/seats/add", {"interface": "PJSIP/8001",
                                                     "queue": "q-enterprise",
                                                     "member_name": "王小明", "penalty": 2})
        assert (status, body["result"]) == (200, "confirmed")
        assert fake_ami.queues["q-enterprise"].members["PJSIP/8001"].name == "王小明"
        status, body = await post("/api/seats/penalty", {"interface": "PJSIP/8001",
                                                         "penalty": 5})
        assert (status, body["result"]) == (200, "confirmed")
        seat = wallboard.runtime.state.seats["PJSIP/8001"]
        assert seat.memberships["q-enterprise"].penalty == 5
        status, body = await post("/api/seats/remove", {"interface": "PJSIP/8001",
                                                        "queue": "q-enterprise"})
        assert (status, body["result"]) == (200, "confirmed")
        assert "PJSIP/8001" not in wallboard.runtime.state.seats
        status, body = await post("/api/seats/remove", {"interface": "PJSIP/8001",
                                                        "queue": "q-enterprise"})
        assert (status, body["result"], body["message"]) == (
            409, "rejected", "Unable to remove interface: Not there")
        fake_ami.emit_member_events = False
        status, body = await post("/api/seats/penalty", {"interface": AGENT1, "penalty": 1})
        assert (status, body["result"]) == (202, "unconfirmed")
        assert "no confirming event" in body["message"]
        audit = (await (await s.get("/api/audit?limit=10")).json())["entries"]
        assert [(e["action"], e["result"]) for e in audit] == [
            ("penalty", "unconfirmed"), ("remove", "rejected"), ("remove", "confirmed"),
            ("penalty", "confirmed"), ("add", "confirmed")]
        assert audit[-1]["detail"] == {"member_name": "王小明", "penalty": 2}


@pytest.mark.parametrize(("path", "body", "status", "field"), [
    ("/api/seats/pause", {"interface": AGENT1, "paused": True}, 400, "reason"),
    ("/api/seats/pause", {"interface": AGENT1, "paused": "yes", "reason": "x"}, 400, "paused"),
    ("/api/seats/pause", {"paused": True, "reason": "x"}, 400, "interface"),
    ("/api/seats/pause", {"interface": "PJSIP/9999", "paused": False}, 404, "interface"),
    ("/api/seats/pause", {"interface": "bad interface", "paused": False}, 400, "interface"),
    ("/api/seats/pause", {"interface": AGENT1, "paused": True, "reason": "a\r\nAction: X"},
     400, "reason"),
    ("/api/seats/pause", {"interface": AGENT1, "paused": True, "reason": "x" * 65}, 400,
     "reason"),
    ("/api/seats/pause", {"interface": AGENT1, "paused": False, "queue": "q-enterprise"},
     409, "queue"),
    ("/api/seats/pause", {"interface": AGENT1, "paused": False, "colour": "red"}, 400,
     "colour"),
    ("/api/seats/add", {"interface": "PJSIP/8001"}, 400, "queue"),
    ("/api/seats/add", {"interface": "PJSIP/8001", "queue": "nope"}, 404, "queue"),
    ("/api/seats/add", {"interface": AGENT1, "queue": "q-general"}, 409, "interface"),
    ("/api/seats/add", {"interface": "PJSIP/8001", "queue": "q-general", "penalty": -1}, 400,
     "penalty"),
    ("/api/seats/penalty", {"interface": AGENT1}, 400, "penalty"),
    ("/api/seats/penalty", {"interface": AGENT1, "penalty": "3"}, 400, "penalty"),
    ("/api/seats/remove", {"interface": AGENT1}, 400, "queue"),
])
async def test_bad_requests_get_a_json_error_naming_the_field(
    wallboard: AgentsServices, fake_ami: FakeAmi, path: str, body: dict[str, Any],
    status: int, field: str,
) -> None:
    async with client(wallboard) as s:
        h = await login(s)
        r = await s.post(path, json=body, headers=h)
        data = await r.json()
        assert (r.status, data["field"]) == (status, field), data
        assert data["error"]
    # Nothing was sent to Asterisk.
    assert [a["Action"] for a in fake_ami.actions] == ["Login", "QueueStatus"]


async def test_csrf_content_type_and_unknown_routes(wallboard: AgentsServices) -> None:
    async with client(wallboard) as s:
        h = await login(s)
        r = await s.post("/api/seats/pause", json={"interface": AGENT1, "paused": False})
        assert (r.status, (await r.json())["field"]) == (403, "X-CSRF-Token")
        r = await s.post("/api/seats/pause", data={"interface": AGENT1}, headers=h)
        assert (r.status, (await r.json())["field"]) == (415, "content-type")
        r = await s.get("/api/nothing")
        assert (r.status, (await r.json())["field"]) == (404, "path")
        r = await s.get("/api/seats/pause")
        assert (r.status, (await r.json())["field"]) == (405, "method")
        r = await s.get("/api/audit?limit=abc")
        assert (r.status, (await r.json())["field"]) == (400, "limit")
        r = await s.post("/api/logout", json={}, headers=h)
        assert r.status == 200
        assert (await s.get("/api/state")).status == 401


async def test_viewer_views_but_cannot_act(wallboard: AgentsServices) -> None:
    wallboard.users.set("zhang", "viewer-pass", "viewer")
    async with client(wallboard) as s:
        h = await login(s, "zhang", "viewer-pass")
        assert (await s.get("/api/state")).status == 200
        r = await s.post("/api/seats/pause", json={"interface": AGENT1, "paused": False},
                         headers=h)
        assert (r.status, (await r.json())["field"]) == (403, "role")
        assert (await (await s.get("/api/me")).json())["can_act"] is False


async def test_sse_pushes_a_waiting_caller(wallboard: AgentsServices,
                                           fake_ami: FakeAmi) -> None:
    async with client(wallboard) as s:
        await login(s)
        r = await s.get("/api/stream")
        assert r.headers["Content-Type"].startswith("text/event-stream")

        async def next_state() -> dict[str, Any]:
            while True:
                line = await r.content.readline()
                if line.startswith(b"data: "):
                    return json.loads(line[6:])  # type: ignore[no-any-return]

        first = await asyncio.wait_for(next_state(), 10)
        assert first["queues"][0]["waiting"] == []
        fake_ami.caller_join("q-general", FakeCaller("1795849881.4", "Local/s@caller2;1",
                                                     "13900139000", "王五", 0))
        while True:
            snap = await asyncio.wait_for(next_state(), 10)
            waiting = next(q for q in snap["queues"] if q["name"] == "q-general")["waiting"]
            if waiting:
                break
        assert [(c["caller"], c["name"], c["position"]) for c in waiting] == [
            ("139****9000", "王*", 1)]
        r.close()


async def test_sse_clients_share_one_snapshot_per_version(
    fake_ami: FakeAmi, tmp_path: Path
) -> None:
    """Ten wallboards open: each state version is built (and JSON-encoded) once for all."""
    fake_ami.add_member("q-general", FakeMember(AGENT1, "Agent One", membership="static"))
    # No rebuild of an unchanged version for the clock's sake within this test.
    wallboard = await start(tmp_path, fake_ami,
                            web_settings=WebSettings(snapshot_max_age_s=3600.0))
    snapshots = wallboard.app[CONTEXT_KEY].snapshots

    async def next_state(r: aiohttp.ClientResponse) -> tuple[int, dict[str, Any]]:
        version = -1
        while True:
            line = await r.content.readline()
            if line.startswith(b"id: "):
                version = int(line[4:])
            elif line.startswith(b"data: "):
                return version, json.loads(line[6:])

    seen: set[int] = set()
    try:
        async with client(wallboard) as s:
            await login(s)
            streams = [await s.get("/api/stream") for _ in range(10)]
            for r in streams:
                seen.add((await asyncio.wait_for(next_state(r), 10))[0])
            fake_ami.caller_join("q-general", FakeCaller("1795849881.4", "Local/s@caller2;1",
                                                         "13900139000", "王五", 0))
            for r in streams:
                while True:
                    version, snap = await asyncio.wait_for(next_state(r), 10)
                    seen.add(version)
                    general = next(q for q in snap["queues"] if q["name"] == "q-general")
                    if general["waiting"]:
                        break
            for r in streams:
                r.close()
    finally:
        await wallboard.close()
    assert 2 <= snapshots.builds <= len(seen)


def basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    return {"Authorization": f"Basic {token}"}


async def test_metrics_with_basic_auth(wallboard: AgentsServices, fake_ami: FakeAmi) -> None:
    fake_ami.caller_join("q-general", FakeCaller("5.1", "PJSIP/t-1", "13800138000", "张三", 0))
    await until(lambda: bool(wallboard.runtime.state.queues["q-general"].callers))
    async with client(wallboard) as s:
        r = await s.get("/metrics", headers=basic("admin", ADMIN_PASSWORD))
        text = await r.text()
        assert r.status == 200
        assert 'hotline12345_queue_callers_waiting{queue="q-general"} 1.0' in text
        assert "hotline12345_ami_connected 1.0" in text
        assert 'hotline12345_seats{state="idle"} 2.0' in text
        events = re.search(r"^hotline12345_ami_events_total (\S+)$", text, re.M)
        read_cpu = re.search(r"^hotline12345_ami_read_cpu_seconds_total (\S+)$", text, re.M)
        assert events and float(events.group(1)) >= 1  # the join, at least
        assert read_cpu and float(read_cpu.group(1)) > 0  # its reads took some CPU
        r = await s.get("/metrics", headers=basic("admin", "wrong-password"))
        assert r.status == 401


async def test_without_ami_the_wallboard_says_how_to_connect(tmp_path: Path) -> None:
    services = await start(tmp_path, None)
    try:
        assert any("AMI not configured" in line for line in services.said)  # type: ignore[attr-defined]
        async with client(services) as s:
            await login(s)
            ami = (await (await s.get("/api/state")).json())["ami"]
            assert (ami["configured"], ami["connected"], ami["state"]) == (
                False, False, "not_configured")
            assert ami["detail"].startswith("未连接 Asterisk")
            assert "HOTLINE12345_AMI_HOST" in ami["detail"]
            r = await s.post("/api/seats/add", json={"interface": "PJSIP/8001",
                                                     "queue": "q-general"},
                             headers=await login(s))
            body = await r.json()
            assert (r.status, body["result"]) == (503, "failed")
            assert "not configured" in body["message"]
            assert (await (await s.get("/health")).json())["ami"] == "not_configured"
    finally:
        await services.close()


async def test_fresh_install_prints_a_one_time_password(tmp_path: Path) -> None:
    said: list[str] = []
    services = await start_agents_services(QUEUES, tmp_path, "127.0.0.1", 0, env={}, ami=None,
                                           store=MemoryStore(), bcrypt_rounds=4,
                                           say=said.append)
    try:
        password = services.admin_password
        assert password and len(password) >= 12
        assert said[0] == f"hotline12345 wallboard: {services.url}"
        assert any(password in line for line in said)
        async with client(services) as s:
            await login(s, "admin", password)
        users_file = tmp_path / "agents-users.json"
        assert password not in users_file.read_text(encoding="utf-8")
        assert oct(users_file.stat().st_mode & 0o777) == "0o600"
    finally:
        await services.close()
    said.clear()
    again = await start_agents_services(QUEUES, tmp_path, "127.0.0.1", 0, env={}, ami=None,
                                        store=MemoryStore(), bcrypt_rounds=4, say=said.append)
    try:
        assert again.admin_password is None
        assert not any(password in line for line in said)  # shown once only
        assert "  users: admin (管理员, one-time password)" in said
    finally:
        await again.close()


async def test_ami_settings_come_from_the_environment(tmp_path: Path, fake_ami: FakeAmi) -> None:
    secret = tmp_path / "secret"
    secret.write_text("s3cret\n", encoding="utf-8")
    env = {"HOTLINE12345_AMI_HOST": "127.0.0.1", "HOTLINE12345_AMI_PORT": str(fake_ami.port),
           "HOTLINE12345_AMI_USER": "hotline", "HOTLINE12345_AMI_SECRET": "s3cret",
           "HOTLINE12345_ADMIN_PASSWORD": ADMIN_PASSWORD}
    services = await start_agents_services(QUEUES, tmp_path, "127.0.0.1", 0, env=env,
                                           store=MemoryStore(), bcrypt_rounds=4,
                                           say=lambda line: None)
    try:
        assert services.runtime.monitor is not None
        await services.runtime.monitor.wait_connected(10)
        assert fake_ami.logins == 1
    finally:
        await services.close()


async def test_events_the_model_cannot_use_are_skipped_and_the_monitor_goes_on(
    wallboard: AgentsServices, fake_ami: FakeAmi, caplog: pytest.LogCaptureFixture
) -> None:
    """Malformed AMI events reach the real state model through the fake Asterisk: a join
    without a Uniqueid is skipped, a Position or HoldTime that is not a finite number is
    read as its default. Nothing raises, no event is logged as failed, and the next event
    is applied on the same connection."""
    state = wallboard.runtime.state
    join = (("Event", "QueueCallerJoin"), ("Privilege", "agent,all"), ("Queue", "q-general"))
    with caplog.at_level(logging.ERROR, logger="hotline12345.agents"):
        fake_ami.broadcast(frame(*join, ("Channel", "PJSIP/t-9"), ("Position", "1")))
        fake_ami.broadcast(frame(*join, ("Uniqueid", "bad.1"), ("Channel", "PJSIP/t-0"),
                                 ("CallerIDNum", "13800138000"), ("Position", "第一")))
        fake_ami.broadcast(frame(("Event", "QueueCallerAbandon"), ("Privilege", "agent,all"),
                                 ("Queue", "q-general"), ("Uniqueid", "bad.1"),
                                 ("Position", "x"), ("HoldTime", "nan")))
        fake_ami.caller_join("q-general", FakeCaller("ok.1", "PJSIP/t-1", "13800138001", "乙", 0))
        await until(lambda: "ok.1" in state.queues["q-general"].callers)
    assert list(state.queues["q-general"].callers) == ["ok.1"]
    [abandoned] = [r for r in state.overall.records if r.uniqueid == "bad.1"]
    assert abandoned.outcome == "abandoned" and 0 <= abandoned.wait_s < 60
    assert not [r for r in caplog.records if r.getMessage() == "agents.state.apply_failed"]
    assert wallboard.runtime.monitor is not None and wallboard.runtime.monitor.connected
    assert fake_ami.connections == 1


async def test_login_form_errors_and_logout(wallboard: AgentsServices) -> None:
    async with client(wallboard) as s:
        r = await s.post("/login", data={"user": "admin", "password": "wrong-password"},
                         allow_redirects=False)
        assert (r.status, r.headers["Location"]) == (302, "/login?error=1")
        r = await s.get("/login?error=1")
        assert "用户名或密码错误" in await r.text()
        r = await s.post("/login", data={"user": "admin", "password": ADMIN_PASSWORD},
                         allow_redirects=False)
        assert (r.status, r.headers["Location"]) == (302, "/")
        cookie = r.cookies["h12345_session"]
        assert cookie["httponly"] and cookie["samesite"] == "Strict"
        r = await s.get("/")
        assert r.status == 200 and "坐席与队列实时监控" in await r.text()
        assert "default-src 'self'" in r.headers["Content-Security-Policy"]
        r = await s.post("/logout", allow_redirects=False)
        assert (r.status, r.headers["Location"]) == (302, "/login")
        assert (await s.get("/api/state")).status == 401
