"""The API's route table and its OpenAPI 3.1 document (``GET /api/openapi.json``).

A module that serves JSON routes declares them as :class:`ApiRoute` rows (method, path,
handler and what the document says about them) and registers them with
:func:`add_api_routes`, which adds each to the app's router and keeps its description.
:func:`openapi_document` is generated from the router itself: every ``/api/`` route the
app answers is in it (a route registered without a description gets its handler's
docstring), and nothing else, so the document cannot drift from the routes.

Other modules (the callbacks' ``/api/revisits``, the figures' ``/api/figures``) register
their own rows the same way, from their own modules, before the app starts.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from .snapshots import dumps

__all__ = ["API_DOCS_KEY", "ApiRoute", "JsonSchema", "Param", "add_api_routes",
           "openapi_document", "openapi_view"]

JsonSchema = dict[str, Any]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_ERROR: JsonSchema = {
    "type": "object", "required": ["error"],
    "properties": {"error": {"type": "string"}, "field": {"type": "string"}},
}
_STANDARD_ERRORS = {
    "400": "bad request: `{error, field}` names the field",
    "401": "not logged in (session cookie or HTTP Basic auth)",
    "403": "the role may not do this, or a missing X-CSRF-Token header",
}


@dataclass(frozen=True, slots=True)
class Param:
    """A path or query parameter."""

    name: str
    where: str  # "path" or "query"
    description: str
    schema: JsonSchema = field(default_factory=lambda: {"type": "string"})
    required: bool = False

    def to_openapi(self) -> JsonSchema:
        return {"name": self.name, "in": self.where, "description": self.description,
                "required": self.required or self.where == "path", "schema": self.schema}


@dataclass(frozen=True, slots=True)
class ApiRoute:
    """One row of the route table: the route, and what the OpenAPI document says of it."""

    method: str
    path: str  # aiohttp's, e.g. ``/api/tickets/{id:\\d+}``
    handler: Handler
    summary: str
    description: str = ""
    tag: str = "tickets"
    params: Sequence[Param] = ()
    body: JsonSchema | None = None  # the JSON request body's schema
    responses: dict[str, str] = field(default_factory=dict)  # status -> description
    response_schema: JsonSchema | None = None  # the 200 body's schema
    response_type: str = "application/json"


API_DOCS_KEY = web.AppKey("api_route_docs", dict)


def add_api_routes(app: web.Application, routes: Sequence[ApiRoute]) -> None:
    """Add every row to ``app``'s router, and keep its description for the document."""
    docs: dict[tuple[str, str], ApiRoute] = app.setdefault(API_DOCS_KEY, {})
    for route in routes:
        app.router.add_route(route.method, route.path, route.handler)
        docs[(route.method.upper(), _openapi_path(route.path))] = route


_PATTERN = re.compile(r"\{(\w+):[^{}]*(?:\{[^{}]*\}[^{}]*)*\}")


def _openapi_path(path: str) -> str:
    """``/api/tickets/{id:\\d+}`` -> ``/api/tickets/{id}``."""
    return _PATTERN.sub(r"{\1}", path)


def _router_routes(app: web.Application) -> list[tuple[str, str, Handler]]:
    """Every ``/api/`` route of the app: (method, OpenAPI path, handler)."""
    found = []
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        path = info.get("path") or info.get("formatter") or ""
        if not path.startswith("/api/") or route.method == "HEAD":
            continue
        found.append((route.method.upper(), _openapi_path(path), route.handler))
    return found


def _operation(method: str, path: str, handler: Handler,
               doc: ApiRoute | None) -> JsonSchema:
    if doc is None:  # a wallboard route registered by hand: its handler's docstring
        text = (getattr(handler, "__doc__", None) or "").strip()
        summary = text.splitlines()[0] if text else f"{method} {path}"
        params = [Param(name, "path", name).to_openapi()
                  for name in re.findall(r"\{(\w+)\}", path)]
        op: JsonSchema = {"summary": summary, "tags": ["wallboard"],
                          "responses": {"200": {"description": "OK"}}}
        if params:
            op["parameters"] = params
        return op
    responses: JsonSchema = {}
    ok: JsonSchema = {"description": doc.responses.get("200", "OK")}
    if doc.response_schema is not None or doc.response_type != "application/json":
        ok["content"] = {doc.response_type: {"schema": doc.response_schema or {}}}
    responses["200"] = ok
    for status, text in {**_STANDARD_ERRORS, **doc.responses}.items():
        if status == "200":
            continue
        body = (_ILLEGAL if status == "409" else _ERROR)
        responses[status] = {"description": text,
                             "content": {"application/json": {"schema": body}}}
    op = {"summary": doc.summary, "tags": [doc.tag], "operationId": _operation_id(method, path),
          "responses": responses}
    if doc.description:
        op["description"] = doc.description
    if doc.params:
        op["parameters"] = [p.to_openapi() for p in doc.params]
    if doc.body is not None:
        op["requestBody"] = {"required": True,
                             "content": {"application/json": {"schema": doc.body}}}
    return op


_ILLEGAL: JsonSchema = {
    "type": "object", "required": ["error", "state", "allowed"],
    "properties": {"error": {"type": "string"}, "state": {"type": "string"},
                   "allowed": {"type": "array", "items": {"type": "string"}}},
}


def _operation_id(method: str, path: str) -> str:
    words = [w.strip("{}") for w in path.removeprefix("/api/").split("/") if w]
    return method.lower() + "_" + "_".join(words)


def openapi_document(app: web.Application) -> JsonSchema:
    """The OpenAPI 3.1 document of every ``/api/`` route ``app`` answers."""
    docs: dict[tuple[str, str], ApiRoute] = app.get(API_DOCS_KEY, {})
    paths: dict[str, JsonSchema] = {}
    for method, path, handler in _router_routes(app):
        paths.setdefault(path, {})[method.lower()] = _operation(
            method, path, handler, docs.get((method, path)))
    return {
        "openapi": "3.1.0",
        "info": {"title": "hotline12345", "version": "1",
                 "description": "The wallboard's and the ticket loop's JSON API. Log in with "
                                "POST /api/login (a session cookie; send the X-CSRF-Token "
                                "header of /api/me on every POST) or use HTTP Basic auth. "
                                "See docs/tickets-api.md."},
        "components": {"securitySchemes": {
            "session": {"type": "apiKey", "in": "cookie", "name": "h12345_session"},
            "basic": {"type": "http", "scheme": "basic"}}},
        "security": [{"session": []}, {"basic": []}],
        "paths": dict(sorted(paths.items())),
    }


async def openapi_view(request: web.Request) -> web.Response:
    """The OpenAPI 3.1 document of this API."""
    return web.json_response(openapi_document(request.app), dumps=dumps)
