"""What every part of the wallboard shares: the per-app context, the request keys the
middleware fills, and the JSON error shape ``{"error": ..., "field": ...}``."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from importlib import resources
from typing import TYPE_CHECKING, Any

from aiohttp import web
from prometheus_client import CollectorRegistry

from .actions import SeatActions
from .audit import AuditLog
from .metrics import build_registry
from .recordings_access import RecordingsAccess
from .runtime import AgentsRuntime
from .sessions import LoginSession, SessionTable
from .snapshots import SnapshotCache, dumps
from .throttle import FailedLogins
from .users import User, UserStore
from .web_settings import WebSettings

if TYPE_CHECKING:
    from .tickets_access import TicketsAccess

__all__ = ["CONTEXT_KEY", "Auth", "WebContext", "asset", "context", "json_error",
           "request_auth", "request_session", "request_user", "set_auth", "web_log"]

# One logger for the whole web layer (tests and operators filter on it).
web_log = logging.getLogger("hotline12345.agents.web")


@dataclass(frozen=True, slots=True)
class Auth:
    """Who made a request, and how."""

    user: User
    token: str | None  # the session's token; None for HTTP Basic


@dataclass(eq=False)
class WebContext:
    """The app's state: its peers, its settings and the bookkeeping built from them."""

    runtime: AgentsRuntime
    users: UserStore
    audit: AuditLog
    actions: SeatActions
    settings: WebSettings
    recordings: RecordingsAccess | None
    tickets: TicketsAccess | None = None  # the ticket loop's pages and API
    sessions: SessionTable = field(init=False)
    failures: FailedLogins = field(init=False)
    basic_cache: dict[str, tuple[User, float]] = field(init=False, default_factory=dict)
    basic_token: object = field(init=False)
    registry: CollectorRegistry = field(init=False)
    snapshots: SnapshotCache = field(init=False)
    streams: set[asyncio.Task[Any]] = field(init=False, default_factory=set)

    def __post_init__(self) -> None:
        s = self.settings
        self.sessions = SessionTable(s.session_idle_s, s.session_max_s, s.max_sessions)
        self.failures = FailedLogins(s.max_failures, s.failure_window_s, s.max_failure_keys)
        self.basic_token = self.users.file_token()
        self.registry = build_registry(self.runtime)
        self.snapshots = SnapshotCache(self.runtime, s.snapshot_max_age_s, s.monotonic)


CONTEXT_KEY = web.AppKey("agents_web_context", WebContext)
# Typed request keys where aiohttp has them (3.12+), plain strings before.
_USER_KEY: Any = web.RequestKey("agents_user", User) if hasattr(web, "RequestKey") \
    else "agents_user"
_SESSION_KEY: Any = web.RequestKey("agents_session", object) if hasattr(web, "RequestKey") \
    else "agents_session"
_AUTH_KEY: Any = web.RequestKey("agents_auth", object) if hasattr(web, "RequestKey") \
    else "agents_auth"


def context(request: web.Request) -> WebContext:
    return request.app[CONTEXT_KEY]


def set_auth(request: web.Request, auth: Auth, session: LoginSession | None) -> None:
    request[_AUTH_KEY] = auth
    request[_USER_KEY] = auth.user
    if session is not None:
        request[_SESSION_KEY] = session


def request_user(request: web.Request) -> User:
    user = request.get(_USER_KEY)
    assert isinstance(user, User)
    return user


def request_auth(request: web.Request) -> Auth:
    auth = request.get(_AUTH_KEY)
    assert isinstance(auth, Auth)
    return auth


def request_session(request: web.Request) -> LoginSession | None:
    """The request's login session; None with HTTP Basic auth or before authentication."""
    session = request.get(_SESSION_KEY)
    return session if isinstance(session, LoginSession) else None


def json_error(status: int, field: str, message: str) -> web.Response:
    return web.json_response({"error": message, "field": field}, status=status, dumps=dumps)


def asset(name: str) -> bytes:
    return resources.files("hotline12345.agents").joinpath("static", name).read_bytes()
