"""Callers' data stays out of errors, logs and the dead-letter list; call facts that do not fit
their columns still make a ticket; names are shown masked."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, text
from sqlalchemy.exc import DBAPIError

from hotline12345.db.engine import error_text, make_engine
from hotline12345.db.migrate import upgrade
from hotline12345.logs import mask_name
from hotline12345.recordings.api import failed_jobs
from hotline12345.recordings.jobs import RecordingJob
from hotline12345.recordings.pipeline import Processor, mode_value
from hotline12345.recordings.queue import RetryPolicy, SqlJobQueue
from hotline12345.recordings.vosk_model import LoadedModel
from hotline12345.recordings.worker import make_sessions
from hotline12345.tickets.models import Ticket
from hotline12345.tickets.store import (
    DRAFT_LIMITS,
    TicketDraft,
    fit_draft,
    get_ticket,
    ticket_view,
)
from tests.databases import PG_ADMIN
from tests.recordings.conftest import Speech, _reset_pg, base_settings, make_call

NUMBER = "13900139000"
WORDS = "我家楼下的餐馆每天夜里很吵"  # a transcript


def _refused_rows() -> list[dict[str, Any]]:
    base = {"state": "受理", "caller": NUMBER, "transcript": WORDS}
    return [{**base, "uniqueid": "1.1", "seat": "座" * 300},  # DataError: too long
            {**base, "uniqueid": None}]  # NOT NULL: PostgreSQL's DETAIL holds the whole row


@pytest.mark.parametrize("row", _refused_rows(), ids=["too-long", "not-null"])
def test_postgresql_errors_carry_neither_parameters_nor_rows(pg_database: str,
                                                             row: dict[str, Any]) -> None:
    _reset_pg(pg_database)
    engine = make_engine(pg_database)
    try:
        with pytest.raises(DBAPIError) as caught, engine.begin() as conn:
            conn.execute(insert(Ticket).values(**row))
    finally:
        engine.dispose()
    if row["uniqueid"] is not None:  # without hide_parameters: [parameters: {'caller': ...
        assert NUMBER not in str(caught.value) and WORDS not in str(caught.value)
    text = error_text(caught.value)
    assert NUMBER not in text and WORDS not in text
    assert "\n" not in text
    assert text.startswith(("DataError: value too long", "IntegrityError: null value in column"))


def test_error_text_of_other_errors() -> None:
    assert error_text(ValueError("first\nsecond")) == "ValueError: first"
    assert error_text(RuntimeError()) == "RuntimeError"
    assert len(error_text(ValueError("x" * 1000))) < 320


@pytest.fixture
def narrow_seat_database() -> Iterator[str]:
    """A PostgreSQL database of its own whose ``tickets.seat`` column is narrower than the
    200 characters the product fits a seat name to: the real ``save_ticket`` writes a row
    PostgreSQL really refuses (DataError), with the caller's data in its statement."""
    name = f"hotline12345_narrow_{uuid.uuid4().hex[:12]}"
    admin = make_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    try:
        upgrade(url)
        engine = make_engine(url)
        with engine.begin() as conn:
            conn.execute(text("ALTER TABLE tickets ALTER COLUMN seat TYPE varchar(10)"))
        engine.dispose()
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_a_refused_ticket_fails_without_the_callers_data(narrow_seat_database: str,
                                                         tmp_path: Path,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    settings = base_settings(narrow_seat_database, tmp_path / "recordings",
                             policy=RetryPolicy(max_attempts=1, base_s=0.1))
    sessions = make_sessions(settings)
    queue = SqlJobQueue(sessions, settings.policy)
    queue.enqueue(RecordingJob("2.1", "ami:UserEvent", meta={"caller": NUMBER}))
    claimed = queue.claim("w", 1.0)
    assert claimed is not None
    processor = Processor(settings, None, sessions, queue, "w")  # type: ignore[arg-type]
    draft = TicketDraft(uniqueid="2.1", caller=NUMBER, transcript=WORDS, seat="座" * 50)
    assert fit_draft(draft)[1] == []  # nothing to cut: the database refuses it as it is
    with caplog.at_level(logging.DEBUG):
        processor._commit(claimed, draft)
    [failed] = failed_jobs(settings)
    assert failed.uniqueid == "2.1"
    assert "cannot store the ticket: DataError: value too long" in failed.error
    logged = caplog.text + " ".join(str(getattr(r, "fields", "")) for r in caplog.records)
    for shown in (failed.error, logged):
        assert NUMBER not in shown and WORDS not in shown and "座座座" not in shown
    with sessions() as s:
        assert get_ticket(s, "2.1") is None
    bind = sessions.kw["bind"]
    bind.dispose()


def test_overlong_call_facts_still_make_a_ticket(model: LoadedModel, speech: Speech,
                                                 db_url: str, tmp_path: Path) -> None:
    """AMI and the dialplan may pass anything: a 300-character seat name (PostgreSQL
    refused the row: DataError) or a legacy mode that is no Mode code."""
    rec = tmp_path / "recordings"
    make_call(rec, "3.1", speech, legs=False)
    settings = base_settings(db_url, rec)
    sessions = make_sessions(settings)
    queue = SqlJobQueue(sessions, settings.policy)
    meta = {"caller": "1" * 80, "caller_name": "王" * 300, "seat": "S" * 300,
            "queue": "q" * 150, "route": "r" * 400, "legacy_number": "12315",
            "legacy_mode": "dual_number_but_misspelt"}
    queue.enqueue(RecordingJob("3.1", "ami:UserEvent", meta=meta))
    processor = Processor(settings, model, sessions, queue, "w")
    assert processor.run_once(1.0)
    assert failed_jobs(settings) == []
    with sessions() as s:
        ticket = get_ticket(s, "3.1")
        assert ticket is not None
        assert ticket.seat == "S" * 200 and ticket.caller_name == "王" * 200
        assert ticket.queue == "q" * 100 and ticket.route == "r" * 300
        assert ticket.caller == "1" * 64
        assert ticket.legacy_mode == "双号并行"  # from the register, not the unknown code
        view = ticket_view(ticket)
    assert view["caller_name"] == "王**"
    sessions.kw["bind"].dispose()


def test_fit_draft_names_the_fields_it_cut() -> None:
    assert DRAFT_LIMITS["caller_name"] == 200 and DRAFT_LIMITS["seat"] == 200
    assert DRAFT_LIMITS["legacy_mode"] == 16
    draft = TicketDraft(uniqueid="4.1", seat="x" * 201, caller_name="王\x00五",
                        transcript="a\x00b")
    fitted, cut = fit_draft(draft)
    assert cut == ["caller_name", "seat", "transcript"]
    assert (fitted.seat, fitted.caller_name, fitted.transcript) == ("x" * 200, "王五", "ab")
    assert fit_draft(fitted) == (fitted, [])


def test_mode_value_drops_what_is_no_mode() -> None:
    assert mode_value("dual_number") == "双号并行"
    assert mode_value("双号并行") == "双号并行"
    assert mode_value("not-a-mode-and-far-too-long") is None
    assert mode_value("") is None


@pytest.mark.parametrize(("name", "shown"), [
    ("王小明", "王**"), ("王明", "王*"), ("欧阳娜娜娜", "欧**"), ("王", "王"), ("", ""),
    (None, ""), ("unknown", ""), ("<unknown>", "")])
def test_names_are_masked_as_the_wallboard_masks_them(name: str | None, shown: str) -> None:
    assert mask_name(name) == shown
