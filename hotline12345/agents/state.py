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

A seat's derived state is described in :mod:`.seats`; the wallboard's view of the state in
:mod:`.wallboard`; its persistence in :mod:`.state_persistence`.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from .codec import AmiMessage
from .figures import SITE_TZ, DecidedCall, Figures, Ledger, Outcome, window_start
from .queues import DEFAULT_TARGET_S, Caller, QueueDef, QueueRuntime, queue_defs
from .seats import DEVICE_RINGING, Membership, Seat, SeatState

__all__ = [
    "PendingCall",
    "QueueDef",
    "QueueState",
    "SeatState",
    "queue_defs",
]


@dataclass(slots=True)
class PendingCall:
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
    """A number of seconds from an AMI field; ``default`` for anything else, including
    ``nan`` and ``inf`` (which float() accepts, and which would break every figure)."""
    try:
        number = float(value)
    except ValueError:
        return default
    return number if math.isfinite(number) else default


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
        self.new_records: list[DecidedCall] = []  # for a shared store; see track_new_records
        self.track_new_records = True
        self.pending: dict[tuple[str, str], PendingCall] = {}
        self.decided: dict[tuple[str, str], float] = {}
        self.episodes: dict[str, dict[str, int]] = {}  # uniqueid -> queue -> joins
        self.caller_queue: dict[str, str] = {}  # waiting uniqueid -> queue
        self.seat_channels: dict[str, str] = {}  # seat-side channel -> interface
        self._resync: dict[str, dict[str, int]] = {}

    # ----------------------------------------------------------------- events

    def apply(self, msg: AmiMessage, now: float) -> bool:
        """Apply one AMI message at time ``now`` (epoch seconds). True if the model changed."""
        handler = _HANDLERS.get(msg.name) if msg.kind == "event" else None
        changed = False
        if self.pending:
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
        late = [p for p in self.pending.values() if now - p.left_at >= self.pending_grace_s]
        for p in late:
            del self.pending[(p.queue, p.uniqueid)]
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
        if key in self.decided:
            return
        self.decided[key] = decided_at
        if joined_at is None:
            joined_at = measured_at - hold_s
        q = self.queue(queue)
        record = DecidedCall(
            id=f"{queue}|{uniqueid}|{self.episodes.get(uniqueid, {}).get(queue, 1)}",
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

    def add_record(self, record: DecidedCall) -> bool:
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
        if caller is not None and self.caller_queue.get(uniqueid) == queue:
            del self.caller_queue[uniqueid]
        return caller

    # callers ---------------------------------------------------------------

    def _on_join(self, msg: AmiMessage, now: float) -> bool:
        h = msg.headers
        name, uid = h.get("Queue", ""), h.get("Uniqueid", "")
        if not name or not uid:
            return False
        key = (name, uid)
        pending = self.pending.pop(key, None)
        if pending is not None:
            self._decide(name, uid, pending.joined_at, pending.left_at, "unanswered", "",
                         pending.left_at)
        self.decided.pop(key, None)
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
        self.caller_queue[uid] = name
        return True

    def _on_leave(self, msg: AmiMessage, now: float) -> bool:
        h = msg.headers
        name, uid = h.get("Queue", ""), h.get("Uniqueid", "")
        caller = self._drop_caller(name, uid)
        key = (name, uid)
        if key not in self.decided and key not in self.pending:
            self.pending[key] = PendingCall(name, uid, caller.joined_at if caller else None, now)
        self._renumber(name)
        return True

    def _on_abandon(self, msg: AmiMessage, now: float) -> bool:
        h = msg.headers
        name, uid = h.get("Queue", ""), h.get("Uniqueid", "")
        caller = self._drop_caller(name, uid)
        pending = self.pending.pop((name, uid), None)
        joined = caller.joined_at if caller else (pending.joined_at if pending else None)
        self._decide(name, uid, joined, now, "abandoned", "", now,
                     _float(h.get("HoldTime", "0")))
        self._renumber(name)
        return True

    def _count_episode(self, queue: str, uid: str) -> None:
        per_queue = self.episodes.setdefault(uid, {})
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
        for ch in [c for c, i in self.seat_channels.items() if i == seat.interface]:
            del self.seat_channels[ch]

    def _clear_ringing(self, seat: Seat) -> None:
        for ch in seat.ringing.values():
            self.seat_channels.pop(ch, None)
        seat.ringing.clear()

    def _end_talk(self, seat: Seat, now: float, *, wrap: bool) -> None:
        if wrap:
            m = seat.memberships.get(seat.talking_queue)
            seat.wrap_until = now + (m.wrapup_s if m else 0.0)
        self.seat_channels.pop(seat.talking_channel, None)
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
            self.seat_channels[channel] = interface
        self._refresh(seat, now)
        return True

    def _on_ring_no_answer(self, msg: AmiMessage, now: float) -> bool:
        h = msg.headers
        seat = self.seats.get(h.get("Interface", ""))
        if seat is None:
            return False
        channel = seat.ringing.pop(h.get("Uniqueid", ""), None)
        if channel:
            self.seat_channels.pop(channel, None)
        self._refresh(seat, now)
        return True

    def _on_connect(self, msg: AmiMessage, now: float) -> bool:
        h = msg.headers
        name, uid, interface = h.get("Queue", ""), h.get("Uniqueid", ""), h.get("Interface", "")
        key = (name, uid)
        caller = self._drop_caller(name, uid)
        pending = self.pending.pop(key, None)
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
                    self.seat_channels.pop(ch, None)
                self._refresh(other, now)
        if interface:
            seat = self._seat(interface, h.get("MemberName", ""))
            channel = h.get("DestChannel", "")
            seat.talking, seat.talking_channel, seat.talking_queue = uid, channel, name
            if channel:
                self.seat_channels[channel] = interface
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
        interface = self.seat_channels.pop(channel, None)
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
        queue = self.caller_queue.get(uid)
        if queue is not None:
            # The caller hung up while waiting and we missed QueueCallerAbandon.
            caller = self._drop_caller(queue, uid)
            self._decide(queue, uid, caller.joined_at if caller else None, now, "abandoned",
                         "", now)
            self._renumber(queue)
            changed = True
        if self.pending:
            for key, p in list(self.pending.items()):
                if p.uniqueid == uid:
                    del self.pending[key]
                    self._decide(p.queue, uid, p.joined_at, p.left_at, "unanswered", "",
                                 p.left_at)
                    changed = True
        episodes = self.episodes.pop(uid, None)
        if episodes:
            for queue_name in episodes:
                self.decided.pop((queue_name, uid), None)
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
            self.caller_queue[uid] = name
            key = (name, uid)
            self._count_episode(name, uid)
            self.decided.pop(key, None)
            self.pending.pop(key, None)
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
    def prune(self, now: float) -> None:
        """Forget decided calls older than any window or chart needs."""
        for q in self.queues.values():
            q.ledger.prune(now)
        if self.overall.prune(now):
            self._record_ids = {r.id for r in self.overall.records}

    def drain_new_records(self) -> list[DecidedCall]:
        out, self.new_records = self.new_records, []
        return out

    def load_records(self, records: Iterable[DecidedCall]) -> int:
        """Add stored records not already known (by id). Returns how many were added."""
        added = 0
        for r in sorted(records, key=lambda r: r.decided_at):
            added += self.add_record(r)
        return added


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
