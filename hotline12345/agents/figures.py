"""The figures the 12345 rules use, over rolling windows. Pure: records and a clock in,
numbers out.

Every call's stay in a queue ends in one *outcome*, recorded at the moment it is decided:

- ``answered``: a seat answered (``AgentConnect``); its wait is join → answer;
- ``abandoned``: the caller hung up while waiting (``QueueCallerAbandon``);
- ``unanswered``: it left the queue otherwise (queue timeout, overflow, hangup we only saw
  as ``Hangup``).

A window counts the outcomes decided inside it (``start < decided_at <= now``); callers
still waiting are not yet *offered* in any window. Definitions (see also the README):

- offered = answered + abandoned + unanswered
- 接通率 (answer rate) = answered / offered
- 15-second answer rate = answered within 15 s / answered
- abandonment rate = abandoned / offered
- ASA (average speed of answer) = total wait of answered calls / answered
- service level = answered within the queue's target (``service_level_s``) / offered
- longest current wait: the longest wait among the callers waiting now (not windowed)

A rate whose denominator is 0 is ``None`` (shown as "—"), never 0 or 100 %.

Windows: ``15m`` (last 15 minutes), ``1h`` (last hour), ``today`` (since midnight in the
site time zone, Asia/Shanghai). Counts come from prefix sums over the time-ordered records,
so a window costs two binary searches however many calls there were.
"""

from __future__ import annotations

import bisect
import datetime as dt
from dataclasses import dataclass
from typing import Final, Literal
from zoneinfo import ZoneInfo

__all__ = [
    "ANSWER_WITHIN_S",
    "SITE_TZ",
    "WINDOWS",
    "DecidedCall",
    "Figures",
    "Ledger",
    "Totals",
    "local_midnight",
    "window_start",
]

try:
    SITE_TZ: dt.tzinfo = ZoneInfo("Asia/Shanghai")
except Exception:  # pragma: no cover - no tz database: China has had no DST since 1991
    SITE_TZ = dt.timezone(dt.timedelta(hours=8), "CST")

ANSWER_WITHIN_S: Final = 15.0
WINDOWS: Final = ("15m", "1h", "today")
Outcome = Literal["answered", "abandoned", "unanswered"]
KEEP_S: Final = 26 * 3600.0  # today plus the chart's hours, whatever the hour


def local_midnight(now: float, tz: dt.tzinfo = SITE_TZ) -> float:
    local = dt.datetime.fromtimestamp(now, tz)
    return local.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()


def window_start(window: str, now: float, tz: dt.tzinfo = SITE_TZ) -> float:
    if window == "15m":
        return now - 900.0
    if window == "1h":
        return now - 3600.0
    if window == "today":
        # "Today" includes a call decided at exactly midnight.
        return local_midnight(now, tz) - 1e-6
    raise ValueError(f"unknown window {window!r}; use one of {', '.join(WINDOWS)}")


@dataclass(frozen=True, slots=True)
class DecidedCall:
    """One call's stay in one queue, once its outcome is known."""

    id: str
    queue: str
    uniqueid: str
    joined_at: float
    decided_at: float
    outcome: Outcome
    wait_s: float
    target_s: float
    interface: str = ""

    def to_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "queue": self.queue,
            "uniqueid": self.uniqueid,
            "joined_at": self.joined_at,
            "decided_at": self.decided_at,
            "outcome": self.outcome,
            "wait_s": self.wait_s,
            "target_s": self.target_s,
            "interface": self.interface,
        }

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> DecidedCall:
        outcome = str(data["outcome"])
        if outcome not in ("answered", "abandoned", "unanswered"):
            raise ValueError(f"call record {data.get('id')!r}: bad outcome {outcome!r}")
        return cls(
            id=str(data["id"]),
            queue=str(data["queue"]),
            uniqueid=str(data["uniqueid"]),
            joined_at=float(data["joined_at"]),  # type: ignore[arg-type]
            decided_at=float(data["decided_at"]),  # type: ignore[arg-type]
            outcome=outcome,  # type: ignore[arg-type]
            wait_s=float(data["wait_s"]),  # type: ignore[arg-type]
            target_s=float(data["target_s"]),  # type: ignore[arg-type]
            interface=str(data.get("interface", "")),
        )


@dataclass(frozen=True, slots=True)
class Totals:
    offered: int = 0
    answered: int = 0
    answered_15s: int = 0
    answered_in_target: int = 0
    abandoned: int = 0
    wait_answered_s: float = 0.0

    def __sub__(self, other: Totals) -> Totals:
        return Totals(
            self.offered - other.offered,
            self.answered - other.answered,
            self.answered_15s - other.answered_15s,
            self.answered_in_target - other.answered_in_target,
            self.abandoned - other.abandoned,
            self.wait_answered_s - other.wait_answered_s,
        )

    def __add__(self, other: Totals) -> Totals:
        return Totals(
            self.offered + other.offered,
            self.answered + other.answered,
            self.answered_15s + other.answered_15s,
            self.answered_in_target + other.answered_in_target,
            self.abandoned + other.abandoned,
            self.wait_answered_s + other.wait_answered_s,
        )

    @classmethod
    def of(cls, record: DecidedCall) -> Totals:
        answered = record.outcome == "answered"
        return cls(
            offered=1,
            answered=int(answered),
            answered_15s=int(answered and record.wait_s <= ANSWER_WITHIN_S),
            answered_in_target=int(answered and record.wait_s <= record.target_s),
            abandoned=int(record.outcome == "abandoned"),
            wait_answered_s=record.wait_s if answered else 0.0,
        )


def _ratio(num: float, den: float) -> float | None:
    return None if den <= 0 else num / den


@dataclass(frozen=True, slots=True)
class Figures:
    """The figures of one window. Rates are fractions in [0, 1] or ``None``."""

    offered: int
    answered: int
    abandoned: int
    unanswered: int
    answered_15s: int
    answered_in_target: int
    answer_rate: float | None  # 接通率
    answer_15s_rate: float | None
    abandon_rate: float | None
    asa_s: float | None
    service_level: float | None
    longest_wait_s: float

    @classmethod
    def from_totals(cls, t: Totals, longest_wait_s: float) -> Figures:
        # Sums of float waits can leave 1e-12 residues after subtraction.
        wait = round(t.wait_answered_s, 6)
        return cls(
            offered=t.offered,
            answered=t.answered,
            abandoned=t.abandoned,
            unanswered=t.offered - t.answered - t.abandoned,
            answered_15s=t.answered_15s,
            answered_in_target=t.answered_in_target,
            answer_rate=_ratio(t.answered, t.offered),
            answer_15s_rate=_ratio(t.answered_15s, t.answered),
            abandon_rate=_ratio(t.abandoned, t.offered),
            asa_s=_ratio(wait, t.answered),
            service_level=_ratio(t.answered_in_target, t.offered),
            longest_wait_s=longest_wait_s,
        )

    def to_dict(self) -> dict[str, float | int | None]:
        return {
            "offered": self.offered,
            "answered": self.answered,
            "abandoned": self.abandoned,
            "unanswered": self.unanswered,
            "answered_15s": self.answered_15s,
            "answered_in_target": self.answered_in_target,
            "answer_rate": self.answer_rate,
            "answer_15s_rate": self.answer_15s_rate,
            "abandon_rate": self.abandon_rate,
            "asa_s": self.asa_s,
            "service_level": self.service_level,
            "longest_wait_s": self.longest_wait_s,
        }


class Ledger:
    """Decided calls in time order, with prefix sums for O(log n) window counts."""

    __slots__ = ("_base", "_cum", "_times", "records")

    def __init__(self) -> None:
        self._times: list[float] = []
        self._cum: list[Totals] = []
        self._base = Totals()
        self.records: list[DecidedCall] = []

    def __len__(self) -> int:
        return len(self.records)

    def add(self, record: DecidedCall) -> None:
        t = record.decided_at
        if not self._times or t >= self._times[-1]:
            prev = self._cum[-1] if self._cum else self._base
            self._times.append(t)
            self._cum.append(prev + Totals.of(record))
            self.records.append(record)
            return
        # Late outcome (decided a few seconds ago): insert and redo the sums after it.
        i = bisect.bisect_right(self._times, t)
        self._times.insert(i, t)
        self.records.insert(i, record)
        self._cum.insert(i, Totals())
        running = self._cum[i - 1] if i else self._base
        for j in range(i, len(self.records)):
            running = running + Totals.of(self.records[j])
            self._cum[j] = running

    def _upto(self, t: float) -> Totals:
        """Totals of the records decided at or before ``t`` (kept ones and pruned base)."""
        i = bisect.bisect_right(self._times, t)
        return self._cum[i - 1] if i else self._base

    def totals(self, start: float, end: float) -> Totals:
        """Totals of the records with ``start < decided_at <= end``."""
        return self._upto(end) - self._upto(start)

    def prune(self, now: float, keep_s: float = KEEP_S) -> int:
        cut = bisect.bisect_left(self._times, now - keep_s)
        if cut:
            self._base = self._cum[cut - 1]
            del self._times[:cut], self._cum[:cut], self.records[:cut]
        return cut
