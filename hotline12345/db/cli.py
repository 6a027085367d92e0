"""``hotline12345 db upgrade``: apply the Alembic migrations to the product's database (the
calls, tickets, recording jobs and audit tables). Idempotent; ``serve`` does the same at
start. Read-only commands never migrate: they say to run this instead."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from hotline12345.env import DATABASE_URL_ENV, redact_url


def register_db_cmd(sub: argparse._SubParsersAction[Any]) -> None:
    db = sub.add_parser("db", help="database schema")
    dsub = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    up = dsub.add_parser("upgrade", help="apply the Alembic migrations (idempotent)")
    up.add_argument("--data-dir", metavar="DIR",
                    help="data directory (default: $HOTLINE12345_DATA_DIR, else per user)")
    up.add_argument("--database-url", metavar="URL",
                    help=f"database (default: ${DATABASE_URL_ENV}, else SQLite in the data "
                         "directory)")
    up.set_defaults(handler=_upgrade)


def _upgrade(args: argparse.Namespace) -> int:
    from hotline12345 import paths
    from hotline12345.db.migrate import DatabaseUnusable, resolve_url, upgrade_or_explain

    url = args.database_url or (paths.database_url(paths.data_dir(args.data_dir))
                                if args.data_dir else resolve_url(None))
    try:
        upgrade_or_explain(url)
    except DatabaseUnusable as exc:
        print(f"hotline12345 db upgrade: {exc}", file=sys.stderr)
        return 2
    print(f"{redact_url(url)}: schema up to date")
    return 0
