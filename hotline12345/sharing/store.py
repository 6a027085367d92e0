"""The feeds' database work: what is due, what came of it, the status, replays. Every
function runs in the caller's :class:`~sqlalchemy.orm.Session`; the caller commits.

In order per ticket: :func:`due` leaves out a ticket's events behind one that waits for
its retry, and the sender sends a ticket's events one after the other, stopping at the
first failure; other tickets go on.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import cast

from sqlalchemy import Table, and_, bindparam, delete, exists, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from hotline12345.config.schema import FeedKind, FeedSubscription
from hotline12345.logs import mask_text

from .models import DeliveryStatus, FeedAudit, FeedDelivery, FeedLease, FeedOutbox
from .outbox import receives
from .retry import Backoff

__all__ = ["Attempt", "DueDelivery", "SubscriptionStatus", "due", "hold_lease", "prune",
           "release_leases", "renew_leases", "replay", "save_attempts", "status"]

_PENDING = DeliveryStatus.PENDING.value
_DELIVERED = DeliveryStatus.DELIVERED.value
_DEAD = DeliveryStatus.DEAD.value
_MAX_ERROR = 500


@dataclass(frozen=True, slots=True)
class DueDelivery:
    """A delivery to attempt now: the event's id and the exact body to send."""

    delivery_id: int
    outbox_id: int
    event_id: str
    kind: str
    ticket_id: int | None
    body: bytes
    full_number: bool  # the body holds the caller's full number (audited when delivered)
    failures: int  # attempts so far (all failed)
    window_ends: datetime


@dataclass(frozen=True, slots=True)
class Attempt:
    """What came of one attempt: ``error`` is None when it was delivered."""

    delivery: DueDelivery
    at: datetime
    error: str | None


def due(session: Session, subscription: FeedSubscription, now: datetime,
        limit: int) -> list[DueDelivery]:
    """Up to ``limit`` deliveries of ``subscription`` due at ``now``, in outbox order,
    leaving out every ticket's events behind one that waits for its retry. A ticket's
    events in the list are to be sent one after the other, stopping at a failure."""
    earlier = aliased(FeedDelivery)
    blocked = exists().where(and_(earlier.subscription == FeedDelivery.subscription,
                                  earlier.ticket_id == FeedDelivery.ticket_id,
                                  earlier.status == _PENDING,
                                  earlier.next_attempt_at > now,
                                  earlier.outbox_id < FeedDelivery.outbox_id))
    query = (select(FeedDelivery.id, FeedDelivery.outbox_id, FeedDelivery.attempts,
                    FeedDelivery.created_at, FeedOutbox.event_id, FeedOutbox.kind,
                    FeedOutbox.ticket_id, FeedOutbox.body, FeedOutbox.body_full)
             .join(FeedOutbox, FeedOutbox.id == FeedDelivery.outbox_id)
             .where(FeedDelivery.subscription == subscription.name,
                    FeedDelivery.status == _PENDING,
                    FeedDelivery.next_attempt_at <= now, ~blocked)
             .order_by(FeedDelivery.outbox_id).limit(limit))
    window = timedelta(hours=subscription.retry_hours)
    out: list[DueDelivery] = []
    for row in session.execute(query):
        full = subscription.full_numbers and row.body_full is not None
        body = row.body_full if full else row.body
        out.append(DueDelivery(row.id, row.outbox_id, row.event_id, row.kind, row.ticket_id,
                               body.encode("utf-8"), full, row.attempts,
                               row.created_at + window))
    return out


def save_attempts(session: Session, subscription: FeedSubscription,
                  attempts: Sequence[Attempt], backoff: Backoff, rng: random.Random) -> int:
    """Record what came of ``attempts``: delivered (and audited when it carried a full
    number), retried later, or dead; one statement for the lot. Returns how many died."""
    dead = 0
    rows: list[dict[str, object]] = []
    for attempt in attempts:
        item = attempt.delivery
        row: dict[str, object] = {"b_id": item.delivery_id, "b_attempts": item.failures + 1,
                                  "b_at": attempt.at, "b_status": _PENDING,
                                  "b_next": attempt.at, "b_error": None, "b_delivered": None}
        if attempt.error is None:
            row.update(b_status=_DELIVERED, b_delivered=attempt.at)
            if item.full_number:
                session.add(FeedAudit(at=attempt.at, subscription=subscription.name,
                                      department=subscription.department,
                                      channel=subscription.kind.value,
                                      event_id=item.event_id, ticket_id=item.ticket_id,
                                      reader=""))
        else:
            row["b_error"] = mask_text(attempt.error)[:_MAX_ERROR]
            later = backoff.next_attempt(item.failures + 1, attempt.at, item.window_ends, rng)
            if later is None:
                row["b_status"] = _DEAD
                dead += 1
            else:
                row["b_next"] = later
        rows.append(row)
    if rows:
        table = cast(Table, FeedDelivery.__table__)
        session.execute(
            update(table).where(table.c.id == bindparam("b_id"), table.c.status == _PENDING)
            .values(status=bindparam("b_status"), attempts=bindparam("b_attempts"),
                    last_attempt_at=bindparam("b_at"), next_attempt_at=bindparam("b_next"),
                    last_error=bindparam("b_error"), delivered_at=bindparam("b_delivered")),
            rows)
    return dead


@dataclass(frozen=True, slots=True)
class SubscriptionStatus:
    """One subscription's line in ``feed status``."""

    name: str
    department: str
    kind: str
    delivered: int
    pending: int
    failing: int  # pending after at least one failed attempt
    dead: int
    last_error: str | None  # of the latest failed attempt still pending
    last_error_at: datetime | None
    last_delivered_at: datetime | None
    in_site_file: bool = True
    sender: str | None = None  # the sender process holding the lease (host:pid:…), if any

    def to_dict(self) -> dict[str, object]:
        return {"name": self.name, "department": self.department, "kind": self.kind,
                "delivered": self.delivered, "pending": self.pending,
                "failing": self.failing, "dead": self.dead, "last_error": self.last_error,
                "last_error_at": self.last_error_at.isoformat() if self.last_error_at else None,
                "last_delivered_at": (self.last_delivered_at.isoformat()
                                      if self.last_delivered_at else None),
                "in_site_file": self.in_site_file, "sender": self.sender}


def status(session: Session, subscriptions: Sequence[FeedSubscription],
           now: datetime | None = None) -> list[SubscriptionStatus]:
    """Per subscription of the site file (and any left in the database from an older
    one): delivered, pending, failing with the last error, dead letters, and the sender
    whose lease runs at ``now`` (default: the wall clock)."""
    now = now or datetime.now(UTC)
    senders: dict[str, str] = {name: owner for name, owner in session.execute(
        select(FeedLease.subscription, FeedLease.owner).where(FeedLease.until >= now))}
    counts: dict[str, dict[str, int]] = {}
    failing: dict[str, int] = {}
    delivered_at: dict[str, datetime | None] = {}
    grouped = select(FeedDelivery.subscription, FeedDelivery.status, func.count(),
                     func.max(FeedDelivery.delivered_at)).group_by(FeedDelivery.subscription,
                                                                  FeedDelivery.status)
    for name, state, count, latest in session.execute(grouped):
        counts.setdefault(name, {})[state] = int(count)
        if state == _DELIVERED:
            delivered_at[name] = latest
    failing_query = (select(FeedDelivery.subscription, func.count())
                     .where(FeedDelivery.status == _PENDING, FeedDelivery.attempts > 0)
                     .group_by(FeedDelivery.subscription))
    for name, count in session.execute(failing_query):
        failing[name] = int(count)
    known = {s.name: s for s in subscriptions}
    out: list[SubscriptionStatus] = []
    for name in [*known, *sorted(set(counts) - set(known))]:
        sub = known.get(name)
        last = session.execute(
            select(FeedDelivery.last_error, FeedDelivery.last_attempt_at)
            .where(FeedDelivery.subscription == name, FeedDelivery.status != _DELIVERED,
                   FeedDelivery.last_error.is_not(None))
            .order_by(FeedDelivery.last_attempt_at.desc()).limit(1)).first()
        by_state = counts.get(name, {})
        out.append(SubscriptionStatus(
            name, sub.department if sub else "?", sub.kind.value if sub else "?",
            by_state.get(_DELIVERED, 0), by_state.get(_PENDING, 0), failing.get(name, 0),
            by_state.get(_DEAD, 0), last[0] if last else None, last[1] if last else None,
            delivered_at.get(name), in_site_file=sub is not None, sender=senders.get(name)))
    return out


def replay(session: Session, subscription: FeedSubscription, now: datetime, *,
           from_id: int | None = None, dead: bool = False) -> int:
    """Deliver again, from now on with a new retry window: the dead letters (``dead``),
    or every event from outbox id ``from_id`` on that the subscription receives (also
    those recorded before it was added to the site file). Returns how many were queued.
    A pull subscription is re-read with an earlier cursor instead: ValueError."""
    if subscription.kind is FeedKind.PULL:
        raise ValueError(f"{subscription.name} is a pull subscription: its reader asks again "
                         "with an earlier cursor (GET /api/feed?after=N)")
    fresh = {"status": _PENDING, "attempts": 0, "created_at": now, "next_attempt_at": now,
             "last_error": None, "delivered_at": None, "last_attempt_at": None}
    queued = 0
    if dead:
        result = session.execute(update(FeedDelivery).where(
            FeedDelivery.subscription == subscription.name, FeedDelivery.status == _DEAD)
            .values(**fresh))
        queued += int(getattr(result, "rowcount", 0) or 0)
    if from_id is not None:
        existing: dict[int, int] = {outbox_id: delivery_id for outbox_id, delivery_id in
                                    session.execute(
            select(FeedDelivery.outbox_id, FeedDelivery.id)
            .where(FeedDelivery.subscription == subscription.name,
                   FeedDelivery.outbox_id >= from_id))}
        events = session.execute(select(FeedOutbox.id, FeedOutbox.department, FeedOutbox.kind,
                                        FeedOutbox.ticket_id)
                                 .where(FeedOutbox.id >= from_id).order_by(FeedOutbox.id))
        for outbox_id, department, kind, ticket_id in events:
            if not receives(subscription, department, kind):
                continue
            if outbox_id in existing:
                session.execute(update(FeedDelivery)
                                .where(FeedDelivery.id == existing[outbox_id]).values(**fresh))
            else:
                session.add(FeedDelivery(outbox_id=outbox_id, subscription=subscription.name,
                                         ticket_id=ticket_id, **fresh))
            queued += 1
    return queued


def hold_lease(session: Session, subscription: str, owner: str, now: datetime,
               lease_s: float) -> bool:
    """Take or renew ``owner``'s lease on ``subscription`` until ``now + lease_s``; False
    while another sender's lease runs. The caller commits."""
    until = now + timedelta(seconds=lease_s)
    taken = session.execute(update(FeedLease).where(
        FeedLease.subscription == subscription,
        or_(FeedLease.owner == owner, FeedLease.until < now)).values(owner=owner, until=until))
    if getattr(taken, "rowcount", 0):
        return True
    if session.get(FeedLease, subscription) is not None:
        return False
    try:
        with session.begin_nested():
            session.add(FeedLease(subscription=subscription, owner=owner, until=until))
    except IntegrityError:  # another sender made it meanwhile
        return False
    return True


def renew_leases(session: Session, owner: str, now: datetime, lease_s: float) -> None:
    """Extend every lease ``owner`` holds (its heartbeat)."""
    session.execute(update(FeedLease).where(FeedLease.owner == owner)
                    .values(until=now + timedelta(seconds=lease_s)))


def release_leases(session: Session, owner: str) -> None:
    """Give up ``owner``'s leases (a sender stopping): another may send at once."""
    session.execute(delete(FeedLease).where(FeedLease.owner == owner))


def prune(session: Session, before: datetime, chunk: int = 1000) -> int:
    """Delete the events recorded before ``before`` that no subscription still has to
    deliver (delivered, dead, or never due anywhere), with their delivery rows; the audit
    of full numbers stays. Returns how many events went. The caller commits."""
    waiting = exists().where(FeedDelivery.outbox_id == FeedOutbox.id,
                             FeedDelivery.status == _PENDING)
    gone = 0
    while True:
        ids = session.scalars(select(FeedOutbox.id).where(FeedOutbox.created_at < before,
                                                          ~waiting)
                              .order_by(FeedOutbox.id).limit(chunk)).all()
        if not ids:
            return gone
        session.execute(delete(FeedDelivery).where(FeedDelivery.outbox_id.in_(ids)))
        session.execute(delete(FeedOutbox).where(FeedOutbox.id.in_(ids)))
        gone += len(ids)
