"""What the 热点 page, its JSON API and the workflow use: one object over the database.

Its methods block (run them in a worker thread from asyncio). Before answering, ``hot`` and
``surges`` index the tickets created since the last call (at most ``catch_up_limit``), so
the page is current even where no workflow listener indexes new tickets.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from hotline12345.config.schema import Site
from hotline12345.tickets.models import Ticket

from .hot import HotTopics, TopicSettings, Window, hot_topics
from .index import catch_up, index_ticket, update_ticket
from .segment import Segmenter
from .surges import SurgeSettings, SurgeWarning, find_surges

__all__ = ["TicketEventLike", "TopicsService"]


class TicketEventLike(Protocol):
    """The part of a ticket event (tickets/events.py) the listener reads."""

    @property
    def kind(self) -> str: ...

    @property
    def ticket_id(self) -> int: ...


def _utc_now() -> datetime:
    return datetime.now(UTC)


class TopicsService:
    """Hot topics and surge warnings over ``engine``'s tickets."""

    def __init__(self, engine: Engine, *, segmenter: Segmenter | None = None,
                 topics: TopicSettings | None = None, surges: SurgeSettings | None = None,
                 clock: Callable[[], datetime] = _utc_now, catch_up_limit: int = 2000) -> None:
        self.engine = engine
        self.segmenter = segmenter or Segmenter()
        self.topic_settings = topics or TopicSettings()
        self.surge_settings = surges or SurgeSettings()
        self.clock = clock
        self.catch_up_limit = catch_up_limit

    @classmethod
    def for_site(cls, site: Site, engine: Engine, *, data_dir: Path | None,
                 clock: Callable[[], datetime] = _utc_now) -> TopicsService:
        """For ``site``: its departments and its classification rules' departments,
        categories and keywords join the dictionary, days are those of its calendar's time
        zone; jieba's cache goes under ``data_dir/jieba``."""
        words = [d.name for d in site.file.departments]
        for rule in site.file.classification:
            words += [rule.department, rule.category, *rule.keywords]
        segmenter = Segmenter(cache_dir=data_dir / "jieba" if data_dir else None,
                              extra_words=words)
        return cls(engine, segmenter=segmenter,
                   topics=TopicSettings(timezone=site.file.calendar.timezone), clock=clock)

    def refresh(self, limit: int | None = None) -> int:
        """Index the tickets not yet indexed (at most ``limit``, default all); how many."""
        with Session(self.engine) as session:
            return catch_up(session, self.segmenter, limit=limit)

    def hot(self, window: Window) -> HotTopics:
        self.refresh(self.catch_up_limit)
        with Session(self.engine) as session:
            return hot_topics(session, window, self.clock(), settings=self.topic_settings,
                              segmenter=self.segmenter)

    def surges(self) -> list[SurgeWarning]:
        self.refresh(self.catch_up_limit)
        with Session(self.engine) as session:
            return find_surges(session, self.clock(), settings=self.surge_settings)

    def listener(self, session: Session, event: TicketEventLike) -> None:
        """A workflow listener, in the workflow's transaction (the caller commits both):
        counts a ticket on its ``created`` event; on any other event, replaces its terms if
        its text (the 诉求 summary) changed since it was counted."""
        ticket = session.get(Ticket, event.ticket_id)
        if ticket is None:
            return
        if event.kind == "created":
            index_ticket(session, ticket, self.segmenter)
        else:
            update_ticket(session, ticket, self.segmenter)
