"""The logger the wallboard gives aiohttp's server: a bad request head is one short line."""

from __future__ import annotations

import logging
import re
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from hotline12345.logs import log_event, mask_text

from .request_body import one_line
from .web_context import web_log

__all__ = ["ServerLog"]

_QUOTED_TAIL = re.compile(r"""\s*b?['"].*""", re.DOTALL)


class ServerLog(logging.LoggerAdapter):  # type: ignore[type-arg]
    """aiohttp's server logger for the wallboard (``AppRunner(logger=...)``).

    aiohttp answers a request whose head it cannot parse (a header or request line over
    8190 bytes, more than 128 headers, a malformed request line) with 400 itself, in
    ``RequestHandler.handle_error``, and logs it through ``logger.exception``: an ERROR
    with a traceback for every such request anyone sends. Those become one short line
    (``agents.http.bad_request``, WARNING; without the line's content, which may hold a
    cookie or a number). Everything else, such as a bug in a handler (a 500), goes to
    ``aiohttp.server`` unchanged, with its traceback."""

    def log(self, level: int, msg: object, *args: Any, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info")
        if isinstance(exc, web.RequestPayloadError):
            # A broken body (compression, chunking) that aiohttp meets again when it
            # reads the rest after the answer: the middleware answered and logged a POST's.
            log_event(web_log, "agents.http.unread_body", logging.DEBUG,
                      error=mask_text(one_line(str(exc))))
            return
        if isinstance(exc, HttpProcessingError) and 400 <= exc.code < 500:
            reason = _QUOTED_TAIL.sub("", str(exc.message)).strip(" :.")[:120]
            log_event(web_log, "agents.http.bad_request", min(level, logging.WARNING),
                      remote=args[0] if args else None, status=exc.code,
                      error=f"{type(exc).__name__}: {mask_text(reason)}")
            return
        super().log(level, msg, *args, **kwargs)
