"""The outbox: every ticket event, written in the transaction of the transition that
caused it, so that no event is lost or invented when a process dies between the two.

The ticket workflow calls :meth:`Outbox.record` as one of its listeners, inside
``Workflow.apply`` (the caller commits). It adds one ``feed_outbox`` row and one pending
``feed_deliveries`` row for each subscription that receives the event: the subscription's
department is the event's department, and the event's kind is among its ``events`` (all
kinds when it lists none). Events without a department (a ticket not dispatched yet) reach
no department's feed.

The body is built here, once, as the bytes every delivery sends and signs (Standard
Webhooks' ``{"type", "timestamp", "data"}``); the caller's number in it is masked
(:func:`hotline12345.logs.mask_number`), and a second body with the full number is kept for
the subscriptions with ``full_numbers: true``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy.orm import Session

from hotline12345.config.schema import FeedSubscription

from .models import DeliveryStatus, FeedDelivery, FeedOutbox

__all__ = ["FeedEvent", "Outbox", "event_body", "event_id", "receives"]


class FeedEvent(Protocol):
    """What the outbox reads of an event (the ticket loop's ``TicketEvent``)."""

    @property
    def kind(self) -> str: ...
    @property
    def ticket_id(self) -> int: ...
    @property
    def history_seq(self) -> int: ...
    @property
    def at(self) -> datetime: ...
    @property
    def department(self) -> str | None: ...

    def to_payload(self, *, full_number: bool) -> dict[str, Any]: ...


def event_id(event: FeedEvent) -> str:
    """The event's id (the ``webhook-id``): the same for every delivery and replay of it,
    different for every other event (a ticket's history rows are numbered)."""
    return f"ticket-{event.ticket_id}-{event.history_seq}-{event.kind}"


def event_body(event: FeedEvent, *, full_number: bool) -> str:
    """The JSON body of ``event``: ``{"type": "ticket.<kind>", "timestamp", "data"}``."""
    envelope = {"type": f"ticket.{event.kind}", "timestamp": event.at.astimezone(UTC).isoformat(),
                "data": event.to_payload(full_number=full_number)}
    return json.dumps(envelope, ensure_ascii=False, separators=(",", ":"), default=str)


def receives(subscription: FeedSubscription, department: str | None, kind: str) -> bool:
    """Whether ``subscription`` receives an event of ``kind`` for ``department``."""
    return (department is not None and subscription.department == department
            and (not subscription.events or kind in subscription.events))


class Outbox:
    """The listener that writes events to the outbox for ``subscriptions`` (the site file's
    ``feeds:``). ``clock`` starts each delivery's retry window."""

    def __init__(self, subscriptions: Sequence[FeedSubscription],
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.subscriptions = tuple(subscriptions)
        self.clock = clock

    def record(self, session: Session, event: FeedEvent) -> None:
        """Add ``event`` and its pending deliveries to ``session`` (the transition's)."""
        masked = event_body(event, full_number=False)
        full = event_body(event, full_number=True)
        row = FeedOutbox(event_id=event_id(event), kind=event.kind, ticket_id=event.ticket_id,
                         history_seq=event.history_seq, department=event.department,
                         at=event.at, body=masked, body_full=None if full == masked else full,
                         created_at=self.clock())
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
