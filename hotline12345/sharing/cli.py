"""``hotline12345 feed``: the departments' feeds from the command line.

- ``feed status``: per subscription of the site file: delivered, pending, failing (with
  the last error), dead letters; ``--json`` for one object per line.
- ``feed replay --subscription NAME (--from-id N | --dead)``: deliver again, with a new
  retry window: every event from outbox id N on that the subscription receives (also those
  recorded before it was added), or its dead letters. The running ``serve`` picks them up.
- ``feed prune --older-than-days N``: delete the events older than N days that nobody
  still has to receive (for cron; the outbox otherwise keeps every event).
- ``feed new-secret``: print a fresh signing secret for ``HOTLINE12345_FEED_<NAME>_SECRET``.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from typing import Any

from hotline12345.env import DATABASE_URL_ENV

__all__ = ["register_feed_cmd"]


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="PATH", help="site file (default: "
                        "$HOTLINE12345_CONFIG, else the shipped default)")
    parser.add_argument("--data-dir", metavar="DIR",
                        help="data directory (default: $HOTLINE12345_DATA_DIR, else per user)")
    parser.add_argument("--database-url", metavar="URL",
                        help=f"database (default: ${DATABASE_URL_ENV}, else SQLite in the data "
                             "directory)")


def register_feed_cmd(sub: argparse._SubParsersAction[Any]) -> None:
    feed = sub.add_parser("feed", help="departments' feeds of ticket events (信息共享)")
    fsub = feed.add_subparsers(dest="feed_command", metavar="ACTION", required=True)
    status = fsub.add_parser("status", help="per subscription: delivered, pending, failing, "
                             "dead letters")
    _common(status)
    status.add_argument("--json", action="store_true", help="one JSON object per line")
    status.set_defaults(handler=_status)
    replay = fsub.add_parser("replay", help="deliver events again (from an outbox id, or the "
                             "dead letters)")
    _common(replay)
    replay.add_argument("--subscription", required=True, metavar="NAME")
    which = replay.add_mutually_exclusive_group(required=True)
    which.add_argument("--from-id", type=int, metavar="N",
                       help="every event from outbox id N on (see feed status --json)")
    which.add_argument("--dead", action="store_true", help="the dead letters")
    replay.set_defaults(handler=_replay)
    prune = fsub.add_parser("prune", help="delete old events nobody still has to receive")
    _common(prune)
    prune.add_argument("--older-than-days", type=int, required=True, metavar="N",
                       help="events recorded more than N days ago (1 or more)")
    prune.set_defaults(handler=_prune)
    secret = fsub.add_parser("new-secret", help="print a new webhook signing secret")
    secret.set_defaults(handler=_new_secret)


def _fail(message: str) -> int:
    print(f"hotline12345 feed: {message}", file=sys.stderr)
    return 2


def _open(args: argparse.Namespace) -> tuple[Any, str] | str:
    """(site, database URL), or the problem as one line."""
    from hotline12345 import paths
    from hotline12345.config import ConfigError, load_site
    from hotline12345.db.migrate import SchemaMissing, check_schema, resolve_url

    try:
        site = load_site(args.config)
    except ConfigError as exc:
        return str(exc)
    url = args.database_url or (paths.database_url(paths.data_dir(args.data_dir))
                                if args.data_dir else resolve_url(None))
    try:
        check_schema(url)
    except SchemaMissing as exc:
        return str(exc)
    except Exception as exc:  # a URL that cannot be used: said in one line
        from hotline12345.db.engine import error_text
        from hotline12345.env import redact_url

        return f"database {redact_url(url)} cannot be used ({error_text(exc)}); check " \
               f"--database-url or {DATABASE_URL_ENV}"
    return site, url


def _status(args: argparse.Namespace) -> int:
    from sqlalchemy.orm import Session

    from hotline12345.db.engine import make_engine

    from .store import status

    opened = _open(args)
    if isinstance(opened, str):
        return _fail(opened)
    site, url = opened
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            rows = status(session, site.file.feeds)
    finally:
        engine.dispose()
    if args.json:
        for row in rows:
            print(json.dumps(row.to_dict(), ensure_ascii=False))
        return 0
    if not rows:
        print("no feeds: the site file has no feeds: section")
        return 0
    print(f"{'subscription':20} {'kind':12} {'department':14} {'delivered':>9} {'pending':>8} "
          f"{'failing':>8} {'dead':>6}  last error")
    for row in rows:
        gone = "" if row.in_site_file else " (not in the site file)"
        error = f"{row.last_error} ({row.last_error_at:%Y-%m-%d %H:%M:%S})" \
            if row.last_error and row.last_error_at else "-"
        print(f"{row.name + gone:20} {row.kind:12} {row.department:14} {row.delivered:>9} "
              f"{row.pending:>8} {row.failing:>8} {row.dead:>6}  {error}")
    for row in rows:
        if row.sender:
            print(f"{row.name}: sent by {row.sender}")
    return 0


def _replay(args: argparse.Namespace) -> int:
    from sqlalchemy.orm import Session

    from hotline12345.db.engine import make_engine

    from .store import replay

    opened = _open(args)
    if isinstance(opened, str):
        return _fail(opened)
    site, url = opened
    known = {s.name: s for s in site.file.feeds}
    subscription = known.get(args.subscription)
    if subscription is None:
        return _fail(f"--subscription {args.subscription}: no such subscription in "
                     f"{site.source}; subscriptions: {', '.join(known) or 'none'}")
    if args.from_id is not None and args.from_id < 1:
        return _fail("--from-id must be an outbox id, 1 or more")
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            try:
                queued = replay(session, subscription, datetime.now(UTC),
                                from_id=args.from_id, dead=args.dead)
            except ValueError as exc:
                return _fail(str(exc))
            session.commit()
    finally:
        engine.dispose()
    print(f"{subscription.name}: {queued} event(s) queued again; the running serve "
          "delivers them")
    return 0


def _prune(args: argparse.Namespace) -> int:
    from datetime import timedelta

    from sqlalchemy.orm import Session

    from hotline12345.db.engine import make_engine

    from .store import prune

    if args.older_than_days < 1:
        return _fail("--older-than-days must be 1 or more")
    opened = _open(args)
    if isinstance(opened, str):
        return _fail(opened)
    _, url = opened
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            gone = prune(session, datetime.now(UTC) - timedelta(days=args.older_than_days))
            session.commit()
    finally:
        engine.dispose()
    print(f"{gone} event(s) older than {args.older_than_days} day(s) deleted")
    return 0


def _new_secret(args: argparse.Namespace) -> int:
    from .signing import new_secret

    print(new_secret())
    return 0
