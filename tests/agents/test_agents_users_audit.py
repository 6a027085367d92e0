"""Wallboard users (bcrypt, roles, the users CLI) and the audit log on SQLite and on the real
PostgreSQL at 127.0.0.1:5432 (a database of its own per test, dropped afterwards): on the
shared Base, created by Alembic revision 0003, equal to its model."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, Text, inspect, text

from hotline12345.agents.audit import AuditEntry, AuditLog
from hotline12345.agents.users import UserError, UserStore
from hotline12345.db.base import Base
from hotline12345.db.engine import make_engine
from hotline12345.db.migrate import current_revision, head_revision, upgrade
from hotline12345.db.models import load_models

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


def test_users_hash_roles_and_errors(tmp_path: Path) -> None:
    store = UserStore(tmp_path / "users.json", rounds=4)
    assert store.list() == [] and not store.exists()
    store.set("li.si", "correct horse", "viewer")
    assert "correct horse" not in (tmp_path / "users.json").read_text(encoding="utf-8")
    user = store.verify("li.si", "correct horse")
    assert user is not None and (user.role, user.can_act) == ("观察员", False)
    assert store.verify("li.si", "wrong horse") is None
    assert store.verify("nobody", "correct horse") is None
    store.set("li.si", "another pass", "supervisor")
    assert store.verify("li.si", "correct horse") is None
    assert store.verify("li.si", "another pass") == store.get("li.si")
    for name, password, role, field in (("bad name", "12345678", "viewer", "name"),
                                        ("ok", "short", "viewer", "password"),
                                        ("ok", "x" * 73, "viewer", "password"),
                                        ("ok", "12345678", "root", "role")):
        with pytest.raises(UserError) as info:
            store.set(name, password, role)
        assert info.value.field == field
    assert store.remove("li.si") and not store.remove("li.si")


def test_ensure_admin_only_on_a_fresh_install(tmp_path: Path) -> None:
    store = UserStore(tmp_path / "users.json", rounds=4)
    with pytest.raises(UserError, match="HOTLINE12345_ADMIN_PASSWORD"):
        store.ensure_admin({"HOTLINE12345_ADMIN_PASSWORD": "short"})
    assert store.ensure_admin({"HOTLINE12345_ADMIN_PASSWORD": "from-env-pass"}) == ("admin", None)
    assert store.verify("admin", "from-env-pass") is not None
    assert store.ensure_admin({}) is None
    other = UserStore(tmp_path / "other.json", rounds=4)
    created = other.ensure_admin({})
    assert created is not None and created[1] is not None
    assert other.verify("admin", created[1]) is not None


def test_broken_users_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "users.json"
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(UserError) as info:
        UserStore(path).list()
    assert info.value.field == str(path)


def test_users_cli(tmp_path: Path) -> None:
    """The CLI as a subprocess, the password piped on its standard input."""
    cli = [sys.executable, "-m", "hotline12345.cli", "agents", "--data-dir", str(tmp_path),
           "users"]
    done = subprocess.run([*cli, "set", "zhang", "--role", "viewer", "--password-stdin"],
                          input="viewer-password\n", capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    listed = subprocess.run([*cli, "list"], capture_output=True, text=True, timeout=120)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines()[-1] == "zhang\t观察员"
    assert UserStore.in_data_dir(tmp_path).verify("zhang", "viewer-password") is not None
    removed = subprocess.run([*cli, "remove", "nobody"], capture_output=True, text=True,
                             timeout=120)
    assert removed.returncode == 1
    assert "no user 'nobody'" in removed.stderr


@pytest.fixture(params=["sqlite", "postgresql"])
def audit_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'audit.sqlite3'}"
        return
    import psycopg

    name = f"hotline12345_agents_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def test_audit_log_records_who_what_when_result(audit_url: str) -> None:
    upgrade(audit_url)
    log = AuditLog(audit_url)
    try:
        when = datetime(2026, 11, 28, 7, 11, 20, tzinfo=UTC)
        first = await log.record(user="admin", role="supervisor", action="pause",
                                 queue="q-general", interface="Local/agent2@agents/n",
                                 detail={"reason": "培训"}, result="confirmed",
                                 message="Interface paused successfully", at=when)
        await log.record(user="admin", role="supervisor", action="remove", queue="q-general",
                         interface="Local/agent9@agents/n", detail={}, result="rejected",
                         message="Unable to remove interface: Not there")
        entries = await log.recent(10)
        assert [e["action"] for e in entries] == ["remove", "pause"]
        assert entries[1] == first
        assert entries[1] == {
            "id": first["id"], "at": "2026-11-28T07:11:20+00:00", "user": "admin",
            "role": "supervisor", "action": "pause", "queue": "q-general",
            "interface": "Local/agent2@agents/n", "detail": {"reason": "培训"},
            "result": "confirmed", "message": "Interface paused successfully"}
        again = AuditLog(audit_url)  # the table already exists: kept, not recreated
        try:
            assert len(await again.recent(10)) == 2
        finally:
            again.close()
    finally:
        log.close()


def schema_diff(url: str) -> list[object]:
    """Differences between the migrated database and every model (agents_audit included)."""
    metadata = load_models()
    assert metadata.tables["agents_audit"] is AuditEntry.__table__
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            return list(compare_metadata(ctx, metadata))
    finally:
        engine.dispose()


async def test_audit_table_is_on_the_shared_base_and_made_by_migration_0003(
    audit_url: str,
) -> None:
    assert AuditEntry.__table__ is Base.metadata.tables["agents_audit"]
    AuditLog(audit_url).close()  # opening the log changes no schema
    assert current_revision(audit_url) is None
    upgrade(audit_url)  # as serve and the wallboard do at start-up
    log = AuditLog(audit_url)
    try:
        assert current_revision(audit_url) == head_revision()  # 0003 made the table
        assert schema_diff(audit_url) == []
        await log.record(user="admin", role="supervisor", action="pause", queue="q-general",
                         interface="PJSIP/8001", detail={}, result="confirmed", message="ok")
    finally:
        log.close()


async def test_audit_log_where_the_app_ran_the_migrations(audit_url: str) -> None:
    upgrade(audit_url)  # as serve does before it starts the wallboard
    engine = make_engine(audit_url)
    assert "agents_audit" in inspect(engine).get_table_names()
    engine.dispose()
    log = AuditLog(audit_url)
    try:
        entry = await log.record(user="li", role="supervisor", action="penalty", queue="",
                                 interface="PJSIP/8002", detail={"penalty": 2},
                                 result="unconfirmed", message="")
        assert await log.recent(5) == [entry]
    finally:
        log.close()


async def test_an_audit_table_made_by_create_all_is_adopted(audit_url: str) -> None:
    """The wallboard used to create agents_audit itself (``at`` with a time zone)."""
    old = MetaData()
    table = Table("agents_audit", old,
                  Column("id", Integer, primary_key=True, autoincrement=True),
                  Column("at", DateTime(timezone=True), nullable=False, index=True),
                  Column("user", String(64), nullable=False),
                  Column("role", String(16), nullable=False),
                  Column("action", String(32), nullable=False),
                  Column("queue", String(128), nullable=False),
                  Column("interface", String(128), nullable=False),
                  Column("detail", Text, nullable=False),
                  Column("result", String(16), nullable=False),
                  Column("message", Text, nullable=False))
    engine = make_engine(audit_url)
    old.create_all(engine)
    when = datetime(2026, 11, 28, 7, 11, 20, tzinfo=UTC)
    with engine.begin() as conn:
        conn.execute(table.insert().values(at=when, user="admin", role="supervisor",
                                           action="pause", queue="q-general",
                                           interface="PJSIP/8001", detail="{}",
                                           result="confirmed", message=""))
        assert conn.execute(text("SELECT count(*) FROM agents_audit")).scalar() == 1
    engine.dispose()
    upgrade(audit_url)
    log = AuditLog(audit_url)
    try:
        entries = await log.recent(5)
        assert [(e["at"], e["user"]) for e in entries] == [("2026-11-28T07:11:20+00:00",
                                                            "admin")]
        assert schema_diff(audit_url) == []
    finally:
        log.close()
