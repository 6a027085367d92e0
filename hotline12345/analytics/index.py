"""The incremental topic index: a new ticket adds 1 to the count of each distinct term of
its transcript and 诉求 summary in its creation hour, in the caller's transaction.

Indexing is idempotent: the ticket's ``topic_tickets`` row is inserted first with ``ON
CONFLICT DO NOTHING ... RETURNING``, and only the tickets whose row was new are counted, so
two indexers (a workflow listener and a catch-up in another process) never count a ticket
twice. :func:`catch_up` indexes every ticket not yet indexed, oldest first, in batches: at
start, after a restore, or from a periodic job; counting a batch sums the terms in Python
and writes one upsert per (hour, term). :func:`update_ticket` replaces the terms of a
ticket whose text changed since it was counted.

Why a table rather than an in-memory index rebuilt at start: rebuilding means segmenting
every transcript again (about a millisecond each: minutes for a year of calls), and every
process (the wallboard, the workers) would hold its own copy. The table survives restarts,
is shared, and its ``GROUP BY`` over hours is cheap (docs/topics.md).
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from hotline12345.logs import log_event
from hotline12345.tickets.models import Ticket

from .models import TERM_LENGTH, TopicCount, TopicPlace, TopicTicket
from .segment import Segmenter

__all__ = ["IndexedText", "catch_up", "hour_of", "index_texts", "index_ticket",
           "update_ticket"]

log = logging.getLogger("hotline12345.analytics")

def hour_of(at: datetime) -> datetime:
    """The start of the UTC hour of ``at`` (an aware datetime)."""
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


@dataclass(frozen=True, slots=True)
class IndexedText:
    """What the index reads of a ticket."""

    ticket_id: int
    created_at: datetime
    text: str  # transcript and summary, in any order


@dataclass(frozen=True, slots=True)
class _Statements:
    """The three statements of the index in one dialect, built once: each runs with a list
    of rows (executemany), so SQLAlchemy compiles it once and caches it."""

    claim: Any  # INSERT topic_tickets ... ON CONFLICT DO NOTHING RETURNING ticket_id
    count: Any  # INSERT topic_counts ... ON CONFLICT DO UPDATE tickets = tickets + excluded
    place: Any  # INSERT topic_places ... ON CONFLICT DO NOTHING


def _build(insert: Any) -> _Statements:
    count = insert(TopicCount.__table__)
    return _Statements(
        claim=insert(TopicTicket.__table__).on_conflict_do_nothing(
            index_elements=["ticket_id"]).returning(TopicTicket.__table__.c.ticket_id),
        count=count.on_conflict_do_update(
            index_elements=["hour", "term"],
            set_={"tickets": TopicCount.__table__.c.tickets + count.excluded.tickets}),
        place=insert(TopicPlace.__table__).on_conflict_do_nothing(
            index_elements=["ticket_id", "place"]))


_STATEMENTS = {"postgresql": _build(postgresql.insert), "sqlite": _build(sqlite.insert)}


def _statements(session: Session) -> _Statements:
    name = session.get_bind().dialect.name
    try:
        return _STATEMENTS[name]
    except KeyError:
        raise RuntimeError(f"the topic index needs SQLite or PostgreSQL, not {name}") from None


def index_texts(session: Session, texts: Sequence[IndexedText], segmenter: Segmenter) -> int:
    """Count ``texts`` in the index, in ``session``'s transaction (the caller commits).
    Tickets already indexed are skipped. Returns how many were counted."""
    if not texts:
        return 0
    statements = _statements(session)
    connection = session.connection()
    cut: dict[int, tuple[datetime, list[str], list[str]]] = {}
    claims = []
    for item in texts:
        terms = _terms(segmenter, item.text)
        hour = hour_of(item.created_at)
        cut[item.ticket_id] = (hour, terms, segmenter.places(terms))
        claims.append({"ticket_id": item.ticket_id, "hour": hour, "digest": _digest(item.text),
                       "terms": terms})
    new = set(connection.execute(statements.claim, claims).scalars())
    counts: Counter[tuple[datetime, str]] = Counter()
    places: list[dict[str, object]] = []
    created = {item.ticket_id: item.created_at for item in texts}
    for tid in new:
        hour, terms, found = cut[tid]
        counts.update((hour, term) for term in terms)
        places.extend({"ticket_id": tid, "place": p, "created_at": created[tid]} for p in found)
    if counts:
        connection.execute(statements.count, [{"hour": h, "term": t, "tickets": n}
                                              for (h, t), n in counts.items()])
    if places:
        connection.execute(statements.place, places)
    return len(new)


def _text(transcript: str | None, summary: str | None) -> str:
    return "\n".join(part for part in (summary, transcript) if part)


def _digest(text: str) -> str:
    return hashlib.md5(text.encode("utf-8"), usedforsecurity=False).hexdigest()


def _terms(segmenter: Segmenter, text: str) -> list[str]:
    """The distinct terms of ``text``, in order, cut to the column's length."""
    return list(dict.fromkeys(t[:TERM_LENGTH] for t in segmenter.terms(text)))


def index_ticket(session: Session, ticket: Ticket, segmenter: Segmenter) -> bool:
    """Count one ticket (its transcript and summary) in ``session``'s transaction; False if
    it was already indexed. Call it where the ticket is created, or as a workflow listener
    on its ``created`` event."""
    if ticket.id is None:
        session.flush()
    text = _text(ticket.transcript, ticket.summary)
    return index_texts(session, [IndexedText(ticket.id, ticket.created_at, text)],
                       segmenter) == 1


def update_ticket(session: Session, ticket: Ticket, segmenter: Segmenter) -> bool:
    """Bring the counts of ``ticket`` in line with its text now, in ``session``'s
    transaction: index it if it is not yet; if its transcript or summary changed since it
    was counted (the seat wrote the 诉求 summary later), its old terms lose one and its new
    ones gain one, in its creation hour. An unchanged text costs one digest. True if
    anything was counted."""
    if ticket.id is None:
        session.flush()
    row = session.execute(select(TopicTicket).where(TopicTicket.ticket_id == ticket.id)
                          .with_for_update()).scalar_one_or_none()
    if row is None:
        return index_ticket(session, ticket, segmenter)
    text = _text(ticket.transcript, ticket.summary)
    digest = _digest(text)
    if row.digest == digest:
        return False
    terms = _terms(segmenter, text)
    old, new = set(row.terms), set(terms)
    added = [t for t in terms if t not in old]
    removed = [t for t in row.terms if t not in new]
    if added:
        session.connection().execute(_statements(session).count,
                                     [{"hour": row.hour, "term": t, "tickets": 1}
                                      for t in added])
    if removed:
        session.execute(update(TopicCount).where(TopicCount.hour == row.hour,
                                                 TopicCount.term.in_(removed))
                        .values(tickets=TopicCount.tickets - 1))
        session.execute(delete(TopicCount).where(TopicCount.hour == row.hour,
                                                 TopicCount.term.in_(removed),
                                                 TopicCount.tickets <= 0))
    session.execute(delete(TopicPlace).where(TopicPlace.ticket_id == ticket.id))
    places = [{"ticket_id": ticket.id, "place": p, "created_at": ticket.created_at}
              for p in segmenter.places(terms)]
    if places:
        session.connection().execute(_statements(session).place, places)
    row.digest, row.terms = digest, terms
    session.flush()
    return True


def _unindexed(session: Session, limit: int) -> list[IndexedText]:
    stmt = (select(Ticket.id, Ticket.created_at, Ticket.transcript, Ticket.summary)
            .outerjoin(TopicTicket, TopicTicket.ticket_id == Ticket.id)
            .where(TopicTicket.ticket_id.is_(None)).order_by(Ticket.id).limit(limit))
    return [IndexedText(tid, at, _text(transcript, summary))
            for tid, at, transcript, summary in session.execute(stmt)]


def catch_up(session: Session, segmenter: Segmenter, *, batch: int = 1000,
             limit: int | None = None) -> int:
    """Index every ticket not yet indexed (at most ``limit``), ``batch`` tickets per
    transaction; commits each batch. Returns how many tickets were counted."""
    done = 0
    while limit is None or done < limit:
        size = batch if limit is None else min(batch, limit - done)
        texts = _unindexed(session, size)
        if not texts:
            break
        # Tickets another indexer claimed meanwhile are skipped; the next read excludes them.
        done += index_texts(session, texts, segmenter)
        session.commit()
    if done:
        log_event(log, "analytics.index.caught_up", tickets=done)
    return done
