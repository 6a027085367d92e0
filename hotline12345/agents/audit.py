"""The audit log of supervisor actions on seats: who, what, when, and the result.

One table, ``agents_audit``, on its own declarative base (:class:`AuditBase`), in the
embedded SQLite database under the data directory by default (``HOTLINE12345_DATABASE_URL``
otherwise). The table is created if missing, so the wallboard needs no migration step; its
metadata is ``AuditBase.metadata`` for whoever wants it in Alembic.

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

from sqlalchemy import DateTime, Integer, String, Text, create_engine, event, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

__all__ = ["AuditBase", "AuditEntry", "AuditLog"]


class AuditBase(DeclarativeBase):
    """Declarative base of the agents package's own table."""


class AuditEntry(AuditBase):
    __tablename__ = "agents_audit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)  # UTC
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
            # SQLite returns naive datetimes: they were written in UTC.
            "at": (self.at if self.at.tzinfo else self.at.replace(tzinfo=UTC)).isoformat(),
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
    def __init__(self, url: str) -> None:
        self.url = url
        self._engine = create_engine(url)
        if self._engine.dialect.name == "sqlite":

            @event.listens_for(self._engine, "connect")
            def _pragmas(dbapi_conn: Any, _record: Any) -> None:
                cur = dbapi_conn.cursor()
                try:
                    cur.execute("PRAGMA journal_mode=WAL")
                    cur.execute("PRAGMA busy_timeout=5000")
                finally:
                    cur.close()

        AuditEntry.__table__.create(self._engine, checkfirst=True)  # type: ignore[attr-defined]
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
