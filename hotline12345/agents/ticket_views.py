"""The ticket loop's JSON API (``/api/tickets...``, ``/api/openapi.json``), as one route table.

Every handler runs as the caller's :class:`~hotline12345.tickets.workflow.Actor` through
the :class:`.tickets_access.TicketsAccess` the app was given (without one: 503 saying what
to configure). Errors:

- a :class:`~hotline12345.tickets.workflow.TicketError` answers its own status and body:
  an illegal action 409 ``{"error", "state", "allowed"}``, a missing field 400
  ``{"error", "field"}``, a ticket the caller may not see 404 (a 承办单位 asking for another
  department's ticket included), a role that may not act 403;
- a bad parameter or body 400 ``{"error", "field"}``; the wallboard's 观察员 403.

Revealing a caller's full number (``POST .../reveal``, 话务员 and 班长 only) and serving a
recording (``GET .../recording``, every request, Range requests included) each write one
row to the audit log (:class:`.audit.AuditLog`): who, role, ticket, result.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from hotline12345.logs import log_event
from hotline12345.tickets.enums import Action, Rating, Supervision, TicketState, Urgency
from hotline12345.tickets.workflow import Actor, TicketError

from .actions import RequestError
from .openapi import ApiRoute, JsonSchema, Param, add_api_routes, openapi_view
from .request_body import json_body
from .snapshots import dumps
from .ticket_roles import actor_of, sees_full_number
from .tickets_access import PERSON_ACTIONS, QueueQuery, TicketsAccess
from .web_context import context, json_error, request_user, web_log

__all__ = ["TICKETS_NOT_CONFIGURED", "TICKET_ROUTES", "register_ticket_routes"]

TICKETS_NOT_CONFIGURED = (
    "the ticket loop is not configured in this process: hotline12345 serve gives the "
    "wallboard a TicketsAccess built from the site file and the database "
    "(HOTLINE12345_DATABASE_URL); a program calling start_agents_services must pass "
    "tickets=TicketsAccess(...)")
_ACTIONS_BY_NAME: dict[str, Action] = {
    **{a.value: a for a in PERSON_ACTIONS}, **{a.name.lower(): a for a in PERSON_ACTIONS}}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Operation = Callable[[web.Request, TicketsAccess, Actor], Awaitable[web.StreamResponse]]


def _ticket_handler(operation: Operation) -> Handler:
    """Run ``operation`` as the caller's actor; turn every refusal into its JSON answer."""

    async def handler(request: web.Request) -> web.StreamResponse:
        user = request_user(request)
        actor = actor_of(user)
        if actor is None:
            return json_error(403, "role", f"user {user.name!r} is a {user.role}: the "
                              "wallboard only; the tickets need a ticket role")
        tickets = context(request).tickets
        if tickets is None:
            return json_error(503, "tickets", TICKETS_NOT_CONFIGURED)
        try:
            return await operation(request, tickets, actor)
        except TicketError as exc:
            return web.json_response(exc.payload, status=exc.status, dumps=dumps)
        except RequestError as exc:
            return json_error(exc.status, exc.field, exc.message)

    handler.__doc__ = operation.__doc__
    return handler


def _ticket_id(request: web.Request) -> int:
    return int(request.match_info["id"])  # the route's pattern is \d+


def _query(request: web.Request) -> QueueQuery:
    q = request.query
    state = None
    if q.get("state"):
        try:
            state = TicketState(q["state"])
        except ValueError:
            raise RequestError("state", f"{q['state'][:20]!r} is not a state; use one of "
                               f"{', '.join(TicketState)}") from None
    overdue = q.get("overdue", "")
    if overdue not in ("", "0", "1", "true", "false"):
        raise RequestError("overdue", f"{overdue[:20]!r}: use 1 or 0")
    page = q.get("page", "1")
    if not page.isdigit() or not 1 <= int(page) <= 100_000:
        raise RequestError("page", f"'page' must be a whole number from 1, got {page[:20]!r}")
    text = q.get("q", "")
    if len(text) > 100:
        raise RequestError("q", "the search text is at most 100 characters")
    return QueueQuery(state=state, department=q.get("department") or None, q=text,
                      overdue=overdue in ("1", "true"), page=int(page))


async def list_tickets(request: web.Request, tickets: TicketsAccess,
                       actor: Actor) -> web.Response:
    """My queue: the tickets my role may see (a 承办单位: its department's only)."""
    page = await asyncio.to_thread(tickets.queue, actor, _query(request))
    return web.json_response(page, dumps=dumps)


async def get_ticket(request: web.Request, tickets: TicketsAccess,
                     actor: Actor) -> web.Response:
    """One ticket with its history, deadlines, 督办 level, assignments, extensions and
    callbacks, and the actions I may take now."""
    view = await asyncio.to_thread(tickets.ticket, actor, _ticket_id(request))
    return web.json_response(view, dumps=dumps)


async def get_history(request: web.Request, tickets: TicketsAccess,
                      actor: Actor) -> web.Response:
    """A ticket's history, oldest first."""
    rows = await asyncio.to_thread(tickets.history, actor, _ticket_id(request))
    return web.json_response({"history": rows}, dumps=dumps)


async def get_duplicates(request: web.Request, tickets: TicketsAccess,
                         actor: Actor) -> web.Response:
    """并单 suggestions: the same caller and category within the merge window."""
    rows = await asyncio.to_thread(tickets.duplicates, actor, _ticket_id(request))
    return web.json_response({"duplicates": rows}, dumps=dumps)


#: The fields an action's body may carry (the workflow says which action takes which, and
#: checks them); the OpenAPI document and the page's forms read their types from here.
ACTION_FIELDS: dict[str, JsonSchema] = {
    "department": {"type": "string", "title": "主办单位", "description": "派单/改派"},
    "assist_departments": {"type": "array", "items": {"type": "string"}, "title": "协办单位",
                           "description": "派单/改派/协办"},
    "urgency": {"enum": list(Urgency), "title": "紧急程度", "description": "派单/改派"},
    "category": {"type": "string", "title": "分类", "description": "派单/直接办结"},
    "summary": {"type": "string", "title": "诉求", "description": "派单/直接办结"},
    "real_name": {"type": "boolean", "title": "实名", "description": "派单/直接办结"},
    "reply": {"type": "string", "title": "答复内容", "description": "答复/协办答复/直接办结"},
    "working_days": {"type": "number", "title": "延期工作日", "description": "申请延期"},
    "rating": {"enum": list(Rating), "title": "评价", "description": "评价"},
    "main_ticket_id": {"type": "integer", "title": "主单编号",
                       "description": "并单: the main ticket's id"},
    "level": {"enum": list(Supervision), "title": "督办级别",
              "description": "督办 (default: one level up)"},
}


async def post_action(request: web.Request, tickets: TicketsAccess,
                      actor: Actor) -> web.Response:
    """Apply one action to a ticket (the lifecycle table decides whether it is legal)."""
    name = request.match_info["action"]
    action = _ACTIONS_BY_NAME.get(name) or _ACTIONS_BY_NAME.get(name.lower())
    if action is None:
        hint = (" (回访 is POST /api/tickets/{id}/callback)" if name in ("回访", "revisit")
                else "")
        return json_error(404, "action", f"no action {name[:20]!r}{hint}; the actions: "
                          f"{', '.join(a.value for a in PERSON_ACTIONS)}")
    fields = json_body(request, required=False)  # the workflow checks every field
    reason, note = fields.pop("reason", ""), fields.pop("note", "")
    ticket_id = _ticket_id(request)
    event = await asyncio.to_thread(tickets.apply, actor, ticket_id, action,
                                    reason=reason, note=note, fields=fields)
    log_event(web_log, "tickets.action", ticket=ticket_id, action=action.value,
              user=actor.name, role=actor.role.value, state=event.get("state"))
    return web.json_response({"event": event}, dumps=dumps)


async def _audit(request: web.Request, action: str, ticket_id: int,
                 detail: dict[str, Any], result: str = "shown") -> None:
    user = request_user(request)
    await context(request).audit.record(
        user=user.name, role=user.role, action=action, queue="", interface="",
        detail={"ticket_id": ticket_id, **detail}, result=result, message="")


async def reveal_number(request: web.Request, tickets: TicketsAccess,
                        actor: Actor) -> web.Response:
    """The caller's full number (话务员 and 班长 only); every reveal is audited."""
    ticket_id = _ticket_id(request)
    number = await asyncio.to_thread(tickets.reveal, actor, ticket_id)  # 404 first
    if not sees_full_number(actor):
        return json_error(403, "role", f"a {actor.role.value} sees callers' numbers masked; "
                          "only 话务员 and 班长 (who call back) may reveal them")
    body = json_body(request, required=False)
    reason = body.get("reason", "")
    if not isinstance(reason, str) or len(reason) > 500:
        raise RequestError("reason", "'reason' must be a text of at most 500 characters")
    await _audit(request, "reveal_number", ticket_id, {"reason": reason.strip()})
    return web.json_response({"id": ticket_id, "caller": number}, dumps=dumps)


async def get_recording(request: web.Request, tickets: TicketsAccess,
                        actor: Actor) -> web.StreamResponse:
    """The call's mixed recording (WAV, Range requests answered); every request is
    audited."""
    ticket_id = _ticket_id(request)
    path = await asyncio.to_thread(tickets.recording, actor, ticket_id)
    await _audit(request, "play_recording", ticket_id,
                 {"range": request.headers.get("Range", "")[:60]})
    log_event(web_log, "tickets.recording.served", logging.INFO, ticket=ticket_id,
              user=actor.name)
    return web.FileResponse(path, headers={"Content-Type": "audio/wav",
                                           "Cache-Control": "no-store"})


_ID = Param("id", "path", "the ticket's id", {"type": "integer"})
_TICKET_ROW: JsonSchema = {"type": "object", "description": "a ticket (caller masked)",
                           "properties": {"id": {"type": "integer"}, "state": {"enum": list(
                               TicketState)}, "department": {"type": ["string", "null"]},
                                          "caller": {"type": "string"}}}
_ERRORS_404 = {"404": "no such ticket, or not yours to see (another department's)"}

TICKET_ROUTES: tuple[ApiRoute, ...] = (
    ApiRoute("GET", "/api/openapi.json", openapi_view, "This OpenAPI 3.1 document",
             tag="api", response_schema={"type": "object"}),
    ApiRoute("GET", "/api/tickets", _ticket_handler(list_tickets), "My queue",
             "The tickets the caller's role may see, nearest answer deadline first, 50 a "
             "page. A 承办单位 sees its own department's only; naming another department "
             "is a 404.",
             params=(Param("state", "query", "a state: " + ", ".join(TicketState),
                           {"enum": list(TicketState)}),
                     Param("department", "query", "a department of the site file"),
                     Param("q", "query", "search: id, text, category, legacy number (and the "
                           "caller's number for 话务员/班长)"),
                     Param("overdue", "query", "1: only tickets past a deadline",
                           {"enum": ["0", "1"]}),
                     Param("page", "query", "from 1", {"type": "integer", "minimum": 1})),
             responses={"404": "another department"},
             response_schema={"type": "object", "properties": {
                 "tickets": {"type": "array", "items": _TICKET_ROW},
                 "page": {"type": "integer"}, "pages": {"type": "integer"},
                 "total": {"type": "integer"}}}),
    ApiRoute("GET", r"/api/tickets/{id:\d+}", _ticket_handler(get_ticket), "One ticket",
             "The ticket, its transcript (both legs), history, deadlines, 督办 level, "
             "assignments, extensions, pauses, callbacks, merged tickets, and "
             "`allowed_actions`: what the caller may do now.",
             params=(_ID,), responses=_ERRORS_404, response_schema=_TICKET_ROW),
    ApiRoute("GET", r"/api/tickets/{id:\d+}/history", _ticket_handler(get_history),
             "A ticket's history (immutable, oldest first)", params=(_ID,),
             responses=_ERRORS_404),
    ApiRoute("GET", r"/api/tickets/{id:\d+}/duplicates", _ticket_handler(get_duplicates),
             "并单 suggestions", "Tickets of the same caller and category within the "
             "site's merge window; confirm one by POSTing 并单 on the duplicate with "
             "`main_ticket_id`.", params=(_ID,), responses=_ERRORS_404),
    ApiRoute("POST", r"/api/tickets/{id:\d+}/actions/{action}", _ticket_handler(post_action),
             "Apply an action",
             "`action`: the Chinese name (URL-encoded) or its English alias: "
             + ", ".join(f"{a.value} ({a.name.lower()})" for a in PERSON_ACTIONS)
             + ". Legal moves are the lifecycle table's (docs/tickets-lifecycle); the body "
             "carries `reason`, `note` and the action's own fields.",
             params=(_ID, Param("action", "path", "the action", {
                 "enum": [a.value for a in PERSON_ACTIONS]
                 + [a.name.lower() for a in PERSON_ACTIONS]})),
             body={"type": "object", "additionalProperties": False, "properties": {
                 "reason": {"type": "string"}, "note": {"type": "string"}, **ACTION_FIELDS}},
             responses={**_ERRORS_404,
                        "400": "a required field is missing or wrong: `{error, field}`",
                        "403": "the role may not take this action",
                        "409": "illegal in the ticket's state: `{error, state, allowed}`"}),
    ApiRoute("POST", r"/api/tickets/{id:\d+}/reveal", _ticket_handler(reveal_number),
             "Reveal the caller's full number",
             "话务员 and 班长 only (they call back); written to the audit log.",
             params=(_ID,), body={"type": "object", "properties": {
                 "reason": {"type": "string"}}},
             responses={**_ERRORS_404, "403": "the role sees numbers masked"},
             response_schema={"type": "object", "properties": {
                 "id": {"type": "integer"}, "caller": {"type": ["string", "null"]}}}),
    ApiRoute("GET", r"/api/tickets/{id:\d+}/recording", _ticket_handler(get_recording),
             "The call's recording (WAV)",
             "The mixed recording, with Range support for the browser's player; every "
             "request is written to the audit log.", params=(_ID,),
             responses={**_ERRORS_404, "200": "audio/wav"}, response_type="audio/wav"),
)


def register_ticket_routes(app: web.Application) -> None:
    """Add the ticket API's routes (call before the wallboard's
    ``/api/tickets/{uniqueid}``, so that a number is a ticket's id)."""
    add_api_routes(app, TICKET_ROUTES)
