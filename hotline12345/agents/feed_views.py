"""``GET /api/feed``: the pull feed of ticket events (信息共享), read with a cursor.

Query: ``after`` (the cursor: 0 or absent for the start, then the ``next`` of the last
answer), ``limit`` (1-1000, default 100), ``subscription`` (a pull subscription of the
site file's ``feeds:``). A 承办单位 user reads its own department's pull subscription
(``subscription`` may be left out when there is one) and no other: another department's
answers 404, as if it did not exist. Centre users name the subscription; the wallboard-only
观察员 (viewer) gets 403. The answer: ``{"subscription", "department", "events": [{"cursor",
"id", "event"}], "next"}``; every ``event`` is the body a webhook would carry. See
docs/feeds.md and :mod:`hotline12345.sharing.pull`.
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web
from sqlalchemy.exc import SQLAlchemyError

from hotline12345.config.schema import FeedSubscription
from hotline12345.db.engine import error_text
from hotline12345.logs import log_event
from hotline12345.sharing.pull import CursorAhead, PullFeeds

from .snapshots import dumps
from .users import VIEWER
from .web_context import json_error, request_user, web_log

__all__ = ["FEEDS_KEY", "feed"]

FEEDS_KEY = web.AppKey("sharing_pull_feeds", PullFeeds)
_MAX_CURSOR = 10**15


def _number(raw: str, name: str, low: int, high: int) -> int | web.Response:
    if not raw.isdigit() or len(raw) > 16 or not low <= int(raw) <= high:
        return json_error(400, name, f"'{name}' must be a whole number {low}-{high}, "
                          f"got {raw[:40]!r}")
    return int(raw)


def _subscription(feeds: PullFeeds, name: str | None,
                  department: str | None) -> FeedSubscription | web.Response:
    if name is not None:
        sub = feeds.subscriptions.get(name)
        if sub is None or (department is not None and sub.department != department):
            return json_error(404, "subscription", f"no pull subscription {name[:64]!r}"
                              + ("" if department is not None else
                                 f"; pull subscriptions: {', '.join(feeds.subscriptions)}"))
        return sub
    if department is None:
        return json_error(400, "subscription", "name the feed: ?subscription=NAME (pull "
                          f"subscriptions: {', '.join(feeds.subscriptions) or 'none'})")
    own = feeds.of_department(department)
    if not own:
        return json_error(404, "subscription", f"department {department} has no pull "
                          "subscription; the centre adds one under feeds: in the site file")
    if len(own) > 1:
        return json_error(400, "subscription", f"department {department} has several: "
                          f"?subscription= one of {', '.join(s.name for s in own)}")
    return own[0]


async def feed(request: web.Request) -> web.Response:
    """A department's pull feed of ticket events: ``?subscription=&after=<cursor>&limit=``;
    answers ``{"subscription", "department", "events": [{"cursor", "id", "event"}],
    "next"}``."""
    feeds = request.app.get(FEEDS_KEY)
    if feeds is None:
        return json_error(503, "feeds", "no pull feed in this process: hotline12345 serve "
                          "serves the site file's pull subscriptions (feeds: kind: pull)")
    user = request_user(request)
    if user.role == VIEWER:
        return json_error(403, "role", "the feed is for departments and the centre's staff")
    department = user.department  # a 承办单位's; None for the centre's staff
    sub = _subscription(feeds, request.query.get("subscription"), department)
    if isinstance(sub, web.Response):
        return sub
    after = _number(request.query.get("after", "0"), "after", 0, _MAX_CURSOR)
    if isinstance(after, web.Response):
        return after
    limit = _number(request.query.get("limit", "100"), "limit", 1, 1000)
    if isinstance(limit, web.Response):
        return limit
    try:
        page = await asyncio.to_thread(feeds.read, sub, after, limit, user.name)
    except CursorAhead as exc:
        return json_error(400, "after", str(exc))
    except SQLAlchemyError as exc:
        log_event(web_log, "agents.feed.unavailable", logging.WARNING, error=error_text(exc))
        return json_error(503, "feeds", f"the feed's database cannot be used "
                          f"({error_text(exc)}); check HOTLINE12345_DATABASE_URL and run "
                          "hotline12345 db upgrade")
    return web.json_response({"subscription": sub.name, "department": sub.department,
                              "events": page.events, "next": page.next}, dumps=dumps)
