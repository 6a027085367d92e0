"""The wallboard's :class:`.recordings_access.RecordingsAccess` over the recordings
pipeline (``hotline12345.recordings.api``) and its settings."""

from __future__ import annotations

from typing import Any

from hotline12345.recordings import api
from hotline12345.recordings.settings import RecordingSettings

__all__ = ["SettingsRecordings"]


class SettingsRecordings:
    """Failed jobs and tickets read through ``hotline12345.recordings.api``."""

    def __init__(self, settings: RecordingSettings) -> None:
        self.settings = settings

    def failed_jobs(self, limit: int) -> list[dict[str, Any]]:
        return [job.as_dict() for job in api.failed_jobs(self.settings, limit)]

    def ticket(self, uniqueid: str) -> dict[str, Any] | None:
        return api.ticket(self.settings, uniqueid)
