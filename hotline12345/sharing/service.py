"""The feeds in ``serve``: the sender of the webhook and Redis Stream subscriptions, and
the pull subscriptions the web API serves. ``serve`` starts them with the database it
migrated::

    feeds = await start_feeds(site.file.feeds, database_url, say=say)
    services = await start_agents_services(..., feeds=feeds.pull)
    ...
    await feeds.stop()

The ticket workflow writes the outbox with ``Outbox(site.file.feeds).record`` as one of
its listeners, and may call :meth:`FeedServices.nudge` after a commit so that the sender
looks at once instead of at its next poll.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from hotline12345.config.schema import FeedKind, FeedSubscription
from hotline12345.env import REDIS_URL_ENV

from .pull import PullFeeds
from .sender import FeedSender

__all__ = ["FeedServices", "start_feeds"]


@dataclass
class FeedServices:
    sender: FeedSender | None  # None: no webhook or redis_stream subscription
    pull: PullFeeds | None  # None: no pull subscription

    def nudge(self) -> None:
        if self.sender is not None:
            self.sender.nudge()

    async def stop(self) -> None:
        if self.sender is not None:
            await self.sender.stop()
        if self.pull is not None:
            self.pull.close()


async def start_feeds(subscriptions: Sequence[FeedSubscription], database_url: str, *,
                      say: Callable[[str], object] = print,
                      redis_url: str | None = None) -> FeedServices:
    """Start the sender (when there is something to send) and open the pull feeds; say
    which subscriptions run and why any cannot (a missing secret, no Redis)."""
    pushed = [s for s in subscriptions if s.kind is not FeedKind.PULL]
    pulled = [s for s in subscriptions if s.kind is FeedKind.PULL]
    sender = None
    if pushed:
        sender = FeedSender(database_url, pushed,
                            redis_url=redis_url or os.environ.get(REDIS_URL_ENV))
        await sender.start()
        running = [s.name for s in pushed if s.name not in sender.problems]
        say(f"hotline12345 feeds: sending to {', '.join(running) or 'none'}")
        for name, problem in sender.problems.items():
            say(f"  feed {name} is not sent: {problem}")
    pull = PullFeeds(database_url, pulled) if pulled else None
    if pull is not None:
        say(f"hotline12345 feeds: GET /api/feed serves {', '.join(s.name for s in pulled)}")
    return FeedServices(sender, pull)
