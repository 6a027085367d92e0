"""The wallboard's snapshot: everything the wallboard and the JSON API show at one time,
from a :class:`.state.QueueState` — queues with their waiting callers and figures, seats,
the Chinese alert texts, and the chart. Callers' numbers and names are masked here."""

from __future__ import annotations

import datetime as dt
from typing import Any, Final

from hotline12345.logs import mask_name, mask_number, mask_text

from .figures import WINDOWS, Totals
from .seats import SEAT_STATE_LABELS
from .state import QueueState

__all__ = ["ANSWER_RATE_ALERT", "CHART_BUCKET_S", "chart", "wallboard_snapshot"]

ANSWER_RATE_ALERT: Final = 0.95
CHART_BUCKET_S: Final = 900.0


def chart(state: QueueState, now: float, hours: int = 8) -> list[dict[str, Any]]:
    """Calls offered and answered per 15 minutes (site-local quarter hours)."""
    offset = dt.datetime.fromtimestamp(now, state.tz).utcoffset() or dt.timedelta()
    off = offset.total_seconds()
    current = ((now + off) // CHART_BUCKET_S) * CHART_BUCKET_S - off
    n = int(hours * 3600 / CHART_BUCKET_S)
    out = []
    for i in range(n - 1, -1, -1):
        start = current - i * CHART_BUCKET_S
        # Bucket [start, start+900): totals over (start-ε, end-ε].
        t: Totals = state.overall.totals(start - 1e-6, min(start + CHART_BUCKET_S, now + 1e-6)
                                        - 1e-6)
        label = dt.datetime.fromtimestamp(start, state.tz).strftime("%H:%M")
        out.append({"start": start, "label": label, "offered": t.offered,
                    "answered": t.answered})
    return out


def wallboard_snapshot(state: QueueState, now: float, *, chart_hours: int = 8) -> dict[str, Any]:
    """Everything the wallboard and the JSON API show, at ``now``. Callers' numbers are
    masked (``139****9000``) and only their names' first character is shown; numbers in
    seat interfaces, member names and pause reasons are masked too
    (``PJSIP/139****5678``, ``回拨139****5678``)."""
    queues = []
    alerts: list[dict[str, Any]] = []
    for q in sorted(state.queues.values(), key=lambda r: (not r.configured, r.name)):
        figures = {w: state.figures(q.name, w, now).to_dict() for w in WINDOWS}
        longest = round(q.longest_wait(now), 3)
        waiting = [
            {
                "uniqueid": c.uniqueid,
                "caller": _masked_number(c.number),
                "name": mask_name(c.name),
                "position": c.position,
                "wait_s": round(max(0.0, now - c.joined_at), 3),
                "joined_at": c.joined_at,
            }
            for c in sorted(q.callers.values(), key=lambda c: (c.position, c.joined_at))
        ]
        if longest > q.target_s:
            alerts.append({
                "kind": "wait",
                "queue": q.name,
                "text": f"{q.label}：最长等待 {int(longest)} 秒，超过目标 {int(q.target_s)} 秒",
            })
        rate = figures["15m"]["answer_rate"]
        if rate is not None and rate < ANSWER_RATE_ALERT:
            alerts.append({
                "kind": "answer_rate",
                "queue": q.name,
                "text": f"{q.label}：近15分钟接通率 {rate * 100:.1f}%，低于 95%",
            })
        queues.append({
            "name": q.name,
            "label": q.label,
            "target_s": q.target_s,
            "configured": q.configured,
            "waiting": waiting,
            "longest_wait_s": longest,
            "figures": figures,
            "members": sorted(
                mask_text(s.interface) for s in state.seats.values()
                if q.name in s.memberships
            ),
        })
    seats = []
    for s in sorted(state.seats.values(), key=lambda s: (s.name, s.interface)):
        seat_state, since = s.current(now)
        seats.append({
            "interface": mask_text(s.interface),
            "name": mask_text(s.name),
            "state": seat_state.value,
            "state_label": SEAT_STATE_LABELS[seat_state.value],
            "since": since,
            "time_in_state_s": round(max(0.0, now - since), 3),
            "paused_reason": mask_text(s.paused_reason()),
            "queues": [
                {"queue": m.queue, "penalty": m.penalty, "paused": m.paused,
                 "paused_reason": mask_text(m.paused_reason),
                 "calls_taken": m.calls_taken}
                for m in sorted(s.memberships.values(), key=lambda m: m.queue)
            ],
        })
    overall = {w: state.figures(None, w, now).to_dict() for w in WINDOWS}
    return {
        "now": now,
        "timezone": str(state.tz),
        "queues": queues,
        "seats": seats,
        "overall": overall,
        "alerts": alerts,
        "chart": {"bucket_s": CHART_BUCKET_S, "buckets": chart(state, now, chart_hours)},
    }


def _masked_number(number: str) -> str:
    if not number or number in ("<unknown>", "unknown"):
        return ""
    return mask_number(number)
