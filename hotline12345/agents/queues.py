"""Queues as configured (:class:`QueueDef`) and as they run (:class:`QueueRuntime`: the
callers waiting, the decided calls behind the figures)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from .figures import Ledger

__all__ = ["DEFAULT_TARGET_S", "Caller", "QueueDef", "QueueRuntime", "queue_defs"]

DEFAULT_TARGET_S: Final = 15.0


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

