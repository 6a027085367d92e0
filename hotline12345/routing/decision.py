"""What the routing core takes (a call context) and gives (a decision that explains itself)."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType

from hotline12345.records import value_record


class Action(enum.StrEnum):
    QUEUE = "queue"
    EXPERT = "expert"  # the expert-seat group (专家座席) of a queue
    SUB_CENTRE = "sub_centre"
    LINKAGE = "linkage"
    ANNOUNCE_HANGUP = "announce_hangup"
    ASK = "ask"  # ask the caller the one question, then decide again with the answer


@dataclass(frozen=True, slots=True)
class QueueLoad:
    """Live figures for one queue, as the AMI monitor sees them."""

    waiting: int = 0
    longest_wait_s: float = 0.0


@value_record
class CallContext:
    dialled: str
    at: datetime  # aware; converted to the site's timezone
    caller: str | None = None  # None when Asterisk says "unknown"
    enterprise: bool = False  # recognised before routing (e.g. by the CRM)
    answer: str | None = None  # the caller's one answer: None = not asked, "" = no answer
    # Which question the answer belongs to (Question.purpose). None with an answer means
    # "the question this call is asked", which the router works out itself.
    answer_to: str | None = None
    language: str | None = None
    queue_load: Mapping[str, QueueLoad] = field(default_factory=dict)


@value_record
class Question:
    prompt: str  # Asterisk sound name
    max_digits: int = 1
    timeout_s: int = 5
    retries: int = 1
    purpose: str = ""  # "rule:<name>" or "enterprise"


@value_record
class Decision:
    action: Action
    target: str = ""
    priority: int = 0
    prompts: tuple[str, ...] = ()
    variables: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    reasons: tuple[str, ...] = ()
    question: Question | None = None
    # The caller's number as routing read it (national form, see routing.numbers): what
    # logs mask. None for an unknown caller.
    caller: str | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "action": self.action.value,
            "target": self.target,
            "priority": self.priority,
            "prompts": list(self.prompts),
            "variables": dict(self.variables),
            "reasons": list(self.reasons),
            "caller": self.caller,
            "question": None if self.question is None else {
                "prompt": self.question.prompt, "max_digits": self.question.max_digits,
                "timeout_s": self.question.timeout_s, "retries": self.question.retries,
                "purpose": self.question.purpose},
        }
