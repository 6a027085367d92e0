"""Fixtures of the analytics tests: a migrated database (SQLite and PostgreSQL), one
segmenter for the session (jieba takes seconds to load), and a way to plant tickets."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from hotline12345.analytics.segment import Segmenter
from hotline12345.db.engine import make_engine
from hotline12345.db.migrate import upgrade
from hotline12345.tickets.models import Ticket
from tests.databases import new_pg_database


@pytest.fixture(scope="session")
def segmenter(tmp_path_factory: pytest.TempPathFactory) -> Segmenter:
    return Segmenter(cache_dir=tmp_path_factory.mktemp("jieba"))


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    with new_pg_database("topics") as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'hotline12345.sqlite3'}"
        upgrade(url)
    else:
        url = request.getfixturevalue("pg_url")
        eng = make_engine(url)
        with eng.begin() as conn:
            conn.execute(text("TRUNCATE tickets, topic_counts, topic_tickets, topic_places "
                              "RESTART IDENTITY CASCADE"))
        eng.dispose()
    eng = make_engine(url)
    yield eng
    eng.dispose()


@dataclass(frozen=True, slots=True)
class Planted:
    at: datetime
    transcript: str = ""
    summary: str = ""
    category: str | None = None
    department: str | None = None
    legacy_number: str | None = None


def plant(engine: Engine, tickets: Sequence[Planted]) -> list[int]:
    """Insert ``tickets`` (one statement) and return their ids in order."""
    marker = uuid.uuid4().hex[:8]
    rows: list[dict[str, Any]] = [
        {"uniqueid": f"{marker}.{i}", "created_at": t.at, "transcript": t.transcript,
         "summary": t.summary, "category": t.category, "department": t.department,
         "legacy_number": t.legacy_number} for i, t in enumerate(tickets)]
    with Session(engine) as s, s.begin():
        s.execute(insert(Ticket), rows)
        ids = {uniqueid: tid for uniqueid, tid in s.execute(
            select(Ticket.uniqueid, Ticket.id).where(Ticket.uniqueid.like(f"{marker}.%")))}
    return [ids[r["uniqueid"]] for r in rows]
