"""``hotline12345 agents ...``: users of the wallboard and the ticket pages.

    hotline12345 agents users list
    hotline12345 agents users set NAME --role 班长      (asks for the password)
    hotline12345 agents users set NAME --role handler --department 市场监督管理局
    hotline12345 agents users set NAME --role viewer --password-stdin < file
    printf '%s\n' "$PASSWORD" | hotline12345 agents users set NAME --role 话务员
    HOTLINE12345_USER_PASSWORD=... hotline12345 agents users set NAME --role auditor
    hotline12345 agents users remove NAME

Roles (stored and listed in Chinese; the English alias in brackets is accepted too):
话务员 (seat), 班长 (supervisor), 承办单位 (handler, needs ``--department``), 督办员
(inspector), 审计员 (auditor), 管理员 (admin), 观察员 (viewer). A handler's department must
be one of the site file's ``departments`` (the site of ``--config``, else
``HOTLINE12345_CONFIG``, else the shipped one) when that file lists any.

``set`` asks for the password on the terminal; ``HOTLINE12345_USER_PASSWORD``, when set, is
used instead. Without a terminal (standard input not a tty) it never prompts: it reads the
first line of standard input.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from typing import Any

from hotline12345.paths import data_dir

from .users import ROLE_ALIASES, ROLES, UserError, UserStore

__all__ = ["ENV_USER_PASSWORD", "register_agents_cmd"]

ENV_USER_PASSWORD = "HOTLINE12345_USER_PASSWORD"


def register_agents_cmd(sub: argparse._SubParsersAction[Any]) -> None:
    agents = sub.add_parser("agents", help="wallboard users (seats and queues monitor)")
    agents.add_argument("--data-dir", default=None,
                        help="data directory (default: $HOTLINE12345_DATA_DIR or the user's)")
    agents_sub = agents.add_subparsers(dest="agents_command", metavar="COMMAND", required=True)
    users = agents_sub.add_parser("users", help="list, add or remove wallboard users")
    users_sub = users.add_subparsers(dest="users_command", metavar="ACTION", required=True)
    ls = users_sub.add_parser("list", help="list users and roles")
    ls.set_defaults(handler=_list)
    st = users_sub.add_parser("set", help="create a user or change its password/role")
    st.add_argument("name")
    st.add_argument("--role", required=True, metavar="ROLE",
                    help=f"one of {', '.join(ROLES)}, or its English alias "
                         f"({', '.join(ROLE_ALIASES)})")
    st.add_argument("--department", default=None,
                    help="a 承办单位 (handler) user's department, one of the site file's")
    st.add_argument("--config", default=None,
                    help="the site file whose departments a handler's must be one of "
                         "(default: $HOTLINE12345_CONFIG, else the shipped site)")
    st.add_argument("--password-stdin", action="store_true",
                    help="read the password from the first line of standard input (the "
                         "default when standard input is not a terminal, unless "
                         f"{ENV_USER_PASSWORD} is set)")
    st.set_defaults(handler=_set)
    rm = users_sub.add_parser("remove", help="remove a user")
    rm.add_argument("name")
    rm.set_defaults(handler=_remove)


def _store(args: argparse.Namespace) -> UserStore:
    return UserStore.in_data_dir(data_dir(args.data_dir))


def _list(args: argparse.Namespace) -> int:
    for user in _store(args).list():
        flag = "\tmust change its one-time password" if user.must_change else ""
        where = f"\t{user.department}" if user.department else ""
        print(f"{user.name}\t{user.role}{where}{flag}")
    return 0


def _read_stdin_line() -> str:
    """The first line of standard input, without its line ending."""
    line = sys.stdin.buffer.readline()
    try:
        return line.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError:
        raise UserError("password", "standard input is not UTF-8 text") from None


def _new_password(args: argparse.Namespace) -> tuple[str, str]:
    """The new password and where it came from: ``--password-stdin`` (one line),
    ``HOTLINE12345_USER_PASSWORD``, the terminal (asked twice), or, when standard input is
    not a terminal, its first line."""
    if args.password_stdin:
        return _read_stdin_line(), "standard input"
    given = os.environ.get(ENV_USER_PASSWORD)
    if given:
        return given, ENV_USER_PASSWORD
    if sys.stdin.isatty():
        try:
            password = getpass.getpass(f"password for {args.name}: ")
            again = getpass.getpass("again: ")
        except (EOFError, KeyboardInterrupt):
            raise UserError("password", "cancelled: no password was given") from None
        if again != password:
            raise UserError("password", "the passwords differ")
        return password, "the terminal"
    return _read_stdin_line(), "standard input"


def site_departments(config: str | None) -> tuple[str, ...] | None:
    """The departments of the site file (``config``, else ``HOTLINE12345_CONFIG``, else the
    shipped one), or None when it lists none. A site file that cannot be loaded is a
    :class:`UserError` naming it."""
    from hotline12345.config import ConfigError, load_site

    try:
        site = load_site(config)
    except ConfigError as exc:
        raise UserError("config", f"the site file cannot be loaded, so the department "
                        f"cannot be checked:\n{exc}") from None
    except OSError as exc:
        raise UserError("config", f"{config}: {exc.strerror or exc}") from None
    names = tuple(str(getattr(d, "name", d)) for d in getattr(site.file, "departments", ()))
    return names or None


def _set(args: argparse.Namespace) -> int:
    try:
        departments = (site_departments(args.config)
                       if args.department or args.config else None)
        UserStore.check_role(args.role, args.department, departments)
        password, source = _new_password(args)
        if not password:
            raise UserError("password", f"none given ({source} is empty): pipe it as one "
                            f"line (printf '%s\\n' \"$PASSWORD\" | hotline12345 agents users "
                            f"set {args.name} --role {args.role}) or set {ENV_USER_PASSWORD}")
        try:
            UserStore.check_password(password)
        except UserError as exc:
            raise UserError("password", f"the password from {source}: {exc.message}") from None
        user = _store(args).set(args.name, password, args.role, department=args.department,
                                departments=departments)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    where = f", {user.department}" if user.department else ""
    print(f"user {user.name} ({user.role}{where}) saved")
    return 0


def _remove(args: argparse.Namespace) -> int:
    if not _store(args).remove(args.name):
        print(f"error: no user {args.name!r}", file=sys.stderr)
        return 1
    print(f"user {args.name} removed")
    return 0
