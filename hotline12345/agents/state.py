"""The live state of queues and seats, a pure function of AMI events and a clock.

``QueueState.apply(message, now)`` updates the model from one AMI message; nothing here
reads a clock, a socket or a global, so replaying the same events at the same times gives
exactly the same state (the tests replay the real Asterisk 22 captures).

Events used (Asterisk 22 field names):

- callers: ``QueueCallerJoin``, ``QueueCallerLeave``, ``QueueCallerAbandon``, ``Hangup``;
- seats: ``QueueMemberAdded/Removed/Status/Pause/Penalty/Ringinuse``, ``AgentCalled``,
  ``AgentConnect``, ``AgentComplete``, ``AgentRingNoAnswer``, ``AgentDump``, ``Hangup``;
- resync: ``QueueParams``, ``QueueMember``, ``QueueEntry``, ``QueueStatusComplete`` (the
  reply list of a ``QueueStatus`` action). When the list completes, callers and seats of
  each listed queue that the list did not mention, and that no event touched since the
  list began, are dropped: after a reconnect the model is exactly Asterisk's.

A seat's state is derived, in this order of precedence: 离线 offline (device unavailable
or invalid), 通话中 talking (connected to a queue caller, or device in use), 振铃 ringing,
暂停 paused (paused in every queue it belongs to; the reason is kept), 话后处理 wrap-up
(for the queue's ``Wrapuptime`` after a call), else 空闲 idle. ``since`` is when the
derived state last changed.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from hotline12345.logs import mask_name, mask_number, mask_text

from .codec import AmiMessage
from .figures import (
    SITE_TZ,
    WINDOWS,
    CallRecord,
    Figures,
    Ledger,
    Outcome,
    Totals,
    window_start,
)

__all__ = [
    "SEAT_STATE_LABELS",
    "Caller",
    "Membership",
    "QueueDef",
    "QueueRuntime",
    "QueueState",
    "Seat",
    "SeatState",
    "queue_defs",
]

DEFAULT_TARGET_S: Final = 15.0
ANSWER_RATE_ALERT: Final = 0.95
CHART_BUCKET_S: Final = 900.0

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


@dataclass(frozen=True, slots=True)
class QueueDef:
    name: str
    label: str
    service_level_s: float = DEFAULT_TARGET_S


class _SiteQueue(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def label(self) -> str: ...
    @property
    def service_level_s(self) -> int: ...


def queue_defs(source: object) -> tuple[QueueDef, ...]:
    """Queue definitions from the site (``site.queues``: objects with ``name``, ``label``,
    ``service_level_s``, optionally ``expert_seats``), from a mapping ``name → (label,
    target seconds)``, from an iterable of :class:`QueueDef`, or ``None`` (no queues
    configured: queues seen on the AMI are still shown, labelled by their names).

    A site queue with expert seats also has its Asterisk queue ``<name>-expert``."""
    if source is None:
        return ()
    if isinstance(source, Mapping):
        out = []
        for name, value in source.items():
            if isinstance(value, QueueDef):
                out.append(value)
                continue
            label, target = value
            out.append(QueueDef(str(name), str(label), float(target)))
        return tuple(out)
    queues: Any = getattr(source, "queues", source)
    result: list[QueueDef] = []
    for q in queues:
        if isinstance(q, QueueDef):
            result.append(q)
            continue
        name = str(q.name)
        label = str(getattr(q, "label", "") or name)
        target = float(getattr(q, "service_level_s", DEFAULT_TARGET_S))
        result.append(QueueDef(name, label, target))
        if getattr(q, "expert_seats", ()):
            result.append(QueueDef(f"{name}-expert", f"{label}（专家座席）", target))
    return tuple(result)


@dataclass(slots=True)
class Caller:
    uniqueid: str
    channel: str
    number: str
    name: str
    joined_at: float
    position: int
    touched: int = 0


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


@dataclass(slots=True)
class QueueRuntime:
    name: str
    label: str
    target_s: float
    configured: bool
    callers: dict[str, Caller] = field(default_factory=dict)
    ledger: Ledger = field(default_factory=Ledger)

    def longest_wait(self, now: float) -> float:
        if not self.callers:
            return 0.0
        return max(0.0, now - min(c.joined_at for c in self.callers.values()))


@dataclass(slots=True)
class _Pending:
    """A caller that left the queue: answered if AgentConnect follows, else unanswered."""

    queue: str
    uniqueid: str
    joined_at: float | None
    left_at: float


def _int(value: str, default: int = 0) -> int:
    try:
        return int(value)
    except ValueError:
        return default


def _float(value: str, default: float = 0.0) -> float:
    try:
        return float(value)
    except ValueError:
        return default


Handler = Callable[["QueueState", AmiMessage, float], bool]


class QueueState:
    """Queues, waiting callers, seats and decided calls, from AMI events.

    ``pending_grace_s``: how long after ``QueueCallerLeave`` an ``AgentConnect`` may still
    arrive before the call counts as unanswered (Asterisk sends them back to back).
    """

    def __init__(
        self,
        queues: Iterable[QueueDef] = (),
        *,
        tz: dt.tzinfo = SITE_TZ,
        pending_grace_s: float = 5.0,
    ) -> None:
        self.tz = tz
        self.pending_grace_s = pending_grace_s
        self.queues: dict[str, QueueRuntime] = {}
        for q in queues:
            self.queues[q.name] = QueueRuntime(q.name, q.label, q.service_level_s, True)
        self.seats: dict[str, Seat] = {}
        self.overall = Ledger()
        self._record_ids: set[str] = set()
        self.seq = 0
        self.events_applied = 0
        self.new_records: list[CallRecord] = []  # for a shared store; see track_new_records
        self.track_new_records = True
        self._pending: dict[tuple[str, str], _Pending] = {}
        self._decided: dict[tuple[str, str], float] = {}
        self._episodes: dict[str, dict[str, int]] = {}  # uniqueid -> queue -> joins
        self._caller_queue: dict[str, str] = {}  # waiting uniqueid -> queue
        self._seat_channels: dict[str, str] = {}  # seat-side channel -> interface
        self._resync: dict[str, dict[str, int]] = {}

    # ----------------------------------------------------------------- events

    def apply(self, msg: AmiMessage, now: float) -> bool:
        """Apply one AMI message at time ``now`` (epoch seconds). True if the model changed."""
        handler = _HANDLERS.get(msg.name) if msg.kind == "event" else None
        changed = False
        if self._pending:
            changed = self.expire(now)
        if handler is None:
            return changed
        self.seq += 1
        self.events_applied += 1
        return handler(self, msg, now) or changed

    def apply_all(self, messages: Iterable[AmiMessage], now: float) -> bool:
        changed = False
        for m in messages:
            changed = self.apply(m, now) or changed
        return changed

    def expire(self, now: float) -> bool:
        """Count as unanswered the callers that left without an AgentConnect in time."""
        late = [p for p in self._pending.values() if now - p.left_at >= self.pending_grace_s]
        for p in late:
            del self._pending[(p.queue, p.uniqueid)]
            self._decide(p.queue, p.uniqueid, p.joined_at, p.left_at, "unanswered", "", p.left_at)
        return bool(late)

    def queue(self, name: str) -> QueueRuntime:
        q = self.queues.get(name)
        if q is None:
            q = self.queues[name] = QueueRuntime(name, name, DEFAULT_TARGET_S, False)
        return q

    def _decide(
        self,
        queue: str,
        uniqueid: str,
        joined_at: float | None,
        decided_at: float,
        outcome: Outcome,
        interface: str,
        measured_at: float,
        hold_s: float = 0.0,
    ) -> None:
        key = (queue, uniqueid)
        if key in self._decided:
            return
        self._decided[key] = decided_at
        if joined_at is None:
            joined_at = measured_at - hold_s
        q = self.queue(queue)
        record = CallRecord(
            id=f"{queue}|{uniqueid}|{self._episodes.get(uniqueid, {}).get(queue, 1)}",
            queue=queue,
            uniqueid=uniqueid,
            joined_at=joined_at,
            decided_at=decided_at,
            outcome=outcome,
            wait_s=round(max(0.0, measured_at - joined_at), 6),
            target_s=q.target_s,
            interface=interface,
        )
        if self.add_record(record) and self.track_new_records:
            self.new_records.append(record)

    def add_record(self, record: CallRecord) -> bool:
        """Add a decided call (False if a record with its id is already there)."""
        if record.id in self._record_ids:
            return False
        self._record_ids.add(record.id)
        self.queue(record.queue).ledger.add(record)
        self.overall.add(record)
        return True

    def _seat(self, interface: str, name: str = "") -> Seat:
        seat = self.seats.get(interface)
        if seat is None:
            seat = self.seats[interface] = Seat(interface, name or interface)
        elif name:
            seat.name = name
        return seat

    @staticmethod
    def _refresh(seat: Seat, now: float, paused_since: float = 0.0) -> None:
        state, since = seat.current(now)
        if not seat.since:
            # A seat first seen now: its state starts now, or at Asterisk's LastPause.
            seat.state = state
            seat.since = paused_since if state == SeatState.PAUSED and paused_since else now
        elif state != seat.state:
            seat.state, seat.since = state, since

    def _drop_caller(self, queue: str, uniqueid: str) -> Caller | None:
        caller = self.queue(queue).callers.pop(uniqueid, None)
        if caller is not None and self._caller_queue.get(uniqueid) == queue:
            del self._caller_queue[uniqueid]
        return caller

    # callers ---------------------------------------------------------------

    def _on_join(self, msg: AmiMessage, now: float) -> bool:
        h = msg.headers
        name, uid = h.get("Queue", ""), h.get("Uniqueid", "")
        if not name or not uid:
            return False
        key = (name, uid)
        pending = self._pending.pop(key, None)
        if pending is not None:
            self._decide(name, uid, pending.joined_at, pending.left_at, "unanswered", "",
                         pending.left_at)
        self._decided.pop(key, None)
        q = self.queue(name)
        existing = q.callers.get(uid)
        if existing is None:
            self._count_episode(name, uid)
        q.callers[uid] = Caller(
            uniqueid=uid,
            channel=h.get("Channel", ""),
            number=h.get("CallerIDNum", ""),
            name=h.get("CallerIDName", ""),
            joined_at=existing.joined_at if existing else now,
            position=_int(h.get("Position", "0")),
            touched=self.seq,
        )
        self._caller_queue[uid] = name
        return True

    def _on_leave(self, msg: AmiMessage, now: float) -> bool:
        h = msg.headers
        name, uid = h.get("Queue", ""), h.get("Uniqueid", "")
        caller = self._drop_caller(name, uid)
        key = (name, uid)
        if key not in self._decided and key not in self._pending:
            self._pending[key] = _Pending(name, uid, caller.joined_at if caller else None, now)
        self._renumber(name)
        return True

    def _on_abandon(self, msg: AmiMessage, now: float) -> bool:
        h = msg.headers
        name, uid = h.get("Queue", ""), h.get("Uniqueid", "")
        caller = self._drop_caller(name, uid)
        pending = self._pending.pop((name, uid), None)
        joined = caller.joined_at if caller else (pending.joined_at if pending else None)
        self._decide(name, uid, joined, now, "abandoned", "", now,
                     _float(h.get("HoldTime", "0")))
        self._renumber(name)
        return True

    def _count_episode(self, queue: str, uid: str) -> None:
        per_queue = self._episodes.setdefault(uid, {})
        per_queue[queue] = per_queue.get(queue, 0) + 1

    def _renumber(self, queue: str) -> None:
        callers = sorted(
            self.queue(queue).callers.values(), key=lambda c: (c.position, c.joined_at)
        )
        for i, c in enumerate(callers, 1):
            c.position = i

    # seats -----------------------------------------------------------------

    def _on_member(self, msg: AmiMessage, now: float) -> bool:
        h = msg.headers
        queue = h.get("Queue", "")
        interface = h.get("Interface") or h.get("Location", "")
        if not queue or not interface:
            return False
        self.queue(queue)
        seat = self._seat(interface, h.get("MemberName") or h.get("Name", ""))
        m = seat.memberships.get(queue)
        if m is None:
            m = seat.memberships[queue] = Membership(queue)
        if "Penalty" in h:
            m.penalty = _int(h["Penalty"])
        if "Paused" in h:
            m.paused = h["Paused"] == "1"
            m.paused_reason = h.get("PausedReason", "") if m.paused else ""
        m.membership = h.get("Membership", m.membership)
        m.calls_taken = _int(h.get("CallsTaken", ""), m.calls_taken)
        m.wrapup_s = _float(h.get("Wrapuptime", ""), m.wrapup_s)
        if "InCall" in h:
            m.in_call = h["InCall"] == "1"
        m.touched = self.seq
        if "Status" in h:
            seat.device_status = _int(h["Status"])
        if msg.name == "QueueMember":
            # The resync list is authoritative about calls in progress.
            if not m.in_call and seat.talking and seat.talking_queue == queue:
                self._end_talk(seat, now, wrap=False)
            if seat.ringing and seat.device_status != DEVICE_RINGING:
                self._clear_ringing(seat)
        last_pause = _float(h.get("LastPause", "0"))
        self._refresh(seat, now, last_pause if 0 < last_pause <= now else 0.0)
        return True

    def _on_member_removed(self, msg: AmiMessage, now: float) -> bool:
        h = msg.headers
        interface = h.get("Interface") or h.get("Location", "")
        seat = self.seats.get(interface)
        if seat is None:
            return False
        seat.memberships.pop(h.get("Queue", ""), None)
        if not seat.memberships:
            self._forget_seat(seat)
        else:
            self._refresh(seat, now)
        return True

    def _forget_seat(self, seat: Seat) -> None:
        self.seats.pop(seat.interface, None)
        for ch in [c for c, i in self._seat_channels.items() if i == seat.interface]:
            del self._seat_channels[ch]

    def _clear_ringing(self, seat: Seat) -> None:
        for ch in seat.ringing.values():
            self._seat_channels.pop(ch, None)
        seat.ringing.clear()

    def _end_talk(self, seat: Seat, now: float, *, wrap: bool) -> None:
        if wrap:
            m = seat.memberships.get(seat.talking_queue)
            seat.wrap_until = now + (m.wrapup_s if m else 0.0)
        self._seat_channels.pop(seat.talking_channel, None)
        seat.talking = seat.talking_channel = seat.talking_queue = ""

    def _on_agent_called(self, msg: AmiMessage, now: float) -> bool:
        h = msg.headers
        interface = h.get("Interface", "")
        if not interface:
            return False
        seat = self._seat(interface, h.get("MemberName", ""))
        channel = h.get("DestChannel", "")
        seat.ringing[h.get("Uniqueid", "")] = channel
        if channel:
            self._seat_channels[channel] = interface
        self._refresh(seat, now)
        return True

    def _on_ring_no_answer(self, msg: AmiMessage, now: float) -> bool:
        h = msg.headers
        seat = self.seats.get(h.get("Interface", ""))
        if seat is None:
            return False
        channel = seat.ringing.pop(h.get("Uniqueid", ""), None)
        if channel:
            self._seat_channels.pop(channel, None)
        self._refresh(seat, now)
        return True

    def _on_connect(self, msg: AmiMessage, now: float) -> bool:
        h = msg.headers
        name, uid, interface = h.get("Queue", ""), h.get("Uniqueid", ""), h.get("Interface", "")
        key = (name, uid)
        caller = self._drop_caller(name, uid)
        pending = self._pending.pop(key, None)
        joined = caller.joined_at if caller else (pending.joined_at if pending else None)
        self._decide(name, uid, joined, now, "answered", interface, now,
                     _float(h.get("HoldTime", "0")))
        if caller is not None:
            self._renumber(name)
        # Every seat that rang for this caller stops ringing; the one that answered talks.
        for other in self.seats.values():
            ch = other.ringing.pop(uid, None)
            if ch is not None:
                if other.interface != interface:
                    self._seat_channels.pop(ch, None)
                self._refresh(other, now)
        if interface:
            seat = self._seat(interface, h.get("MemberName", ""))
            channel = h.get("DestChannel", "")
            seat.talking, seat.talking_channel, seat.talking_queue = uid, channel, name
            if channel:
                self._seat_channels[channel] = interface
            self._refresh(seat, now)
        return True

    def _on_complete(self, msg: AmiMessage, now: float) -> bool:
        h = msg.headers
        seat = self.seats.get(h.get("Interface", ""))
        if seat is None:
            return False
        if seat.talking == h.get("Uniqueid", "") or not seat.talking:
            if not seat.talking:
                seat.talking_queue = h.get("Queue", "")
            self._end_talk(seat, now, wrap=True)
        self._refresh(seat, now)
        return True

    def _on_hangup(self, msg: AmiMessage, now: float) -> bool:
        h = msg.headers
        changed = False
        channel, uid = h.get("Channel", ""), h.get("Uniqueid", "")
        interface = self._seat_channels.pop(channel, None)
        if interface is not None:
            seat = self.seats.get(interface)
            if seat is not None:
                for caller_uid, ch in list(seat.ringing.items()):
                    if ch == channel:
                        del seat.ringing[caller_uid]
                if seat.talking_channel == channel:
                    self._end_talk(seat, now, wrap=True)
                self._refresh(seat, now)
                changed = True
        queue = self._caller_queue.get(uid)
        if queue is not None:
            # The caller hung up while waiting and we missed QueueCallerAbandon.
            caller = self._drop_caller(queue, uid)
            self._decide(queue, uid, caller.joined_at if caller else None, now, "abandoned",
                         "", now)
            self._renumber(queue)
            changed = True
        if self._pending:
            for key, p in list(self._pending.items()):
                if p.uniqueid == uid:
                    del self._pending[key]
                    self._decide(p.queue, uid, p.joined_at, p.left_at, "unanswered", "",
                                 p.left_at)
                    changed = True
        episodes = self._episodes.pop(uid, None)
        if episodes:
            for queue_name in episodes:
                self._decided.pop((queue_name, uid), None)
        return changed

    # resync ----------------------------------------------------------------

    def _on_params(self, msg: AmiMessage, now: float) -> bool:
        name = msg.headers.get("Queue", "")
        if not name:
            return False
        self.queue(name)
        self._resync.setdefault(msg.action_id, {})[name] = self.seq
        return False

    def _on_entry(self, msg: AmiMessage, now: float) -> bool:
        h = msg.headers
        name = h.get("Queue", "")
        uid = h.get("Uniqueid") or h.get("Channel", "")
        if not name or not uid:
            return False
        q = self.queue(name)
        caller = q.callers.get(uid)
        if caller is None:
            joined = now - _float(h.get("Wait", "0"))
            q.callers[uid] = Caller(uid, h.get("Channel", ""), h.get("CallerIDNum", ""),
                                    h.get("CallerIDName", ""), joined,
                                    _int(h.get("Position", "0")), self.seq)
            self._caller_queue[uid] = name
            key = (name, uid)
            self._count_episode(name, uid)
            self._decided.pop(key, None)
            self._pending.pop(key, None)
        else:
            caller.position = _int(h.get("Position", "0"), caller.position)
            caller.touched = self.seq
        return True

    def _on_status_complete(self, msg: AmiMessage, now: float) -> bool:
        starts = self._resync.pop(msg.action_id, None)
        if not starts:
            return False
        for name, start in starts.items():
            q = self.queue(name)
            for uid in [u for u, c in q.callers.items() if c.touched < start]:
                self._drop_caller(name, uid)
            self._renumber(name)
            for seat in list(self.seats.values()):
                m = seat.memberships.get(name)
                if m is not None and m.touched < start:
                    del seat.memberships[name]
                    if not seat.memberships:
                        self._forget_seat(seat)
                        continue
                    self._refresh(seat, now)
        return True

    # ------------------------------------------------------------------ views

    def figures(self, queue: str | None, window: str, now: float) -> Figures:
        """Figures of one queue (``None``: all queues) over ``window`` ending at ``now``."""
        start = window_start(window, now, self.tz)
        if queue is None:
            ledger = self.overall
            longest = max((q.longest_wait(now) for q in self.queues.values()), default=0.0)
        else:
            q = self.queues[queue]
            ledger, longest = q.ledger, q.longest_wait(now)
        return Figures.from_totals(ledger.totals(start, now), round(longest, 3))

    def chart(self, now: float, hours: int = 8) -> list[dict[str, Any]]:
        """Calls offered and answered per 15 minutes (site-local quarter hours)."""
        offset = dt.datetime.fromtimestamp(now, self.tz).utcoffset() or dt.timedelta()
        off = offset.total_seconds()
        current = ((now + off) // CHART_BUCKET_S) * CHART_BUCKET_S - off
        n = int(hours * 3600 / CHART_BUCKET_S)
        out = []
        for i in range(n - 1, -1, -1):
            start = current - i * CHART_BUCKET_S
            # Bucket [start, start+900): totals over (start-ε, end-ε].
            t: Totals = self.overall.totals(start - 1e-6, min(start + CHART_BUCKET_S, now + 1e-6)
                                            - 1e-6)
            label = dt.datetime.fromtimestamp(start, self.tz).strftime("%H:%M")
            out.append({"start": start, "label": label, "offered": t.offered,
                        "answered": t.answered})
        return out

    def prune(self, now: float) -> None:
        """Forget decided calls older than any window or chart needs."""
        for q in self.queues.values():
            q.ledger.prune(now)
        if self.overall.prune(now):
            self._record_ids = {r.id for r in self.overall.records}

    def drain_new_records(self) -> list[CallRecord]:
        out, self.new_records = self.new_records, []
        return out

    def snapshot(self, now: float, *, chart_hours: int = 8) -> dict[str, Any]:
        """Everything the wallboard and the JSON API show, at ``now``. Callers' numbers are
        masked (``139****9000``) and only their names' first character is shown; numbers in
        seat interfaces, member names and pause reasons are masked too
        (``PJSIP/139****5678``, ``回拨139****5678``)."""
        queues = []
        alerts: list[dict[str, Any]] = []
        for q in sorted(self.queues.values(), key=lambda r: (not r.configured, r.name)):
            figures = {w: self.figures(q.name, w, now).to_dict() for w in WINDOWS}
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
                    mask_text(s.interface) for s in self.seats.values()
                    if q.name in s.memberships
                ),
            })
        seats = []
        for s in sorted(self.seats.values(), key=lambda s: (s.name, s.interface)):
            state, since = s.current(now)
            seats.append({
                "interface": mask_text(s.interface),
                "name": mask_text(s.name),
                "state": state.value,
                "state_label": SEAT_STATE_LABELS[state.value],
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
        overall = {w: self.figures(None, w, now).to_dict() for w in WINDOWS}
        return {
            "now": now,
            "timezone": str(self.tz),
            "queues": queues,
            "seats": seats,
            "overall": overall,
            "alerts": alerts,
            "chart": {"bucket_s": CHART_BUCKET_S, "buckets": self.chart(now, chart_hours)},
        }

    # ------------------------------------------------------------ persistence

    def to_dict(self) -> dict[str, Any]:
        """The live part of the state (records are stored apart, one by one)."""
        return {
            "version": 1,
            "seq": self.seq,
            "queues": {
                q.name: [
                    [c.uniqueid, c.channel, c.number, c.name, c.joined_at, c.position]
                    for c in q.callers.values()
                ]
                for q in self.queues.values()
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
                for s in self.seats.values()
            ],
            "pending": [[p.queue, p.uniqueid, p.joined_at, p.left_at]
                        for p in self._pending.values()],
            "decided": [[q, u, t] for (q, u), t in self._decided.items()],
            "episodes": [[q, u, n] for u, per in self._episodes.items() for q, n in per.items()],
        }

    def load_dict(self, data: Mapping[str, Any]) -> None:
        """Replace the live part with ``data`` (from :meth:`to_dict`); records are kept."""
        if data.get("version") != 1:
            raise ValueError(f"stored state version {data.get('version')!r} is not 1")
        for q in self.queues.values():
            q.callers.clear()
        self._caller_queue.clear()
        for name, callers in data["queues"].items():
            q = self.queue(name)
            for uid, channel, number, cname, joined, pos in callers:
                q.callers[uid] = Caller(uid, channel, number, cname, float(joined), int(pos))
                self._caller_queue[uid] = name
        self.seats.clear()
        self._seat_channels.clear()
        for s in data["seats"]:
            seat = Seat(s["interface"], s["name"], int(s["device_status"]))
            for q, pen, paused, reason, ms, taken, wrap, in_call in s["memberships"]:
                self.queue(q)
                seat.memberships[q] = Membership(q, int(pen), bool(paused), reason, ms,
                                                 int(taken), float(wrap), bool(in_call))
            seat.ringing = dict(s["ringing"])
            seat.talking, seat.talking_channel, seat.talking_queue = s["talking"]
            seat.wrap_until = float(s["wrap_until"])
            seat.state, seat.since = SeatState(s["state"]), float(s["since"])
            for ch in seat.ringing.values():
                self._seat_channels[ch] = seat.interface
            if seat.talking_channel:
                self._seat_channels[seat.talking_channel] = seat.interface
            self.seats[seat.interface] = seat
        self._pending = {(q, u): _Pending(q, u, j, float(t)) for q, u, j, t in data["pending"]}
        self._decided = {(q, u): float(t) for q, u, t in data["decided"]}
        self._episodes = {}
        for q, u, n in data["episodes"]:
            self._episodes.setdefault(u, {})[q] = int(n)
        self.seq = max(self.seq, int(data.get("seq", 0)))

    def load_records(self, records: Iterable[CallRecord]) -> int:
        """Add stored records not already known (by id). Returns how many were added."""
        added = 0
        for r in sorted(records, key=lambda r: r.decided_at):
            added += self.add_record(r)
        return added


def _masked_number(number: str) -> str:
    if not number or number in ("<unknown>", "unknown"):
        return ""
    return mask_number(number)




_HANDLERS: dict[str, Handler] = {
    "QueueCallerJoin": QueueState._on_join,
    "QueueCallerLeave": QueueState._on_leave,
    "QueueCallerAbandon": QueueState._on_abandon,
    "QueueMemberAdded": QueueState._on_member,
    "QueueMemberStatus": QueueState._on_member,
    "QueueMemberPause": QueueState._on_member,
    "QueueMemberPaused": QueueState._on_member,
    "QueueMemberPenalty": QueueState._on_member,
    "QueueMemberRinginuse": QueueState._on_member,
    "QueueMember": QueueState._on_member,
    "QueueMemberRemoved": QueueState._on_member_removed,
    "AgentCalled": QueueState._on_agent_called,
    "AgentRingNoAnswer": QueueState._on_ring_no_answer,
    "AgentConnect": QueueState._on_connect,
    "AgentComplete": QueueState._on_complete,
    "AgentDump": QueueState._on_complete,
    "Hangup": QueueState._on_hangup,
    "QueueParams": QueueState._on_params,
    "QueueEntry": QueueState._on_entry,
    "QueueStatusComplete": QueueState._on_status_complete,
}
