"""The wallboard's one middleware: who may call what, CSRF, the body read once, and the
security headers on every answer.

Anonymous: ``/health``, the login page and its stylesheet. A user with a one-time password
may only change it, read ``/api/me`` and log out. State-changing API calls must send JSON
and, with a session cookie, the ``X-CSRF-Token`` header from ``/api/me``. Every POST body
is decoded here (:mod:`.request_body`); one that cannot be read is a 400 (413 when too
large) and one ``agents.http.bad_body`` line.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable

from aiohttp import web

from hotline12345.logs import log_event, mask_text

from .auth import authenticate
from .request_body import decode_body
from .ticket_roles import wallboard_refusal
from .users import UserError
from .web_context import context, json_error, request_session, request_user, web_log

__all__ = ["security"]

_ANONYMOUS = {("GET", "/health"), ("GET", "/login"), ("POST", "/login"),
              ("POST", "/api/login"), ("GET", "/static/style.css")}
# What a user with a one-time password may do before setting a new one.
_BEFORE_PASSWORD_CHANGE = {("GET", "/password"), ("POST", "/password"),
                           ("POST", "/api/password"), ("GET", "/api/me"),
                           ("POST", "/logout"), ("POST", "/api/logout")}
_MUST_CHANGE = ("change the one-time password first: open /password, or POST /api/password "
                '{"current": ..., "new": ...}')
_CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'"
)


async def _refusal(request: web.Request) -> web.StreamResponse | None:
    """Why this request may not reach its handler, or None."""
    ctx = context(request)
    route = (request.method, request.path)
    if route in _ANONYMOUS:
        return None
    try:
        refused = await authenticate(ctx, request)
    except UserError as exc:  # the users file was broken by hand
        return json_error(503, "users", str(exc))
    if refused is not None:
        return refused
    user = request_user(request)
    if user.must_change and route not in _BEFORE_PASSWORD_CHANGE:
        if request.method == "GET" and request.path in ("/", "/index.html"):
            raise web.HTTPFound("/password")
        return json_error(403, "password", _MUST_CHANGE)
    refused = wallboard_refusal(user, request)
    if refused is not None:
        return refused
    if request.method == "POST":
        if request.content_type != "application/json" and request.path.startswith("/api/"):
            return json_error(415, "content-type",
                              "send the body as JSON (Content-Type: application/json)")
        session = request_session(request)
        # A plain-form logout needs no token: SameSite=Strict keeps cross-site requests
        # from carrying the cookie at all. The password form carries its token in a
        # hidden field, checked by its handler.
        if session is not None and request.path not in ("/logout", "/password") \
                and not secrets.compare_digest(
                    request.headers.get("X-CSRF-Token", ""), session.csrf):
            return json_error(403, "X-CSRF-Token",
                              "missing or wrong X-CSRF-Token header; take it from /api/me")
    return None


@web.middleware
async def security(request: web.Request,
                   handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                   ) -> web.StreamResponse:
    refused = await _refusal(request)
    if refused is not None:
        return refused
    if request.method in request.POST_METHODS and request.match_info.http_exception is None:
        bad_body = await decode_body(request)
        if bad_body is not None:
            log_event(web_log, "agents.http.bad_body", logging.WARNING, method=request.method,
                      path=request.path, remote=request.remote, status=bad_body.status,
                      error=mask_text(bad_body.message))
            return json_error(bad_body.status, bad_body.field, mask_text(bad_body.message))
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        if not request.path.startswith("/api/") or exc.status < 400:
            raise
        field = "method" if exc.status == 405 else "path"
        response = json_error(exc.status, field, f"{request.method} {request.path}: {exc.reason}")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("Content-Security-Policy", _CONTENT_SECURITY_POLICY)
    return response
