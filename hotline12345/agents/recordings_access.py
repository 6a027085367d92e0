"""What the wallboard needs from the recordings pipeline, as an interface it is given.

The web layer never imports the recordings package: ``build_app(recordings=...)`` takes
any object with these two blocking methods (they run in a worker thread). ``serve`` passes
:class:`.recordings_from_settings.SettingsRecordings`; a test may pass its own.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

__all__ = ["RecordingsAccess", "RecordingsUnavailable"]


class RecordingsUnavailable(Exception):
    """The recordings queue or database cannot be used now (unreachable, refused, not
    migrated): an operations problem, answered 503 with what to check. Any other exception
    out of a :class:`RecordingsAccess` is a bug: a 500, logged with its traceback."""


@runtime_checkable
class RecordingsAccess(Protocol):
    def failed_jobs(self, limit: int) -> list[dict[str, Any]]:
        """The pipeline's failed jobs, oldest first, at most ``limit``; each a dict with at
        least ``uniqueid`` and ``error`` (the web layer masks numbers in ``error``)."""
        ...

    def ticket(self, uniqueid: str) -> dict[str, Any] | None:
        """The ticket of a call as shown to users (caller masked), or None."""
        ...
