"""Migration 0007 (topic counts) goes up and down on SQLite and PostgreSQL: its three tables
appear, disappear with the downgrade (the tickets stay), and come back."""

from __future__ import annotations

from datetime import UTC, datetime

from alembic import command
from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine

from hotline12345.db.migrate import alembic_config, current_revision, head_revision, upgrade

from .conftest import Planted, plant

TABLES = {"topic_counts", "topic_tickets", "topic_places"}


def test_up_and_down(engine: Engine) -> None:
    url = engine.url.render_as_string(hide_password=False)
    assert current_revision(url) == head_revision()
    assert set(inspect(engine).get_table_names()) >= TABLES
    plant(engine, [Planted(datetime(2026, 12, 7, tzinfo=UTC), transcript="钱塘区")])
    config = alembic_config(url)
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0007-1")  # the revision before ours
    assert TABLES.isdisjoint(inspect(engine).get_table_names())
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM tickets")).scalar() == 1
    upgrade(url, engine=engine)
    assert set(inspect(engine).get_table_names()) >= TABLES
