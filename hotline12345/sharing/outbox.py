"""The outbox: every ticket event, written in the transaction of the transition that
caused it, so that no event is lost or invented when a process dies between the two.

The ticket workflow calls :meth:`Outbox.record` as one of its listeners, inside
``Workflow.apply`` (the caller commits). It adds one ``feed_outbox`` row and one pending
``feed_deliveries`` row for each subscription that receives the event: the subscription's
department is the event's department, and the event's kind is among its ``events`` (all
kinds when it lists none). Events without a department (a ticket not dispatched yet) reach
no department's feed.

The body is built here, once, as the bytes every delivery sends and signs (Standard
Webhooks' ``{"type", "timestamp", "data"}``, ``data`` being ``TicketEvent.to_payload``); the
caller's number in it is masked (:func:`hotline12345.logs.mask_number`), and when the event
has a number a second body with it in full is kept for the subscriptions with
``full_numbers: true``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hotline12345.config.schema import FeedSubscription

from .models import DeliveryStatus, FeedDelivery, FeedOutbox

if TYPE_CHECKING:  # no import at run time: tickets may import the outbox to wire it
    from hotline12345.tickets.events import TicketEvent

__all__ = ["OPT_IN_KINDS", "Outbox", "event_body", "receives"]


def event_body(event: TicketEvent, *, full_number: bool) -> str:
    """The JSON body of ``event``: ``{"type": "ticket.<kind>", "timestamp", "data"}``."""
    envelope = {"type": f"ticket.{event.kind}", "timestamp": event.at.astimezone(UTC).isoformat(),
                "data": event.to_payload(full_number=full_number)}
    return json.dumps(envelope, ensure_ascii=False, separators=(",", ":"), default=str)


#: Kinds a subscription receives only when its ``events`` names them (the analytics').
OPT_IN_KINDS = frozenset({"surge"})


def receives(subscription: FeedSubscription, department: str | None, kind: str) -> bool:
    """Whether ``subscription`` receives an event of ``kind`` for ``department``."""
    if department is None or subscription.department != department:
        return False
    if kind in OPT_IN_KINDS or subscription.events:
        return kind in subscription.events
    return True


class Outbox:
    """The listener that writes events to the outbox for ``subscriptions`` (the site file's
    ``feeds:``). ``clock`` starts each delivery's retry window."""

    def __init__(self, subscriptions: Sequence[FeedSubscription],
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.subscriptions = tuple(subscriptions)
        self.clock = clock

    def record(self, session: Session, event: TicketEvent) -> None:
        """Add ``event`` and its pending deliveries to ``session`` (the transition's). The
        event's id (``TicketEvent.event_id``) is unique: recording it twice fails the
        transaction rather than send two events under one id."""
        full = event_body(event, full_number=True) if event.caller else None
        row = FeedOutbox(event_id=event.event_id, kind=event.kind, ticket_id=event.ticket_id,
                         history_seq=event.history_seq, department=event.department,
                         at=event.at, body=event_body(event, full_number=False),
                         body_full=full, created_at=self.clock())
        session.add(row)
        targets = [s for s in self.subscriptions
                   if receives(s, event.department, event.kind)]
        if not targets:
            return
        session.flush()
        now = self.clock()
        session.add_all(FeedDelivery(outbox_id=row.id, subscription=s.name,
                                     ticket_id=event.ticket_id,
                                     status=DeliveryStatus.PENDING.value, attempts=0,
                                     created_at=now, next_attempt_at=now)
                        for s in targets)

    def record_warning(self, session: Session, *, key: str, kind: str, at: datetime,
                       department: str | None, data: Mapping[str, Any]) -> bool:
        """Add a warning of the analytics (热点/预警, e.g. ``kind="surge"``) for
        ``department``'s subscriptions that list ``kind`` in their ``events`` (it is in no
        "every kind" feed). ``key`` is its id: a warning already recorded under it is not
        recorded again (False). Its body: ``{"type": "analytics.<kind>", "timestamp",
        "data"}``; ``data`` must hold no caller's number."""
        if session.scalar(select(FeedOutbox.id).where(FeedOutbox.event_id == key)) is not None:
            return False
        body = json.dumps({"type": f"analytics.{kind}",
                           "timestamp": at.astimezone(UTC).isoformat(), "data": dict(data)},
                          ensure_ascii=False, separators=(",", ":"), default=str)
        try:
            with session.begin_nested():
                row = FeedOutbox(event_id=key, kind=kind, ticket_id=None, history_seq=None,
                                 department=department, at=at, body=body, body_full=None,
                                 created_at=self.clock())
                session.add(row)
                session.flush()
        except IntegrityError:  # recorded meanwhile by another process
            return False
        now = self.clock()
        session.add_all(FeedDelivery(outbox_id=row.id, subscription=s.name, ticket_id=None,
                                     status=DeliveryStatus.PENDING.value, attempts=0,
                                     created_at=now, next_attempt_at=now)
                        for s in self.subscriptions
                        if kind in OPT_IN_KINDS and receives(s, department, kind))
        return True
