"""What the recordings pipeline is configured with, and where each value comes from.

=================  ===========================================================================
value              source, first found wins
=================  ===========================================================================
data directory     ``--data-dir``, ``HOTLINE12345_DATA_DIR``, the per-user data directory
database           ``--database-url``, ``HOTLINE12345_DATABASE_URL``, SQLite in the data dir
recordings         ``--recordings-dir``, ``HOTLINE12345_RECORDINGS_DIR``, ``<data>/recordings``
Redis              ``--redis-url``, ``HOTLINE12345_REDIS_URL``; none: the SQL job queue
Redis key prefix   ``HOTLINE12345_REDIS_PREFIX``, ``hotline12345:recordings``
model              ``--model``, ``HOTLINE12345_VOSK_MODEL``, the site file's ``speech.model``
scan window        ``--scan-window-days``, ``HOTLINE12345_SCAN_WINDOW_DAYS``, 3 days (0: all)
dither, language   the site file's ``speech.dither_zero`` / ``speech.language``
keyword rules      the site file's ``classification`` list
legacy numbers     the site's register (number -> mode), to fill the ticket's legacy fields
=================  ===========================================================================
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hotline12345 import paths
from hotline12345.config.schema import FeedSubscription
from hotline12345.env import (
    DATABASE_URL_ENV,
    RECORDINGS_DIR_ENV,
    REDIS_PREFIX_ENV,
    REDIS_URL_ENV,
    SCAN_WINDOW_ENV,
    VOSK_MODEL_ENV,
    redact_url,
)
from hotline12345.recordings.audio import AudioLimits
from hotline12345.recordings.jobs import RecordingJob
from hotline12345.recordings.queue import DEFAULT_PREFIX, RetryPolicy
from hotline12345.recordings.scan import DEFAULT_WINDOW_S
from hotline12345.tickets.classify import Rule, rules_from

#: Test hook: called in the worker as ``hook(stage, job)`` at "claimed", "decoding" (after
#: every chunk Vosk takes), "decoded" and "committed". Inherited by forked workers; never
#: set in production (without it the decode loop makes no extra call).
Hook = Callable[[str, RecordingJob], None]


@dataclass(frozen=True)
class RecordingSettings:
    database_url: str
    recordings_dir: Path
    redis_url: str | None = None
    redis_prefix: str = DEFAULT_PREFIX
    model_path: str | None = None
    dither_zero: bool = True
    language: str = "zh-CN"
    upsample: str = "resample"  # or "refuse": see hotline12345.recordings.vosk_model
    workers: int = 1
    limits: AudioLimits = field(default_factory=AudioLimits)
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    rules: tuple[Rule, ...] = ()
    grammar: tuple[str, ...] = ()
    legacy_modes: Mapping[str, str] = field(default_factory=dict)  # number -> Mode value
    missing_grace_s: float = 30.0  # how long a job waits for its files to appear
    scan_interval_s: float = 60.0
    scan_window_s: float = DEFAULT_WINDOW_S  # the scan looks at files this recent (0: all)
    db_retry_s: float = 30.0  # how long a decoded job retries its commit before re-queueing
    reconnect_max_s: float = 5.0  # longest pause between attempts to reach the queue
    hook: Hook | None = None
    # the departments' feeds: each new ticket's "created" event goes to their outbox in the
    # ticket's own transaction (hotline12345.sharing)
    feeds: tuple[FeedSubscription, ...] = ()
    #: Unix seconds for the SQL queue's leases and retry times (tests inject their own).
    clock: Callable[[], float] = time.time

    def redacted_redis(self) -> str:
        return redact_url(self.redis_url) if self.redis_url else "(none: SQL job queue)"


class SettingsError(ValueError):
    """A setting from the command line or the environment that cannot be used; the
    message names it and says what is expected."""


def _days(value: str | float, source: str) -> float:
    try:
        days = float(value)
    except ValueError:
        days = -1.0
    if not days >= 0 or days == float("inf"):
        raise SettingsError(f"{source}={value!r}: expected a number of days >= 0 (e.g. 3; "
                            "0 scans the whole recordings directory)")
    return days * 86400.0


def _site_parts(site: Any) -> dict[str, Any]:
    if site is None:
        return {}
    out: dict[str, Any] = {}
    speech = getattr(site.file, "speech", None)
    if speech is not None:
        if getattr(speech, "model", ""):
            out["model_path"] = speech.model
        out["dither_zero"] = bool(getattr(speech, "dither_zero", True))
        if getattr(speech, "language", ""):
            out["language"] = speech.language
    out["rules"] = rules_from(getattr(site.file, "classification", ()))
    out["legacy_modes"] = {row.number: getattr(row.mode, "value", str(row.mode))
                           for row in getattr(site, "register", ())}
    out["feeds"] = tuple(getattr(site.file, "feeds", ()))
    return out


def settings_from(site: Any = None, *, data_dir: str | os.PathLike[str] | None = None,
                  database_url: str | None = None, recordings_dir: str | None = None,
                  redis_url: str | None = None, model: str | None = None,
                  workers: int | None = None, scan_window_days: float | None = None,
                  env: Mapping[str, str] | None = None,
                  **overrides: Any) -> RecordingSettings:
    """Settings from the command line, the environment and the site (``load_site(...)``)."""
    env = os.environ if env is None else env
    root = paths.data_dir(data_dir)
    rec_dir = Path(recordings_dir or env.get(RECORDINGS_DIR_ENV) or paths.recordings_dir(root))
    values: dict[str, Any] = _site_parts(site)
    values.update(
        database_url=database_url or env.get(DATABASE_URL_ENV) or paths.database_url(root),
        recordings_dir=rec_dir,
        redis_url=(redis_url or env.get(REDIS_URL_ENV) or "").strip() or None,
    )
    if env.get(REDIS_PREFIX_ENV):
        values["redis_prefix"] = env[REDIS_PREFIX_ENV]
    chosen_model = model or env.get(VOSK_MODEL_ENV)
    if chosen_model:
        values["model_path"] = chosen_model
    if workers is not None:
        values["workers"] = workers
    if scan_window_days is not None:
        values["scan_window_s"] = _days(scan_window_days, "--scan-window-days")
    elif env.get(SCAN_WINDOW_ENV, "").strip():
        values["scan_window_s"] = _days(env[SCAN_WINDOW_ENV].strip(), SCAN_WINDOW_ENV)
    values.update(overrides)
    return RecordingSettings(**values)
