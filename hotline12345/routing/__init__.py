"""The pure routing core: call context in, explained decision out."""

from hotline12345.routing.decision import Action, CallContext, Decision, Question, QueueLoad
from hotline12345.routing.engine import NOW_12345_PROMPT, Router, sound

__all__ = [
    "NOW_12345_PROMPT",
    "Action",
    "CallContext",
    "Decision",
    "Question",
    "QueueLoad",
    "Router",
    "sound",
]
