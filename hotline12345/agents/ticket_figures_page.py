"""The 统计报表 page: HTML rendered on the server, with one bar chart per figure in inline
SVG. No script at all: the form is a plain GET of the same parameters as ``/api/figures``,
so the page works under the wallboard's Content-Security-Policy (``script-src 'self'``,
``style-src 'self'``: the charts use SVG presentation attributes, never ``style``), needs
no CDN and no build step. Hand-written rather than a charting library: a bar per group is
a few lines of SVG, and a library would need a script the policy has to allow.

Groups are rows of horizontal bars; periods (day, week, month) are columns left to right.
A figure whose denominator is 0 has no bar and shows "—".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from urllib.parse import urlencode

from hotline12345.tickets.figures import (
    FIGURES,
    Count,
    Figure,
    FigureRow,
    FigureTable,
    GroupBy,
    Period,
)

__all__ = ["GROUP_LABELS", "NO_GROUP", "TOTAL", "render", "shown_value"]

GROUP_LABELS = {GroupBy.DEPARTMENT: "承办单位", GroupBy.CATEGORY: "类别",
                GroupBy.LEGACY_NUMBER: "原热线号码", GroupBy.PERIOD: "时段"}
PERIOD_LABELS = {Period.DAY: "日", Period.WEEK: "周（周一起）", Period.MONTH: "月"}
NO_GROUP = "（无）"
TOTAL = "合计"
_UNITS = {f.key: f.unit for f in FIGURES}
_BAR = "#0b3d91"
_AXIS = "#999999"
_TEXT = "#222222"
_CHART_W = 640
_LABEL_W = 170
_ROW_H = 22
_COLUMNS_H = 180


def shown_value(key: str, count: Count) -> str:
    """A figure as shown: a percentage (1 decimal), or working days (2 decimals); "" when
    its denominator is 0."""
    value = count.value
    if value is None:
        return ""
    return f"{value:.2f}" if _UNITS[key] == "working_days" else f"{value * 100:.1f}%"


def _fraction(key: str, count: Count) -> str:
    num = f"{count.numerator:g}" if isinstance(count.numerator, float) else str(count.numerator)
    return f"{num}/{count.denominator}"


def _options(values: Sequence[tuple[str, str]], chosen: str) -> str:
    return "".join(f'<option value="{escape(v)}"{" selected" if v == chosen else ""}>'
                   f"{escape(label)}</option>" for v, label in values)


def _form(params: Mapping[str, str]) -> str:
    by = params.get("by") or GroupBy.DEPARTMENT.value
    period = params.get("period") or Period.DAY.value
    csv_params = {k: v for k in ("by", "period", "from", "to")
                  if (v := params.get(k)) and (k != "period" or by == GroupBy.PERIOD.value)}
    csv_href = "/api/figures?" + urlencode({**csv_params, "format": "csv"})
    return (
        '<form method="get" action="/figures" class="filters">'
        f'<label>分组 <select name="by">'
        f'{_options([(g.value, GROUP_LABELS[g]) for g in GroupBy], by)}</select></label>'
        f'<label>时段 <select name="period">'
        f'{_options([(p.value, PERIOD_LABELS[p]) for p in Period], period)}</select></label>'
        f'<label>起 <input type="date" name="from" value="{escape(params.get("from", ""))}">'
        '</label>'
        f'<label>止 <input type="date" name="to" value="{escape(params.get("to", ""))}">'
        '</label>'
        '<button type="submit">查询</button>'
        f'<a class="export" href="{escape(csv_href)}">导出 CSV</a>'
        '<span class="hint">日期为北京时间，含起止两日；时段仅在按时段分组时使用</span>'
        '</form>')


def _name(row: FigureRow) -> str:
    return row.group if row.group is not None else NO_GROUP


def _table(table: FigureTable) -> str:
    head = "".join(f'<th title="{escape(f"分子：{f.numerator}；分母：{f.denominator}")}">'
                   f"{escape(f.label)}</th>" for f in FIGURES)
    lines = [f"<tr><th>{escape(GROUP_LABELS[table.query.by])}</th><th>工单数</th>{head}</tr>"]
    for row, css in [*((r, "") for r in table.rows), (table.total, ' class="total"')]:
        name = TOTAL if row is table.total else _name(row)
        cells = "".join(
            f'<td><span class="value">{escape(shown_value(f.key, row.counts[f.key]) or "—")}'
            f'</span> <span class="fraction">{escape(_fraction(f.key, row.counts[f.key]))}'
            "</span></td>" for f in FIGURES)
        lines.append(f"<tr{css}><th>{escape(name)}</th><td>{row.tickets}</td>{cells}</tr>")
    return f'<table class="report">{"".join(lines)}</table>'


def _scale(figure: Figure, rows: Sequence[FigureRow]) -> float:
    if figure.unit != "working_days":
        return 1.0
    values = [v for r in rows if (v := r.counts[figure.key].value) is not None]
    return max(values, default=0.0) or 1.0


def _bars(figure: Figure, rows: Sequence[FigureRow]) -> str:
    """Horizontal bars, one row per group."""
    top = _scale(figure, rows)
    plot = _CHART_W - _LABEL_W - 80
    height = max(1, len(rows)) * _ROW_H + 4
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_CHART_W} {height}" '
             f'width="{_CHART_W}" height="{height}" role="img" '
             f'aria-label="{escape(figure.label)}">']
    for i, row in enumerate(rows):
        y = i * _ROW_H + 2
        count = row.counts[figure.key]
        label = _name(row)
        shown = shown_value(figure.key, count) or "—"
        parts.append(f'<text x="{_LABEL_W - 6}" y="{y + 15}" text-anchor="end" '
                     f'font-size="12" fill="{_TEXT}">{escape(label[:14])}</text>')
        if count.value is not None:
            width = round(plot * min(count.value / top, 1.0), 1)
            parts.append(f'<rect x="{_LABEL_W}" y="{y + 3}" width="{width}" height="{_ROW_H - 6}"'
                         f' fill="{_BAR}"><title>{escape(label)}：{escape(shown)}（'
                         f"{escape(_fraction(figure.key, count))}）</title></rect>")
        else:
            width = 0
        parts.append(f'<text x="{_LABEL_W + width + 4}" y="{y + 15}" font-size="12" '
                     f'fill="{_TEXT}">{escape(shown)}</text>')
    parts.append(f'<line x1="{_LABEL_W}" y1="0" x2="{_LABEL_W}" y2="{height}" '
                 f'stroke="{_AXIS}"/></svg>')
    return "".join(parts)


def _columns(figure: Figure, rows: Sequence[FigureRow]) -> str:
    """Columns left to right, one per period; every n-th period labelled below."""
    top = _scale(figure, rows)
    n = max(1, len(rows))
    left, bottom = 40, 30
    plot_w = _CHART_W - left - 10
    step = plot_w / n
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_CHART_W} '
             f'{_COLUMNS_H + bottom}" width="{_CHART_W}" height="{_COLUMNS_H + bottom}" '
             f'role="img" aria-label="{escape(figure.label)}">']
    top_label = "100%" if figure.unit != "working_days" else f"{top:.1f}"
    parts.append(f'<text x="{left - 4}" y="12" text-anchor="end" font-size="11" '
                 f'fill="{_TEXT}">{top_label}</text>')
    every = max(1, round(n / 8))
    for i, row in enumerate(rows):
        count = row.counts[figure.key]
        x = left + i * step
        if count.value is not None:  # 0 % is a hairline, no value (0/0) is "—"
            h = max(round((_COLUMNS_H - 10) * min(count.value / top, 1.0), 1), 1.5)
            parts.append(f'<rect x="{x + step * 0.1:.1f}" y="{_COLUMNS_H - h:.1f}" '
                         f'width="{max(step * 0.8, 1):.1f}" height="{h}" fill="{_BAR}">'
                         f"<title>{escape(_name(row))}：{escape(shown_value(figure.key, count))}"
                         f"（{escape(_fraction(figure.key, count))}）</title></rect>")
        elif step >= 12:
            parts.append(f'<text x="{x + step / 2:.1f}" y="{_COLUMNS_H - 4}" font-size="11" '
                         f'text-anchor="middle" fill="{_AXIS}">—</text>')
        if i % every == 0:
            parts.append(f'<text x="{x + step / 2:.1f}" y="{_COLUMNS_H + 16}" font-size="11" '
                         f'text-anchor="middle" fill="{_TEXT}">{escape(_name(row))}</text>')
    parts.append(f'<line x1="{left}" y1="{_COLUMNS_H}" x2="{_CHART_W - 10}" '
                 f'y2="{_COLUMNS_H}" stroke="{_AXIS}"/></svg>')
    return "".join(parts)


def _charts(table: FigureTable) -> str:
    draw = _columns if table.query.by is GroupBy.PERIOD else _bars
    rows = table.rows
    figures = "".join(
        f'<figure class="chart"><figcaption>{escape(f.label)}'
        f'{"（工作日）" if f.unit == "working_days" else ""}</figcaption>'
        f"{draw(f, rows)}</figure>" for f in FIGURES)
    return f'<div class="charts">{figures}</div>'


def _definitions() -> str:
    items = "".join(f"<dt>{escape(f.label)}</dt><dd>分子：{escape(f.numerator)}；"
                    f"分母：{escape(f.denominator)}</dd>" for f in FIGURES)
    return (f'<dl class="definitions">{items}</dl><p class="hint">合并（并单）的工单只计其主单；'
            "分母为 0 时不计算（—）。</p>")


def render(table: FigureTable | None, params: Mapping[str, str], error: str | None) -> str:
    """The whole page: the form (filled with ``params``), then either ``error`` or the
    table, the charts and the definitions."""
    if error is not None or table is None:
        body = f'<section class="banner" role="alert">{escape(error or "")}</section>'
    else:
        q = table.query
        span = (f"{q.start.isoformat() if q.start else '最早'} 至 "
                f"{q.end.isoformat() if q.end else '最近'}")
        body = (f"<section><h2>统计表（受理日期 {escape(span)}，共 {table.total.tickets} 件）</h2>"
                f"{_table(table)}</section>"
                f"<section><h2>图表</h2>{_charts(table) if table.rows else '<p>没有工单。</p>'}"
                f"</section><section><h2>口径</h2>{_definitions()}</section>")
    return (
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>12345 热线 · 统计报表</title>"
        '<link rel="stylesheet" href="/static/style.css">'
        '<link rel="stylesheet" href="/figures/figures.css"></head><body>'
        "<header><h1>12345 热线 · 工单统计报表</h1><span class=\"spacer\"></span>"
        '<a href="/">实时监控</a>'
        '<form method="post" action="/logout"><button type="submit">退出</button></form>'
        f"</header><section>{_form(params)}</section>{body}</body></html>")
