"""The supervisor wallboard (Chinese), its JSON API, live push (SSE) and ``/metrics``.

Routes (all but ``/health``, the login page and its stylesheet need a logged-in user):

=============================  ======  ===========================================
``/health``                    GET     liveness, and whether AMI is connected (anonymous)
``/login``                     GET     login page; POST the form to log in
``/api/login``                 POST    JSON ``{"user", "password"}`` → session cookie
``/logout``, ``/api/logout``   POST    end the session
``/password``                  GET     change one's password; POST the form
``/api/password``              POST    JSON ``{"current", "new"}``
``/``                          GET     the wallboard
``/api/me``                    GET     the user, role, CSRF token, must_change_password
``/api/state``                 GET     everything the wallboard shows, as JSON
``/api/stream``                GET     the same, pushed as Server-Sent Events on every change
``/api/audit``                 GET     recent supervisor actions
``/api/recordings/failed``     GET     the recordings pipeline's failed jobs (``?limit=``)
``/api/tickets/{uniqueid}``    GET     a call's ticket (caller and caller name masked)
``/api/seats/pause``           POST    ``{"interface", "paused", "reason", "queue"?}``
``/api/seats/add``             POST    ``{"interface", "queue", "member_name"?, "penalty"?}``
``/api/seats/remove``          POST    ``{"interface", "queue"}``
``/api/seats/penalty``         POST    ``{"interface", "penalty", "queue"?}``
``/metrics``                   GET     Prometheus (session or HTTP Basic auth)
=============================  ======  ===========================================

A session is a random token in an HttpOnly, SameSite=Strict cookie. It ends after
:data:`SESSION_IDLE_S` without a request, :data:`SESSION_MAX_S` after the login whatever
happens, at logout, and as soon as its user is removed or gets a new password (the users
file is re-read when it changes; the role is read afresh on every request). The SSE stream
rechecks its session every :data:`AUTH_RECHECK_S` and ends (``event: logout``) when it is
gone. State-changing API calls must send JSON, and with a session cookie the
``X-CSRF-Token`` header from ``/api/me``. Scripts may use HTTP Basic auth instead of a
session; it is throttled and logged exactly like the login (:data:`MAX_FAILURES` failures in
:data:`FAILURE_WINDOW_S` per user name and per client address). A user with a one-time
password (the admin printed on a fresh install) can only change it (``/password``,
``/api/password``), read ``/api/me`` and log out until it has. Only supervisors act;
viewers get 403. Every bad request gets ``{"error": ..., "field": ...}``.

Every POST body is read and decoded once, by the middleware, before its handler (JSON on
the ``/api/`` routes, a form on the others): a body that cannot be read (too large, an
unknown charset, bytes that are not text, JSON nested too deeply, a multipart body without
its boundary) is a 400 (413 when too large) and one ``agents.http.bad_body`` line, never a
traceback. A request head aiohttp refuses (over-long or too many headers) is one
``agents.http.bad_request`` line (see :class:`_ServerLog`). See docs/wallboard.md.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import html
import json
import logging
import re
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING, Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from hotline12345.logs import log_event, mask_text

from .actions import ActionOutcome, RequestError, SeatActions, masked_entry
from .audit import AuditLog
from .metrics import CONTENT_TYPE, build_registry, render
from .runtime import AgentsRuntime
from .users import User, UserError, UserStore

if TYPE_CHECKING:
    from hotline12345.recordings.settings import RecordingSettings

__all__ = ["RUNTIME_KEY", "build_app", "start_site"]

_log = logging.getLogger("hotline12345.agents.web")
COOKIE = "h12345_session"
SESSION_IDLE_S = 12 * 3600  # a session unused this long ends
SESSION_MAX_S = 24 * 3600  # and every session ends this long after its login
MAX_SESSIONS = 10_000  # beyond this the least recently used session is dropped
MAX_FAILURES = 5
FAILURE_WINDOW_S = 300.0
MAX_FAILURE_KEYS = 10_000  # user names and addresses with recent failed logins
BASIC_CACHE_S = 300.0  # a verified Basic credential skips bcrypt this long
MAX_BASIC_CACHE = 1_000
AUTH_RECHECK_S = 1.0  # the SSE stream rechecks its session this often
SNAPSHOT_MAX_AGE_S = 1.0  # one snapshot per state version, rebuilt at most once a second
RECORDINGS_NOT_CONFIGURED = (
    "recordings are not configured in this process: hotline12345 serve passes the "
    "recordings settings (database HOTLINE12345_DATABASE_URL, Redis HOTLINE12345_REDIS_URL, "
    "HOTLINE12345_RECORDINGS_DIR) to the wallboard; a program calling "
    "start_agents_services must pass recordings=settings_from(site, data_dir=...)"
)

RUNTIME_KEY = web.AppKey("agents_runtime", AgentsRuntime)
# Typed request keys where aiohttp has them (3.12+), plain strings before.
_USER_KEY: Any = web.RequestKey("agents_user", User) if hasattr(web, "RequestKey") \
    else "agents_user"
_SESSION_KEY: Any = web.RequestKey("agents_session", object) if hasattr(web, "RequestKey") \
    else "agents_session"

_AUTH_KEY: Any = web.RequestKey("agents_auth", object) if hasattr(web, "RequestKey") \
    else "agents_auth"
_BODY_KEY: Any = web.RequestKey("agents_body", object) if hasattr(web, "RequestKey") \
    else "agents_body"

_ANONYMOUS = {("GET", "/health"), ("GET", "/login"), ("POST", "/login"),
              ("POST", "/api/login"), ("GET", "/static/style.css")}
# What a user with a one-time password may do before setting a new one.
_BEFORE_PASSWORD_CHANGE = {("GET", "/password"), ("POST", "/password"),
                           ("POST", "/api/password"), ("GET", "/api/me"),
                           ("POST", "/logout"), ("POST", "/api/logout")}
_MUST_CHANGE = ("change the one-time password first: open /password, or POST /api/password "
                '{"current": ..., "new": ...}')


@dataclass(slots=True)
class _Session:
    name: str
    stamp: str  # the user's password stamp at login: a new password ends the session
    csrf: str
    created: float
    last_seen: float


@dataclass(frozen=True, slots=True)
class _Auth:
    user: User
    token: str | None  # the session's token; None for HTTP Basic


class _Sessions:
    """Sessions by token, least recently used first; bounded, with idle and absolute
    lifetimes."""

    def __init__(self, idle_s: float, max_age_s: float, max_sessions: int) -> None:
        self.idle_s = idle_s
        self.max_age_s = max_age_s
        self.max_sessions = max_sessions
        self._by_token: dict[str, _Session] = {}

    def __len__(self) -> int:
        return len(self._by_token)

    def _expired(self, s: _Session, now: float) -> bool:
        return now - s.last_seen > self.idle_s or now - s.created > self.max_age_s

    def new(self, user: User, now: float) -> tuple[str, _Session]:
        if len(self._by_token) >= self.max_sessions:
            self.prune(now)
            while len(self._by_token) >= self.max_sessions:
                del self._by_token[next(iter(self._by_token))]
        token = secrets.token_urlsafe(32)
        session = _Session(user.name, user.stamp, secrets.token_urlsafe(24), now, now)
        self._by_token[token] = session
        return token, session

    def get(self, token: str, now: float) -> _Session | None:
        session = self._by_token.get(token) if token else None
        if session is not None and self._expired(session, now):
            del self._by_token[token]
            return None
        return session

    def touch(self, token: str, now: float) -> None:
        session = self._by_token.pop(token, None)
        if session is not None:
            session.last_seen = now
            self._by_token[token] = session  # most recently used last

    def pop(self, token: str) -> _Session | None:
        return self._by_token.pop(token, None)

    def revoke_user(self, name: str, keep: str | None = None) -> int:
        gone = [t for t, s in self._by_token.items() if s.name == name and t != keep]
        for t in gone:
            del self._by_token[t]
        return len(gone)

    def prune(self, now: float) -> None:
        for t in [t for t, s in self._by_token.items() if self._expired(s, now)]:
            del self._by_token[t]


class _Failures:
    """Recent failed password checks per key (``user:NAME``, ``ip:ADDRESS``); bounded."""

    def __init__(self, limit: int, window_s: float, max_keys: int) -> None:
        self.limit = limit
        self.window_s = window_s
        self.max_keys = max_keys
        self._by_key: dict[str, deque[float]] = {}

    def __len__(self) -> int:
        return len(self._by_key)

    def throttled(self, key: str, now: float) -> bool:
        times = self._by_key.get(key)
        if times is None:
            return False
        while times and now - times[0] >= self.window_s:
            times.popleft()
        if not times:
            del self._by_key[key]
            return False
        return len(times) >= self.limit

    def add(self, key: str, now: float) -> None:
        times = self._by_key.pop(key, None) or deque(maxlen=self.limit)
        times.append(now)
        self._by_key[key] = times  # most recent last
        if len(self._by_key) > self.max_keys:
            for k in [k for k, t in self._by_key.items() if now - t[-1] >= self.window_s]:
                del self._by_key[k]
            while len(self._by_key) > self.max_keys:
                del self._by_key[next(iter(self._by_key))]


class _Snapshots:
    """One snapshot (and its JSON and SSE frame) per state version, shared by every client;
    rebuilt at most every :data:`SNAPSHOT_MAX_AGE_S` while the version stays (waits and
    rolling figures move with the clock)."""

    def __init__(self, runtime: AgentsRuntime, max_age_s: float) -> None:
        self.runtime = runtime
        self.max_age_s = max_age_s
        self.builds = 0
        self._version = -1
        self._built_at = 0.0
        self._json = b""
        self._frame = b""

    def _fresh(self) -> None:
        version = self.runtime.version
        now = time.monotonic()
        if version == self._version and now - self._built_at < self.max_age_s:
            return
        data = _dumps(self.runtime.snapshot())
        self.builds += 1
        self._version, self._built_at = version, now
        self._json = data.encode("utf-8")
        self._frame = f"event: state\nid: {version}\ndata: {data}\n\n".encode()

    def json(self) -> bytes:
        self._fresh()
        return self._json

    def frame(self) -> tuple[int, bytes]:
        self._fresh()
        return self._version, self._frame


class _Ctx:
    def __init__(self, runtime: AgentsRuntime, users: UserStore, audit: AuditLog,
                 actions: SeatActions, sse_heartbeat_s: float,
                 recordings: RecordingSettings | None) -> None:
        self.runtime = runtime
        self.users = users
        self.audit = audit
        self.actions = actions
        self.recordings = recordings
        self.sessions = _Sessions(SESSION_IDLE_S, SESSION_MAX_S, MAX_SESSIONS)
        self.failures = _Failures(MAX_FAILURES, FAILURE_WINDOW_S, MAX_FAILURE_KEYS)
        self.basic_cache: dict[str, tuple[User, float]] = {}
        self.basic_token = users.file_token()
        self.registry = build_registry(runtime)
        self.snapshots = _Snapshots(runtime, SNAPSHOT_MAX_AGE_S)
        self.streams: set[asyncio.Task[Any]] = set()
        self.sse_heartbeat_s = sse_heartbeat_s


_CTX_KEY = web.AppKey("agents_ctx", _Ctx)


def _asset(name: str) -> bytes:
    return resources.files("hotline12345.agents").joinpath("static", name).read_bytes()


def json_error(status: int, field: str, message: str) -> web.Response:
    return web.json_response({"error": message, "field": field}, status=status,
                             dumps=_dumps)


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False)


def _ctx(request: web.Request) -> _Ctx:
    return request.app[_CTX_KEY]


def _user(request: web.Request) -> User:
    user = request.get(_USER_KEY)
    assert isinstance(user, User)
    return user


def _auth(request: web.Request) -> _Auth:
    auth = request.get(_AUTH_KEY)
    assert isinstance(auth, _Auth)
    return auth


# ------------------------------------------------------------------- authentication

async def _check_password(ctx: _Ctx, remote: str | None, name: str, password: str,
                          method: str) -> User | RequestError:
    """Every password check (login form, API login, HTTP Basic, password change): per-user
    and per-address throttling, and one ``agents.login.failed`` line per failure."""
    keys = (f"user:{name}", f"ip:{remote}")
    if any(ctx.failures.throttled(k, time.monotonic()) for k in keys):
        return RequestError("user", "too many failed logins; wait 5 minutes", 429)
    user = await asyncio.to_thread(ctx.users.verify, name, password)
    if user is None:
        now = time.monotonic()
        for k in keys:
            ctx.failures.add(k, now)
        log_event(_log, "agents.login.failed", logging.WARNING, user=name[:64], remote=remote,
                  method=method)
        return RequestError("password", "wrong user name or password", 401)
    return user


async def _basic_user(ctx: _Ctx, request: web.Request, header: str) -> User | RequestError:
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
    now = time.monotonic()
    if cached is not None:
        current = ctx.users.get(name)
        if cached[1] > now and current is not None and current.stamp == cached[0].stamp:
            return current
        del ctx.basic_cache[key]
    result = await _check_password(ctx, request.remote, name, password, "basic")
    if isinstance(result, User):
        if len(ctx.basic_cache) >= MAX_BASIC_CACHE:
            for k in [k for k, (_, until) in ctx.basic_cache.items() if until <= now]:
                del ctx.basic_cache[k]
            while len(ctx.basic_cache) >= MAX_BASIC_CACHE:
                del ctx.basic_cache[next(iter(ctx.basic_cache))]
        ctx.basic_cache[key] = (result, now + BASIC_CACHE_S)
    return result


def _session_user(ctx: _Ctx, token: str, *, touch: bool = True) -> tuple[_Session, User] | None:
    """The session of ``token`` and its user as the users file says now, or None (expired,
    logged out, user removed, or the password changed since the login)."""
    now = time.time()
    session = ctx.sessions.get(token, now)
    if session is None:
        return None
    user = ctx.users.get(session.name)
    if user is None or user.stamp != session.stamp:
        ctx.sessions.pop(token)
        log_event(_log, "agents.session.revoked", user=session.name,
                  reason="user removed" if user is None else "password changed")
        return None
    if touch:
        ctx.sessions.touch(token, now)
    return session, user


def _still_valid(ctx: _Ctx, auth: _Auth) -> bool:
    if auth.token is not None:
        return _session_user(ctx, auth.token) is not None
    user = ctx.users.get(auth.user.name)
    return user is not None and user.stamp == auth.user.stamp


def _unauthorized(request: web.Request, message: str = "login required: POST /api/login or "
                  "use HTTP Basic auth") -> web.StreamResponse:
    if request.method == "GET" and request.path in ("/", "/index.html", "/password"):
        raise web.HTTPFound("/login")
    resp = json_error(401, "authorization", message)
    resp.headers["WWW-Authenticate"] = 'Basic realm="hotline12345"'
    return resp


async def _authenticate(ctx: _Ctx, request: web.Request) -> web.StreamResponse | None:
    """Set the request's user, or return the response that refuses it."""
    token = request.cookies.get(COOKIE, "")
    found = _session_user(ctx, token) if token else None
    auth: _Auth | None = None
    if found is not None:
        session, user = found
        auth = _Auth(user, token)
        request[_SESSION_KEY] = session
    else:
        header = request.headers.get("Authorization", "")
        if header.startswith("Basic "):
            result = await _basic_user(ctx, request, header)
            if isinstance(result, RequestError):
                if result.status == 429:
                    return json_error(429, "authorization", result.message)
                return _unauthorized(request, f"HTTP Basic auth: {result.message}")
            auth = _Auth(result, None)
    if auth is None:
        return _unauthorized(request)
    request[_AUTH_KEY] = auth
    request[_USER_KEY] = auth.user
    return None


@web.middleware
async def _security(request: web.Request,
                    handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                    ) -> web.StreamResponse:
    ctx = _ctx(request)
    route = (request.method, request.path)
    if route not in _ANONYMOUS:
        try:
            refused = await _authenticate(ctx, request)
        except UserError as exc:  # the users file was broken by hand
            return json_error(503, "users", str(exc))
        if refused is not None:
            return refused
        user = _user(request)
        if user.must_change and route not in _BEFORE_PASSWORD_CHANGE:
            if request.method == "GET" and request.path in ("/", "/index.html"):
                raise web.HTTPFound("/password")
            return json_error(403, "password", _MUST_CHANGE)
        if request.method == "POST":
            if request.content_type != "application/json" and request.path.startswith("/api/"):
                return json_error(415, "content-type",
                                  "send the body as JSON (Content-Type: application/json)")
            session = request.get(_SESSION_KEY)
            # A plain-form logout needs no token: SameSite=Strict keeps cross-site
            # requests from carrying the cookie at all. The password form carries its
            # token in a hidden field, checked by its handler.
            if isinstance(session, _Session) and request.path not in ("/logout", "/password") \
                    and not secrets.compare_digest(
                        request.headers.get("X-CSRF-Token", ""), session.csrf):
                return json_error(403, "X-CSRF-Token",
                                  "missing or wrong X-CSRF-Token header; take it from /api/me")
    if request.method in request.POST_METHODS and request.match_info.http_exception is None:
        bad_body = await _decode_body(request)
        if bad_body is not None:
            log_event(_log, "agents.http.bad_body", logging.WARNING, method=request.method,
                      path=request.path, remote=request.remote, status=bad_body.status,
                      error=mask_text(bad_body.message))
            return json_error(bad_body.status, bad_body.field,
                              mask_text(bad_body.message))
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
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; frame-ancestors 'none'",
    )
    return response


_FORM_TYPES = ("", "application/x-www-form-urlencoded", "multipart/form-data")
_NO_BODY = object()


async def _decode_body(request: web.Request) -> RequestError | None:
    """Read and decode the body of every POST once, before its handler runs: JSON on the
    ``/api/`` routes (kept for :func:`_json_body`), a form on the others (kept by aiohttp:
    the handler's ``request.post()`` returns it). Whatever the client sent, the answer is a
    :class:`RequestError` naming what is wrong (413 when too large), never an exception:
    an unknown ``charset=``, bytes that are not text in it, JSON nested too deeply for
    Python's parser, a multipart body without its boundary."""
    charset = request.charset or "utf-8"
    try:
        if request.path.startswith("/api/"):
            text = (await request.read()).decode(charset)
            request[_BODY_KEY] = json.loads(text) if text.strip() else _NO_BODY
        elif request.content_type not in _FORM_TYPES and request.body_exists:
            return RequestError("content-type", f"send the form as "
                                "application/x-www-form-urlencoded or multipart/form-data, "
                                f"not {request.content_type[:60]!r}", 415)
        else:
            await request.post()
    except web.HTTPRequestEntityTooLarge as exc:  # bytes, or form fields
        return RequestError("body", f"the body is too large: {_one_line(exc.text or '')}", 413)
    except LookupError:
        return RequestError("body", f"unknown charset {charset[:40]!r} in the Content-Type "
                                    "header; send UTF-8 (charset=utf-8)")
    except UnicodeDecodeError as exc:
        return RequestError("body", f"the body is not {charset[:40]} text (a bad byte at "
                                    f"offset {exc.start}); send UTF-8")
    except RecursionError:
        return RequestError("body", "the JSON body is nested too deeply; send a flat JSON "
                                    "object")
    except ValueError as exc:  # JSON syntax, a multipart body without its boundary, ...
        what = "JSON" if request.path.startswith("/api/") else "a readable form"
        return RequestError("body", f"body is not {what} ({_one_line(str(exc))})")
    except (HttpProcessingError, web.RequestPayloadError) as exc:  # chunking, compression
        return RequestError("body", f"the body cannot be read ({_one_line(str(exc))})")
    return None


def _one_line(text: str, limit: int = 120) -> str:
    """An exception's text on one line, without aiohttp's ``400, message:`` prefix."""
    words = " ".join(text.split())
    return words.removeprefix("400, message: ")[:limit]


def _json_body(request: web.Request) -> dict[str, Any]:
    """The JSON object :func:`_decode_body` read from the request."""
    body = request.get(_BODY_KEY, _NO_BODY)
    if body is _NO_BODY:
        raise RequestError("body", "the body is empty: send a JSON object")
    if not isinstance(body, dict):
        raise RequestError("body", "body must be a JSON object")
    return body


async def _login(ctx: _Ctx, request: web.Request, name: str,
                 password: str) -> tuple[User, str, _Session] | RequestError:
    result = await _check_password(ctx, request.remote, name, password, "login")
    if isinstance(result, RequestError):
        return result
    user = result
    token, session = ctx.sessions.new(user, time.time())
    log_event(_log, "agents.login", user=user.name, role=user.role, remote=request.remote,
              must_change_password=user.must_change)
    return user, token, session


def _set_cookie(request: web.Request, response: web.StreamResponse, token: str) -> None:
    response.set_cookie(COOKIE, token, httponly=True, samesite="Strict",
                        secure=request.secure, max_age=SESSION_MAX_S, path="/")


# ------------------------------------------------------------------- handlers

async def health(request: web.Request) -> web.Response:
    ami = _ctx(request).runtime.ami_status()
    return web.json_response({"status": "ok", "ami": ami["state"],
                              "ami_connected": ami["connected"]})


async def login_page(request: web.Request) -> web.Response:
    page = _asset("login.html").decode("utf-8")
    error = request.query.get("error")
    if error:
        text = ("登录失败次数过多，请 5 分钟后再试。" if error == "throttled"
                else "用户名或密码错误。")
        page = page.replace("<!--error-->", f'<p class="error" id="login-error">{text}</p>')
    return web.Response(text=page, content_type="text/html", charset="utf-8")


async def login_form(request: web.Request) -> web.StreamResponse:
    ctx = _ctx(request)
    form = await request.post()
    name, password = str(form.get("user", "")), str(form.get("password", ""))
    result = await _login(ctx, request, name, password)
    if isinstance(result, RequestError):
        raise web.HTTPFound("/login?error=" + ("throttled" if result.status == 429 else "1"))
    user, token, _ = result
    response = web.HTTPFound("/password" if user.must_change else "/")
    _set_cookie(request, response, token)
    raise response


async def api_login(request: web.Request) -> web.Response:
    ctx = _ctx(request)
    try:
        body = _json_body(request)
        name = body.get("user")
        password = body.get("password")
        if not isinstance(name, str) or not name:
            raise RequestError("user", "'user' is required: the user name")
        if not isinstance(password, str) or not password:
            raise RequestError("password", "'password' is required")
    except RequestError as exc:
        return json_error(exc.status, exc.field, exc.message)
    result = await _login(ctx, request, name, password)
    if isinstance(result, RequestError):
        return json_error(result.status, result.field, result.message)
    user, token, session = result
    response = web.json_response({"user": user.name, "role": user.role, "csrf": session.csrf,
                                  "must_change_password": user.must_change})
    _set_cookie(request, response, token)
    return response


async def logout(request: web.Request) -> web.StreamResponse:
    token = request.cookies.get(COOKIE, "")
    _ctx(request).sessions.pop(token)
    if request.path == "/logout":
        response: web.StreamResponse = web.HTTPFound("/login")
    else:
        response = web.json_response({"ok": True})
    response.del_cookie(COOKIE, path="/")
    if isinstance(response, web.HTTPFound):
        raise response
    return response


async def index(request: web.Request) -> web.Response:
    return web.Response(body=_asset("wallboard.html"), content_type="text/html",
                        charset="utf-8", headers={"Cache-Control": "no-store"})


async def static_file(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    types = {"style.css": "text/css", "wallboard.js": "application/javascript"}
    if name not in types:
        return json_error(404, "path", f"no static file {name!r}")
    return web.Response(body=_asset(name), content_type=types[name], charset="utf-8")


async def me(request: web.Request) -> web.Response:
    user = _user(request)
    session = request.get(_SESSION_KEY)
    return web.json_response({
        "user": user.name,
        "role": user.role,
        "can_act": user.can_act,
        "csrf": session.csrf if isinstance(session, _Session) else "",
        "must_change_password": user.must_change,
    })


async def state(request: web.Request) -> web.Response:
    return web.Response(body=_ctx(request).snapshots.json(), content_type="application/json",
                        charset="utf-8")


async def stream(request: web.Request) -> web.StreamResponse:
    """Push the state on every change (at most ~10 a second) and every heartbeat; end the
    stream with ``event: logout`` as soon as its session or user is no longer valid."""
    ctx = _ctx(request)
    auth = _auth(request)
    runtime = ctx.runtime
    response = web.StreamResponse(headers={
        "Content-Type": "text/event-stream; charset=utf-8",
        "Cache-Control": "no-store",
        "X-Accel-Buffering": "no",
    })
    await response.prepare(request)
    task = asyncio.current_task()
    if task is not None:
        ctx.streams.add(task)
    try:
        version = -1
        sent_at = -float("inf")
        while True:
            current = await runtime.wait_change(version, min(AUTH_RECHECK_S,
                                                             ctx.sse_heartbeat_s))
            if not _still_valid(ctx, auth):
                await response.write(b'event: logout\ndata: {"reason": "session ended"}\n\n')
                break
            if current != version or time.monotonic() - sent_at >= ctx.sse_heartbeat_s:
                version, frame = ctx.snapshots.frame()
                await response.write(frame)
                sent_at = time.monotonic()
                # Coalesce bursts of AMI events: at most ~10 pushes a second.
                await asyncio.sleep(0.1)
    except ConnectionResetError:
        pass
    finally:
        if task is not None:
            ctx.streams.discard(task)
    return response


async def audit(request: web.Request) -> web.Response:
    raw = request.query.get("limit", "50")
    if not raw.isdigit() or not 1 <= int(raw) <= 1000:
        return json_error(400, "limit", f"'limit' must be a whole number 1-1000, got {raw!r}")
    entries = await _ctx(request).audit.recent(int(raw))
    return web.json_response({"entries": [masked_entry(e) for e in entries]}, dumps=_dumps)


async def _change_password(ctx: _Ctx, request: web.Request, current: Any,
                           new: Any) -> User | RequestError:
    """Check the current password (throttled and logged like a login), set the new one,
    end the user's other sessions and keep this one."""
    auth = _auth(request)
    if not isinstance(current, str) or not current:
        return RequestError("current", "'current' is required: the password in use now")
    if not isinstance(new, str) or not new:
        return RequestError("new", "'new' is required: the new password")
    if new == current:
        return RequestError("new", "the new password must differ from the current one")
    try:
        ctx.users.check_password(new, "new")
    except UserError as exc:
        return RequestError(exc.field, exc.message)
    checked = await _check_password(ctx, request.remote, auth.user.name, current, "password")
    if isinstance(checked, RequestError):
        if checked.status == 401:
            return RequestError("current", "the current password is wrong", 403)
        return checked
    try:
        user = await asyncio.to_thread(ctx.users.change_password, auth.user.name, new)
    except UserError as exc:
        return RequestError(exc.field, exc.message)
    revoked = ctx.sessions.revoke_user(user.name, keep=auth.token)
    session = request.get(_SESSION_KEY)
    if isinstance(session, _Session):
        session.stamp = user.stamp
    ctx.basic_cache.clear()
    log_event(_log, "agents.password.changed", user=user.name, remote=request.remote,
              other_sessions_ended=revoked, was_one_time=auth.user.must_change)
    return user


_PASSWORD_ERRORS = {
    "current": "当前密码错误。",
    "new": "新密码至少 8 个字符，最多 72 字节，并且不能与当前密码相同。",
    "again": "两次输入的新密码不一致。",
    "throttled": "失败次数过多，请 5 分钟后再试。",
    "csrf": "页面已过期，请重新打开本页。",
}


async def password_page(request: web.Request) -> web.Response:
    user = _user(request)
    session = request.get(_SESSION_KEY)
    csrf = session.csrf if isinstance(session, _Session) else ""
    page = _asset("password.html").decode("utf-8")
    notice = (f"<p class=\"hint\" id=\"must-change\">{html.escape(user.name)}，这是一次性密码，"
              "请先设置新密码，然后才能使用监控页面。</p>" if user.must_change
              else f"<p class=\"hint\">用户 {html.escape(user.name)}</p>")
    page = page.replace("<!--notice-->", notice)
    page = page.replace("<!--csrf-->", f'<input type="hidden" name="csrf" '
                                      f'value="{html.escape(csrf)}">')
    error = _PASSWORD_ERRORS.get(request.query.get("error", ""))
    if error:
        page = page.replace("<!--error-->", f'<p class="error" id="password-error">{error}</p>')
    return web.Response(text=page, content_type="text/html", charset="utf-8",
                        headers={"Cache-Control": "no-store"})


async def password_form(request: web.Request) -> web.StreamResponse:
    ctx = _ctx(request)
    form = await request.post()
    session = request.get(_SESSION_KEY)
    if isinstance(session, _Session) and not secrets.compare_digest(
            str(form.get("csrf", "")), session.csrf):
        raise web.HTTPFound("/password?error=csrf")
    new = str(form.get("new", ""))
    if new != str(form.get("again", "")):
        raise web.HTTPFound("/password?error=again")
    result = await _change_password(ctx, request, str(form.get("current", "")), new)
    if isinstance(result, RequestError):
        code = "throttled" if result.status == 429 else (
            "current" if result.field == "current" else "new")
        raise web.HTTPFound(f"/password?error={code}")
    raise web.HTTPFound("/")


async def api_password(request: web.Request) -> web.Response:
    ctx = _ctx(request)
    try:
        body = _json_body(request)
        unknown = sorted(set(body) - {"current", "new"})
        if unknown:
            raise RequestError(unknown[0], f"unknown field {unknown[0]!r}; send "
                                           "{\"current\", \"new\"}")
    except RequestError as exc:
        return json_error(exc.status, exc.field, exc.message)
    result = await _change_password(ctx, request, body.get("current"), body.get("new"))
    if isinstance(result, RequestError):
        return json_error(result.status, result.field, result.message)
    return web.json_response({"ok": True, "user": result.name, "role": result.role,
                              "must_change_password": result.must_change})


_UNIQUEID = re.compile(r"^[A-Za-z0-9_.\-]{1,150}$")


def _recordings_unavailable(exc: Exception) -> web.Response:
    detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    log_event(_log, "agents.recordings.unavailable", logging.WARNING,
              error=f"{type(exc).__name__}: {detail[0] if detail else ''}")
    return json_error(503, "recordings",
                      f"the recordings queue or database cannot be used "
                      f"({type(exc).__name__}: {detail[0] if detail else ''}); check "
                      "HOTLINE12345_DATABASE_URL and HOTLINE12345_REDIS_URL, and run "
                      "hotline12345 db upgrade")


async def recordings_failed(request: web.Request) -> web.Response:
    ctx = _ctx(request)
    if ctx.recordings is None:
        return json_error(503, "recordings", RECORDINGS_NOT_CONFIGURED)
    raw = request.query.get("limit", "100")
    if not raw.isdigit() or not 1 <= int(raw) <= 1000:
        return json_error(400, "limit", f"'limit' must be a whole number 1-1000, got {raw!r}")
    from hotline12345.recordings.api import failed_jobs

    try:
        jobs = await asyncio.to_thread(failed_jobs, ctx.recordings, int(raw))
    except Exception as exc:
        return _recordings_unavailable(exc)
    items = []
    for job in jobs:
        item = job.as_dict()
        item["error"] = mask_text(item["error"])
        items.append(item)
    return web.json_response({"failed": items, "count": len(items)}, dumps=_dumps)


async def ticket_of_call(request: web.Request) -> web.Response:
    ctx = _ctx(request)
    if ctx.recordings is None:
        return json_error(503, "recordings", RECORDINGS_NOT_CONFIGURED)
    uniqueid = request.match_info["uniqueid"]
    if not _UNIQUEID.match(uniqueid):
        return json_error(400, "uniqueid", f"{uniqueid[:40]!r} is not an Asterisk uniqueid "
                                           "(such as 1795849881.4)")
    from hotline12345.recordings.api import ticket

    try:
        view = await asyncio.to_thread(ticket, ctx.recordings, uniqueid)
    except Exception as exc:
        return _recordings_unavailable(exc)
    if view is None:
        return json_error(404, "uniqueid", f"no ticket for call {uniqueid!r}: not transcribed "
                                           "yet, or failed (see /api/recordings/failed)")
    # ticket_view masks the caller's number and name (as the wallboard: 欧**).
    return web.json_response(view, dumps=_dumps)


def _seat_action(
    method: Callable[[SeatActions, User, dict[str, Any]], Awaitable[ActionOutcome]],
) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handler(request: web.Request) -> web.Response:
        user = _user(request)
        if not user.can_act:
            return json_error(403, "role", f"user {user.name!r} is a {user.role}; "
                                           "only supervisors act on seats")
        ctx = _ctx(request)
        try:
            body = _json_body(request)
            outcome = await method(ctx.actions, user, body)
        except RequestError as exc:  # it may quote seat interfaces
            return json_error(exc.status, exc.field, mask_text(exc.message))
        return web.json_response(outcome.to_dict(), status=outcome.http_status, dumps=_dumps)

    return handler


async def metrics(request: web.Request) -> web.Response:
    body = render(_ctx(request).registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})


_QUOTED_TAIL = re.compile(r"""\s*b?['"].*""", re.DOTALL)


class _ServerLog(logging.LoggerAdapter):  # type: ignore[type-arg]
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
            log_event(_log, "agents.http.unread_body", logging.DEBUG,
                      error=mask_text(_one_line(str(exc))))
            return
        if isinstance(exc, HttpProcessingError) and 400 <= exc.code < 500:
            reason = _QUOTED_TAIL.sub("", str(exc.message)).strip(" :.")[:120]
            log_event(_log, "agents.http.bad_request", min(level, logging.WARNING),
                      remote=args[0] if args else None, status=exc.code,
                      error=f"{type(exc).__name__}: {mask_text(reason)}")
            return
        super().log(level, msg, *args, **kwargs)


async def start_site(app: web.Application, host: str, port: int) -> tuple[web.AppRunner, int]:
    """Serve ``app`` on ``host:port`` (0: any free port); return its runner (``await
    runner.cleanup()`` stops it) and the port. Bad request heads are logged as one line
    (:class:`_ServerLog`), and there is no access log."""
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0,
                           logger=_ServerLog(logging.getLogger("aiohttp.server"), {}))
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except BaseException:
        await runner.cleanup()
        raise
    for addr in runner.addresses:
        if isinstance(addr, tuple) and len(addr) >= 2:
            return runner, int(addr[1])
    return runner, port


async def _on_shutdown(app: web.Application) -> None:
    for task in list(app[_CTX_KEY].streams):
        task.cancel()


def build_app(runtime: AgentsRuntime, users: UserStore, audit_log: AuditLog, *,
              confirm_timeout_s: float = 5.0, sse_heartbeat_s: float = 5.0,
              recordings: RecordingSettings | None = None) -> web.Application:
    """The aiohttp application. The caller starts and stops ``runtime`` itself.
    ``recordings``: the recordings pipeline's settings, for the failed-jobs and ticket
    endpoints (without them those answer 503 saying what to configure)."""
    app = web.Application(middlewares=[_security], client_max_size=64 * 1024)
    actions = SeatActions(runtime, audit_log, confirm_timeout_s=confirm_timeout_s)
    app[_CTX_KEY] = _Ctx(runtime, users, audit_log, actions, sse_heartbeat_s, recordings)
    app[RUNTIME_KEY] = runtime
    app.router.add_get("/health", health)
    app.router.add_get("/login", login_page)
    app.router.add_post("/login", login_form)
    app.router.add_post("/api/login", api_login)
    app.router.add_post("/logout", logout)
    app.router.add_post("/api/logout", logout)
    app.router.add_get("/password", password_page)
    app.router.add_post("/password", password_form)
    app.router.add_post("/api/password", api_password)
    app.router.add_get("/", index)
    app.router.add_get("/static/{name}", static_file)
    app.router.add_get("/api/me", me)
    app.router.add_get("/api/state", state)
    app.router.add_get("/api/stream", stream)
    app.router.add_get("/api/audit", audit)
    app.router.add_get("/api/recordings/failed", recordings_failed)
    app.router.add_get("/api/tickets/{uniqueid}", ticket_of_call)
    app.router.add_post("/api/seats/pause", _seat_action(SeatActions.pause))
    app.router.add_post("/api/seats/add", _seat_action(SeatActions.add))
    app.router.add_post("/api/seats/remove", _seat_action(SeatActions.remove))
    app.router.add_post("/api/seats/penalty", _seat_action(SeatActions.penalty))
    app.router.add_get("/metrics", metrics)
    app.on_shutdown.append(_on_shutdown)
    return app
