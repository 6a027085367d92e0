"""Login sessions: a bounded table of random tokens with idle and absolute lifetimes.

Pure bookkeeping: every method takes the time (``now``) from its caller, so the table can
be driven by any clock (the web layer passes :attr:`.web_settings.WebSettings.clock`).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from .users import User

__all__ = ["LoginSession", "SessionTable"]


@dataclass(slots=True)
class LoginSession:
    """One logged-in browser or script (the cookie's token is its key in the table)."""

    name: str
    stamp: str  # the user's password stamp at login: a new password ends the session
    csrf: str
    created: float
    last_seen: float


class SessionTable:
    """Sessions by token, least recently used first; bounded, with idle and absolute
    lifetimes."""

    def __init__(self, idle_s: float, max_age_s: float, max_sessions: int) -> None:
        self.idle_s = idle_s
        self.max_age_s = max_age_s
        self.max_sessions = max_sessions
        self._by_token: dict[str, LoginSession] = {}

    def __len__(self) -> int:
        return len(self._by_token)

    def _expired(self, s: LoginSession, now: float) -> bool:
        return now - s.last_seen > self.idle_s or now - s.created > self.max_age_s

    def new(self, user: User, now: float) -> tuple[str, LoginSession]:
        if len(self._by_token) >= self.max_sessions:
            self.prune(now)
            while len(self._by_token) >= self.max_sessions:
                del self._by_token[next(iter(self._by_token))]
        token = secrets.token_urlsafe(32)
        session = LoginSession(user.name, user.stamp, secrets.token_urlsafe(24), now, now)
        self._by_token[token] = session
        return token, session

    def get(self, token: str, now: float) -> LoginSession | None:
        session = self._by_token.get(token) if token else None
        if session is not None and self._expired(session, now):
            del self._by_token[token]
            return None
        return session

    def touch(self, token: str, now: float) -> None:
        session = self._by_token.pop(token, None)
        if session is not None:
            session.last_seen = now
            self._by_token[token] = session  # most recently used last

    def pop(self, token: str) -> LoginSession | None:
        return self._by_token.pop(token, None)

    def revoke_user(self, name: str, keep: str | None = None) -> int:
        gone = [t for t, s in self._by_token.items() if s.name == name and t != keep]
        for t in gone:
            del self._by_token[t]
        return len(gone)

    def prune(self, now: float) -> None:
        for t in [t for t, s in self._by_token.items() if self._expired(s, now)]:
            del self._by_token[t]
