"""``hotline12345 agents ...``: wallboard users.

    hotline12345 agents users list
    hotline12345 agents users set NAME --role supervisor|viewer   (asks for the password)
    hotline12345 agents users set NAME --role viewer --password-stdin < file
    printf '%s\n' "$PASSWORD" | hotline12345 agents users set NAME --role viewer
    HOTLINE12345_USER_PASSWORD=... hotline12345 agents users set NAME --role viewer
    hotline12345 agents users remove NAME

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

from .users import ROLES, UserError, UserStore

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
    st.add_argument("--role", choices=ROLES, required=True)
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
        print(f"{user.name}\t{user.role}{flag}")
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


def _set(args: argparse.Namespace) -> int:
    try:
        password, source = _new_password(args)
        if not password:
            raise UserError("password", f"none given ({source} is empty): pipe it as one "
                            f"line (printf '%s\\n' \"$PASSWORD\" | hotline12345 agents users "
                            f"set {args.name} --role {args.role}) or set {ENV_USER_PASSWORD}")
        try:
            UserStore.check_password(password)
        except UserError as exc:
            raise UserError("password", f"the password from {source}: {exc.message}") from None
        user = _store(args).set(args.name, password, args.role)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"user {user.name} ({user.role}) saved")
    return 0


def _remove(args: argparse.Namespace) -> int:
    if not _store(args).remove(args.name):
        print(f"error: no user {args.name!r}", file=sys.stderr)
        return 1
    print(f"user {args.name} removed")
    return 0
