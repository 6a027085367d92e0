"""The ticket API's routes: the OpenAPI document equals the router, every new POST still
needs the CSRF token, the wallboard-only 观察员 has no tickets, a 承办单位 user has no
wallboard, and an app without a ticket loop says what to configure."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from hotline12345.agents.openapi import API_DOCS_KEY
from hotline12345.agents.service import AgentsServices, start_agents_services
from hotline12345.agents.store import MemoryStore
from hotline12345.agents.ticket_views import TICKET_ROUTES

QUEUES = {"q-general": ("综合受理", 15)}
ADMIN_PASSWORD = "admin-pass-1"


@pytest.fixture
async def services(tmp_path: Path) -> AsyncIterator[AgentsServices]:
    started = await start_agents_services(
        QUEUES, tmp_path, "127.0.0.1", 0, env={"HOTLINE12345_ADMIN_PASSWORD": ADMIN_PASSWORD},
        ami=None, store=MemoryStore(), bcrypt_rounds=4, say=lambda line: None)
    started.users.set("market", "market-pass", "handler", department="市场监督管理局")
    started.users.set("zhang", "viewer-pass", "viewer")
    try:
        yield started
    finally:
        await started.close()


def client(services: AgentsServices) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(services.url, cookie_jar=aiohttp.CookieJar(unsafe=True))


async def login(session: aiohttp.ClientSession, user: str = "admin",
                password: str = ADMIN_PASSWORD) -> dict[str, str]:
    r = await session.post("/api/login", json={"user": user, "password": password})
    assert r.status == 200, await r.text()
    me: dict[str, Any] = await (await session.get("/api/me")).json()
    return {"X-CSRF-Token": me["csrf"]}


def router_api_routes(app: web.Application) -> set[tuple[str, str]]:
    """(method, path) of every /api/ route, path parameters without their patterns."""
    found = set()
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        path = info.get("path") or info.get("formatter") or ""
        if path.startswith("/api/") and route.method != "HEAD":
            found.add((route.method, re.sub(r"\{(\w+):[^}]*\}", r"{\1}", path)))
    return found


async def test_the_openapi_document_equals_the_router(services: AgentsServices) -> None:
    async with client(services) as s:
        await login(s)
        r = await s.get("/api/openapi.json")
        doc = await r.json()
    assert r.status == 200 and doc["openapi"] == "3.1.0"
    documented = {(method.upper(), path) for path, ops in doc["paths"].items()
                  for method in ops}
    assert documented == router_api_routes(services.app)
    # the ticket routes carry their full description, not a stub
    for route in TICKET_ROUTES:
        path = re.sub(r"\{(\w+):[^}]*\}", r"{\1}", route.path)
        op = doc["paths"][path][route.method.lower()]
        assert op["summary"] == route.summary and op["tags"] == [route.tag]
    action = doc["paths"]["/api/tickets/{id}/actions/{action}"]["post"]
    names = next(p for p in action["parameters"] if p["name"] == "action")["schema"]["enum"]
    assert {"派单", "签收", "答复", "退单", "驳回退单", "改派", "协办", "协办答复", "申请延期",
            "批准延期", "驳回延期", "并单", "重办", "督办", "挂起", "恢复", "办结", "直接办结",
            "评价", "sign", "answer"} <= set(names)
    assert "回访" not in names and "创建" not in names
    assert set(action["responses"]) >= {"200", "400", "403", "404", "409"}
    assert action["responses"]["409"]["content"]["application/json"]["schema"][
        "required"] == ["error", "state", "allowed"]
    # a route added by another module later is in the document too
    assert ("GET", "/api/openapi.json") in documented


async def test_a_route_added_without_a_description_is_still_documented() -> None:
    from hotline12345.agents.openapi import ApiRoute, add_api_routes, openapi_document

    async def figures(request: web.Request) -> web.Response:
        """The figures by department."""
        return web.json_response({})

    app = web.Application()
    add_api_routes(app, [ApiRoute("GET", "/api/figures", figures, "Figures", tag="figures")])
    app.router.add_get(r"/api/revisits/{id:\d+}", figures)
    app.router.add_get("/not-api", figures)
    doc = openapi_document(app)
    assert set(doc["paths"]) == {"/api/figures", "/api/revisits/{id}"}
    assert doc["paths"]["/api/revisits/{id}"]["get"]["summary"] == "The figures by department."
    assert doc["paths"]["/api/revisits/{id}"]["get"]["parameters"][0]["name"] == "id"
    assert len(app[API_DOCS_KEY]) == 1


@pytest.mark.parametrize("path", [
    "/api/tickets/1/actions/签收", "/api/tickets/1/actions/sign", "/api/tickets/1/reveal"])
async def test_every_ticket_post_needs_the_csrf_token(services: AgentsServices,
                                                      path: str) -> None:
    async with client(services) as s:
        await login(s)
        r = await s.post(path, json={})
        assert (r.status, (await r.json())["field"]) == (403, "X-CSRF-Token")
        r = await s.post(path, json={}, headers={"X-CSRF-Token": "wrong"})
        assert (r.status, (await r.json())["field"]) == (403, "X-CSRF-Token")


async def test_every_ticket_post_of_the_table_needs_the_csrf_token(
        services: AgentsServices) -> None:
    posts = [r.path for r in TICKET_ROUTES if r.method == "POST"]
    assert posts
    async with client(services) as s:
        await login(s)
        for path in posts:
            concrete = re.sub(r"\{id:[^}]*\}", "1", path).replace("{action}", "答复")
            r = await s.post(concrete, json={})
            assert (r.status, (await r.json())["field"]) == (403, "X-CSRF-Token"), path


async def test_without_a_ticket_loop_the_api_says_what_to_configure(
        services: AgentsServices) -> None:
    async with client(services) as s:
        headers = await login(s)
        for method, path in (("GET", "/api/tickets"), ("GET", "/api/tickets/1"),
                             ("POST", "/api/tickets/1/actions/签收")):
            r = await s.request(method, path, json={}, headers=headers)
            body = await r.json()
            assert (r.status, body["field"]) == (503, "tickets"), body
            assert "TicketsAccess" in body["error"]


async def test_a_viewer_has_no_tickets_and_a_handler_no_wallboard(
        services: AgentsServices) -> None:
    async with client(services) as s:
        await login(s, "zhang", "viewer-pass")
        assert (await s.get("/api/state")).status == 200
        r = await s.get("/api/tickets")
        assert (r.status, (await r.json())["field"]) == (403, "role")
    async with client(services) as s:
        headers = await login(s, "market", "market-pass")
        me = await (await s.get("/api/me")).json()
        assert (me["role"], me["department"], me["can_act"]) == ("承办单位", "市场监督管理局",
                                                                 False)
        r = await s.get("/", allow_redirects=False)
        assert (r.status, r.headers["Location"]) == (302, "/tickets")
        r = await s.get("/topics", allow_redirects=False)
        assert (r.status, r.headers["Location"]) == (302, "/tickets")
        for path in ("/api/state", "/api/audit", "/api/recordings/failed", "/metrics",
                     "/api/stream", "/api/topics", "/api/surges"):
            r = await s.get(path)
            assert (r.status, (await r.json())["field"]) == (403, "role"), path
        r = await s.post("/api/seats/pause", json={"interface": "x", "paused": True},
                         headers=headers)
        assert r.status == 403
        # a call's ticket by uniqueid: as every ticket not its department's, 404
        r = await s.get("/api/tickets/1795849870.1")
        assert (r.status, (await r.json())["field"]) == (404, "uniqueid")
        assert (await s.get("/tickets")).status == 200
        assert (await s.get("/api/openapi.json")).status == 200


async def test_the_pages_need_a_login_and_are_served(services: AgentsServices) -> None:
    async with client(services) as s:
        for path in ("/tickets", "/tickets/7"):
            r = await s.get(path, allow_redirects=False)
            assert (r.status, r.headers["Location"]) == (302, "/login")
        await login(s)
        r = await s.get("/tickets")
        assert r.status == 200 and "工单队列" in await r.text()
        r = await s.get("/tickets/7")
        assert r.status == 200 and "处理记录" in await r.text()
        for name, kind in (("tickets.js", "javascript"), ("ticket.js", "javascript"),
                           ("tickets.css", "css")):
            r = await s.get(f"/static/{name}")
            assert r.status == 200 and kind in r.headers["Content-Type"], name
