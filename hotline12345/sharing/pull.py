"""The pull feed: a department that cannot receive calls reads its events with a cursor
(``GET /api/feed?after=<cursor>&limit=``, :mod:`hotline12345.agents.feed_views`).

A cursor is a position in the subscription's own sequence. Positions are given to its
pending events when a reader first sees them, in outbox order, under a lock on the
subscription's ``feed_cursors`` row: an event whose transaction commits late gets a later
position instead of one the reader has already passed, so none is skipped. Coming back
with ``after=N`` says that everything up to N arrived: those events count as delivered in
``feed status`` (and each one that carried a caller's full number is audited when it is
read). Asking again with an earlier cursor reads the events again.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hotline12345.config.schema import FeedKind, FeedSubscription
from hotline12345.db.engine import make_engine

from .models import DeliveryStatus, FeedAudit, FeedCursor, FeedDelivery, FeedOutbox

__all__ = ["CursorAhead", "PullFeeds", "PullPage", "read_page"]

#: Positions given per read at most (the rest get theirs on the next read).
_NUMBER_AT_ONCE = 5000


class CursorAhead(ValueError):
    """The reader's cursor is past every position given: it is not this feed's."""


@dataclass(frozen=True, slots=True)
class PullPage:
    events: list[dict[str, Any]]  # {"cursor", "id", "event"}, in cursor order
    next: int  # the cursor to come back with


def _lock_cursor(session: Session, name: str, now: datetime) -> FeedCursor:
    """The subscription's cursor row, locked until the caller's commit (an UPDATE first:
    PostgreSQL locks the row, SQLite takes its write lock)."""
    for _ in range(3):
        result = session.execute(update(FeedCursor).where(FeedCursor.subscription == name)
                                 .values(updated_at=now))
        if getattr(result, "rowcount", 0):
            cursor = session.get(FeedCursor, name, populate_existing=True)
            assert cursor is not None
            return cursor
        try:
            with session.begin_nested():
                session.add(FeedCursor(subscription=name, last_position=0, acked_position=0,
                                       updated_at=now))
        except IntegrityError:  # another reader made it meanwhile: lock theirs
            continue
    raise RuntimeError(f"feed cursor of {name} could not be locked")


def read_page(session: Session, subscription: FeedSubscription, after: int, limit: int, *,
              reader: str, clock: Callable[[], datetime] = lambda: datetime.now(UTC),
              ) -> PullPage:
    """The events of ``subscription`` after the cursor ``after``, at most ``limit``; the
    caller commits. ``reader`` (the user) is written to the audit of full numbers."""
    now = clock()
    cursor = _lock_cursor(session, subscription.name, now)
    unnumbered = session.execute(
        select(FeedDelivery.id).where(FeedDelivery.subscription == subscription.name,
                                      FeedDelivery.position.is_(None))
        .order_by(FeedDelivery.outbox_id).limit(_NUMBER_AT_ONCE)).scalars().all()
    position = cursor.last_position
    for delivery_id in unnumbered:
        position += 1
        session.execute(update(FeedDelivery).where(FeedDelivery.id == delivery_id)
                        .values(position=position))
    cursor.last_position = position
    if after > cursor.last_position:
        raise CursorAhead(f"cursor {after} is past the end of this feed ({cursor.last_position});"
                          " start again from after=0 or the last \"next\" you were given")
    if after > cursor.acked_position:
        session.execute(update(FeedDelivery).where(
            FeedDelivery.subscription == subscription.name,
            FeedDelivery.position <= after,
            FeedDelivery.status == DeliveryStatus.PENDING.value)
            .values(status=DeliveryStatus.DELIVERED.value, delivered_at=now))
        cursor.acked_position = after
    rows = session.execute(
        select(FeedDelivery.position, FeedOutbox.event_id, FeedOutbox.ticket_id,
               FeedOutbox.body, FeedOutbox.body_full)
        .join(FeedOutbox, FeedOutbox.id == FeedDelivery.outbox_id)
        .where(FeedDelivery.subscription == subscription.name, FeedDelivery.position > after)
        .order_by(FeedDelivery.position).limit(limit)).all()
    events: list[dict[str, Any]] = []
    for pos, event_id, ticket_id, body, body_full in rows:
        if subscription.full_numbers and body_full is not None:
            body = body_full
            session.add(FeedAudit(at=now, subscription=subscription.name,
                                  department=subscription.department, channel="pull",
                                  event_id=event_id, ticket_id=ticket_id, reader=reader[:64]))
        events.append({"cursor": pos, "id": event_id,
                       "event": json.loads(body)})
    return PullPage(events, events[-1]["cursor"] if events else after)


class PullFeeds:
    """The pull subscriptions of a site and the database they are read from, for the web
    API (:meth:`read` runs in a worker thread)."""

    def __init__(self, database_url: str, subscriptions: Sequence[FeedSubscription],
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.subscriptions = {s.name: s for s in subscriptions if s.kind is FeedKind.PULL}
        self.clock = clock
        self._engine = make_engine(database_url)

    def of_department(self, department: str) -> list[FeedSubscription]:
        return [s for s in self.subscriptions.values() if s.department == department]

    def read(self, subscription: FeedSubscription, after: int, limit: int, reader: str
             ) -> PullPage:
        with Session(self._engine) as session:
            page = read_page(session, subscription, after, limit, reader=reader,
                             clock=self.clock)
            session.commit()
            return page

    def close(self) -> None:
        self._engine.dispose()
