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
``/topics``                    GET     热点: hot terms and surge warnings (:mod:`.topics_views`)
``/api/topics``                GET     hot terms as JSON (``?window=today|7d``)
``/api/surges``                GET     surge warnings as JSON
``/api/seats/pause``           POST    ``{"interface", "paused", "reason", "queue"?}``
``/api/seats/add``             POST    ``{"interface", "queue", "member_name"?, "penalty"?}``
``/api/seats/remove``          POST    ``{"interface", "queue"}``
``/api/seats/penalty``         POST    ``{"interface", "penalty", "queue"?}``
``/revisits``                  GET     the 回访 page: list, 回访 button, result form
``/api/revisits``              GET     the 回访 list (seats, supervisors; :mod:`.callback_views`)
``/api/tickets/{id}/callback`` POST    ``{"interface"}``: ring the seat, then the caller
``…/callback/result``          POST    ``{"outcome", "resolved"?, "rating"?, "note"?}``
``/api/feed``                  GET     a department's pull feed (``?after=&limit=``; feed_views)
``/metrics``                   GET     Prometheus (session or HTTP Basic auth)
``/tickets``, ``/tickets/{id}`` GET    the ticket pages (:mod:`.ticket_pages`)
``/api/tickets...``            both    the ticket API (:mod:`.ticket_views`; see
                                       ``/api/openapi.json`` and docs/tickets-api.md)
``/figures``                   GET     统计报表, the ticket figures (:mod:`.ticket_figures_views`)
``/api/figures``               GET     the ticket figures as JSON, or CSV (``format=csv``)
=============================  ======  ===========================================

A session is a random token in an HttpOnly, SameSite=Strict cookie. It ends after
``session_idle_s`` without a request, ``session_max_s`` after the login whatever
happens, at logout, and as soon as its user is removed or gets a new password (the users
file is re-read when it changes; the role is read afresh on every request). The SSE stream
rechecks its session every ``auth_recheck_s`` and ends (``event: logout``) when it is
gone. State-changing API calls must send JSON, and with a session cookie the
``X-CSRF-Token`` header from ``/api/me``. Scripts may use HTTP Basic auth instead of a
session; it is throttled and logged exactly like the login (``max_failures`` failures in
``failure_window_s`` per user name and per client address; all these bounds are fields of
:class:`.web_settings.WebSettings`, given to :func:`build_app`). A user with a one-time
password (the admin printed on a fresh install) can only change it (``/password``,
``/api/password``), read ``/api/me`` and log out until it has. Only supervisors act;
viewers get 403. Every bad request gets ``{"error": ..., "field": ...}``.

Every POST body is read and decoded once, by the middleware, before its handler (JSON on
the ``/api/`` routes, a form on the others): a body that cannot be read (too large, an
unknown charset, bytes that are not text, JSON nested too deeply, a multipart body without
its boundary) is a 400 (413 when too large) and one ``agents.http.bad_body`` line, never a
traceback. A request head aiohttp refuses (over-long or too many headers) is one
``agents.http.bad_request`` line (see :class:`.server_log.ServerLog`). See docs/wallboard.md.

This module only assembles the app; each job has its module: :mod:`.sessions` (the session
table), :mod:`.throttle` (failed logins), :mod:`.auth` (passwords, sessions, HTTP Basic),
:mod:`.middleware` (access, CSRF, bodies, headers), :mod:`.request_body`,
:mod:`.login_views`, :mod:`.password_views`, :mod:`.views` (pages, state, seat actions,
metrics), :mod:`.sse`, :mod:`.snapshots`, :mod:`.recordings_views` (through the
:class:`.recordings_access.RecordingsAccess` the app is given), :mod:`.server_log`.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from aiohttp import web
from sqlalchemy.engine import Engine

from . import (
    callback_views,
    feed_views,
    login_views,
    password_views,
    recordings_views,
    ticket_figures_views,
    ticket_pages,
    topics_views,
    views,
)
from .actions import SeatActions
from .audit import AuditLog
from .middleware import security
from .recordings_access import RecordingsAccess
from .runtime import AgentsRuntime
from .server_log import ServerLog
from .sse import end_streams, stream
from .ticket_views import register_ticket_routes
from .users import UserStore
from .web_context import CONTEXT_KEY, WebContext
from .web_settings import WebSettings

if TYPE_CHECKING:
    from hotline12345.sharing.pull import PullFeeds

    from .tickets_access import TicketsAccess

__all__ = ["CONTEXT_KEY", "RUNTIME_KEY", "WebSettings", "build_app", "start_site"]

RUNTIME_KEY = web.AppKey("agents_runtime", AgentsRuntime)


async def start_site(app: web.Application, host: str, port: int) -> tuple[web.AppRunner, int]:
    """Serve ``app`` on ``host:port`` (0: any free port); return its runner (``await
    runner.cleanup()`` stops it) and the port. Bad request heads are logged as one line
    (:class:`.server_log.ServerLog`), and there is no access log."""
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0,
                           logger=ServerLog(logging.getLogger("aiohttp.server"), {}))
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


def build_app(runtime: AgentsRuntime, users: UserStore, audit_log: AuditLog, *,
              settings: WebSettings | None = None,
              recordings: RecordingsAccess | None = None,
              tickets: TicketsAccess | None = None,
              topics: topics_views.TopicsAccess | None = None,
              feeds: PullFeeds | None = None,
              tickets_db: Engine | None = None,
              callbacks: callback_views.CallbackTickets | None = None) -> web.Application:
    """The aiohttp application. The caller starts and stops ``runtime`` itself.
    ``settings``: bounds, lifetimes and clocks (defaults: :class:`WebSettings`).
    ``recordings``: where the failed-jobs and ticket endpoints read (without it they
    answer 503 saying what to configure). ``tickets``: the ticket loop behind
    ``/api/tickets`` and the ticket pages (without it the API answers 503). ``topics``:
    where the 热点 page and ``/api/topics``, ``/api/surges`` read (:mod:`.topics_views`;
    503 without it). ``feeds``: the pull subscriptions ``/api/feed`` reads (without them
    it answers 503). The figures (``/figures``, ``/api/figures``) read ``tickets``'s
    database, or ``tickets_db`` when given (503 without either). ``callbacks``: the
    tickets' 回访 side (:class:`hotline12345.tickets.revisit_desk.RevisitDesk`), for
    ``/api/revisits`` and ``/api/tickets/{id}/callback`` (503 without it)."""
    settings = settings or WebSettings()
    app = web.Application(middlewares=[security], client_max_size=settings.client_max_size)
    actions = SeatActions(runtime, audit_log, confirm_timeout_s=settings.confirm_timeout_s)
    app[CONTEXT_KEY] = WebContext(runtime, users, audit_log, actions, settings, recordings,
                                  tickets)
    app[RUNTIME_KEY] = runtime
    if feeds is not None:
        app[feed_views.FEEDS_KEY] = feeds
    router = app.router
    router.add_get("/health", views.health)
    router.add_get("/login", login_views.login_page)
    router.add_post("/login", login_views.login_form)
    router.add_post("/api/login", login_views.api_login)
    router.add_post("/logout", login_views.logout)
    router.add_post("/api/logout", login_views.logout)
    router.add_get("/password", password_views.password_page)
    router.add_post("/password", password_views.password_form)
    router.add_post("/api/password", password_views.api_password)
    router.add_get("/", views.index)
    router.add_get("/static/{name}", views.static_file)
    router.add_get("/api/me", views.me)
    router.add_get("/api/state", views.state)
    router.add_get("/api/stream", stream)
    router.add_get("/api/audit", views.audit)
    router.add_get("/api/recordings/failed", recordings_views.recordings_failed)
    register_ticket_routes(app)  # before the next: /api/tickets/{a number} is a ticket
    router.add_get("/api/tickets/{uniqueid}", recordings_views.ticket_of_call)
    router.add_post("/api/seats/pause", views.seat_action(SeatActions.pause))
    router.add_post("/api/seats/add", views.seat_action(SeatActions.add))
    router.add_post("/api/seats/remove", views.seat_action(SeatActions.remove))
    router.add_post("/api/seats/penalty", views.seat_action(SeatActions.penalty))
    router.add_get("/api/feed", feed_views.feed)
    router.add_get("/metrics", views.metrics)
    ticket_pages.register(app)
    topics_views.register(app, topics)
    ticket_figures_views.add_figure_routes(
        app, tickets_db if tickets_db is not None
        else tickets.sessions if tickets is not None else None)
    # 回访: GET /api/revisits, POST /api/tickets/{id}/callback[/result] (docs/revisits.md)
    callback_views.register(app, runtime, audit_log, callbacks)
    app.on_shutdown.append(end_streams)
    return app
