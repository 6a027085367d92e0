"""``/api/recordings/failed`` and ``/api/tickets/{uniqueid}``, read through the
:class:`.recordings_access.RecordingsAccess` the app was given.

Only :class:`.recordings_access.RecordingsUnavailable` is a 503; anything else out of the
access object is a bug: a 500, logged once with its traceback by aiohttp."""

from __future__ import annotations

import asyncio
import logging
import re

from aiohttp import web

from hotline12345.logs import log_event, mask_text

from .recordings_access import RecordingsUnavailable
from .snapshots import dumps
from .web_context import context, json_error, web_log

__all__ = ["RECORDINGS_NOT_CONFIGURED", "recordings_failed", "ticket_of_call"]

RECORDINGS_NOT_CONFIGURED = (
    "recordings are not configured in this process: hotline12345 serve passes the "
    "recordings settings (database HOTLINE12345_DATABASE_URL, Redis HOTLINE12345_REDIS_URL, "
    "HOTLINE12345_RECORDINGS_DIR) to the wallboard; a program calling "
    "start_agents_services must pass recordings=settings_from(site, data_dir=...)"
)
_UNIQUEID = re.compile(r"^[A-Za-z0-9_.\-]{1,150}$")


def _recordings_unavailable(exc: RecordingsUnavailable) -> web.Response:
    """An operations problem (the database or Redis away, refusing, not migrated): 503 and
    what to check. Any other exception is a bug, left to aiohttp: a 500, logged once with
    its traceback."""
    reason = mask_text(str(exc))
    log_event(web_log, "agents.recordings.unavailable", logging.WARNING, error=reason)
    return json_error(503, "recordings",
                      f"the recordings queue or database cannot be used ({reason}); check "
                      "HOTLINE12345_DATABASE_URL and HOTLINE12345_REDIS_URL, and run "
                      "hotline12345 db upgrade")


async def recordings_failed(request: web.Request) -> web.Response:
    recordings = context(request).recordings
    if recordings is None:
        return json_error(503, "recordings", RECORDINGS_NOT_CONFIGURED)
    raw = request.query.get("limit", "100")
    if not raw.isdigit() or not 1 <= int(raw) <= 1000:
        return json_error(400, "limit", f"'limit' must be a whole number 1-1000, got {raw!r}")
    try:
        jobs = await asyncio.to_thread(recordings.failed_jobs, int(raw))
    except RecordingsUnavailable as exc:
        return _recordings_unavailable(exc)
    items = [{**job, "error": mask_text(job["error"])} for job in jobs]
    return web.json_response({"failed": items, "count": len(items)}, dumps=dumps)


async def ticket_of_call(request: web.Request) -> web.Response:
    recordings = context(request).recordings
    if recordings is None:
        return json_error(503, "recordings", RECORDINGS_NOT_CONFIGURED)
    uniqueid = request.match_info["uniqueid"]
    if not _UNIQUEID.match(uniqueid):
        return json_error(400, "uniqueid", f"{uniqueid[:40]!r} is not an Asterisk uniqueid "
                                           "(such as 1795849881.4)")
    try:
        view = await asyncio.to_thread(recordings.ticket, uniqueid)
    except RecordingsUnavailable as exc:
        return _recordings_unavailable(exc)
    if view is None:
        return json_error(404, "uniqueid", f"no ticket for call {uniqueid!r}: not transcribed "
                                           "yet, or failed (see /api/recordings/failed)")
    # The ticket view masks the caller's number and name (as the wallboard: 欧**).
    return web.json_response(view, dumps=dumps)
