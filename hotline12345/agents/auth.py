"""Who is asking: password checks (throttled and logged), sessions, HTTP Basic auth.

Every password check (login form, API login, HTTP Basic, password change) goes through
:func:`check_password`: per-user and per-address throttling, one ``agents.login.failed``
line per failure. A session is valid while its user exists with the password stamp it
logged in with; the role is read afresh on every request.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import logging

from aiohttp import web

from hotline12345.logs import log_event

from .actions import RequestError
from .sessions import LoginSession
from .users import User
from .web_context import Auth, WebContext, json_error, set_auth, web_log

__all__ = ["COOKIE", "authenticate", "check_password", "log_in", "session_user",
           "still_valid"]

COOKIE = "h12345_session"


async def check_password(ctx: WebContext, remote: str | None, name: str, password: str,
                         method: str) -> User | RequestError:
    """The user if ``password`` is right; else a 401 (429 while throttled)."""
    keys = (f"user:{name}", f"ip:{remote}")
    if any(ctx.failures.throttled(k, ctx.settings.monotonic()) for k in keys):
        return RequestError("user", "too many failed logins; wait 5 minutes", 429)
    user = await asyncio.to_thread(ctx.users.verify, name, password)
    if user is None:
        now = ctx.settings.monotonic()
        for k in keys:
            ctx.failures.add(k, now)
        log_event(web_log, "agents.login.failed", logging.WARNING, user=name[:64],
                  remote=remote, method=method)
        return RequestError("password", "wrong user name or password", 401)
    return user


async def log_in(ctx: WebContext, request: web.Request, name: str,
                 password: str) -> tuple[User, str, LoginSession] | RequestError:
    """Check the password and open a session: the user, the session's token, the session."""
    result = await check_password(ctx, request.remote, name, password, "login")
    if isinstance(result, RequestError):
        return result
    user = result
    token, session = ctx.sessions.new(user, ctx.settings.clock())
    log_event(web_log, "agents.login", user=user.name, role=user.role, remote=request.remote,
              must_change_password=user.must_change)
    return user, token, session


async def _basic_user(ctx: WebContext, request: web.Request,
                      header: str) -> User | RequestError:
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return RequestError("authorization", "malformed HTTP Basic credentials", 401)
    name, _, password = decoded.partition(":")
    token = ctx.users.file_token()
    if token != ctx.basic_token:  # users changed: verify everyone again
        ctx.basic_cache.clear()
        ctx.basic_token = token
    key = hashlib.sha256(decoded.encode("utf-8")).hexdigest()
    cached = ctx.basic_cache.get(key)
    now = ctx.settings.monotonic()
    if cached is not None:
        current = ctx.users.get(name)
        if cached[1] > now and current is not None and current.stamp == cached[0].stamp:
            return current
        del ctx.basic_cache[key]
    result = await check_password(ctx, request.remote, name, password, "basic")
    if isinstance(result, User):
        if len(ctx.basic_cache) >= ctx.settings.max_basic_cache:
            for k in [k for k, (_, until) in ctx.basic_cache.items() if until <= now]:
                del ctx.basic_cache[k]
            while len(ctx.basic_cache) >= ctx.settings.max_basic_cache:
                del ctx.basic_cache[next(iter(ctx.basic_cache))]
        ctx.basic_cache[key] = (result, now + ctx.settings.basic_cache_s)
    return result


def session_user(ctx: WebContext, token: str, *,
                 touch: bool = True) -> tuple[LoginSession, User] | None:
    """The session of ``token`` and its user as the users file says now, or None (expired,
    logged out, user removed, or the password changed since the login)."""
    now = ctx.settings.clock()
    session = ctx.sessions.get(token, now)
    if session is None:
        return None
    user = ctx.users.get(session.name)
    if user is None or user.stamp != session.stamp:
        ctx.sessions.pop(token)
        log_event(web_log, "agents.session.revoked", user=session.name,
                  reason="user removed" if user is None else "password changed")
        return None
    if touch:
        ctx.sessions.touch(token, now)
    return session, user


def still_valid(ctx: WebContext, auth: Auth) -> bool:
    """Whether a request authenticated earlier (a running SSE stream) still would be."""
    if auth.token is not None:
        return session_user(ctx, auth.token) is not None
    user = ctx.users.get(auth.user.name)
    return user is not None and user.stamp == auth.user.stamp


def _unauthorized(request: web.Request, message: str = "login required: POST /api/login or "
                  "use HTTP Basic auth") -> web.StreamResponse:
    if request.method == "GET" and (request.path in ("/", "/index.html", "/password")
                                    or request.path.startswith("/tickets")):
        raise web.HTTPFound("/login")
    resp = json_error(401, "authorization", message)
    resp.headers["WWW-Authenticate"] = 'Basic realm="hotline12345"'
    return resp


async def authenticate(ctx: WebContext, request: web.Request) -> web.StreamResponse | None:
    """Set the request's user (session cookie, else HTTP Basic), or return the response
    that refuses it."""
    token = request.cookies.get(COOKIE, "")
    found = session_user(ctx, token) if token else None
    if found is not None:
        session, user = found
        set_auth(request, Auth(user, token), session)
        return None
    header = request.headers.get("Authorization", "")
    if not header.startswith("Basic "):
        return _unauthorized(request)
    result = await _basic_user(ctx, request, header)
    if isinstance(result, RequestError):
        if result.status == 429:
            return json_error(429, "authorization", result.message)
        return _unauthorized(request, f"HTTP Basic auth: {result.message}")
    set_auth(request, Auth(result, None), None)
    return None
