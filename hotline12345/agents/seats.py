"""A seat (坐席) as the wallboard shows it: its queue memberships and its derived state.

A seat's state is derived, in this order of precedence: 离线 offline (device unavailable
or invalid), 通话中 talking (connected to a queue caller, or device in use), 振铃 ringing,
暂停 paused (paused in every queue it belongs to; the reason is kept), 话后处理 wrap-up
(for the queue's ``Wrapuptime`` after a call), else 空闲 idle. ``since`` is when the
derived state last changed.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

__all__ = ["SEAT_STATE_LABELS", "Membership", "Seat", "SeatState"]


# Asterisk device states (AST_DEVICE_*), as QueueMember* events report them in Status.
DEVICE_UNKNOWN, DEVICE_NOT_INUSE, DEVICE_INUSE, DEVICE_BUSY = 0, 1, 2, 3
DEVICE_INVALID, DEVICE_UNAVAILABLE, DEVICE_RINGING, DEVICE_RINGINUSE, DEVICE_ONHOLD = 4, 5, 6, 7, 8
_OFFLINE_DEVICE = frozenset({DEVICE_INVALID, DEVICE_UNAVAILABLE})
_TALKING_DEVICE = frozenset({DEVICE_INUSE, DEVICE_BUSY, DEVICE_RINGINUSE, DEVICE_ONHOLD})


class SeatState(enum.StrEnum):
    IDLE = "idle"
    RINGING = "ringing"
    TALKING = "talking"
    PAUSED = "paused"
    WRAPUP = "wrapup"
    OFFLINE = "offline"


SEAT_STATE_LABELS: Final[Mapping[str, str]] = {
    "idle": "空闲",
    "ringing": "振铃",
    "talking": "通话中",
    "paused": "暂停",
    "wrapup": "话后处理",
    "offline": "离线",
}


@dataclass(slots=True)
class Membership:
    queue: str
    penalty: int = 0
    paused: bool = False
    paused_reason: str = ""
    membership: str = ""
    calls_taken: int = 0
    wrapup_s: float = 0.0
    in_call: bool = False
    touched: int = 0


@dataclass(slots=True)
class Seat:
    interface: str
    name: str
    device_status: int = DEVICE_UNKNOWN
    memberships: dict[str, Membership] = field(default_factory=dict)
    ringing: dict[str, str] = field(default_factory=dict)  # caller uniqueid -> seat channel
    talking: str = ""  # caller uniqueid while connected
    talking_channel: str = ""
    talking_queue: str = ""
    wrap_until: float = 0.0
    state: SeatState = SeatState.IDLE
    since: float = 0.0

    def derive(self, now: float) -> SeatState:
        if self.device_status in _OFFLINE_DEVICE:
            return SeatState.OFFLINE
        if self.talking:
            return SeatState.TALKING
        if self.ringing:
            return SeatState.RINGING
        if self.device_status in _TALKING_DEVICE or any(
            m.in_call for m in self.memberships.values()
        ):
            return SeatState.TALKING
        if self.device_status == DEVICE_RINGING:
            return SeatState.RINGING
        if self.memberships and all(m.paused for m in self.memberships.values()):
            return SeatState.PAUSED
        if now < self.wrap_until:
            return SeatState.WRAPUP
        return SeatState.IDLE

    def current(self, now: float) -> tuple[SeatState, float]:
        """State and since at ``now``: the only change without an event is the end of
        wrap-up, which happened at ``wrap_until``."""
        state = self.derive(now)
        if state == self.state:
            return state, self.since
        if self.state == SeatState.WRAPUP and now >= self.wrap_until:
            return state, self.wrap_until
        return state, now

    def paused_reason(self) -> str:
        reasons = sorted({m.paused_reason for m in self.memberships.values() if m.paused})
        return "、".join(r for r in reasons if r)

