"""The supervisor wallboard (Chinese), its JSON API, live push (SSE) and ``/metrics``.

Routes (all but ``/health``, the login page and its stylesheet need a logged-in user):

=========================  ======  ===========================================
``/health``                GET     liveness, and whether AMI is connected (anonymous)
``/login``                 GET     login page; POST the form to log in
``/api/login``             POST    JSON ``{"user", "password"}`` → session cookie
``/logout``, ``/api/logout`` POST  end the session
``/``                      GET     the wallboard
``/api/me``                GET     the user, role and CSRF token
``/api/state``             GET     everything the wallboard shows, as JSON
``/api/stream``            GET     the same, pushed as Server-Sent Events on every change
``/api/audit``             GET     recent supervisor actions
``/api/seats/pause``       POST    ``{"interface", "paused", "reason", "queue"?}``
``/api/seats/add``         POST    ``{"interface", "queue", "member_name"?, "penalty"?}``
``/api/seats/remove``      POST    ``{"interface", "queue"}``
``/api/seats/penalty``     POST    ``{"interface", "penalty", "queue"?}``
``/metrics``               GET     Prometheus (session or HTTP Basic auth)
=========================  ======  ===========================================

A session is a random token in an HttpOnly, SameSite=Strict cookie. State-changing API
calls must send JSON, and with a session cookie the ``X-CSRF-Token`` header from
``/api/me``. Scripts may use HTTP Basic auth instead of a session. Only supervisors act;
viewers get 403. Every bad request gets ``{"error": ..., "field": ...}``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import json
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from importlib import resources
from typing import Any

from aiohttp import web

from hotline12345.logs import log_event

from .actions import ActionOutcome, RequestError, SeatActions
from .audit import AuditLog
from .metrics import CONTENT_TYPE, build_registry, render
from .runtime import AgentsRuntime
from .users import User, UserStore

__all__ = ["RUNTIME_KEY", "build_app"]

_log = logging.getLogger("hotline12345.agents.web")
COOKIE = "h12345_session"
SESSION_TTL_S = 12 * 3600
MAX_FAILURES = 5
FAILURE_WINDOW_S = 300.0

RUNTIME_KEY = web.AppKey("agents_runtime", AgentsRuntime)
# Typed request keys where aiohttp has them (3.12+), plain strings before.
_USER_KEY: Any = web.RequestKey("agents_user", User) if hasattr(web, "RequestKey") \
    else "agents_user"
_SESSION_KEY: Any = web.RequestKey("agents_session", object) if hasattr(web, "RequestKey") \
    else "agents_session"

_ANONYMOUS = {("GET", "/health"), ("GET", "/login"), ("POST", "/login"),
              ("POST", "/api/login"), ("GET", "/static/style.css")}


@dataclass(slots=True)
class _Session:
    user: User
    csrf: str
    expires: float


class _Ctx:
    def __init__(self, runtime: AgentsRuntime, users: UserStore, audit: AuditLog,
                 actions: SeatActions, sse_heartbeat_s: float) -> None:
        self.runtime = runtime
        self.users = users
        self.audit = audit
        self.actions = actions
        self.sessions: dict[str, _Session] = {}
        self.failures: dict[str, list[float]] = {}
        self.basic_cache: dict[str, tuple[User, float]] = {}
        self.registry = build_registry(runtime)
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


# ------------------------------------------------------------------- authentication

def _basic_user(ctx: _Ctx, header: str) -> User | None:
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    name, _, password = decoded.partition(":")
    key = hashlib.sha256(decoded.encode("utf-8")).hexdigest()
    cached = ctx.basic_cache.get(key)
    now = time.monotonic()
    if cached and cached[1] > now:
        return cached[0]
    user = ctx.users.verify(name, password)
    if user is not None:
        ctx.basic_cache[key] = (user, now + 300.0)
    return user


def _session_of(ctx: _Ctx, request: web.Request) -> tuple[str, _Session] | None:
    token = request.cookies.get(COOKIE, "")
    session = ctx.sessions.get(token) if token else None
    if session is None:
        return None
    now = time.time()
    if session.expires < now:
        del ctx.sessions[token]
        return None
    session.expires = now + SESSION_TTL_S
    return token, session


@web.middleware
async def _security(request: web.Request,
                    handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                    ) -> web.StreamResponse:
    ctx = _ctx(request)
    if (request.method, request.path) not in _ANONYMOUS:
        found = _session_of(ctx, request)
        user: User | None = None
        if found is not None:
            user = found[1].user
            request[_SESSION_KEY] = found[1]
        else:
            auth = request.headers.get("Authorization", "")
            if auth.startswith("Basic "):
                user = await asyncio.to_thread(_basic_user, ctx, auth)
        if user is None:
            if request.method == "GET" and request.path in ("/", "/index.html"):
                raise web.HTTPFound("/login")
            resp = json_error(401, "authorization", "login required: POST /api/login or "
                                                    "use HTTP Basic auth")
            resp.headers["WWW-Authenticate"] = 'Basic realm="hotline12345"'
            return resp
        request[_USER_KEY] = user
        if request.method == "POST":
            if request.content_type != "application/json" and request.path.startswith("/api/"):
                return json_error(415, "content-type",
                                  "send the body as JSON (Content-Type: application/json)")
            session = request.get(_SESSION_KEY)
            # A plain-form logout needs no token: SameSite=Strict keeps cross-site
            # requests from carrying the cookie at all.
            if isinstance(session, _Session) and request.path != "/logout" and not \
                    secrets.compare_digest(
                request.headers.get("X-CSRF-Token", ""), session.csrf
            ):
                return json_error(403, "X-CSRF-Token",
                                  "missing or wrong X-CSRF-Token header; take it from /api/me")
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


async def _json_body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json(loads=json.loads)
    except (ValueError, UnicodeDecodeError) as exc:
        raise RequestError("body", f"body is not valid JSON ({exc})") from None
    if not isinstance(body, dict):
        raise RequestError("body", "body must be a JSON object")
    return body


def _throttled(ctx: _Ctx, key: str) -> bool:
    now = time.monotonic()
    recent = [t for t in ctx.failures.get(key, []) if now - t < FAILURE_WINDOW_S]
    ctx.failures[key] = recent
    return len(recent) >= MAX_FAILURES


async def _login(ctx: _Ctx, request: web.Request, name: str,
                 password: str) -> tuple[User, str, _Session] | RequestError:
    keys = (f"user:{name}", f"ip:{request.remote}")
    if any(_throttled(ctx, k) for k in keys):
        return RequestError("user", "too many failed logins; wait 5 minutes", 429)
    user = await asyncio.to_thread(ctx.users.verify, name, password)
    if user is None:
        now = time.monotonic()
        for k in keys:
            ctx.failures.setdefault(k, []).append(now)
        log_event(_log, "agents.login.failed", logging.WARNING, user=name,
                  remote=request.remote)
        return RequestError("password", "wrong user name or password", 401)
    token = secrets.token_urlsafe(32)
    session = _Session(user, secrets.token_urlsafe(24), time.time() + SESSION_TTL_S)
    ctx.sessions[token] = session
    log_event(_log, "agents.login", user=user.name, role=user.role, remote=request.remote)
    return user, token, session


def _set_cookie(request: web.Request, response: web.StreamResponse, token: str) -> None:
    response.set_cookie(COOKIE, token, httponly=True, samesite="Strict",
                        secure=request.secure, max_age=SESSION_TTL_S, path="/")


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
    _, token, _ = result
    response = web.HTTPFound("/")
    _set_cookie(request, response, token)
    raise response


async def api_login(request: web.Request) -> web.Response:
    ctx = _ctx(request)
    try:
        body = await _json_body(request)
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
    response = web.json_response({"user": user.name, "role": user.role, "csrf": session.csrf})
    _set_cookie(request, response, token)
    return response


async def logout(request: web.Request) -> web.StreamResponse:
    token = request.cookies.get(COOKIE, "")
    _ctx(request).sessions.pop(token, None)
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
    })


async def state(request: web.Request) -> web.Response:
    return web.json_response(_ctx(request).runtime.snapshot(), dumps=_dumps)


async def stream(request: web.Request) -> web.StreamResponse:
    ctx = _ctx(request)
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
        while True:
            version = await runtime.wait_change(version, ctx.sse_heartbeat_s)
            data = _dumps(runtime.snapshot())
            await response.write(f"event: state\nid: {version}\ndata: {data}\n\n".encode())
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
    return web.json_response({"entries": entries}, dumps=_dumps)


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
            body = await _json_body(request)
            outcome = await method(ctx.actions, user, body)
        except RequestError as exc:
            return json_error(exc.status, exc.field, exc.message)
        return web.json_response(outcome.to_dict(), status=outcome.http_status, dumps=_dumps)

    return handler


async def metrics(request: web.Request) -> web.Response:
    body = render(_ctx(request).registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})


async def _on_shutdown(app: web.Application) -> None:
    for task in list(app[_CTX_KEY].streams):
        task.cancel()


def build_app(runtime: AgentsRuntime, users: UserStore, audit_log: AuditLog, *,
              confirm_timeout_s: float = 5.0, sse_heartbeat_s: float = 5.0) -> web.Application:
    """The aiohttp application. The caller starts and stops ``runtime`` itself."""
    app = web.Application(middlewares=[_security], client_max_size=64 * 1024)
    actions = SeatActions(runtime, audit_log, confirm_timeout_s=confirm_timeout_s)
    app[_CTX_KEY] = _Ctx(runtime, users, audit_log, actions, sse_heartbeat_s)
    app[RUNTIME_KEY] = runtime
    app.router.add_get("/health", health)
    app.router.add_get("/login", login_page)
    app.router.add_post("/login", login_form)
    app.router.add_post("/api/login", api_login)
    app.router.add_post("/logout", logout)
    app.router.add_post("/api/logout", logout)
    app.router.add_get("/", index)
    app.router.add_get("/static/{name}", static_file)
    app.router.add_get("/api/me", me)
    app.router.add_get("/api/state", state)
    app.router.add_get("/api/stream", stream)
    app.router.add_get("/api/audit", audit)
    app.router.add_post("/api/seats/pause", _seat_action(SeatActions.pause))
    app.router.add_post("/api/seats/add", _seat_action(SeatActions.add))
    app.router.add_post("/api/seats/remove", _seat_action(SeatActions.remove))
    app.router.add_post("/api/seats/penalty", _seat_action(SeatActions.penalty))
    app.router.add_get("/metrics", metrics)
    app.on_shutdown.append(_on_shutdown)
    return app
