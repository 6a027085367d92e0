"""Wallboard users: names, roles, bcrypt password hashes, in one file under the data dir.

Roles: ``supervisor`` (views and acts on seats) and ``viewer`` (views only). There is no
built-in password: on a fresh install :meth:`UserStore.ensure_admin` creates ``admin``
with ``HOTLINE12345_ADMIN_PASSWORD`` or, if that is unset, a random one-time password that
the caller prints once; that user is flagged ``must_change`` and can do nothing but set a
new password (:meth:`UserStore.change_password`) until it has.

The file is re-read whenever it changes (its mtime, inode or size), so a user removed or
given a new role or password by ``hotline12345 agents users`` takes effect at once. A
user's :attr:`User.stamp` changes with its password: sessions opened with an older
password are no longer valid.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import bcrypt

__all__ = ["ENV_ADMIN_PASSWORD", "ROLES", "User", "UserError", "UserStore"]

ENV_ADMIN_PASSWORD: Final = "HOTLINE12345_ADMIN_PASSWORD"
ROLES: Final = ("supervisor", "viewer")
USERS_FILE: Final = "agents-users.json"
_NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,32}$")
MIN_PASSWORD: Final = 8


class UserError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True, slots=True)
class User:
    name: str
    role: str
    must_change: bool = False  # a one-time password: set a new one before anything else
    stamp: str = ""  # changes whenever the password does

    @property
    def can_act(self) -> bool:
        return self.role == "supervisor"


def _user(name: str, record: dict[str, Any]) -> User:
    stamp = hashlib.sha256(str(record.get("hash", "")).encode("ascii", "replace")).hexdigest()
    return User(name, record["role"], bool(record.get("must_change", False)), stamp[:16])


FileToken = tuple[int, int, int]


class UserStore:
    def __init__(self, path: Path, *, rounds: int = 12) -> None:
        self.path = path
        self.rounds = rounds
        self._cache: dict[str, dict[str, Any]] | None = None
        self._token: FileToken | None = None
        self._dummy: bytes | None = None

    @classmethod
    def in_data_dir(cls, data_dir: Path, *, rounds: int = 12) -> UserStore:
        return cls(data_dir / USERS_FILE, rounds=rounds)

    def exists(self) -> bool:
        return self.path.exists()

    def file_token(self) -> FileToken | None:
        """Changes whenever the users file does (``None`` while there is none)."""
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return None
        return (st.st_mtime_ns, st.st_ino, st.st_size)

    def _read(self) -> dict[str, dict[str, Any]]:
        token = self.file_token()
        if token is None:
            return {}
        if self._cache is None or token != self._token:
            try:
                data = json.loads(self.path.read_text(encoding="utf-8"))
                users = data["users"]
                if not isinstance(users, dict):
                    raise TypeError("'users' is not an object")
            except (ValueError, KeyError, TypeError) as exc:
                raise UserError(str(self.path), f"not a valid users file ({exc}); "
                                "fix it or move it away to start fresh") from None
            self._cache, self._token = users, token
        return self._cache

    def _write(self, users: dict[str, dict[str, Any]]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".users-")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump({"users": users}, f, ensure_ascii=False, indent=1)
            os.chmod(tmp, 0o600)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self._cache = None

    def list(self) -> list[User]:
        return [_user(n, u) for n, u in sorted(self._read().items())]

    def get(self, name: str) -> User | None:
        u = self._read().get(name)
        return None if u is None else _user(name, u)

    @staticmethod
    def check_password(password: str, field: str = "password") -> None:
        if len(password) < MIN_PASSWORD:
            raise UserError(field, f"use at least {MIN_PASSWORD} characters")
        if len(password.encode("utf-8")) > 72:
            raise UserError(field, "use at most 72 bytes (bcrypt's limit)")

    def set(self, name: str, password: str, role: str, *, must_change: bool = False) -> User:
        """Create or replace a user. ``must_change``: the password is a one-time one."""
        if not _NAME.match(name):
            raise UserError("name", f"{name!r}: use 1-32 letters, digits, '_', '.' or '-'")
        if role not in ROLES:
            raise UserError("role", f"{role!r}: use one of {', '.join(ROLES)}")
        self.check_password(password)
        users = dict(self._read())
        hashed = bcrypt.hashpw(password.encode("utf-8"), bcrypt.gensalt(self.rounds))
        record: dict[str, Any] = {"role": role, "hash": hashed.decode("ascii"),
                                  "updated": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        if must_change:
            record["must_change"] = True
        users[name] = record
        self._write(users)
        return _user(name, record)

    def change_password(self, name: str, new_password: str) -> User:
        """A user's own new password (the caller has checked the current one); clears
        ``must_change`` and keeps the role."""
        current = self.get(name)
        if current is None:
            raise UserError("user", f"no user {name!r}")
        self.check_password(new_password, "new")
        return self.set(name, new_password, current.role)

    def remove(self, name: str) -> bool:
        users = dict(self._read())
        if users.pop(name, None) is None:
            return False
        self._write(users)
        return True

    def verify(self, name: str, password: str) -> User | None:
        u = self._read().get(name)
        # Hash even for unknown users so that timing does not tell which names exist.
        if u is None and self._dummy is None:
            self._dummy = bcrypt.hashpw(b"not a password", bcrypt.gensalt(self.rounds))
        hashed = u["hash"].encode("ascii") if u else self._dummy
        assert hashed is not None
        ok = bcrypt.checkpw(password.encode("utf-8")[:72], hashed)
        return _user(name, u) if (u and ok) else None

    def ensure_admin(self, env: dict[str, str] | None = None) -> tuple[str, str | None] | None:
        """On a fresh install (no users file) create ``admin`` as supervisor.

        Returns ``None`` when users exist already, else ``("admin", password)`` where the
        password is the generated one-time password (which must be changed at the first
        login), or ``None`` if it came from ``HOTLINE12345_ADMIN_PASSWORD``."""
        if self.exists():
            return None
        given = (env if env is not None else os.environ).get(ENV_ADMIN_PASSWORD, "")
        password = given or secrets.token_urlsafe(12)
        if given and len(given) < MIN_PASSWORD:
            raise UserError(ENV_ADMIN_PASSWORD, f"use at least {MIN_PASSWORD} characters")
        self.set("admin", password, "supervisor", must_change=not given)
        return ("admin", None if given else password)

