"""Register rows, merge modes and phases of the retired-hotline register."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

# The emergency numbers. The State Council's plan (国办发〔2020〕53号) merges the
# government-service hotlines "除110、119、120、122等紧急热线外": these are never register rows.
# 12345 only links to them (协同联动, the site file's ``linkage:``), and a call that reaches
# the centre on one of them goes straight to its linkage target, with no prompt, no
# controller and no queue.
EMERGENCY_NUMBERS: frozenset[str] = frozenset({"110", "119", "120", "122"})


class Mode(enum.StrEnum):
    """How a legacy hotline was merged into 12345. Values are the terms engineers use."""

    WHOLE_MERGE = "整体并入"
    DUAL_NUMBER = "双号并行"
    SUB_CENTRE = "设分中心"
    LINKAGE = "协同联动"

    @property
    def code(self) -> str:
        """ASCII code for channel variables and file names."""
        return self.name.lower()


class Phase(enum.StrEnum):
    """Where a legacy number stands at a given moment."""

    BEFORE_TRANSITION = "过渡前"
    IN_TRANSITION = "过渡期"
    RETIRED = "已停用"  # 整体并入 after cut-over: the number is cancelled
    LIVE = "保留运行"  # every other mode after cut-over: the number stays in service

    @property
    def code(self) -> str:
        return self.name.lower()


class AfterCutover(enum.StrEnum):
    """What a retired 整体并入 number does after its "now 12345" prompt."""

    CONTINUE = "continue"
    HANGUP = "hangup"


@dataclass(frozen=True, slots=True)
class RegisterRow:
    number: str
    name: str
    department: str
    mode: Mode
    target: str
    prompt: str
    transition_start: datetime
    cutover: datetime
    provenance: str
    after_cutover: AfterCutover | None = None

    @property
    def prompt_id(self) -> str:
        return f"transition-{self.number}"

    def phase_at(self, at: datetime) -> Phase:
        """The phase at ``at``; both dates are aware datetimes in the site's timezone.

        The transition starts at ``transition_start`` inclusive; the cut-over takes
        effect at ``cutover`` inclusive.
        """
        if at < self.transition_start:
            return Phase.BEFORE_TRANSITION
        if at < self.cutover:
            return Phase.IN_TRANSITION
        return Phase.RETIRED if self.mode is Mode.WHOLE_MERGE else Phase.LIVE
