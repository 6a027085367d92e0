"""The live part of the state (waiting callers, seats, calls being decided) as JSON-ready
data and back, for the state store. Decided calls are stored apart, one by one
(:class:`.figures.DecidedCall`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .queues import Caller
from .seats import Membership, Seat, SeatState
from .state import PendingCall, QueueState

__all__ = ["live_state", "load_live_state"]


def live_state(state: QueueState) -> dict[str, Any]:
    """The live part of the state (records are stored apart, one by one)."""
    return {
        "version": 1,
        "seq": state.seq,
        "queues": {
            q.name: [
                [c.uniqueid, c.channel, c.number, c.name, c.joined_at, c.position]
                for c in q.callers.values()
            ]
            for q in state.queues.values()
        },
        "seats": [
            {
                "interface": s.interface,
                "name": s.name,
                "device_status": s.device_status,
                "memberships": [
                    [m.queue, m.penalty, m.paused, m.paused_reason, m.membership,
                     m.calls_taken, m.wrapup_s, m.in_call]
                    for m in s.memberships.values()
                ],
                "ringing": s.ringing,
                "talking": [s.talking, s.talking_channel, s.talking_queue],
                "wrap_until": s.wrap_until,
                "state": s.state.value,
                "since": s.since,
            }
            for s in state.seats.values()
        ],
        "pending": [[p.queue, p.uniqueid, p.joined_at, p.left_at]
                    for p in state.pending.values()],
        "decided": [[q, u, t] for (q, u), t in state.decided.items()],
        "episodes": [[q, u, n] for u, per in state.episodes.items() for q, n in per.items()],
    }

def load_live_state(state: QueueState, data: Mapping[str, Any]) -> None:
    """Replace the live part with ``data`` (from :meth:`to_dict`); records are kept."""
    if data.get("version") != 1:
        raise ValueError(f"stored state version {data.get('version')!r} is not 1")
    for q in state.queues.values():
        q.callers.clear()
    state.caller_queue.clear()
    for name, callers in data["queues"].items():
        q = state.queue(name)
        for uid, channel, number, cname, joined, pos in callers:
            q.callers[uid] = Caller(uid, channel, number, cname, float(joined), int(pos))
            state.caller_queue[uid] = name
    state.seats.clear()
    state.seat_channels.clear()
    for s in data["seats"]:
        seat = Seat(s["interface"], s["name"], int(s["device_status"]))
        for q, pen, paused, reason, ms, taken, wrap, in_call in s["memberships"]:
            state.queue(q)
            seat.memberships[q] = Membership(q, int(pen), bool(paused), reason, ms,
                                             int(taken), float(wrap), bool(in_call))
        seat.ringing = dict(s["ringing"])
        seat.talking, seat.talking_channel, seat.talking_queue = s["talking"]
        seat.wrap_until = float(s["wrap_until"])
        seat.state, seat.since = SeatState(s["state"]), float(s["since"])
        for ch in seat.ringing.values():
            state.seat_channels[ch] = seat.interface
        if seat.talking_channel:
            state.seat_channels[seat.talking_channel] = seat.interface
        state.seats[seat.interface] = seat
    state.pending = {(q, u): PendingCall(q, u, j, float(t)) for q, u, j, t in data["pending"]}
    state.decided = {(q, u): float(t) for q, u, t in data["decided"]}
    state.episodes = {}
    for q, u, n in data["episodes"]:
        state.episodes.setdefault(u, {})[q] = int(n)
    state.seq = max(state.seq, int(data.get("seq", 0)))
