"""The wallboard's tunables, in one object handed to :func:`.web.build_app`.

Every bound and lifetime of the web layer lives here, so that a test (or a site) sets
them by building a :class:`WebSettings`, never by changing module constants. ``clock``
is the wall clock the session table reads (login time, last use); ``monotonic`` times
the login throttle, the HTTP Basic cache and the snapshot cache. Tests inject both.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["WebSettings"]


@dataclass(frozen=True, slots=True)
class WebSettings:
    session_idle_s: float = 12 * 3600  # a session unused this long ends
    session_max_s: float = 24 * 3600  # and every session ends this long after its login
    max_sessions: int = 10_000  # beyond this the least recently used session is dropped
    max_failures: int = 5  # failed password checks per user name / address ...
    failure_window_s: float = 300.0  # ... within this window, then 429
    max_failure_keys: int = 10_000  # user names and addresses with recent failed logins
    basic_cache_s: float = 300.0  # a verified Basic credential skips bcrypt this long
    max_basic_cache: int = 1_000
    auth_recheck_s: float = 1.0  # the SSE stream rechecks its session this often
    snapshot_max_age_s: float = 1.0  # a snapshot is rebuilt at most this often per version
    sse_heartbeat_s: float = 5.0  # the SSE stream sends the state at least this often
    confirm_timeout_s: float = 5.0  # a seat action waits this long for Asterisk's event
    client_max_size: int = 64 * 1024  # request bodies larger than this are a 413
    clock: Callable[[], float] = time.time
    monotonic: Callable[[], float] = time.monotonic
