"""The wallboard's :class:`.recordings_access.RecordingsAccess` over the recordings
pipeline (``hotline12345.recordings.api``) and its settings.

Only what the database and Redis raise when they are away, refuse the connection or lack
the tables becomes :class:`.recordings_access.RecordingsUnavailable` (a 503 that names the
settings to check); anything else propagates as the bug it is.
"""

from __future__ import annotations

from typing import Any

import redis.exceptions
from sqlalchemy.exc import ArgumentError, DBAPIError, DisconnectionError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from hotline12345.db.engine import error_text
from hotline12345.recordings import api
from hotline12345.recordings.queue import QueueUnavailable
from hotline12345.recordings.settings import RecordingSettings

from .recordings_access import RecordingsUnavailable

__all__ = ["SettingsRecordings"]

# Unreachable, refused, timed out, not migrated (a missing table is a ProgrammingError, a
# DBAPIError), or a database URL SQLAlchemy cannot use.
_OPERATIONS_ERRORS = (DBAPIError, DisconnectionError, PoolTimeout, ArgumentError,
                      redis.exceptions.RedisError, QueueUnavailable)


class SettingsRecordings:
    """Failed jobs and tickets read through ``hotline12345.recordings.api``."""

    def __init__(self, settings: RecordingSettings) -> None:
        self.settings = settings

    def failed_jobs(self, limit: int) -> list[dict[str, Any]]:
        try:
            return [job.as_dict() for job in api.failed_jobs(self.settings, limit)]
        except _OPERATIONS_ERRORS as exc:
            raise RecordingsUnavailable(error_text(exc)) from exc

    def ticket(self, uniqueid: str) -> dict[str, Any] | None:
        try:
            return api.ticket(self.settings, uniqueid)
        except _OPERATIONS_ERRORS as exc:
            raise RecordingsUnavailable(error_text(exc)) from exc
