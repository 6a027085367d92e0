"""The ticket pages, in Chinese: a department's queue (``/tickets``) and a ticket's detail
(``/tickets/{id}``). Static HTML and plain JavaScript (no CDN, no build step) that read
everything from the ticket API, the actions allowed included: the pages hold no lifecycle
rule of their own."""

from __future__ import annotations

from aiohttp import web

from .web_context import asset

__all__ = ["queue_page", "register", "ticket_page"]


def _page(name: str) -> web.Response:
    return web.Response(body=asset(name), content_type="text/html", charset="utf-8",
                        headers={"Cache-Control": "no-store"})


async def queue_page(request: web.Request) -> web.Response:
    """The queue: the tickets the user may see, with filters and 黄牌/红牌 badges."""
    return _page("tickets.html")


async def ticket_page(request: web.Request) -> web.Response:
    """One ticket: transcript, recording, history, deadlines and the allowed actions."""
    return _page("ticket.html")


def register(app: web.Application) -> None:
    app.router.add_get("/tickets", queue_page)
    app.router.add_get(r"/tickets/{id:\d+}", ticket_page)
