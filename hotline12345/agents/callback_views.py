"""``GET /api/revisits`` (the 回访 list), ``POST /api/tickets/{id}/callback`` (call the
caller back: the seat's phone rings first, then the caller; :mod:`.callback`),
``POST /api/tickets/{id}/callback/result``, and the page that uses them (``/revisits``).

Only seats and supervisors use them (403 for other roles). The POST takes
``{"interface": "PJSIP/8001"}``, the seat's phone, and, like every POST of the API, JSON
and the session's ``X-CSRF-Token``. Its answer is the call's result (``connected`` 200,
``unconfirmed`` 202, ``rejected`` 409, ``failed`` 502) with the callback's uniqueid, which
is written on the ticket's 回访/差评回访 task when the seat answered (the recording of the
callback is named by it). The caller's number never leaves the server: the list shows it
masked, and the dialplan gets it from the Originate.

Without ticket access (``build_app(callbacks=None)``) both answer 503 saying what to wire.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any, Final, Protocol

from aiohttp import web
from sqlalchemy.exc import SQLAlchemyError

from hotline12345.db.engine import error_text
from hotline12345.logs import log_event, mask_text
from hotline12345.tickets.enums import CallbackOutcome, Rating
from hotline12345.tickets.history import Actor
from hotline12345.tickets.revisit import CallbackResult, CallbackTarget, NotDue, TicketMissing
from hotline12345.tickets.workflow import TicketError

from .actions import RequestError, _text
from .audit import AuditLog
from .callback import INTERFACE, CallbackDialer, CallbackRequest
from .request_body import json_body
from .runtime import AgentsRuntime
from .snapshots import dumps
from .ticket_roles import FULL_NUMBER_ROLES, actor_of
from .web_context import asset, json_error, request_user, web_log

__all__ = ["CALLBACK_ROLES", "CallbackTickets", "register"]

#: Who calls back: seats (话务员) and supervisors (班长), the roles that see full numbers.
CALLBACK_ROLES: Final = FULL_NUMBER_ROLES
NOT_CONFIGURED: Final = (
    "callbacks are not configured in this process: serve passes the ticket database "
    "(hotline12345.tickets.revisit_desk.RevisitDesk) to the wallboard as callbacks=...")
MAX_LIMIT: Final = 1000


class CallbackTickets(Protocol):
    """What the views need from the tickets (``RevisitDesk``); blocking methods, run in a
    worker thread."""

    def revisits(self, limit: int, *, full_number: bool) -> list[dict[str, Any]]: ...

    def target(self, ticket_id: int) -> CallbackTarget: ...

    def link(self, ticket_id: int, uniqueid: str, seat: str) -> dict[str, Any]: ...

    def record(self, ticket_id: int, actor: Actor, result: CallbackResult) -> dict[str, Any]:
        ...


@dataclass(frozen=True, slots=True)
class _Desk:
    tickets: CallbackTickets | None
    dialer: CallbackDialer


_DESK_KEY = web.AppKey("callback_desk", _Desk)


def register(app: web.Application, runtime: AgentsRuntime, audit: AuditLog,
             tickets: CallbackTickets | None, *, seat_ring_s: float = 30.0) -> None:
    """Add the two routes to ``app``."""
    app[_DESK_KEY] = _Desk(tickets, CallbackDialer(runtime, audit, seat_ring_s=seat_ring_s))
    app.router.add_get("/revisits", page)
    app.router.add_get("/revisits.js", script)
    app.router.add_get("/api/revisits", revisits)
    app.router.add_post("/api/tickets/{id}/callback", callback)
    app.router.add_post("/api/tickets/{id}/callback/result", callback_result)


async def page(request: web.Request) -> web.Response:
    """The 回访 page (Chinese): the list, a 回访 button per ticket, the result form."""
    return web.Response(body=asset("revisits.html"), content_type="text/html",
                        charset="utf-8", headers={"Cache-Control": "no-store"})


async def script(request: web.Request) -> web.Response:
    return web.Response(body=asset("revisits.js"), content_type="application/javascript",
                        charset="utf-8")


def _refused(request: web.Request) -> web.Response | None:
    user = request_user(request)
    actor = actor_of(user)
    if actor is None or actor.role not in CALLBACK_ROLES:
        return json_error(403, "role", f"user {user.name!r} is a {user.role}; only seats "
                                       "(话务员) and supervisors (班长) call back")
    return None


def _unavailable(exc: SQLAlchemyError) -> web.Response:
    reason = mask_text(error_text(exc))
    log_event(web_log, "agents.callbacks.unavailable", logging.WARNING, error=reason)
    return json_error(503, "tickets", f"the ticket database cannot be used ({reason}); check "
                                      "HOTLINE12345_DATABASE_URL and run hotline12345 db upgrade")


async def revisits(request: web.Request) -> web.Response:
    refused = _refused(request)
    if refused is not None:
        return refused
    desk = request.app[_DESK_KEY]
    if desk.tickets is None:
        return json_error(503, "tickets", NOT_CONFIGURED)
    raw = request.query.get("limit", "100")
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        return json_error(400, "limit",
                          f"'limit' must be a whole number 1-{MAX_LIMIT}, got {raw[:20]!r}")
    try:
        items = await asyncio.to_thread(desk.tickets.revisits, int(raw), full_number=False)
    except SQLAlchemyError as exc:
        return _unavailable(exc)
    return web.json_response({"revisits": items, "count": len(items)}, dumps=dumps)


async def callback(request: web.Request) -> web.Response:
    refused = _refused(request)
    if refused is not None:
        return refused
    desk = request.app[_DESK_KEY]
    if desk.tickets is None:
        return json_error(503, "tickets", NOT_CONFIGURED)
    raw_id = request.match_info["id"]
    if not raw_id.isdigit() or len(raw_id) > 12:
        return json_error(400, "id", f"{raw_id[:20]!r} is not a ticket id (a whole number)")
    ticket_id = int(raw_id)
    try:
        body = json_body(request)
        extra = sorted(set(body) - {"interface"})
        if extra:
            raise RequestError(extra[0], f"unknown field {extra[0]!r}; allowed: interface")
        interface = _text(body, "interface", required=True, max_len=128,
                          example="PJSIP/8001")
        if not INTERFACE.match(interface):
            raise RequestError("interface", f"{interface!r} is not a seat's phone; use "
                                            "Technology/resource, e.g. 'PJSIP/8001'")
    except RequestError as exc:
        return json_error(exc.status, exc.field, mask_text(exc.message))
    tickets = desk.tickets
    try:
        target = await asyncio.to_thread(tickets.target, ticket_id)
    except TicketMissing as exc:
        return json_error(404, "id", str(exc))
    except NotDue as exc:
        return json_error(409, "id", str(exc))
    except SQLAlchemyError as exc:
        return _unavailable(exc)
    user = request_user(request)
    call = await desk.dialer.place(user, CallbackRequest(ticket_id, target.number,
                                                         target.of_uniqueid, interface))
    out: dict[str, Any] = {"ticket_id": ticket_id, **call.to_dict(), "task": None}
    if call.result in ("connected", "unconfirmed"):
        try:
            out["task"] = await asyncio.to_thread(tickets.link, ticket_id, call.uniqueid,
                                                  user.name)
        except SQLAlchemyError as exc:
            return _unavailable(exc)
    return web.json_response(out, status=call.http_status, dumps=dumps)


def _choice(body: dict[str, Any], field: str, kind: type[CallbackOutcome] | type[Rating],
            *, required: bool) -> Any:
    value = body.get(field)
    if value is None:
        if required:
            raise RequestError(field, f"'{field}' is required: one of "
                                      + "、".join(m.value for m in kind))
        return None
    try:
        return kind(value)
    except ValueError:
        raise RequestError(field, f"'{field}' must be one of "
                                  + "、".join(m.value for m in kind)
                                  + f", not {str(value)[:20]!r}") from None


def _result(body: dict[str, Any]) -> CallbackResult:
    allowed = {"outcome", "resolved", "rating", "note", "call_uniqueid"}
    extra = sorted(set(body) - allowed)
    if extra:
        raise RequestError(extra[0], f"unknown field {extra[0]!r}; allowed: "
                                     + ", ".join(sorted(allowed)))
    resolved = body.get("resolved")
    if resolved is not None and not isinstance(resolved, bool):
        raise RequestError("resolved", "'resolved' must be true (已解决) or false (未解决)")
    note = body.get("note", "")
    if not isinstance(note, str) or len(note) > 2000:
        raise RequestError("note", "'note' must be text of at most 2000 characters")
    uniqueid = _text(body, "call_uniqueid", required=False, max_len=150)
    return CallbackResult(_choice(body, "outcome", CallbackOutcome, required=True),
                          resolved, _choice(body, "rating", Rating, required=False),
                          uniqueid or None, note.strip())


async def callback_result(request: web.Request) -> web.Response:
    """``{"outcome": "联系上", "resolved": true, "rating": "满意", "note"?,
    "call_uniqueid"?}``: the callback's result, through the workflow's 回访 (and 评价)."""
    refused = _refused(request)
    if refused is not None:
        return refused
    desk = request.app[_DESK_KEY]
    if desk.tickets is None:
        return json_error(503, "tickets", NOT_CONFIGURED)
    raw_id = request.match_info["id"]
    if not raw_id.isdigit() or len(raw_id) > 12:
        return json_error(400, "id", f"{raw_id[:20]!r} is not a ticket id (a whole number)")
    try:
        result = _result(json_body(request))
    except RequestError as exc:
        return json_error(exc.status, exc.field, mask_text(exc.message))
    user = request_user(request)
    try:
        actor = actor_of(user)
        assert actor is not None  # _refused
        out = await asyncio.to_thread(desk.tickets.record, int(raw_id), actor, result)
    except TicketMissing as exc:
        return json_error(404, "id", str(exc))
    except NotDue as exc:
        return json_error(409, "id", str(exc))
    except TicketError as exc:
        return web.json_response(exc.payload, status=exc.status, dumps=dumps)
    except SQLAlchemyError as exc:
        return _unavailable(exc)
    return web.json_response(out, dumps=dumps)
