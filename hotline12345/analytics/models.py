"""The topic index's tables (migration 0007).

- ``topic_counts``: per UTC hour and term, how many tickets created in that hour contain the
  term (document frequency: a caller repeating a word ten times counts once). Hot topics
  sum it over windows with one ``GROUP BY term``.
- ``topic_tickets``: which tickets are indexed, their hour, the digest of the text that was
  counted and its terms. It makes indexing idempotent (a ticket is counted once, whatever
  the number of indexers), lets a changed text (the seat's summary written later) replace
  its old terms, and gives the number of tickets per window (the statistic's denominators).
- ``topic_places``: the places (地名 of the user dictionary) each ticket mentions, with its
  creation time: surge warnings by place are a ``GROUP BY place`` on it, as those by
  category are on ``tickets``.

Rows are only added; a deleted ticket takes its ``topic_tickets`` and ``topic_places`` rows
with it (its counts stay: they are history).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from hotline12345.db.base import Base, UtcDateTime

__all__ = ["TERM_LENGTH", "TopicCount", "TopicPlace", "TopicTicket"]

#: Longest term kept (longer tokens are cut to it).
TERM_LENGTH = 64


class TopicCount(Base):
    __tablename__ = "topic_counts"

    hour: Mapped[datetime] = mapped_column(UtcDateTime, primary_key=True)
    term: Mapped[str] = mapped_column(String(TERM_LENGTH), primary_key=True)
    tickets: Mapped[int] = mapped_column(Integer)


class TopicTicket(Base):
    __tablename__ = "topic_tickets"
    __table_args__ = (Index("ix_topic_tickets_hour", "hour"),)

    ticket_id: Mapped[int] = mapped_column(
        ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True)
    hour: Mapped[datetime] = mapped_column(UtcDateTime)
    digest: Mapped[str] = mapped_column(String(32))  # md5 of the text counted
    terms: Mapped[list[str]] = mapped_column(JSON)  # the distinct terms counted


class TopicPlace(Base):
    __tablename__ = "topic_places"
    __table_args__ = (Index("ix_topic_places_created_at", "created_at"),)

    ticket_id: Mapped[int] = mapped_column(
        ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True)
    place: Mapped[str] = mapped_column(String(TERM_LENGTH), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
