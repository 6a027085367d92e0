"""The ticket figures over HTTP: ``GET /api/figures`` (JSON, or CSV with ``format=csv``) and
the page ``GET /figures`` (统计报表: a form, the table and bar charts in inline SVG).

Query parameters (all optional; the same for the API, the CSV and the page):

``by``       ``department`` (default), ``category``, ``legacy_number`` or ``period``
``period``   ``day`` (default), ``week`` or ``month``; with ``by=period`` only
``from``     first local date (``YYYY-MM-DD``, Asia/Shanghai), included; absent: no bound
``to``       last local date, included; absent: no bound
``format``   ``json`` (default) or ``csv`` (``/api/figures`` only)

The figures are computed by the database (:mod:`hotline12345.tickets.figures`) in a worker
thread; every count passes through the request's visibility clause (``visibility(user)``,
given to :func:`add_figure_routes`; by default :func:`user_visibility`, the workflow's
``visible``: a 承办单位 handler counts its own department's tickets only). A bad parameter
is a 400 ``{"error", "field"}`` naming it; no tickets database in this process, or one
that cannot be used, is a 503 saying what to check.

The CSV is UTF-8 with a byte-order mark (Excel then reads the Chinese), one row per group and
a last row 合计: the group, the ticket count, and per figure its value, numerator and
denominator.
"""

from __future__ import annotations

import asyncio
import csv
import io
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from aiohttp import web
from sqlalchemy import ColumnElement
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session, sessionmaker

from hotline12345.db.engine import error_text
from hotline12345.logs import log_event
from hotline12345.tickets.figures import (
    FIGURES,
    Count,
    FigureError,
    FigureQuery,
    FigureRow,
    FigureTable,
    GroupBy,
    Period,
    compute_figures,
)

from . import ticket_figures_page
from .openapi import ApiRoute, Param, add_api_routes
from .snapshots import dumps
from .ticket_figures_page import GROUP_LABELS, NO_GROUP, TOTAL, shown_value
from .ticket_roles import tickets_visible_to
from .users import User
from .web_context import asset, context, json_error, request_user, web_log

__all__ = ["FIGURES_KEY", "FiguresAccess", "Visibility", "add_figure_routes",
           "figures_csv", "figures_json", "parse_query", "user_visibility"]

Visibility = Callable[[User], ColumnElement[bool] | None]

NOT_CONFIGURED = ("the tickets database is not configured in this process: hotline12345 "
                  "serve gives the wallboard its database (HOTLINE12345_DATABASE_URL); a "
                  "program calling build_app must pass tickets_db=<an Engine>")


def user_visibility(user: User) -> ColumnElement[bool] | None:
    """The tickets ``user`` is counted over: the ticket API's
    :func:`~.ticket_roles.tickets_visible_to`, i.e. the workflow's ``visible`` (a 承办单位
    handler: its own department's tickets and those it assists on; every other ticket role:
    all); the wallboard's 观察员 sees the centre's figures."""
    return tickets_visible_to(user)


@dataclass(frozen=True, slots=True)
class FiguresAccess:
    """What the figure routes read: the tickets database and who sees which tickets."""

    sessions: sessionmaker[Session] | None
    visibility: Visibility = user_visibility


FIGURES_KEY = web.AppKey("ticket_figures", FiguresAccess)


def add_figure_routes(app: web.Application,
                      database: Engine | sessionmaker[Session] | None, *,
                      visibility: Visibility = user_visibility) -> None:
    """Register ``/figures``, ``/figures/figures.css`` and ``/api/figures`` on ``app``,
    reading ``database`` (an engine, or the session factory the ticket API uses; ``None``:
    they answer 503 saying what to configure)."""
    sessions = sessionmaker(database) if isinstance(database, Engine) else database
    app[FIGURES_KEY] = FiguresAccess(sessions, visibility)
    app.router.add_get("/figures", figures_page)
    app.router.add_get("/figures/figures.css", figures_css)
    add_api_routes(app, FIGURE_ROUTES)


def _date(raw: str | None, field: str) -> date | None:
    if raw is None or raw == "":
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise FigureError(field, f"'{field}' must be a date YYYY-MM-DD, got {raw[:40]!r}") \
            from None


def _group_by(raw: str) -> GroupBy:
    try:
        return GroupBy(raw)
    except ValueError:
        raise FigureError("by", "'by' must be one of "
                          f"{', '.join(m.value for m in GroupBy)}, got {raw[:40]!r}") from None


def _period(raw: str) -> Period:
    try:
        return Period(raw)
    except ValueError:
        raise FigureError("period", "'period' must be one of "
                          f"{', '.join(m.value for m in Period)}, got {raw[:40]!r}") from None


def parse_query(params: Mapping[str, str], now: datetime) -> FigureQuery:
    """The :class:`FigureQuery` of a request's parameters; a :class:`FigureError` naming the
    parameter when one is wrong."""
    by = _group_by(params.get("by") or GroupBy.DEPARTMENT.value)
    raw_period = params.get("period") or None
    period = _period(raw_period) if raw_period else None
    if period is not None and by is not GroupBy.PERIOD:
        raise FigureError("period", "'period' goes with by=period only")
    return FigureQuery(by=by, period=period, start=_date(params.get("from"), "from"),
                       end=_date(params.get("to"), "to"), now=now)


def _count_json(count: Count) -> dict[str, Any]:
    return {"numerator": count.numerator, "denominator": count.denominator,
            "value": count.value}


def _row_json(row: FigureRow) -> dict[str, Any]:
    return {"group": row.group, "tickets": row.tickets,
            "figures": {key: _count_json(c) for key, c in row.counts.items()}}


def figures_json(table: FigureTable) -> dict[str, Any]:
    """The API's answer: the query, the figures' definitions, the rows and the total."""
    q = table.query
    return {
        "by": q.by.value, "period": q.period.value if q.period else None,
        "from": q.start.isoformat() if q.start else None,
        "to": q.end.isoformat() if q.end else None,
        "now": q.now.isoformat(), "timezone": str(q.zone),
        "figures": [{"key": f.key, "label": f.label, "numerator": f.numerator,
                     "denominator": f.denominator, "unit": f.unit} for f in FIGURES],
        "rows": [_row_json(r) for r in table.rows],
        "total": _row_json(table.total),
    }


def figures_csv(table: FigureTable) -> bytes:
    """The CSV export: UTF-8 with a BOM, a header row, one row per group, then 合计."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    header = [GROUP_LABELS[table.query.by], "工单数"]
    for f in FIGURES:
        header += [f.label, f"{f.label}分子", f"{f.label}分母"]
    writer.writerow(header)
    for row, name in [*((r, r.group or NO_GROUP) for r in table.rows), (table.total, TOTAL)]:
        cells: list[str | int | float] = [name, row.tickets]
        for f in FIGURES:
            c = row.counts[f.key]
            cells += [shown_value(f.key, c), _number(c.numerator), c.denominator]
        writer.writerow(cells)
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def _number(value: int | float) -> int | float:
    return round(value, 4) if isinstance(value, float) else value


def _access(request: web.Request) -> FiguresAccess:
    return request.app[FIGURES_KEY]


async def _compute(request: web.Request, query: FigureQuery) -> FigureTable:
    """Run the query in a worker thread through the user's visibility clause."""
    access = _access(request)
    assert access.sessions is not None
    sessions = access.sessions
    where = access.visibility(request_user(request))

    def run() -> FigureTable:
        with sessions() as session:
            return compute_figures(session.connection(), query, where)

    return await asyncio.to_thread(run)


def _now(request: web.Request) -> datetime:
    return datetime.fromtimestamp(context(request).settings.clock(), UTC)


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a request got no figures: the HTTP status, the field, the message."""

    status: int
    field: str
    message: str

    def response(self) -> web.Response:
        return json_error(self.status, self.field, self.message)


async def _table(request: web.Request, params: Mapping[str, str]) -> FigureTable | Refusal:
    """The request's figures, or why not (400 naming the field, or 503)."""
    if _access(request).sessions is None:
        return Refusal(503, "database", NOT_CONFIGURED)
    try:
        query = parse_query(params, _now(request))
        return await _compute(request, query)
    except FigureError as exc:
        return Refusal(400, exc.field, exc.message)
    except (DBAPIError, DisconnectionError, PoolTimeout) as exc:
        reason = error_text(exc)
        log_event(web_log, "agents.figures.unavailable", logging.WARNING, error=reason)
        return Refusal(503, "database", f"the tickets database cannot be used ({reason}); "
                       "check HOTLINE12345_DATABASE_URL and run hotline12345 db upgrade")


async def figures_api(request: web.Request) -> web.Response:
    """The ticket figures by department, category, legacy number or period, as JSON
    (``format=csv``: a CSV file)."""
    fmt = request.query.get("format") or "json"
    if fmt not in ("json", "csv"):
        return json_error(400, "format", f"'format' must be json or csv, got {fmt[:40]!r}")
    table = await _table(request, request.query)
    if isinstance(table, Refusal):
        return table.response()
    if fmt == "json":
        return web.json_response(figures_json(table), dumps=dumps)
    q = table.query
    parts = ["figures", q.by.value, *([q.period.value] if q.period else []),
             *([q.start.isoformat()] if q.start else []), *([q.end.isoformat()] if q.end else [])]
    return web.Response(body=figures_csv(table), content_type="text/csv", charset="utf-8",
                        headers={"Content-Disposition":
                                 f'attachment; filename="{"-".join(parts)}.csv"'})


async def figures_page(request: web.Request) -> web.Response:
    """统计报表: the form, the table and a bar chart per figure (a bad parameter: the form
    and the error, with the status the API would answer)."""
    params = {k: v for k, v in request.query.items() if k in ("by", "period", "from", "to")}
    if params.get("by") != GroupBy.PERIOD.value:
        params.pop("period", None)  # the form always sends it
    table = await _table(request, params)
    if isinstance(table, Refusal):
        html = ticket_figures_page.render(None, params, table.message)
        return web.Response(text=html, status=table.status, content_type="text/html",
                            headers={"Cache-Control": "no-store"})
    html = ticket_figures_page.render(table, params, None)
    return web.Response(text=html, content_type="text/html",
                        headers={"Cache-Control": "no-store"})


async def figures_css(request: web.Request) -> web.Response:
    return web.Response(body=asset("figures.css"), content_type="text/css", charset="utf-8")


_COUNT_SCHEMA = {"type": "object", "properties": {
    "numerator": {"type": "number"}, "denominator": {"type": "integer"},
    "value": {"type": ["number", "null"]}}}
_ROW_SCHEMA = {"type": "object", "properties": {
    "group": {"type": ["string", "null"]}, "tickets": {"type": "integer"},
    "figures": {"type": "object", "additionalProperties": _COUNT_SCHEMA}}}
FIGURE_ROUTES: tuple[ApiRoute, ...] = (
    ApiRoute("GET", "/api/figures", figures_api, "Ticket figures (统计报表)",
             "及时签收率, 按时办结率, 满意率, 解决率, 回访率, 一次办结率, 退单率 and the average "
             "handling time in working days, each with its numerator and denominator, by "
             "group, and their total; counted over the tickets the caller may see. "
             "Definitions: docs/figures.md. `format=csv`: the same as CSV (UTF-8 with BOM).",
             tag="figures",
             params=(Param("by", "query", "the grouping",
                           {"enum": [g.value for g in GroupBy]}),
                     Param("period", "query", "with by=period: day, week (from Monday), month",
                           {"enum": [p.value for p in Period]}),
                     Param("from", "query", "first local (Asia/Shanghai) date, included",
                           {"type": "string", "format": "date"}),
                     Param("to", "query", "last local date, included",
                           {"type": "string", "format": "date"}),
                     Param("format", "query", "json (default) or csv",
                           {"enum": ["json", "csv"]})),
             responses={"503": "no tickets database, or one that cannot be used"},
             response_schema={"type": "object", "properties": {
                 "by": {"type": "string"}, "period": {"type": ["string", "null"]},
                 "from": {"type": ["string", "null"]}, "to": {"type": ["string", "null"]},
                 "figures": {"type": "array", "items": {"type": "object"}},
                 "rows": {"type": "array", "items": _ROW_SCHEMA}, "total": _ROW_SCHEMA}}),
)
