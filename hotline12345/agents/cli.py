"""``hotline12345 agents ...``: wallboard users.

    hotline12345 agents users list
    hotline12345 agents users set NAME --role supervisor|viewer   (asks for the password)
    hotline12345 agents users set NAME --role viewer --password-stdin < file
    hotline12345 agents users remove NAME
"""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

from hotline12345.paths import data_dir

from .users import ROLES, UserError, UserStore

__all__ = ["register_agents_cmd"]


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
                    help="read the password from the first line of standard input")
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


def _set(args: argparse.Namespace) -> int:
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass(f"password for {args.name}: ")
        if getpass.getpass("again: ") != password:
            print("error: the passwords differ", file=sys.stderr)
            return 2
    try:
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
