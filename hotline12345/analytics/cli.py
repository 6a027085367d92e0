"""``hotline12345 topics index|hot|surges``: build the topic index of an existing database
(``serve`` keeps it current afterwards), and print the hot topics and surge warnings."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from typing import Any

from hotline12345.config.cli import add_config_option, site_from_args
from hotline12345.env import DATABASE_URL_ENV

__all__ = ["register_topics_cmds"]


def _aware_time(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO time; write e.g. 2027-01-04T09:00+08:00") from None
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError(
            f"{text!r} has no time zone; add one, e.g. 2027-01-04T09:00+08:00")
    return value.astimezone(UTC)


def _common(parser: argparse.ArgumentParser, *, now: bool) -> None:
    add_config_option(parser)
    parser.add_argument("--data-dir", metavar="DIR",
                        help="data directory (default: $HOTLINE12345_DATA_DIR, else per user)")
    parser.add_argument("--database-url", metavar="URL",
                        help=f"database (default: ${DATABASE_URL_ENV}, else SQLite in the data "
                             "directory)")
    if now:
        parser.add_argument("--now", metavar="TIME", type=_aware_time,
                            help="as at this ISO time with its zone, e.g. "
                                 "2027-01-04T09:00+08:00 (default: now)")
        parser.add_argument("--json", action="store_true", help="print JSON")


def register_topics_cmds(sub: argparse._SubParsersAction[Any]) -> None:
    topics = sub.add_parser("topics", help="hot topics and surge warnings (热点, 预警)")
    tsub = topics.add_subparsers(dest="topics_command", metavar="ACTION", required=True)
    index = tsub.add_parser("index", help="count every ticket not yet in the topic index")
    _common(index, now=False)
    index.set_defaults(handler=_index)
    hot = tsub.add_parser("hot", help="the hot terms of today or the last 7 days")
    _common(hot, now=True)
    hot.add_argument("--window", choices=("today", "7d"), default="today")
    hot.set_defaults(handler=_hot)
    surges = tsub.add_parser("surges", help="the surge warnings of the last hour and day")
    _common(surges, now=True)
    surges.set_defaults(handler=_surges)


def _service(args: argparse.Namespace) -> Any:
    """The site's TopicsService on the database, or an error line and None."""
    from sqlalchemy.exc import SQLAlchemyError

    from hotline12345.db.engine import error_text, make_engine
    from hotline12345.db.migrate import SchemaMissing, check_schema
    from hotline12345.paths import data_dir
    from hotline12345.tickets.service import database_url_for

    from .service import TopicsService

    site = site_from_args(args)
    url = database_url_for(args.data_dir, args.database_url)
    try:
        check_schema(url)
    except SchemaMissing as exc:
        print(f"hotline12345 topics: {exc}", file=sys.stderr)
        return None
    except SQLAlchemyError as exc:
        print(f"hotline12345 topics: cannot read the database: {error_text(exc)}",
              file=sys.stderr)
        return None
    now: datetime | None = getattr(args, "now", None)
    clock = (lambda: now) if now is not None else (lambda: datetime.now(UTC))
    return TopicsService.for_site(site, make_engine(url), data_dir=data_dir(args.data_dir),
                                  clock=clock)


def _run(args: argparse.Namespace, body: Any) -> int:
    from sqlalchemy.exc import SQLAlchemyError

    from hotline12345.db.engine import error_text

    service = _service(args)
    if service is None:
        return 2
    try:
        body(service)
    except SQLAlchemyError as exc:
        print(f"hotline12345 topics: the database failed: {error_text(exc)}", file=sys.stderr)
        return 2
    finally:
        service.engine.dispose()
    return 0


def _index(args: argparse.Namespace) -> int:
    def body(service: Any) -> None:
        print(f"topic index: {service.refresh()} ticket(s) counted")

    return _run(args, body)


def _hot(args: argparse.Namespace) -> int:
    from .hot import Window

    def body(service: Any) -> None:
        hot = service.hot(Window(args.window))
        if args.json:
            print(json.dumps(hot.to_dict(), ensure_ascii=False, indent=1))
            return
        print(f"{args.window}: {hot.tickets} ticket(s), baseline {hot.baseline_tickets}")
        for rank, term in enumerate(hot.terms, start=1):
            print(f"{rank:>3}  {term.term}  {term.kind or ''}  {term.count} vs "
                  f"{term.baseline_count}  G²={term.g2:.1f}")

    return _run(args, body)


def _surges(args: argparse.Namespace) -> int:
    def body(service: Any) -> None:
        warnings = service.surges()
        if args.json:
            print(json.dumps([w.to_payload() for w in warnings], ensure_ascii=False, indent=1))
            return
        if not warnings:
            print("no surge")
        for w in warnings:
            print(f"{w.label} {w.value}  {w.span.value}: {w.count} vs {w.baseline_mean:.2f} "
                  f"(p={w.p_value:.1e})  tickets {', '.join(map(str, w.ticket_ids))}")

    return _run(args, body)
