"""Fixtures of the ticket API tests (``db_url``, ``desk``; conftest.py imports them): a
migrated database (SQLite, and the real PostgreSQL at 127.0.0.1:5432 in a database of its
own, dropped afterwards), the wallboard app with a :class:`TicketsAccess` on it, one user
of every role, and tickets in two departments moved to their states by the real
workflow."""

from __future__ import annotations

import wave
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from hotline12345.agents.service import AgentsServices, start_agents_services
from hotline12345.agents.store import MemoryStore
from hotline12345.agents.tickets_access import TicketsAccess
from hotline12345.config.schema import TicketLoopSettings
from hotline12345.db.engine import make_engine
from hotline12345.db.migrate import upgrade
from hotline12345.db.models import load_models
from hotline12345.tickets.deadlines import DeadlinePolicy
from hotline12345.tickets.enums import Action, Role, Speaker
from hotline12345.tickets.store import TicketDraft, UtteranceDraft, save_ticket
from hotline12345.tickets.workdays import WorkCalendar
from hotline12345.tickets.workflow import Actor, Workflow
from tests.databases import new_pg_database

MARKET = "市场监督管理局"
HOUSING = "住房和城乡建设局"
DEPARTMENTS = (MARKET, HOUSING, "城市管理局")
CALLER = "13800138000"
OTHER_CALLER = "13911112222"
ADMIN_PASSWORD = "admin-pass-1"
PASSWORD = "role-pass-1"
# name -> (role alias, department)
USERS = {"seat": ("seat", None), "boss": ("supervisor", None),
         "market": ("handler", MARKET), "housing": ("handler", HOUSING),
         "inspector": ("inspector", None), "auditor": ("auditor", None),
         "admin2": ("admin", None)}
CENTRE = Actor("boss", Role.SUPERVISOR)
START = datetime(2026, 12, 7, 1, 0, tzinfo=UTC)  # Monday 09:00 in Shanghai


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    with new_pg_database("api") as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'hotline12345.sqlite3'}"
        upgrade(url)
        return url
    url = str(request.getfixturevalue("pg_url"))
    tables = ", ".join(t.name for t in load_models().sorted_tables)
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()
    return url


class Clock:
    """The app's and the workflow's now, moved by the test."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Desk:
    """The running app and what the tests need to drive it."""

    services: AgentsServices
    access: TicketsAccess
    sessions: sessionmaker[Session]
    workflow: Workflow
    clock: Clock
    recordings: Path
    ids: dict[str, int] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.services.url

    def new_ticket(self, key: str, *, caller: str = CALLER, category: str = "消费投诉",
                   at: datetime = START, text: str = "", recording: str | None = None) -> int:
        with self.sessions() as session:
            ticket_id, _ = save_ticket(session, TicketDraft(
                uniqueid=f"1795849{len(self.ids):03d}.{len(self.ids)}", caller=caller,
                caller_name="欧阳娜娜", dialled="12345", call_started_at=at,
                transcript=f"[00:00.0] 来电人：{text}\n[00:02.0] 坐席：好的",
                category=category, recording_path=recording,
                utterances=[UtteranceDraft(Speaker.CALLER, 0.0, 1.5, text or "我要投诉", []),
                            UtteranceDraft(Speaker.SEAT, 2.0, 3.0, "好的", [])]), now=at)
            session.commit()
        self.ids[key] = ticket_id
        return ticket_id

    def apply(self, key: str, action: Action, actor: Actor = CENTRE, **fields: Any) -> None:
        """The workflow's ``apply`` on the ticket ``key``, committed."""
        with self.sessions() as session:
            self.workflow.apply(session, self.ids[key], action, actor, now=self.clock(),
                                reason="测试", **fields)
            session.commit()


def write_wav(path: Path, seconds: float = 1.0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x01\x00" * int(8000 * seconds))


@pytest.fixture
async def desk(db_url: str, tmp_path: Path) -> AsyncIterator[Desk]:
    settings = TicketLoopSettings()
    clock = Clock(START)
    workflow = Workflow(DeadlinePolicy(settings, WorkCalendar()), settings,
                        departments=DEPARTMENTS)
    engine = make_engine(db_url)
    sessions = sessionmaker(engine, expire_on_commit=False)
    recordings = tmp_path / "recordings"
    write_wav(recordings / "2026" / "market.wav")
    (tmp_path / "secret.wav").write_bytes(b"RIFF not yours")
    access = TicketsAccess(workflow, sessions, DEPARTMENTS, recordings_dir=recordings,
                           merge_window_hours=settings.merge_window_hours, clock=clock)
    services = await start_agents_services(
        {"q-general": ("综合受理", 15)}, tmp_path / "data", "127.0.0.1", 0,
        env={"HOTLINE12345_ADMIN_PASSWORD": ADMIN_PASSWORD}, ami=None, store=MemoryStore(),
        database_url=db_url, bcrypt_rounds=4, say=lambda line: None, tickets=access)
    for name, (role, department) in USERS.items():
        services.users.set(name, PASSWORD, role, department=department,
                           departments=DEPARTMENTS)
    d = Desk(services, access, sessions, workflow, clock, recordings)
    # market's tickets: one waiting to be signed for (with a recording), one in hand
    d.new_ticket("m1", text="超市卖过期牛奶", recording="2026/market.wav")
    d.apply("m1", Action.DISPATCH, department=MARKET, summary="超市卖过期牛奶")
    d.new_ticket("m2", caller=OTHER_CALLER, text="商场虚假宣传")
    d.apply("m2", Action.DISPATCH, department=MARKET, summary="商场虚假宣传")
    d.apply("m2", Action.SIGN, Actor("market", Role.HANDLER, MARKET))
    # housing's: the same caller, another department (a path outside the recordings dir)
    d.new_ticket("h1", category="物业", text="小区电梯停运", recording=str(tmp_path / "secret.wav"))
    d.apply("h1", Action.DISPATCH, department=HOUSING, summary="小区电梯停运")
    d.new_ticket("h2", caller=OTHER_CALLER, category="物业", text="楼道漏水")
    d.apply("h2", Action.DISPATCH, department=HOUSING, summary="楼道漏水")
    d.apply("h2", Action.SIGN, Actor("housing", Role.HANDLER, HOUSING))
    try:
        yield d
    finally:
        await services.close()
        engine.dispose()


def client(desk: Desk) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(desk.url, cookie_jar=aiohttp.CookieJar(unsafe=True))


async def login(session: aiohttp.ClientSession, user: str,
                password: str = PASSWORD) -> dict[str, str]:
    r = await session.post("/api/login", json={"user": user, "password": password})
    assert r.status == 200, await r.text()
    me: dict[str, Any] = await (await session.get("/api/me")).json()
    return {"X-CSRF-Token": me["csrf"]}
