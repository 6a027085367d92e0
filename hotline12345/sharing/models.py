"""The feeds' tables (Alembic revision ``0006``, 0006_feed_outbox.py).

- ``feed_outbox``: one row per event, written in the transaction of the ticket transition
  that caused it (:class:`~hotline12345.sharing.outbox.Outbox`). The body is stored as the
  exact bytes every delivery sends and signs: masked, and with the caller's full number for
  subscriptions allowed to see it (``body_full``, only when the event has a number).
- ``feed_deliveries``: one row per (subscription, event), written in that same transaction:
  pending, delivered or dead (retried for ``retry_hours``, then the dead-letter list); its
  attempts, next attempt and last error. A pull subscription's rows get their
  ``position`` (the cursor) when a reader first sees them, in the order they became visible.
- ``feed_cursors``: per pull subscription, the last position given and the highest cursor a
  reader has come back with (what it has received).
- ``feed_audit``: append-only; every delivery of a caller's full number (who, which event).
- ``feed_leases``: which sender process delivers a subscription now (several controllers
  share one PostgreSQL: one sends, the others stand by until its lease runs out).
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from hotline12345.db.base import Base, UtcDateTime

__all__ = ["DeliveryStatus", "FeedAudit", "FeedCursor", "FeedDelivery", "FeedLease",
           "FeedOutbox"]


def _now() -> datetime:
    return datetime.now(UTC)


class DeliveryStatus(enum.StrEnum):
    PENDING = "pending"  # not delivered yet (never tried, or failing and retried)
    DELIVERED = "delivered"  # the receiver answered 2xx / XADD done / a reader moved past it
    DEAD = "dead"  # retried for retry_hours without success: the dead-letter list


class FeedOutbox(Base):
    __tablename__ = "feed_outbox"
    __table_args__ = (UniqueConstraint("event_id", name="uq_feed_outbox_event_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(80))  # the webhook-id
    kind: Mapped[str] = mapped_column(String(40))  # created, dispatched, ...
    ticket_id: Mapped[int | None] = mapped_column(Integer, index=True)
    history_seq: Mapped[int | None] = mapped_column(Integer)
    department: Mapped[str | None] = mapped_column(String(100), index=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime)  # when the event happened
    body: Mapped[str] = mapped_column(Text)  # the JSON body, caller's number masked
    body_full: Mapped[str | None] = mapped_column(Text)  # with the full number, if any
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=_now)


class FeedDelivery(Base):
    __tablename__ = "feed_deliveries"
    __table_args__ = (
        UniqueConstraint("subscription", "outbox_id", name="uq_feed_deliveries_event"),
        Index("ix_feed_deliveries_due", "subscription", "status", "outbox_id"),
        Index("ix_feed_deliveries_ticket", "subscription", "ticket_id", "status"),
        Index("ix_feed_deliveries_position", "subscription", "position"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    outbox_id: Mapped[int] = mapped_column(Integer, ForeignKey("feed_outbox.id"))
    subscription: Mapped[str] = mapped_column(String(64))
    ticket_id: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(12), default=DeliveryStatus.PENDING.value)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)  # the retry window starts here
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)  # masked
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    position: Mapped[int | None] = mapped_column(Integer)  # pull: the cursor


class FeedCursor(Base):
    __tablename__ = "feed_cursors"

    subscription: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_position: Mapped[int] = mapped_column(Integer, default=0)
    acked_position: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=_now)


class FeedAudit(Base):
    __tablename__ = "feed_audit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    subscription: Mapped[str] = mapped_column(String(64))
    department: Mapped[str] = mapped_column(String(100))
    channel: Mapped[str] = mapped_column(String(16))  # webhook, redis_stream, pull
    event_id: Mapped[str] = mapped_column(String(80))
    ticket_id: Mapped[int | None] = mapped_column(Integer)
    reader: Mapped[str] = mapped_column(String(64), default="")  # pull: the user


class FeedLease(Base):
    __tablename__ = "feed_leases"

    subscription: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner: Mapped[str] = mapped_column(String(120))  # host:pid:random of the sender
    until: Mapped[datetime] = mapped_column(UtcDateTime)
