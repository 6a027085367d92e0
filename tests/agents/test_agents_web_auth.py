"""Access control of the wallboard beyond the basics: HTTP Basic auth throttled and logged
like the login, bounded bookkeeping, sessions that end (absolute lifetime, logout, user
removed, password changed, also for a running SSE stream), and the one-time admin password
that must be changed before anything else works."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from hotline12345.agents.service import AgentsServices, start_agents_services
from hotline12345.agents.sessions import SessionTable
from hotline12345.agents.store import MemoryStore
from hotline12345.agents.throttle import FailedLogins
from hotline12345.agents.users import User
from hotline12345.agents.web import CONTEXT_KEY, WebSettings

from .fake_ami import FakeAmi
from .test_agents_web import ADMIN_PASSWORD, QUEUES, basic, client, login, start, wallboard

__all__ = ["wallboard"]  # the fixture, imported for these tests


def ctx_of(services: AgentsServices) -> Any:
    return services.app[CONTEXT_KEY]


def failed_logins(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [r.fields for r in caplog.records  # type: ignore[attr-defined]
            if r.getMessage() == "agents.login.failed"]


async def test_basic_auth_is_throttled_and_logged_per_user(
    wallboard: AgentsServices, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="hotline12345.agents.web"):
        async with client(wallboard) as s:
            for i in range(5):
                r = await s.get("/metrics", headers=basic("admin", f"wrong-password-{i}"))
                assert r.status == 401
            r = await s.get("/metrics", headers=basic("admin", ADMIN_PASSWORD))
            assert (r.status, (await r.json())["field"]) == (429, "authorization")
            # The login form and API share the same throttle.
            r = await s.post("/api/login", json={"user": "admin", "password": ADMIN_PASSWORD})
            assert r.status == 429
    logged = failed_logins(caplog)
    assert [(f["user"], f["method"]) for f in logged] == [("admin", "basic")] * 5
    assert logged[0]["remote"] == "127.0.0.1"


async def test_basic_auth_failures_count_per_address(wallboard: AgentsServices) -> None:
    async with client(wallboard) as s:
        for i in range(5):
            r = await s.get("/api/state", headers=basic(f"guess{i}", "guess-password"))
            assert r.status == 401
        r = await s.get("/api/state", headers=basic("admin", ADMIN_PASSWORD))
        assert r.status == 429


async def test_a_verified_basic_credential_is_cached_until_the_users_file_changes(
    wallboard: AgentsServices,
) -> None:
    async with client(wallboard) as s:
        assert (await s.get("/metrics", headers=basic("admin", ADMIN_PASSWORD))).status == 200
        assert ctx_of(wallboard).basic_cache
        wallboard.users.set("admin", "a-new-password", "supervisor")
        r = await s.get("/metrics", headers=basic("admin", ADMIN_PASSWORD))
        assert r.status == 401
        assert (await s.get("/metrics", headers=basic("admin", "a-new-password"))).status == 200
        wallboard.users.set("zhang", "viewer-pass", "viewer")  # any change empties the cache
        assert (await s.get("/health")).status == 200
        assert (await s.get("/metrics", headers=basic("zhang", "viewer-pass"))).status == 200
        assert len(ctx_of(wallboard).basic_cache) == 1


def test_failed_login_bookkeeping_is_bounded() -> None:
    failures = FailedLogins(limit=5, window_s=300.0, max_keys=100)
    for i in range(1000):
        failures.add(f"user:guess{i}", 1000.0 + i * 0.01)
    assert len(failures) == 100
    for _ in range(5):
        failures.add("ip:10.0.0.9", 1020.0)
    assert failures.throttled("ip:10.0.0.9", 1020.0)
    assert not failures.throttled("ip:10.0.0.9", 1320.0)  # the window has passed
    assert len(failures) == 99  # and the key is gone
    for i in range(50):
        failures.add(f"user:late{i}", 2000.0)
    assert len(failures) <= 100
    assert not failures.throttled("user:nobody", 2000.0) and len(failures) <= 100


def test_session_table_is_bounded_and_ends_sessions() -> None:
    table = SessionTable(idle_s=10.0, max_age_s=30.0, max_sessions=3)
    user = User("admin", "supervisor", stamp="s1")
    tokens = [table.new(user, 100.0 + i)[0] for i in range(5)]
    assert len(table) == 3
    assert table.get(tokens[0], 105.0) is None and table.get(tokens[4], 105.0) is not None
    table.touch(tokens[2], 106.0)  # used: the least recently used one goes first
    tokens.append(table.new(user, 107.0)[0])
    assert table.get(tokens[3], 107.0) is None and table.get(tokens[2], 107.0) is not None
    assert table.get(tokens[2], 116.5) is None  # idle for more than 10 s
    for t in range(120, 140, 5):
        table.touch(tokens[5], float(t))
        assert table.get(tokens[5], float(t)) is not None
    assert table.get(tokens[5], 137.5) is None  # 30 s after the login, however busy


async def test_logins_beyond_the_bound_drop_the_oldest_session(tmp_path: Path) -> None:
    services = await start(tmp_path, None, web_settings=WebSettings(max_sessions=3))
    try:
        sessions = [client(services) for _ in range(5)]
        for s in sessions:
            await login(s)
        assert len(ctx_of(services).sessions) == 3
        assert (await sessions[0].get("/api/me")).status == 401
        assert (await sessions[4].get("/api/me")).status == 200
        for s in sessions:
            await s.close()
    finally:
        await services.close()


class ManualClock:
    """A wall clock that moves only when the test says so."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def test_sessions_have_an_absolute_lifetime(tmp_path: Path) -> None:
    clock = ManualClock(1_800_000_000.0)
    settings = WebSettings(session_idle_s=60.0, session_max_s=600.0, clock=clock)
    services = await start(tmp_path, None, web_settings=settings)
    try:
        async with client(services) as s:
            await login(s)
            for _ in range(20):  # busy all along: the idle timeout never applies
                clock.now += 29.0
                assert (await s.get("/api/me")).status == 200
            clock.now += 29.0  # 609 s after the login
            assert (await s.get("/api/me")).status == 401
            await login(s)
            clock.now += 61.0  # idle for longer than session_idle_s
            assert (await s.get("/api/me")).status == 401
    finally:
        await services.close()


async def test_the_user_is_read_afresh_on_every_request(wallboard: AgentsServices) -> None:
    wallboard.users.set("zhang", "viewer-pass", "viewer")
    async with client(wallboard) as s, client(wallboard) as other:
        await login(s, "zhang", "viewer-pass")
        await login(other, "zhang", "viewer-pass")
        assert (await (await s.get("/api/me")).json())["role"] == "观察员"
        # Promoted in the users file (same password): the next request sees it.
        path = wallboard.users.path
        data = json.loads(path.read_text(encoding="utf-8"))
        data["users"]["zhang"]["role"] = "supervisor"
        path.write_text(json.dumps(data), encoding="utf-8")
        assert (await (await s.get("/api/me")).json())["can_act"] is True
        # A new password (hotline12345 agents users set) ends every session of the user.
        wallboard.users.set("zhang", "new-viewer-pass", "viewer")
        assert (await s.get("/api/me")).status == 401
        await login(s, "zhang", "new-viewer-pass")
        assert (await s.get("/api/state")).status == 200
        # Removed: at once.
        wallboard.users.remove("zhang")
        assert (await s.get("/api/state")).status == 401
        assert (await other.get("/api/state")).status == 401


async def next_event(r: aiohttp.ClientResponse) -> tuple[str, str]:
    kind = ""
    while True:
        line = await r.content.readline()
        if not line:
            return ("end", "")
        if line.startswith(b"event: "):
            kind = line[7:].strip().decode()
        elif line.startswith(b"data: "):
            return kind, line[6:].decode()


@pytest.mark.parametrize("how", ["logout", "user removed"])
async def test_the_stream_ends_when_its_session_does(wallboard: AgentsServices,
                                                     fake_ami: FakeAmi, how: str) -> None:
    wallboard.users.set("zhang", "viewer-pass", "viewer")
    async with client(wallboard) as s:
        h = await login(s, "zhang", "viewer-pass")
        r = await s.get("/api/stream")
        assert (await asyncio.wait_for(next_event(r), 10))[0] == "state"
        if how == "logout":
            assert (await s.post("/api/logout", json={}, headers=h)).status == 200
        else:
            wallboard.users.remove("zhang")
        kinds: list[str] = []
        while not kinds or kinds[-1] not in ("logout", "end"):
            kinds.append((await asyncio.wait_for(next_event(r), 5))[0])
        assert kinds[-1] == "logout"
        assert (await asyncio.wait_for(next_event(r), 5))[0] == "end"
        r.close()


async def test_a_one_time_password_must_be_changed_first(tmp_path: Path) -> None:
    said: list[str] = []
    services = await start_agents_services(QUEUES, tmp_path, "127.0.0.1", 0, env={}, ami=None,
                                           store=MemoryStore(), bcrypt_rounds=4,
                                           say=said.append)
    try:
        once = services.admin_password
        assert once is not None
        assert any("must be changed at the first login" in line for line in said)
        async with client(services) as s:
            r = await s.post("/api/login", json={"user": "admin", "password": once})
            assert (await r.json())["must_change_password"] is True
            me = await (await s.get("/api/me")).json()
            assert me["must_change_password"] is True
            h = {"X-CSRF-Token": me["csrf"]}
            for path in ("/api/state", "/api/audit", "/metrics", "/api/stream"):
                r = await s.get(path)
                assert (r.status, (await r.json())["field"]) == (403, "password"), path
            r = await s.post("/api/seats/pause", json={"interface": "PJSIP/1", "paused": False},
                             headers=h)
            assert r.status == 403
            r = await s.get("/", allow_redirects=False)
            assert (r.status, r.headers["Location"]) == (302, "/password")
            r = await s.get("/metrics", headers=basic("admin", once))
            assert r.status == 403
            for body, status, field in (
                ({"current": "wrong-password", "new": "brand-new-pass"}, 403, "current"),
                ({"current": once, "new": "short"}, 400, "new"),
                ({"current": once, "new": once}, 400, "new"),
                ({"current": once}, 400, "new"),
                ({"current": once, "new": "brand-new-pass", "x": 1}, 400, "x"),
            ):
                r = await s.post("/api/password", json=body, headers=h)
                assert (r.status, (await r.json())["field"]) == (status, field), body
            r = await s.post("/api/password", json={"current": once, "new": "brand-new-pass"})
            assert r.status == 403  # the CSRF token is needed
            r = await s.post("/api/password", json={"current": once, "new": "brand-new-pass"},
                             headers=h)
            assert (r.status, (await r.json())["must_change_password"]) == (200, False)
            assert (await s.get("/api/state")).status == 200  # the same session goes on
            assert (await s.get("/", allow_redirects=False)).status == 200
        async with client(services) as s:
            r = await s.post("/api/login", json={"user": "admin", "password": once})
            assert r.status == 401
            await login(s, "admin", "brand-new-pass")
    finally:
        await services.close()


async def test_the_password_page_for_a_one_time_password(tmp_path: Path) -> None:
    services = await start_agents_services(QUEUES, tmp_path, "127.0.0.1", 0, env={}, ami=None,
                                           store=MemoryStore(), bcrypt_rounds=4,
                                           say=lambda line: None)
    try:
        once = services.admin_password
        assert once is not None
        async with client(services) as s:
            r = await s.post("/login", data={"user": "admin", "password": once},
                             allow_redirects=False)
            assert (r.status, r.headers["Location"]) == (302, "/password")
            page = await (await s.get("/password")).text()
            assert "一次性密码" in page and 'name="csrf"' in page
            csrf = page.split('name="csrf" value="')[1].split('"')[0]
            form = {"csrf": csrf, "current": once, "new": "brand-new-pass",
                    "again": "other-new-pass"}
            r = await s.post("/password", data=form, allow_redirects=False)
            assert r.headers["Location"] == "/password?error=again"
            assert "两次输入的新密码不一致" in await (await s.get("/password?error=again")).text()
            r = await s.post("/password", data={**form, "again": "brand-new-pass",
                                                "csrf": "forged"}, allow_redirects=False)
            assert r.headers["Location"] == "/password?error=csrf"
            r = await s.post("/password", data={**form, "again": "brand-new-pass"},
                             allow_redirects=False)
            assert (r.status, r.headers["Location"]) == (302, "/")
            assert (await s.get("/api/state")).status == 200
            assert services.users.get("admin") == services.users.verify("admin",
                                                                        "brand-new-pass")
    finally:
        await services.close()
