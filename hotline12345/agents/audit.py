"""The audit log of supervisor actions on seats: who, what, when, and the result.

One table, ``agents_audit``, declared on the project's one base
(:class:`hotline12345.db.base.Base`) and created by Alembic revision ``0003``. It lives in
the embedded SQLite database under the data directory by default
(``HOTLINE12345_DATABASE_URL`` otherwise). Opening an :class:`AuditLog` changes no schema:
whoever starts the wallboard (``serve``, ``agents``) first runs
:func:`hotline12345.db.migrate.upgrade`. A table made by an older ``create_all`` is adopted
by the revision.

Results: ``confirmed`` (Asterisk accepted the action and the resulting event arrived),
``rejected`` (Asterisk answered ``Response: Error``; its message is kept), ``unconfirmed``
(accepted, but no confirming event within the deadline), ``failed`` (not sent: no AMI
connection, or the connection dropped).
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Integer, String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from hotline12345.db.base import Base, UtcDateTime
from hotline12345.db.engine import make_engine

__all__ = ["AuditEntry", "AuditLog"]


class AuditEntry(Base):
    __tablename__ = "agents_audit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    user: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(32))
    queue: Mapped[str] = mapped_column(String(128), default="")
    interface: Mapped[str] = mapped_column(String(128), default="")
    detail: Mapped[str] = mapped_column(Text, default="{}")
    result: Mapped[str] = mapped_column(String(16))
    message: Mapped[str] = mapped_column(Text, default="")

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": self.at.astimezone(UTC).isoformat(),  # UtcDateTime: aware, UTC
            "user": self.user,
            "role": self.role,
            "action": self.action,
            "queue": self.queue,
            "interface": self.interface,
            "detail": json.loads(self.detail or "{}"),
            "result": self.result,
            "message": self.message,
        }


class AuditLog:
    """Records and lists audit entries in the database at ``url``, which the caller has
    migrated (:func:`hotline12345.db.migrate.upgrade`)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._engine = make_engine(url)
        self._lock = asyncio.Lock()

    def close(self) -> None:
        self._engine.dispose()

    def _record(self, entry: AuditEntry) -> dict[str, Any]:
        with Session(self._engine) as session:
            session.add(entry)
            session.commit()
            return entry.to_dict()

    async def record(
        self,
        *,
        user: str,
        role: str,
        action: str,
        queue: str,
        interface: str,
        detail: dict[str, Any],
        result: str,
        message: str,
        at: datetime | None = None,
    ) -> dict[str, Any]:
        entry = AuditEntry(
            at=(at or datetime.now(UTC)).astimezone(UTC),
            user=user,
            role=role,
            action=action,
            queue=queue,
            interface=interface,
            detail=json.dumps(detail, ensure_ascii=False, sort_keys=True),
            result=result,
            message=message,
        )
        async with self._lock:
            return await asyncio.to_thread(self._record, entry)

    def _recent(self, limit: int) -> list[dict[str, Any]]:
        with Session(self._engine) as session:
            rows = session.scalars(
                select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
            ).all()
            return [r.to_dict() for r in rows]

    async def recent(self, limit: int = 50) -> list[dict[str, Any]]:
        return await asyncio.to_thread(self._recent, limit)
