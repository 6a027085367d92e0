"""``hotline12345 worker``, ``transcribe``, ``jobs failed|retry|scan``, ``tickets show``
and ``db upgrade``."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from hotline12345.env import (
    DATABASE_URL_ENV,
    LOG_LEVEL_ENV,
    RECORDINGS_DIR_ENV,
    REDIS_URL_ENV,
    SCAN_WINDOW_ENV,
    VOSK_MODEL_ENV,
    redact_url,
)

if TYPE_CHECKING:
    from hotline12345.recordings.settings import RecordingSettings


def _common(parser: argparse.ArgumentParser, model: bool = False) -> None:
    parser.add_argument("--config", metavar="PATH",
                        help="site file (default: $HOTLINE12345_CONFIG, else the shipped site)")
    parser.add_argument("--data-dir", metavar="DIR",
                        help="data directory (default: $HOTLINE12345_DATA_DIR, else per user)")
    parser.add_argument("--database-url", metavar="URL",
                        help=f"tickets database (default: ${DATABASE_URL_ENV}, else "
                             "SQLite in the data directory)")
    parser.add_argument("--recordings-dir", metavar="DIR",
                        help=f"recordings store (default: ${RECORDINGS_DIR_ENV}, else "
                             "<data dir>/recordings)")
    parser.add_argument("--redis-url", metavar="URL",
                        help=f"Redis for the job queue (default: ${REDIS_URL_ENV}; "
                             "none: the SQL queue)")
    if model:
        parser.add_argument("--model", metavar="PATH",
                            help=f"Vosk model directory (default: ${VOSK_MODEL_ENV}, "
                                 "else speech.model in the site file)")
        parser.add_argument("--workers", type=int, metavar="N",
                            help="worker processes (default: 1)")


def _scan_window(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--scan-window-days", type=float, metavar="DAYS",
                        help=f"the directory scan looks at recordings modified within DAYS "
                             f"(default: ${SCAN_WINDOW_ENV}, else 3; 0: the whole directory)")


def register_recordings_cmds(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    worker = sub.add_parser("worker", help="transcribe recorded calls into tickets (run on "
                                           "any number of machines sharing Redis and the "
                                           "recordings store)")
    _common(worker, model=True)
    _scan_window(worker)
    worker.set_defaults(handler=_guarded(_worker))

    tr = sub.add_parser("transcribe", help="import recordings as tickets, with a progress "
                                           "bar; can be interrupted and run again")
    tr.add_argument("files", nargs="+", metavar="FILE")
    _common(tr, model=True)
    tr.add_argument("--retry-failed", action="store_true",
                    help="try again the files that failed in an earlier run")
    tr.add_argument("--no-progress", action="store_true", help="no progress bar")
    tr.set_defaults(handler=_guarded(_transcribe))

    jobs = sub.add_parser("jobs", help="recording jobs: failures, retries, directory scan")
    jsub = jobs.add_subparsers(dest="jobs_command", metavar="ACTION", required=True)
    failed = jsub.add_parser("failed", help="list failed jobs with their reasons")
    _common(failed)
    failed.add_argument("--json", action="store_true", help="one JSON object per line")
    failed.set_defaults(handler=_guarded(_jobs_failed))
    retry = jsub.add_parser("retry", help="put a failed job back in the queue")
    retry.add_argument("uniqueid")
    _common(retry)
    retry.set_defaults(handler=_guarded(_jobs_retry))
    abandoned = jsub.add_parser("abandoned", help="the callback list: recorded calls never "
                                                  "answered (the caller hung up while waiting)")
    _common(abandoned)
    abandoned.add_argument("--json", action="store_true", help="one JSON object per line")
    abandoned.set_defaults(handler=_guarded(_jobs_abandoned))
    scan = jsub.add_parser("scan", help="enqueue recordings that have no ticket yet")
    _common(scan)
    _scan_window(scan)
    scan.set_defaults(handler=_guarded(_jobs_scan))



def add_tickets_show(tsub: argparse._SubParsersAction[Any]) -> None:
    """``tickets show``, registered by :mod:`hotline12345.tickets.cli` beside the loop's
    own actions."""
    show = tsub.add_parser("show", help="print a call's ticket as JSON (the caller's number "
                                        "and name masked)")
    show.add_argument("uniqueid")
    _common(show)
    show.set_defaults(handler=_guarded(_tickets_show))


def _guarded(handler: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Turn "Redis or the database cannot be reached" into one clear line and exit code 2."""

    def run(args: argparse.Namespace) -> int:
        from sqlalchemy.exc import OperationalError

        from hotline12345.recordings.queue import QueueUnavailable
        from hotline12345.recordings.settings import SettingsError

        try:
            return handler(args)
        except SettingsError as exc:
            print(f"hotline12345 {args.command}: {exc}", file=sys.stderr)
        except QueueUnavailable as exc:
            print(f"hotline12345 {args.command}: {exc}; start Redis and the database, or check "
                  f"--redis-url/{REDIS_URL_ENV} and --database-url", file=sys.stderr)
        except OperationalError as exc:
            url = getattr(args, "database_url", None) or os.environ.get(
                DATABASE_URL_ENV, "the embedded SQLite database")
            print(f"hotline12345 {args.command}: database {redact_url(url)}: cannot use it "
                  f"({str(exc.orig or exc).strip().splitlines()[0]}); check --database-url or "
                  f"{DATABASE_URL_ENV}", file=sys.stderr)
        return 2

    return run


def _settings(args: argparse.Namespace) -> RecordingSettings:
    from hotline12345.config.cli import site_from_args
    from hotline12345.recordings.settings import settings_from

    site = site_from_args(args)
    return settings_from(site, data_dir=args.data_dir, database_url=args.database_url,
                         recordings_dir=args.recordings_dir, redis_url=args.redis_url,
                         model=getattr(args, "model", None),
                         workers=getattr(args, "workers", None),
                         scan_window_days=getattr(args, "scan_window_days", None))


def _migrate(settings: RecordingSettings) -> None:
    from hotline12345.db.migrate import upgrade

    upgrade(settings.database_url)


def _schema_ready(settings: RecordingSettings, command: str) -> bool:
    """Read-only commands do not migrate: say so when the schema is missing or old."""
    from hotline12345.db.migrate import SchemaMissing, check_schema

    try:
        check_schema(settings.database_url)
    except SchemaMissing as exc:
        print(f"hotline12345 {command}: {exc}", file=sys.stderr)
        return False
    return True


def _worker(args: argparse.Namespace) -> int:
    from hotline12345.logs import setup_logging
    from hotline12345.recordings.vosk_model import ModelError
    from hotline12345.recordings.worker import run_worker

    setup_logging(os.environ.get(LOG_LEVEL_ENV, "INFO"))
    settings = _settings(args)
    _migrate(settings)
    try:
        return run_worker(settings)
    except ModelError as exc:
        print(f"hotline12345 worker: {exc}", file=sys.stderr)
        return 2


def _transcribe(args: argparse.Namespace) -> int:
    from hotline12345.logs import setup_logging
    from hotline12345.recordings.batch import transcribe_files
    from hotline12345.recordings.vosk_model import ModelError
    from hotline12345.recordings.worker import StopSignals, load_settings_model

    setup_logging(os.environ.get(LOG_LEVEL_ENV, "WARNING"))
    settings = _settings(args)
    missing = [f for f in args.files if not os.path.exists(f)]
    for name in missing:
        print(f"{name}: file not found; check the path", file=sys.stderr)
    if missing:
        return 2
    try:
        model = load_settings_model(settings)
    except ModelError as exc:
        print(f"hotline12345 transcribe: {exc}", file=sys.stderr)
        return 2
    _migrate(settings)
    signals = StopSignals()
    report = transcribe_files(args.files, settings, model, workers=args.workers or 1,
                              retry_failed=args.retry_failed, progress=not args.no_progress,
                              should_stop=signals.is_set)
    new = report.done - report.skipped
    print(f"{report.calls} calls: {new} transcribed, {report.skipped} already had a ticket, "
          f"{len(report.failed)} failed" + (f", {len(report.left)} not done" if report.left
                                            else ""))
    if report.interrupted:
        print(f"hotline12345 transcribe: interrupted by {signals.name}: the workers stopped; "
              f"{report.released} call(s) in progress went back to the queue, "
              f"{len(report.left)} not done ({', '.join(report.left[:10])}"
              f"{', ...' if len(report.left) > 10 else ''}); run the same command again to "
              "finish them", file=sys.stderr)
        signals.exit()
        return 1
    if report.failed:
        print("failures:")
        for uid, reason in sorted(report.failed.items()):
            print(f"  {uid}: {reason}")
        print("fix the files, then run again with --retry-failed")
        return 1
    return 0


def _jobs_failed(args: argparse.Namespace) -> int:
    from hotline12345.recordings.api import failed_jobs

    settings = _settings(args)
    if not _schema_ready(settings, "jobs failed"):
        return 2
    items = failed_jobs(settings)
    for item in items:
        if args.json:
            print(json.dumps(item.as_dict(), ensure_ascii=False))
        else:
            when = datetime.fromtimestamp(item.failed_at, UTC).isoformat(timespec="seconds")
            print(f"{item.uniqueid}\t{when}\tattempts={item.attempts}\t{item.error}")
    if not args.json:
        print(f"{len(items)} failed job{'s' if len(items) != 1 else ''}", file=sys.stderr)
    return 0


def _jobs_abandoned(args: argparse.Namespace) -> int:
    from hotline12345.recordings.api import abandoned_calls

    settings = _settings(args)
    if not _schema_ready(settings, "jobs abandoned"):
        return 2
    items = abandoned_calls(settings)
    for item in items:
        if args.json:
            print(json.dumps(item, ensure_ascii=False))
        else:
            when = datetime.fromtimestamp(item["at"], UTC).isoformat(timespec="seconds")
            print(f"{item['uniqueid']}\t{when}\tcaller={item['caller'] or '-'}\t"
                  f"dialled={item['dialled'] or '-'}")
    if not args.json:
        print(f"{len(items)} abandoned call{'s' if len(items) != 1 else ''}", file=sys.stderr)
    return 0


def _jobs_retry(args: argparse.Namespace) -> int:
    from hotline12345.recordings.api import retry_failed

    settings = _settings(args)
    _migrate(settings)
    if retry_failed(settings, args.uniqueid):
        print(f"{args.uniqueid}: queued again")
        return 0
    print(f"{args.uniqueid}: no failed job with this uniqueid (see hotline12345 jobs failed)",
          file=sys.stderr)
    return 1


def _jobs_scan(args: argparse.Namespace) -> int:
    from hotline12345.recordings.scan import scan
    from hotline12345.recordings.worker import open_queue, sessions_for

    settings = _settings(args)
    _migrate(settings)
    with sessions_for(settings) as sessions:
        queue = open_queue(settings, sessions)
        try:
            added = scan(settings.recordings_dir, queue, sessions,
                         settings.limits.settle_seconds, window_s=settings.scan_window_s)
        finally:
            queue.close()
    for uid in added:
        print(uid)
    window = (f"modified in the last {settings.scan_window_s / 86400:g} days"
              if settings.scan_window_s > 0 else "all")
    print(f"{len(added)} recording{'s' if len(added) != 1 else ''} queued from "
          f"{settings.recordings_dir} ({window}; --scan-window-days 0 looks at every file)",
          file=sys.stderr)
    return 0


def _tickets_show(args: argparse.Namespace) -> int:
    from hotline12345.recordings.api import ticket

    settings = _settings(args)
    if not _schema_ready(settings, "tickets show"):
        return 2
    view = ticket(settings, args.uniqueid)
    if view is None:
        print(f"{args.uniqueid}: no ticket (is it in hotline12345 jobs failed?)", file=sys.stderr)
        return 1
    print(json.dumps(view, ensure_ascii=False, indent=2))
    return 0


