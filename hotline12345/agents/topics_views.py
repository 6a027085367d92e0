"""The 热点 page beside the wallboard and its JSON API, over a :class:`TopicsAccess`.

=============================  ======  ===========================================
``/topics``                    GET     the page: hot terms (ranked, a sparkline each)
                                       and the surge warnings linking to their tickets
``/api/topics``                GET     ``?window=today|7d`` (default today): hot terms
``/api/surges``                GET     the surge warnings with their evidence
=============================  ======  ===========================================

Every logged-in user may read them (the middleware's rules apply). The page is rendered
here, with the sparklines as inline SVG (no script, nothing the CSP refuses), and reloads
itself every 5 minutes (a screen beside the wallboard). A database
that is away, refuses or is not migrated is a 503 naming what to check; without a
:class:`TopicsAccess` the routes answer 503 saying how to configure one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from html import escape
from typing import Protocol

from aiohttp import web
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from hotline12345.analytics.hot import HotTopics, Window
from hotline12345.analytics.surges import SurgeWarning
from hotline12345.db.engine import error_text
from hotline12345.logs import log_event, mask_text

from .snapshots import dumps
from .web_context import json_error, web_log

__all__ = ["TOPICS_KEY", "TOPICS_NOT_CONFIGURED", "TopicsAccess", "register", "sparkline"]

TOPICS_NOT_CONFIGURED = (
    "hot topics are not configured in this process: pass topics=TopicsService(engine) "
    "(hotline12345.analytics.service) to build_app")
_WINDOWS = {w.value: w for w in Window}
_SPAN_LABELS = {"hour": "近 1 小时", "day": "近 24 小时"}
_OPERATIONS_ERRORS = (DBAPIError, DisconnectionError, PoolTimeout)


class TopicsAccess(Protocol):
    """What the page reads; :class:`hotline12345.analytics.service.TopicsService` is one.
    Both methods block (they run in a worker thread)."""

    def hot(self, window: Window) -> HotTopics: ...

    def surges(self) -> list[SurgeWarning]: ...


class _Holder:
    def __init__(self, access: TopicsAccess | None) -> None:
        self.access = access


TOPICS_KEY = web.AppKey("agents_topics", _Holder)


def register(app: web.Application, access: TopicsAccess | None) -> None:
    """Add the routes to ``app``, reading through ``access``."""
    app[TOPICS_KEY] = _Holder(access)
    app.router.add_get("/topics", topics_page)
    app.router.add_get("/api/topics", api_topics)
    app.router.add_get("/api/surges", api_surges)


def _window(request: web.Request) -> Window | web.Response:
    raw = request.query.get("window", "today")
    window = _WINDOWS.get(raw)
    if window is None:
        return json_error(400, "window", f"'window' must be one of {', '.join(_WINDOWS)}, "
                                         f"got {raw[:40]!r}")
    return window


def _unavailable(exc: Exception) -> web.Response:
    reason = mask_text(error_text(exc))
    log_event(web_log, "agents.topics.unavailable", logging.WARNING, error=reason)
    return json_error(503, "database", f"the tickets database cannot be used ({reason}); "
                                       "check HOTLINE12345_DATABASE_URL and run "
                                       "hotline12345 db upgrade")


async def _read(request: web.Request, window: Window | None, *, surges: bool
                ) -> tuple[HotTopics | None, list[SurgeWarning]] | web.Response:
    """The hot topics of ``window`` (None: not read) and, if asked, the surge warnings."""
    access = request.app[TOPICS_KEY].access
    if access is None:
        return json_error(503, "topics", TOPICS_NOT_CONFIGURED)
    try:
        hot = await asyncio.to_thread(access.hot, window) if window is not None else None
        warnings = await asyncio.to_thread(access.surges) if surges else []
    except _OPERATIONS_ERRORS as exc:
        return _unavailable(exc)
    return hot, warnings


async def api_topics(request: web.Request) -> web.Response:
    window = _window(request)
    if isinstance(window, web.Response):
        return window
    read = await _read(request, window, surges=False)
    if isinstance(read, web.Response):
        return read
    hot, _ = read
    assert hot is not None
    return web.json_response(hot.to_dict(), dumps=dumps)


async def api_surges(request: web.Request) -> web.Response:
    read = await _read(request, None, surges=True)
    if isinstance(read, web.Response):
        return read
    _, surges = read
    return web.json_response({"surges": [w.to_payload() for w in surges],
                              "count": len(surges)}, dumps=dumps)


async def topics_page(request: web.Request) -> web.Response:
    window = _window(request)
    if isinstance(window, web.Response):
        return window
    read = await _read(request, window, surges=True)
    if isinstance(read, web.Response):
        return read
    hot, surges = read
    assert hot is not None
    return web.Response(text=render_page(hot, surges), content_type="text/html",
                        charset="utf-8", headers={"Cache-Control": "no-store"})


def sparkline(values: Sequence[int], width: int = 140, height: int = 28) -> str:
    """An inline SVG polyline of ``values`` (one point a day), the last point marked."""
    if not values:
        return ""
    top = max(max(values), 1)
    step = width / max(len(values) - 1, 1)
    points = [(round(i * step, 1), round(height - 2 - (v / top) * (height - 4), 1))
              for i, v in enumerate(values)]
    path = " ".join(f"{x},{y}" for x, y in points)
    x, y = points[-1]
    return (f'<svg class="sparkline" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" role="img" aria-label="每日工单数">'
            f'<polyline points="{path}" fill="none" stroke="currentColor" stroke-width="1.5"/>'
            f'<circle cx="{x}" cy="{y}" r="2.5" fill="currentColor"/></svg>')


def _terms_table(hot: HotTopics) -> str:
    if not hot.terms:
        why = ("基线期内还没有工单，暂无法比较" if hot.baseline_tickets == 0
               else "本时段没有明显高于基线的词")
        return f"<p>{why}（本时段工单 {hot.tickets} 件）。</p>"
    rows = []
    for rank, term in enumerate(hot.terms, start=1):
        share = term.count / hot.tickets if hot.tickets else 0.0
        base = term.baseline_count / hot.baseline_tickets if hot.baseline_tickets else 0.0
        rows.append(
            f"<tr><td>{rank}</td><td>{escape(term.term)}</td><td>{escape(term.kind or '')}</td>"
            f"<td>{term.count}</td><td>{share:.1%}</td><td>{base:.1%}</td>"
            f"<td>{term.g2:.1f}</td><td>{sparkline(term.daily)}</td></tr>")
    return ("<table class=\"figures\"><thead><tr><th>排名</th><th>词</th><th>类型</th>"
            "<th>工单数</th><th>占比</th><th>基线占比</th><th>G²</th><th>每日走势</th></tr>"
            f"</thead><tbody>{''.join(rows)}</tbody></table>")


def _surges_table(surges: Sequence[SurgeWarning]) -> str:
    if not surges:
        return "<p>当前没有预警。</p>"
    rows = []
    for w in surges:
        links = " ".join(f'<a href="/tickets/{i}">#{i}</a>' for i in w.ticket_ids)
        rows.append(
            f"<tr><td>{escape(w.label)}</td><td>{escape(w.value)}</td>"
            f"<td>{_SPAN_LABELS[w.span.value]}</td><td>{w.count}</td>"
            f"<td>{w.baseline_mean:.2f}（前 {w.baseline_weeks} 周同时段）</td>"
            f"<td>{w.p_value:.1e}</td><td>{links}</td></tr>")
    return ("<table class=\"figures\"><thead><tr><th>维度</th><th>对象</th><th>时段</th>"
            "<th>工单数</th><th>基线均值</th><th>p 值</th><th>工单</th></tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>")


def render_page(hot: HotTopics, surges: Sequence[SurgeWarning]) -> str:
    """The 热点 page as HTML (every value escaped)."""
    title = "今日" if hot.window is Window.TODAY else "近 7 日"
    switch = " | ".join(
        f"<strong>{label}</strong>" if w is hot.window else f'<a href="/topics?window={w.value}">'
        f"{label}</a>" for w, label in ((Window.TODAY, "今日"), (Window.WEEK, "近 7 日")))
    return f"""<!doctype html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="refresh" content="300">
<title>12345 热线 · 热点与预警</title>
<link rel="stylesheet" href="/static/style.css">
</head>
<body>
<header>
  <h1>12345 热线 · 热点与预警</h1>
  <a href="/">坐席与队列监控</a>
  <span class="spacer"></span>
  <span>{switch}</span>
</header>
<section>
  <h2>预警</h2>
  {_surges_table(surges)}
</section>
<section>
  <h2>{title}热点（对比前 {(hot.start - hot.baseline_start).days} 天基线，对数似然比 G² 排序）</h2>
  <p>本时段工单 {hot.tickets} 件，基线期 {hot.baseline_tickets} 件。</p>
  {_terms_table(hot)}
</section>
</body>
</html>
"""
