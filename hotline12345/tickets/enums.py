"""Ticket states and transcript speakers. Values are the Chinese terms shown to users."""

from __future__ import annotations

import enum


class TicketStatus(enum.StrEnum):
    """The ticket's closed loop, in order."""

    ACCEPTED = "受理"
    DISPATCHED = "派单"
    HANDLING = "办理"
    REPLIED = "答复"
    SUPERVISED = "督办"
    CLOSED = "办结"
    REVISITED = "回访"
    RATED = "评价"


class Speaker(enum.StrEnum):
    CALLER = "来电人"
    SEAT = "坐席"
    MIXED = "混音"  # only the mixed recording exists: both parties, unseparated
