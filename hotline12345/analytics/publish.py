"""Surge warnings to the departments' feeds (信息共享): each warning goes, once, to the
departments it concerns — the department itself for a department's surge, else the
departments its sample tickets are with — through any sink with ``record_warning`` (the
feeds' outbox, :class:`hotline12345.sharing.outbox.Outbox`; this package does not import
it). A department's key is the warning's key and the department, so a warning checked
again within its hour is not sent again."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from hotline12345.analytics.surges import Dimension, SurgeWarning
from hotline12345.tickets.models import Ticket

__all__ = ["WarningSink", "departments_of", "publish_surges"]

MAX_KEY = 80


class WarningSink(Protocol):
    def record_warning(self, session: Session, *, key: str, kind: str, at: datetime,
                       department: str | None, data: Mapping[str, Any]) -> bool: ...


def departments_of(session: Session, warning: SurgeWarning) -> list[str]:
    """The departments a warning concerns, in name order."""
    if warning.dimension is Dimension.DEPARTMENT:
        return [warning.value]
    found = session.scalars(select(Ticket.department).distinct().where(
        Ticket.id.in_(warning.ticket_ids), Ticket.department.is_not(None)))
    return sorted(d for d in found if d)


def publish_surges(session: Session, warnings: Iterable[SurgeWarning], sink: WarningSink,
                   at: datetime) -> int:
    """Record every warning for its departments in ``session`` (the caller commits); how
    many (warning, department) pairs were new."""
    recorded = 0
    for warning in warnings:
        for department in departments_of(session, warning):
            key = f"{warning.key}:{department}"
            if len(key) > MAX_KEY:  # the feeds' event ids are at most 80 characters
                key = "surge:" + hashlib.sha256(key.encode()).hexdigest()[:40]
            if sink.record_warning(session, key=key, kind="surge",
                                   at=at, department=department, data=warning.to_payload()):
                recorded += 1
    return recorded
