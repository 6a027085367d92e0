"""start_agents_services beyond the wallboard itself: AMI listeners (other subsystems see
every event, after the state model, without being able to stop the monitor), the
recordings pipeline's failed jobs and tickets in the API, and a start that fails half-way
leaving nothing behind."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy.orm import Session

from hotline12345.agents.runtime import AgentsRuntime
from hotline12345.agents.service import start_agents_services
from hotline12345.agents.store import MemoryStore
from hotline12345.db.engine import make_engine
from hotline12345.db.migrate import upgrade
from hotline12345.recordings.jobs import RecordingJob
from hotline12345.recordings.models import JobState, RecordingJobRow
from hotline12345.recordings.settings import settings_from
from hotline12345.tickets.enums import Speaker
from hotline12345.tickets.store import TicketDraft, UtteranceDraft, save_ticket
from tests.waiting import until

from .fake_ami import FakeAmi, FakeCaller, FakeMember
from .test_agents_users_audit import PG_ADMIN
from .test_agents_web import ADMIN_PASSWORD, AGENT1, QUEUES, ami_config, client, login, start


async def test_listeners_see_every_event_after_the_state_update(
    fake_ami: FakeAmi, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fake_ami.add_member("q-general", FakeMember(AGENT1, "Agent One", membership="static"))
    seen: list[dict[str, str]] = []
    in_state_when_told: list[bool] = []
    runtime_box: list[AgentsRuntime] = []

    def careless(event: Mapping[str, str]) -> None:
        event["Event"] = "changed by a careless listener"  # type: ignore[index]

    def sink(event: Mapping[str, str]) -> None:  # as JobSink.handle_event
        seen.append(dict(event))
        if event.get("Event") == "QueueCallerJoin":
            queue = runtime_box[0].state.queues["q-general"]
            in_state_when_told.append(event["Uniqueid"] in queue.callers)

    def broken(event: Mapping[str, str]) -> None:
        raise RuntimeError("listener bug")

    with caplog.at_level(logging.ERROR, logger="hotline12345.agents"):
        services = await start_agents_services(
            QUEUES, tmp_path, "127.0.0.1", 0, env={"HOTLINE12345_ADMIN_PASSWORD": ADMIN_PASSWORD},
            ami=ami_config(fake_ami.port), store=MemoryStore(), bcrypt_rounds=4,
            say=lambda line: None, ami_listeners=[broken, careless, sink])
        runtime_box.append(services.runtime)
        try:
            assert services.runtime.monitor is not None
            await services.runtime.monitor.wait_connected(10)
            fake_ami.caller_join("q-general", FakeCaller("1795849881.4", "Local/s@caller2;1",
                                                         "13900139000", "王五", 0))
            fake_ami.caller_abandon("q-general", "1795849881.4")
            await until(lambda: sum(e.get("Uniqueid") == "1795849881.4" for e in seen) == 3)
            assert services.runtime.monitor.connected and fake_ami.connections == 1
            local = "test_listeners_see_every_event_after_the_state_update.<locals>."
            assert services.runtime.listener_failures() == {
                local + "broken": len(seen), local + "careless": len(seen), local + "sink": 0}
        finally:
            await services.close()
    names = {e["Event"] for e in seen}  # a read-only view: the careless change failed
    assert "changed by a careless listener" not in names and "QueueCallerJoin" in names
    calls = [e for e in seen if e.get("Uniqueid") == "1795849881.4"]
    assert [e["CallerIDNum"] for e in calls] == ["13900139000"] * 3
    assert "Response" not in {k for e in seen for k in e}  # events only, not replies
    assert any(e.get("Queue") == "q-general" and "Location" in e for e in seen)  # resync
    assert in_state_when_told == [True]
    failed = [r for r in caplog.records if r.getMessage() == "agents.listener.failed"]
    assert len(failed) == 2  # once per listener, however often it fails
    assert failed[0].fields["error"] == "RuntimeError: listener bug"  # type: ignore[attr-defined]
    assert failed[0].fields["listener"].endswith("broken")  # type: ignore[attr-defined]
    assert failed[1].fields["listener"].endswith("careless")  # type: ignore[attr-defined]
    assert failed[1].fields["error"].startswith("TypeError")  # type: ignore[attr-defined]


def recordings_db(tmp_path: Path) -> Any:
    settings = settings_from(None, data_dir=tmp_path / "data", env={})
    upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    now = time.time()
    job = RecordingJob("1795849881.4", "ami:Hangup", {"mixed": "1795849881.4.wav"},
                       {"caller": "13900139000"}, now)
    with Session(engine) as s, s.begin():
        s.add(RecordingJobRow(uniqueid=job.uniqueid, payload=job.to_json(),
                              state=JobState.FAILED, attempts=3, deliveries=3, not_before=now,
                              error="1795849881.4.wav: unreadable header (caller 13900139000)",
                              created_at=now, updated_at=now))
        save_ticket(s, TicketDraft(
            uniqueid="1795849870.1", caller="13800138000", caller_name="欧阳娜娜",
            dialled="12345", queue="q-general", transcript="[00:00.0] 来电人：路灯坏了",
            department="城管", utterances=[UtteranceDraft(Speaker.CALLER, 0.0, 1.2, "路灯坏了",
                                                           [])]))
    engine.dispose()
    return settings


async def test_failed_jobs_and_tickets_for_viewers(tmp_path: Path) -> None:
    settings = recordings_db(tmp_path)
    services = await start_agents_services(
        QUEUES, tmp_path, "127.0.0.1", 0, env={"HOTLINE12345_ADMIN_PASSWORD": ADMIN_PASSWORD},
        ami=None, store=MemoryStore(), bcrypt_rounds=4, say=lambda line: None,
        recordings=settings)
    services.users.set("zhang", "viewer-pass", "viewer")
    try:
        async with client(services) as s:
            assert (await s.get("/api/recordings/failed")).status == 401
            await login(s, "zhang", "viewer-pass")
            r = await s.get("/api/recordings/failed")
            body = await r.json()
            assert r.status == 200, body
            assert body["count"] == 1
            job = body["failed"][0]
            assert (job["uniqueid"], job["attempts"], job["source"], job["files"]) == (
                "1795849881.4", 3, "ami:Hangup", {"mixed": "1795849881.4.wav"})
            assert job["error"] == "1795849881.4.wav: unreadable header (caller 139****9000)"
            r = await s.get("/api/recordings/failed?limit=0")
            assert (r.status, (await r.json())["field"]) == (400, "limit")

            r = await s.get("/api/tickets/1795849870.1")
            ticket = await r.json()
            assert r.status == 200, ticket
            assert (ticket["caller"], ticket["caller_name"]) == ("138****8000", "欧**")
            assert (ticket["state"], ticket["department"], ticket["dialled"]) == (
                "受理", "城管", "12345")
            assert ticket["dialogue"][0]["text"] == "路灯坏了"
            assert "13800138000" not in await r.text() and "欧阳娜娜" not in await r.text()
            r = await s.get("/api/tickets/1795849881.4")
            assert (r.status, (await r.json())["field"]) == (404, "uniqueid")
            r = await s.get("/api/tickets/not%20an%20id")
            assert (r.status, (await r.json())["field"]) == (400, "uniqueid")
    finally:
        await services.close()


async def test_recordings_endpoints_without_settings_say_what_to_configure(
    tmp_path: Path,
) -> None:
    services = await start(tmp_path, None)
    try:
        async with client(services) as s:
            await login(s)
            for path in ("/api/recordings/failed", "/api/tickets/1795849870.1"):
                r = await s.get(path)
                body = await r.json()
                assert (r.status, body["field"]) == (503, "recordings"), path
                assert "recordings are not configured" in body["error"]
                assert "HOTLINE12345_DATABASE_URL" in body["error"]
    finally:
        await services.close()


async def test_recordings_database_unreachable_is_a_503(tmp_path: Path) -> None:
    settings = settings_from(None, data_dir=tmp_path / "data", env={},
                             database_url="postgresql+psycopg://nobody@127.0.0.1:1/none")
    services = await start(tmp_path, None, recordings=settings)
    try:
        async with client(services) as s:
            await login(s)
            r = await s.get("/api/recordings/failed")
            body = await r.json()
            assert (r.status, body["field"]) == (503, "recordings")
            assert "HOTLINE12345_DATABASE_URL" in body["error"]
    finally:
        await services.close()


async def test_recordings_database_without_its_tables_is_a_503(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A real database that was never migrated: what SQLAlchemy raises is an operations
    problem, answered 503 with what to run, and one WARNING line without a traceback."""
    settings = settings_from(None, data_dir=tmp_path / "data", env={},
                             database_url=f"sqlite:///{tmp_path / 'never-migrated.sqlite3'}")
    services = await start(tmp_path, None, recordings=settings)
    try:
        with caplog.at_level(logging.DEBUG):
            async with client(services) as s:
                await login(s)
                for path in ("/api/recordings/failed", "/api/tickets/1795849870.1"):
                    r = await s.get(path)
                    body = await r.json()
                    assert (r.status, body["field"]) == (503, "recordings"), path
                    assert "OperationalError: no such table" in body["error"], body
                    assert "hotline12345 db upgrade" in body["error"]
        unavailable = [r for r in caplog.records
                       if r.getMessage() == "agents.recordings.unavailable"]
        assert len(unavailable) == 2
        assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    finally:
        await services.close()


class BrokenRecordings:
    """A recordings access object with a bug in it (as a programming error would be)."""

    def __init__(self) -> None:
        self.calls = 0

    def failed_jobs(self, limit: int) -> list[dict[str, Any]]:
        self.calls += 1
        return [{"uniqueid": "1795849881.4"}]  # no "error": the web layer's KeyError

    def ticket(self, uniqueid: str) -> dict[str, Any] | None:
        self.calls += 1
        raise TypeError("a bug behind the ticket view")


async def test_a_bug_behind_the_recordings_views_is_a_500_logged_once_with_its_traceback(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Not an operations error: no 503 telling to check HOTLINE12345_DATABASE_URL."""
    broken = BrokenRecordings()
    services = await start(tmp_path, None, recordings=broken)
    try:
        async with client(services) as s:
            await login(s)
            for path, error in (("/api/recordings/failed", KeyError),
                                ("/api/tickets/1795849870.1", TypeError)):
                caplog.clear()
                with caplog.at_level(logging.DEBUG):
                    r = await s.get(path)
                    assert r.status == 500, (path, await r.text())
                    assert "HOTLINE12345_DATABASE_URL" not in await r.text()
                logged = [rec for rec in caplog.records
                          if rec.exc_info or rec.levelno >= logging.ERROR]
                assert len(logged) == 1, (path, [rec.getMessage() for rec in logged])
                assert logged[0].levelno == logging.ERROR and logged[0].exc_info is not None
                assert isinstance(logged[0].exc_info[1], error)
                assert not [rec for rec in caplog.records
                            if rec.getMessage() == "agents.recordings.unavailable"]
        assert broken.calls == 2
    finally:
        await services.close()


@pytest.fixture
def audit_database() -> Iterator[str]:
    """A PostgreSQL database of its own for the audit log: its open connections show
    whether the audit log was closed."""
    name = f"hotline12345_agents_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def connections_to(database: str) -> int:
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s",
                           (database,)).fetchone()
    assert row is not None
    return int(row[0])


async def test_a_failed_start_leaves_nothing_behind(tmp_path: Path,
                                                    audit_database: str) -> None:
    """Redis really unreachable: the start fails after the audit database was migrated
    and the audit log opened; no connection to it is left open, and no admin is created."""
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{audit_database}"
    said: list[str] = []
    with pytest.raises(ConnectionError, match="cannot reach Redis"):
        await start_agents_services(QUEUES, tmp_path, "127.0.0.1", 0,
                                    env={"HOTLINE12345_REDIS_URL": "redis://127.0.0.1:1/0"},
                                    ami=None, database_url=url, bcrypt_rounds=4,
                                    say=said.append)
    assert connections_to(audit_database) == 0
    assert said == []
    # No admin was created whose one-time password nobody saw: the next start prints it.
    assert not (tmp_path / "agents-users.json").exists()
    services = await start_agents_services(QUEUES, tmp_path, "127.0.0.1", 0, env={}, ami=None,
                                           store=MemoryStore(), database_url=url,
                                           bcrypt_rounds=4, say=said.append)
    try:
        await services.audit.recent(1)  # the log in use holds a pooled connection ...
        assert connections_to(audit_database) >= 1  # ... which the checks here can see
        assert services.admin_password and any(services.admin_password in x for x in said)
    finally:
        await services.close()
    assert connections_to(audit_database) == 0
