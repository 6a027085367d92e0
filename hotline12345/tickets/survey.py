"""The end-of-call survey (好差评) on the ticket: the caller's 1–5 digit becomes the ticket's
``survey_rating`` (5 非常满意 … 1 非常不满意, :meth:`Rating.from_survey`); no answer leaves
it empty (未评价). A 差评 opens a 差评回访 (:func:`.revisit.open_complaint`).

The survey (``calls.survey_score``, written by the survey flow through the call store) and
the ticket (written by the recordings pipeline) arrive in either order, so both writers
call :func:`apply_survey` for the call: the pipeline when it saves the ticket
(:func:`hotline12345.tickets.store.save_ticket`), the call store when it writes a survey
(:func:`surveys_written`, given to :class:`hotline12345.calls.store.SqlCallStore`). Applying
it is idempotent: the rating is set only while it is empty, by one conditional ``UPDATE``
(two writers at once: one sets it, and only that one opens the task). On PostgreSQL the
pipeline reads the call's row ``FOR UPDATE``, so a survey being written at that moment is
waited for rather than missed. :func:`reconcile_surveys` catches anything left (a survey
written while its ticket's transaction was still open), for the periodic sweep.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from hotline12345.calls.models import CallRecord
from hotline12345.logs import log_event
from hotline12345.tickets.enums import Rating
from hotline12345.tickets.models import Ticket
from hotline12345.tickets.revisit import (
    SURVEY_SOURCE,
    DuePolicy,
    fill_missing_dues,
    open_complaint,
)

__all__ = ["apply_survey", "reconcile_surveys", "surveys_written", "upkeep"]

_log = logging.getLogger("hotline12345.tickets.survey")


def apply_survey(session: Session, uniqueid: str, *, policy: DuePolicy | None = None,
                 lock: bool = False) -> Rating | None:
    """Put the call's survey on its ticket, in ``session`` (the caller commits). Returns the
    rating this call set, or None (no ticket yet, no survey or no answer, or already set).
    ``lock``: read the call's row ``FOR UPDATE`` (PostgreSQL; SQLite serialises writers)."""
    query = select(CallRecord.survey_score, CallRecord.survey_at).where(
        CallRecord.uniqueid == uniqueid)
    if lock:
        query = query.with_for_update()
    row = session.execute(query).first()
    if row is None:
        return None
    rating = Rating.from_survey(row.survey_score)
    if rating is None:
        return None
    ticket_id = session.scalar(select(Ticket.id).where(Ticket.uniqueid == uniqueid))
    if ticket_id is None:
        return None
    changed = session.execute(
        update(Ticket).where(Ticket.id == ticket_id, Ticket.survey_rating.is_(None))
        .values(survey_rating=rating).execution_options(synchronize_session=False))
    if getattr(changed, "rowcount", 0) != 1:
        return None
    ticket = session.get(Ticket, ticket_id)
    assert ticket is not None
    session.refresh(ticket, ["survey_rating"])
    log_event(_log, "tickets.survey.rated", ticket=ticket_id, uniqueid=uniqueid,
              rating=rating.value)
    at = row.survey_at or datetime.now(UTC)
    open_complaint(session, ticket, rating, source=SURVEY_SOURCE, at=at, policy=policy)
    return rating


def surveys_written(connection: Connection, uniqueids: Sequence[str],
                    policy: DuePolicy | None = None) -> None:
    """The call store's hook: after it wrote surveys, in its transaction, put them on the
    tickets that exist already."""
    with Session(bind=connection, join_transaction_mode="create_savepoint") as session:
        for uniqueid in uniqueids:
            apply_survey(session, uniqueid, policy=policy)
        session.commit()  # releases the savepoint; the call store's transaction commits all


def reconcile_surveys(session: Session, *, now: datetime, policy: DuePolicy | None = None,
                      window: timedelta = timedelta(days=3), limit: int = 1000) -> int:
    """Put every survey still missing from its ticket (tickets made within ``window``
    before ``now``, whose call has a score) on it. Returns how many were set."""
    rows: Iterable[Any] = session.execute(
        select(Ticket.uniqueid).join(CallRecord, CallRecord.uniqueid == Ticket.uniqueid)
        .where(Ticket.created_at >= now - window, Ticket.survey_rating.is_(None),
               CallRecord.survey_score.is_not(None))
        .order_by(Ticket.id).limit(limit)).all()
    return sum(apply_survey(session, r.uniqueid, policy=policy) is not None for r in rows)


def upkeep(session: Session, *, now: datetime, policy: DuePolicy) -> int:
    """The periodic sweep's share of 回访 (one call, in its transaction): surveys missed
    by both writers (:func:`reconcile_surveys`), and the dues of 差评回访 tasks opened
    without a policy (:func:`.revisit.fill_missing_dues`). Idempotent; returns how many
    rows it changed."""
    return reconcile_surveys(session, now=now, policy=policy) + fill_missing_dues(session,
                                                                                  policy)
