"""The wallboard's pages and read-only API, its seat actions, and ``/metrics``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from hotline12345.logs import mask_text

from .actions import ActionOutcome, RequestError, SeatActions, masked_entry
from .metrics import CONTENT_TYPE, render
from .request_body import json_body
from .snapshots import dumps
from .users import User
from .web_context import asset, context, json_error, request_session, request_user

__all__ = ["audit", "health", "index", "me", "metrics", "seat_action", "state",
           "static_file"]


async def health(request: web.Request) -> web.Response:
    ami = context(request).runtime.ami_status()
    return web.json_response({"status": "ok", "ami": ami["state"],
                              "ami_connected": ami["connected"]})


async def index(request: web.Request) -> web.Response:
    return web.Response(body=asset("wallboard.html"), content_type="text/html",
                        charset="utf-8", headers={"Cache-Control": "no-store"})


async def static_file(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    types = {"style.css": "text/css", "wallboard.js": "application/javascript",
             "tickets.css": "text/css", "tickets.js": "application/javascript",
             "ticket.js": "application/javascript"}
    if name not in types:
        return json_error(404, "path", f"no static file {name!r}")
    return web.Response(body=asset(name), content_type=types[name], charset="utf-8")


async def me(request: web.Request) -> web.Response:
    user = request_user(request)
    session = request_session(request)
    return web.json_response({
        "user": user.name,
        "role": user.role,
        "department": user.department,
        "can_act": user.can_act,
        "csrf": session.csrf if session is not None else "",
        "must_change_password": user.must_change,
    })


async def state(request: web.Request) -> web.Response:
    return web.Response(body=context(request).snapshots.json(),
                        content_type="application/json", charset="utf-8")


async def audit(request: web.Request) -> web.Response:
    raw = request.query.get("limit", "50")
    if not raw.isdigit() or not 1 <= int(raw) <= 1000:
        return json_error(400, "limit", f"'limit' must be a whole number 1-1000, got {raw!r}")
    entries = await context(request).audit.recent(int(raw))
    return web.json_response({"entries": [masked_entry(e) for e in entries]}, dumps=dumps)


def seat_action(
    method: Callable[[SeatActions, User, dict[str, Any]], Awaitable[ActionOutcome]],
) -> Callable[[web.Request], Awaitable[web.Response]]:
    """A handler running one :class:`SeatActions` method: supervisors only."""

    async def handler(request: web.Request) -> web.Response:
        user = request_user(request)
        if not user.can_act:
            return json_error(403, "role", f"user {user.name!r} is a {user.role}; "
                                           "only supervisors act on seats")
        try:
            body = json_body(request)
            outcome = await method(context(request).actions, user, body)
        except RequestError as exc:  # it may quote seat interfaces
            return json_error(exc.status, exc.field, mask_text(exc.message))
        return web.json_response(outcome.to_dict(), status=outcome.http_status, dumps=dumps)

    return handler


async def metrics(request: web.Request) -> web.Response:
    body = render(context(request).registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})
