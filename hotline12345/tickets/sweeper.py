"""The periodic 督办 sweep: in ``serve`` every ``interval_s``, and ``hotline12345 tickets
sweep`` for cron. Each batch of tickets is one transaction; running it again at the same
time changes nothing (levels only go up)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from hotline12345.logs import log_event
from hotline12345.tickets.workflow import Workflow

__all__ = ["Sweeper"]

log = logging.getLogger(__name__)
BATCH = 500


class Sweeper:
    def __init__(self, sessions: Callable[[], Session], workflow: Workflow, *,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 batch: int = BATCH) -> None:
        self.sessions = sessions
        self.batch = batch
        self.workflow = workflow
        self.clock = clock

    def run_once(self, now: datetime | None = None) -> int:
        """Sweep every running ticket at ``now`` (default: the clock); the number raised."""
        now = now or self.clock()
        raised = 0
        after: int | None = 0
        while after is not None:  # one transaction per page of tickets
            with self.sessions() as session, session.begin():
                events, after = self.workflow.sweep_page(session, now, after_id=after,
                                                         limit=self.batch)
                raised += len(events)
        log_event(log, "tickets.sweep", raised=raised, at=now.isoformat())
        return raised

    async def run_forever(self, interval_s: float) -> None:
        """Sweep now and then every ``interval_s`` until cancelled; an error is logged and
        the next round tries again."""
        while True:
            try:
                await asyncio.to_thread(self.run_once)
            except Exception as exc:  # a database hiccup must not end the loop
                log_event(log, "tickets.sweep.failed", logging.ERROR,
                          error=f"{type(exc).__name__}: {exc}"[:300])
            await asyncio.sleep(interval_s)
