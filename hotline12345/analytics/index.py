"""The incremental topic index: a new ticket adds 1 to the count of each distinct term of
its transcript and 诉求 summary in its creation hour, in the caller's transaction.

Indexing is idempotent: the ticket's ``topic_tickets`` row is inserted first with ``ON
CONFLICT DO NOTHING ... RETURNING``, and only the tickets whose row was new are counted, so
two indexers (a workflow listener and a catch-up in another process) never count a ticket
twice. :func:`catch_up` indexes every ticket not yet indexed, oldest first, in batches: at
start, after a restore, or from a periodic job; counting a batch sums the terms in Python
and writes one upsert per (hour, term).

Why a table rather than an in-memory index rebuilt at start: rebuilding means segmenting
every transcript again (about a millisecond each: minutes for a year of calls), and every
process (the wallboard, the workers) would hold its own copy. The table survives restarts,
is shared, and its ``GROUP BY`` over hours is cheap (docs/topics.md).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from hotline12345.logs import log_event
from hotline12345.tickets.models import Ticket

from .models import TERM_LENGTH, TopicCount, TopicPlace, TopicTicket
from .segment import Segmenter

__all__ = ["IndexedText", "catch_up", "hour_of", "index_texts", "index_ticket"]

log = logging.getLogger("hotline12345.analytics")

# Rows per multi-row INSERT (SQLite allows 32,766 parameters; 3 a row).
_CHUNK = 2000


def hour_of(at: datetime) -> datetime:
    """The start of the UTC hour of ``at`` (an aware datetime)."""
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


@dataclass(frozen=True, slots=True)
class IndexedText:
    """What the index reads of a ticket."""

    ticket_id: int
    created_at: datetime
    text: str  # transcript and summary, in any order


def _insert(session: Session):  # type: ignore[no-untyped-def]
    """The dialect's INSERT with ON CONFLICT (SQLite and PostgreSQL)."""
    name = session.get_bind().dialect.name
    if name == "postgresql":
        return postgresql.insert
    if name == "sqlite":
        return sqlite.insert
    raise RuntimeError(f"the topic index needs SQLite or PostgreSQL, not {name}")


def index_texts(session: Session, texts: Sequence[IndexedText], segmenter: Segmenter) -> int:
    """Count ``texts`` in the index, in ``session``'s transaction (the caller commits).
    Tickets already indexed are skipped. Returns how many were counted."""
    if not texts:
        return 0
    insert = _insert(session)
    cut: dict[int, tuple[datetime, list[str], list[str]]] = {}
    for item in texts:
        terms = list(dict.fromkeys(t[:TERM_LENGTH] for t in segmenter.terms(item.text)))
        cut[item.ticket_id] = (hour_of(item.created_at), terms, segmenter.places(terms))
    new: set[int] = set()
    items = list(cut.items())
    for start in range(0, len(items), _CHUNK):
        rows = [{"ticket_id": tid, "hour": hour, "terms": len(terms)}
                for tid, (hour, terms, _) in items[start:start + _CHUNK]]
        stmt = insert(TopicTicket).values(rows).on_conflict_do_nothing(
            index_elements=["ticket_id"]).returning(TopicTicket.ticket_id)
        new.update(session.scalars(stmt))
    counts: Counter[tuple[datetime, str]] = Counter()
    places: list[dict[str, object]] = []
    created = {item.ticket_id: item.created_at for item in texts}
    for tid in new:
        hour, terms, found = cut[tid]
        counts.update((hour, term) for term in terms)
        places.extend({"ticket_id": tid, "place": p, "created_at": created[tid]} for p in found)
    rows_counts = [{"hour": h, "term": t, "tickets": n} for (h, t), n in counts.items()]
    for start in range(0, len(rows_counts), _CHUNK):
        stmt = insert(TopicCount).values(rows_counts[start:start + _CHUNK])
        stmt = stmt.on_conflict_do_update(
            index_elements=["hour", "term"],
            set_={"tickets": TopicCount.tickets + stmt.excluded.tickets})
        session.execute(stmt)
    for start in range(0, len(places), _CHUNK):
        session.execute(insert(TopicPlace).values(places[start:start + _CHUNK])
                        .on_conflict_do_nothing(index_elements=["ticket_id", "place"]))
    return len(new)


def _text(transcript: str | None, summary: str | None) -> str:
    return "\n".join(part for part in (summary, transcript) if part)


def index_ticket(session: Session, ticket: Ticket, segmenter: Segmenter) -> bool:
    """Count one ticket (its transcript and summary) in ``session``'s transaction; False if
    it was already indexed. Call it where the ticket is created, or as a workflow listener
    on its ``created`` event."""
    if ticket.id is None:
        session.flush()
    text = _text(ticket.transcript, ticket.summary)
    return index_texts(session, [IndexedText(ticket.id, ticket.created_at, text)],
                       segmenter) == 1


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
        counted = index_texts(session, texts, segmenter)
        session.commit()
        done += counted
        if counted == 0:  # another indexer took them all: read again
            continue
    if done:
        log_event(log, "analytics.index.caught_up", tickets=done)
    return done


def indexed_tickets(session: Session, ids: Iterable[int]) -> set[int]:
    """Which of ``ids`` are indexed."""
    wanted = list(ids)
    if not wanted:
        return set()
    return set(session.scalars(select(TopicTicket.ticket_id)
                               .where(TopicTicket.ticket_id.in_(wanted))))
