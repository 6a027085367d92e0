"""Users of the wallboard and the ticket pages: names, roles, departments, bcrypt password
hashes, in one file under the data dir.

Roles are stored and shown in Chinese (the ticket loop's :class:`~hotline12345.tickets.enums.Role`
values, plus 观察员 for the wallboard-only viewer); the English names are accepted as aliases
wherever a role is given (``seat``, ``supervisor``, ``handler``, ``inspector``, ``auditor``,
``admin``, ``viewer``), and a users file written before the ticket loop (``supervisor``,
``viewer``) reads as 班长 and 观察员:

=============  =============  ==============================================================
role           alias          may
=============  =============  ==============================================================
话务员         seat           take calls: open, dispatch and close tickets
班长           supervisor     act on seats on the wallboard; run the ticket centre
承办单位       handler        its own department's tickets only (``department`` required)
督办员         inspector      read every ticket, raise 督办
审计员         auditor        read every ticket and the audit log
管理员         admin          everything
观察员         viewer         the wallboard, read only
=============  =============  ==============================================================

Only 班长 and 管理员 act on seats (:attr:`User.can_act`). A 承办单位 user has a department; when
the site's departments are known (:meth:`UserStore.set`'s ``departments``), it must be one
of them.

There is no built-in password: on a fresh install :meth:`UserStore.ensure_admin` creates
``admin`` (管理员) with ``HOTLINE12345_ADMIN_PASSWORD`` or, if that is unset, a random
one-time password that the caller prints once; that user is flagged ``must_change`` and can
do nothing but set a new password (:meth:`UserStore.change_password`) until it has.

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
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import bcrypt

from hotline12345.tickets.enums import Role

__all__ = ["ENV_ADMIN_PASSWORD", "ROLES", "ROLE_ALIASES", "VIEWER", "User", "UserError",
           "UserStore", "role_named"]

ENV_ADMIN_PASSWORD: Final = "HOTLINE12345_ADMIN_PASSWORD"
VIEWER: Final = "观察员"  # the wallboard only, read only; no ticket role
# Every role a user may have, as stored and shown (Role.SYSTEM is the workflow's own).
ROLES: Final = (*(r.value for r in Role if r is not Role.SYSTEM), VIEWER)
ROLE_ALIASES: Final = {"seat": Role.SEAT.value, "supervisor": Role.SUPERVISOR.value,
                       "handler": Role.HANDLER.value, "inspector": Role.INSPECTOR.value,
                       "auditor": Role.AUDITOR.value, "admin": Role.ADMIN.value,
                       "viewer": VIEWER}
_ACTS_ON_SEATS: Final = frozenset({Role.SUPERVISOR.value, Role.ADMIN.value})
USERS_FILE: Final = "agents-users.json"
_NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,32}$")
MIN_PASSWORD: Final = 8


def role_named(name: str) -> str | None:
    """The stored (Chinese) role for a role or its English alias, or None if it is neither."""
    name = name.strip()
    if name in ROLES:
        return name
    return ROLE_ALIASES.get(name.lower())


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
    department: str | None = None  # a 承办单位's department

    @property
    def can_act(self) -> bool:
        """May act on seats (the wallboard's pause, add, remove, penalty)."""
        return self.role in _ACTS_ON_SEATS

    @property
    def ticket_role(self) -> Role | None:
        """The ticket loop's role, or None for the wallboard-only 观察员."""
        return None if self.role == VIEWER else Role(self.role)


def _user(name: str, record: dict[str, Any]) -> User:
    stamp = hashlib.sha256(str(record.get("hash", "")).encode("ascii", "replace")).hexdigest()
    role = role_named(str(record.get("role", "")))
    if role is None:
        raise UserError("role", f"user {name!r} has the unknown role {record.get('role')!r}; "
                        f"give it one of {', '.join(ROLES)} with hotline12345 agents users "
                        f"set {name} --role ROLE")
    department = record.get("department")
    return User(name, role, bool(record.get("must_change", False)), stamp[:16],
                department if isinstance(department, str) and department else None)


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

    @staticmethod
    def check_role(role: str, department: str | None,
                   departments: Collection[str] | None = None) -> tuple[str, str | None]:
        """The stored role and department for what was given; a :class:`UserError` naming
        the field when the role is unknown, a 承办单位 has no department, another role has
        one, or the department is not one of ``departments`` (the site file's, when known)."""
        stored = role_named(role)
        if stored is None:
            aliases = ", ".join(f"{a} ({r})" for a, r in ROLE_ALIASES.items())
            raise UserError("role", f"{role!r}: use one of {', '.join(ROLES)} or an alias: "
                            f"{aliases}")
        department = (department or "").strip() or None
        if stored == Role.HANDLER.value:
            if department is None:
                raise UserError("department", "a 承办单位 (handler) user needs its department: "
                                "--department NAME, one of the site file's departments")
            if departments is not None and department not in departments:
                known = ", ".join(departments) or "none"
                raise UserError("department", f"{department!r} is not a department of the "
                                f"site file (departments: {known})")
        elif department is not None:
            raise UserError("department", f"only a 承办单位 (handler) has a department; a "
                            f"{stored} sees every department")
        return stored, department

    def set(self, name: str, password: str, role: str, *, must_change: bool = False,
            department: str | None = None,
            departments: Collection[str] | None = None) -> User:
        """Create or replace a user. ``role``: a role or its alias (stored in Chinese).
        ``department``: a 承办单位's (required for it, refused for the others), checked
        against ``departments`` when given. ``must_change``: the password is a one-time
        one."""
        if not _NAME.match(name):
            raise UserError("name", f"{name!r}: use 1-32 letters, digits, '_', '.' or '-'")
        stored, department = self.check_role(role, department, departments)
        self.check_password(password)
        users = dict(self._read())
        hashed = bcrypt.hashpw(password.encode("utf-8"), bcrypt.gensalt(self.rounds))
        record: dict[str, Any] = {"role": stored, "hash": hashed.decode("ascii"),
                                  "updated": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        if department is not None:
            record["department"] = department
        if must_change:
            record["must_change"] = True
        users[name] = record
        self._write(users)
        return _user(name, record)

    def change_password(self, name: str, new_password: str) -> User:
        """A user's own new password (the caller has checked the current one); clears
        ``must_change`` and keeps the role and department."""
        current = self.get(name)
        if current is None:
            raise UserError("user", f"no user {name!r}")
        self.check_password(new_password, "new")
        return self.set(name, new_password, current.role, department=current.department)

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
        """On a fresh install (no users file) create ``admin`` as 管理员.

        Returns ``None`` when users exist already, else ``("admin", password)`` where the
        password is the generated one-time password (which must be changed at the first
        login), or ``None`` if it came from ``HOTLINE12345_ADMIN_PASSWORD``."""
        if self.exists():
            return None
        given = (env if env is not None else os.environ).get(ENV_ADMIN_PASSWORD, "")
        password = given or secrets.token_urlsafe(12)
        if given and len(given) < MIN_PASSWORD:
            raise UserError(ENV_ADMIN_PASSWORD, f"use at least {MIN_PASSWORD} characters")
        self.set("admin", password, Role.ADMIN.value, must_change=not given)
        return ("admin", None if given else password)

