"""``hotline12345 tickets lifecycle|sweep``: the lifecycle table as a diagram, and the 督办
sweep for cron (``serve`` runs the same sweep periodically)."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import Any

from hotline12345.config.cli import add_config_option, site_from_args
from hotline12345.env import DATABASE_URL_ENV


def register_tickets_cmds(sub: argparse._SubParsersAction[Any]) -> None:
    tickets = sub.add_parser(
        "tickets", help="tickets (工单): show one, the lifecycle diagram, the 督办 sweep")
    tsub = tickets.add_subparsers(dest="tickets_command", metavar="ACTION", required=True)
    from hotline12345.recordings.cli import add_tickets_show  # recordings builds on tickets

    add_tickets_show(tsub)
    life = tsub.add_parser("lifecycle", help="print the lifecycle table as a diagram")
    life.add_argument("--format", choices=("mermaid", "markdown", "page"), default="mermaid",
                      help="mermaid: a state diagram; markdown: the whole table; page: both, "
                           "as docs/ticket-lifecycle.md")
    life.set_defaults(handler=_lifecycle)
    sweep = tsub.add_parser("sweep", help="raise the computed 督办 levels (idempotent; for "
                            "cron)")
    add_config_option(sweep)
    sweep.add_argument("--data-dir", metavar="DIR",
                       help="data directory (default: $HOTLINE12345_DATA_DIR, else per user)")
    sweep.add_argument("--database-url", metavar="URL",
                       help=f"database (default: ${DATABASE_URL_ENV}, else SQLite in the data "
                            "directory)")
    sweep.add_argument("--now", metavar="TIME", type=_aware_time,
                       help="sweep as at this ISO time with its zone, e.g. "
                            "2027-01-04T09:00+08:00 (default: now)")
    sweep.set_defaults(handler=_sweep)


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


def _lifecycle(args: argparse.Namespace) -> int:
    from hotline12345.tickets.lifecycle import lifecycle_page, markdown_table, mermaid

    render = {"mermaid": mermaid, "markdown": markdown_table, "page": lifecycle_page}
    print(render[args.format](), end="")
    return 0


def _sweep(args: argparse.Namespace) -> int:
    from hotline12345.tickets.service import SweepFailed, sweep_once

    site = site_from_args(args)
    try:
        raised = sweep_once(site, data_dir=args.data_dir, database_url=args.database_url,
                            now=args.now)
    except SweepFailed as exc:
        print(f"hotline12345 tickets sweep: {exc}", file=sys.stderr)
        return 2
    print(f"督办 sweep: {raised} ticket(s) raised")
    return 0
