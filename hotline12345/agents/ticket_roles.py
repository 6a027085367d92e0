"""What each user role may see in the web layer, beside what the lifecycle table lets it do.

- The ticket loop's :class:`~hotline12345.tickets.workflow.Actor` of a user
  (:func:`actor_of`); the wallboard-only 观察员 has none and gets 403 on the ticket API.
- Full caller numbers: only the roles that call back (话务员, 班长) may reveal them
  (:data:`FULL_NUMBER_ROLES`); everyone else sees them masked, always.
- The wallboard (live queues, seats, the audit log, call tickets by uniqueid, metrics) and
  the 热点 analytics (every department's calls) are for the centre: a 承办单位 user sees
  only its department's tickets (:func:`wallboard_refusal`): ``/`` and ``/topics`` send it
  to ``/tickets``, their APIs answer 403, and a call's ticket by uniqueid 404 (as every
  ticket not its department's).
"""

from __future__ import annotations

import re
from typing import Final

from aiohttp import web
from sqlalchemy import ColumnElement

from hotline12345.tickets.enums import Role
from hotline12345.tickets.workflow import Actor, visible

from .users import User
from .web_context import json_error

__all__ = ["FULL_NUMBER_ROLES", "actor_of", "sees_full_number", "tickets_visible_to",
           "wallboard_refusal"]

FULL_NUMBER_ROLES: Final = frozenset({Role.SEAT, Role.SUPERVISOR})
_WALLBOARD_API = re.compile(
    r"^/(api/(state|stream|audit|recordings/.*|seats/.*|topics|surges)|metrics)$")
_CENTRE_PAGES = ("/", "/index.html", "/topics")  # the wallboard, 热点 (every department's)
_CALL_TICKET = re.compile(r"^/api/tickets/[^/]*[^/0-9][^/]*$")  # a uniqueid, not an id


def actor_of(user: User) -> Actor | None:
    """The user as the workflow sees it; None for a wallboard-only 观察员."""
    role = user.ticket_role
    if role is None:
        return None
    return Actor(user.name, role, user.department if role is Role.HANDLER else None)


def tickets_visible_to(user: User) -> ColumnElement[bool] | None:
    """The WHERE clause of the tickets ``user`` may count or read (the workflow's
    ``visible``: a 承办单位 its department's); None for the wallboard's 观察员, who sees the
    centre's figures. For other modules reading tickets per user (the figures)."""
    actor = actor_of(user)
    return None if actor is None else visible(actor)


def sees_full_number(actor: Actor) -> bool:
    """May reveal a caller's full number (the roles that call back)."""
    return actor.role in FULL_NUMBER_ROLES


def wallboard_refusal(user: User, request: web.Request) -> web.StreamResponse | None:
    """Why ``user`` may not open this wallboard route, or None. Only a 承办单位 user is
    refused: ``/`` redirects it to its queue, the wallboard's API is 403, a call's ticket
    by uniqueid is 404."""
    if user.role != Role.HANDLER.value:
        return None
    path = request.path
    if request.method == "GET" and path in _CENTRE_PAGES:
        raise web.HTTPFound("/tickets")
    if _WALLBOARD_API.match(path):
        return json_error(403, "role", f"user {user.name!r} is a 承办单位 user: the wallboard "
                          "is the centre's; your tickets are at /tickets and /api/tickets")
    if _CALL_TICKET.match(path):
        return json_error(404, "uniqueid", "no such ticket")
    return None
