"""``hotline12345 config check|show``."""

from __future__ import annotations

import argparse
import sys
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from hotline12345.config.errors import ConfigError
from hotline12345.config.loader import check_site, load_site, resolve_site_path, site_warnings
from hotline12345.config.schema import Site


def add_config_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="PATH",
                        help="site file (default: $HOTLINE12345_CONFIG, else the shipped site)")


def site_from_args(args: argparse.Namespace) -> Site:
    """The site named by ``--config`` (or the default); on errors, print every one and how to
    go on, then exit with status 2."""
    try:
        return load_site(args.config)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        print("fix the site file; `hotline12345 config check` lists every error",
              file=sys.stderr)
        raise SystemExit(2) from None


def register_config_cmd(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    config = sub.add_parser("config", help="check or show the site file")
    csub = config.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    check = csub.add_parser("check", help="list every error in a site file (exit 1 if any), "
                                            "then its warnings")
    check.add_argument("path", nargs="?", help="site file (default: as --config)")
    check.add_argument("--today", metavar="YYYY-MM-DD", type=_iso_date,
                       help="check as of this day (default: today in the calendar's time zone);"
                            " warnings look ahead from it")
    add_config_option(check)
    check.set_defaults(handler=_check)
    show = csub.add_parser("show", help="print the site file in use (start a new site from it)")
    add_config_option(show)
    show.set_defaults(handler=_show)
    ref = csub.add_parser("reference", help="print the site-file reference (docs/site-file.md): "
                                            "every key, its type, default and an example")
    ref.set_defaults(handler=_reference)


def _check(args: argparse.Namespace) -> int:
    path = resolve_site_path(args.path or args.config)
    issues = check_site(path)
    for issue in issues:
        print(issue)
    if issues:
        print(f"{len(issues)} error{'s' if len(issues) != 1 else ''} in {path}", file=sys.stderr)
        return 1
    today = args.today or _site_today(path)
    for warning in site_warnings(path, today=today):
        print(f"warning: {warning}")
    print(f"{path}: OK")
    return 0


def _iso_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date; write e.g. 2026-12-07") from None


def _site_today(path: Path) -> date:
    """Today in the time zone of the site's working-day calendar."""
    zone = load_site(path).file.calendar.timezone
    return datetime.now(ZoneInfo(zone)).date()


def _show(args: argparse.Namespace) -> int:
    sys.stdout.write(resolve_site_path(args.config).read_text(encoding="utf-8"))
    return 0


def _reference(args: argparse.Namespace) -> int:
    from hotline12345.config.reference import reference

    sys.stdout.write(reference())
    return 0
