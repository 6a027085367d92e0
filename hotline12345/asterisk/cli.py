"""``hotline12345 asterisk-conf render|check`` and ``hotline12345 prompts build|list``."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from hotline12345.asterisk.check import check_dir
from hotline12345.asterisk.prompts import (
    DEFAULT_VOICE,
    PromptBuildError,
    build_prompts,
    catalogue,
)
from hotline12345.asterisk.render import TIMINGS, RenderError, RenderOptions, render
from hotline12345.config.cli import add_config_option, site_from_args
from hotline12345.env import RECORDINGS_DIR_ENV
from hotline12345.secrets import SecretError

SOUNDS_HINT = "/var/lib/asterisk/sounds/hotline12345"


def register_asterisk_cmds(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    conf = sub.add_parser("asterisk-conf", help="render or check the Asterisk configuration")
    csub = conf.add_subparsers(dest="asterisk_command", metavar="ACTION", required=True)

    r = csub.add_parser("render", help="write the site's dialplan, queues, AMI user, trunks "
                        "and conference profiles (*_hotline12345.conf, to #include from "
                        "/etc/asterisk)")
    add_config_option(r)
    r.add_argument("--out", required=True, metavar="DIR", help="directory to write into")
    d = RenderOptions()
    r.add_argument("--agi-host", action="append", dest="agi_hosts", metavar="IP",
                   help="a controller's address: FastAGI host and an address the AMI user may "
                   "log in from; repeat it for several controllers, which the dialplan tries "
                   f"in this order (default {', '.join(d.agi_hosts)})")
    r.add_argument("--agi-port", type=int, default=d.agi_port, metavar="PORT",
                   help=f"the controller's FastAGI port (default {d.agi_port})")
    r.add_argument("--ami-port", type=int, default=d.ami_port, metavar="PORT",
                   help=f"AMI port (default {d.ami_port})")
    r.add_argument("--ami-bind", default=d.ami_bind, metavar="IP",
                   help="the address AMI listens on (manager.conf bindaddr; default "
                   f"{d.ami_bind}): with a controller on another host, this host's address on "
                   "the controllers' network")
    r.add_argument("--recordings-dir", metavar="PATH",
                   help=f"where MixMonitor writes (default: ${RECORDINGS_DIR_ENV}, the "
                   f"directory the recordings workers read, else {d.recordings_dir}); a "
                   f"deployment sets {RECORDINGS_DIR_ENV} for both")
    r.add_argument("--max-hops", type=int, default=d.max_hops, metavar="N",
                   help="a call that has already passed through this dialplan N times (a "
                   "routing loop: a trunk or provider that sends a dialled number back here) "
                   f"goes to the general queue and is not routed again (default {d.max_hops})")
    times = r.add_argument_group("times", "in whole seconds, 1-3600; shown in the "
                                 "dialplan's [hotline12345-settings] and the queues")
    for timing in TIMINGS:
        default = getattr(d, timing.field)
        times.add_argument(timing.flag, type=int, default=default, dest=timing.field,
                           metavar="SECONDS", help=f"{timing.what} (default {default})")
    r.set_defaults(handler=_render)

    c = csub.add_parser("check", help="asterisklint plus cross-checks against the site file; "
                        "exit 1 on any error")
    c.add_argument("dir", metavar="DIR", help="a rendered directory (e.g. asterisk_conf)")
    add_config_option(c)
    c.add_argument("--sounds", metavar="DIR",
                   help=f"prompt audio directory to check (e.g. {SOUNDS_HINT})")
    c.add_argument("--allow-placeholders", action="store_true",
                   help="report placeholder secrets as warnings (for the repository's render)")
    c.add_argument("--no-lint", action="store_true", help="skip asterisklint")
    c.set_defaults(handler=_check)

    prompts = sub.add_parser("prompts", help="build the prompt audio Asterisk plays")
    psub = prompts.add_subparsers(dest="prompts_command", metavar="ACTION", required=True)
    b = psub.add_parser("build", help="every prompt → <id>.wav, 8 kHz mono 16-bit (espeak-ng "
                        "Mandarin, or the site's recordings)")
    add_config_option(b)
    b.add_argument("--out", required=True, metavar="DIR",
                   help=f"output directory; deploy to {SOUNDS_HINT}")
    b.add_argument("--voice", default=DEFAULT_VOICE,
                   help=f"espeak-ng voice (default {DEFAULT_VOICE}, Mandarin)")
    b.add_argument("--only", nargs="+", metavar="ID", help="build only these prompt ids")
    b.set_defaults(handler=_build)
    lst = psub.add_parser("list", help="every prompt id, where it is defined, and its text")
    add_config_option(lst)
    lst.set_defaults(handler=_list)


def _render(args: argparse.Namespace) -> int:
    site = site_from_args(args)
    from_env = os.environ.get(RECORDINGS_DIR_ENV, "").strip()
    recordings_dir = args.recordings_dir or from_env or RenderOptions().recordings_dir
    options = RenderOptions(agi_hosts=tuple(args.agi_hosts or RenderOptions().agi_hosts),
                            agi_port=args.agi_port, ami_port=args.ami_port,
                            ami_bind=args.ami_bind, recordings_dir=recordings_dir,
                            max_hops=args.max_hops,
                            **{t.field: getattr(args, t.field) for t in TIMINGS})
    try:
        rendered = render(site, options)
    except (RenderError, SecretError) as exc:
        message = str(exc)
        if "--recordings-dir" in message and not args.recordings_dir and from_env:
            message += f" (the value comes from {RECORDINGS_DIR_ENV})"
        print(f"asterisk-conf render: {message}", file=sys.stderr)
        return 2
    out = Path(args.out)
    problem = out_dir_problem(out)
    if problem is None:
        try:
            written = rendered.write(out)
        except OSError as exc:
            problem = f"cannot write into {out} ({exc.strerror})"
    if problem is not None:
        print(f"asterisk-conf render: --out {out}: {problem}; give a directory you may write "
              "to (it is created if missing)", file=sys.stderr)
        return 2
    for path in written:
        print(f"wrote {path}")
    for env in rendered.placeholders:
        print(f"note: {env} is not set; a placeholder was written, which `asterisk-conf check` "
              "reports until you set it and render again", file=sys.stderr)
    return 0


def out_dir_problem(out: Path) -> str | None:
    """Why ``out`` cannot be the output directory (an existing file, or a path under one),
    or None."""
    if out.exists() and not out.is_dir():
        return "it is a file, not a directory"
    for parent in out.parents:
        if parent.exists():
            return None if parent.is_dir() else f"{parent} is a file, not a directory"
    return None


def _check(args: argparse.Namespace) -> int:
    site = site_from_args(args)
    directory = Path(args.dir)
    if not directory.is_dir():
        print(f"asterisk-conf check: {directory} is not a directory", file=sys.stderr)
        return 2
    result = check_dir(directory, site, sounds=Path(args.sounds) if args.sounds else None,
                       allow_placeholders=args.allow_placeholders, run_lint=not args.no_lint)
    for finding in result.findings:
        print(finding)
    for line in result.info:
        print(f"info: {line}")
    if args.sounds is None:
        print(f"note: prompt audio not checked; give --sounds DIR (e.g. {SOUNDS_HINT})",
              file=sys.stderr)
    n_err, n_warn = len(result.errors), len(result.warnings)
    summary = f"{directory}: {n_err} error{'s' * (n_err != 1)}, {n_warn} warning" \
              f"{'s' * (n_warn != 1)}"
    print(summary, file=sys.stderr if n_err else sys.stdout)
    return 1 if n_err else 0


def _build(args: argparse.Namespace) -> int:
    site = site_from_args(args)
    try:
        paths = build_prompts(site, Path(args.out), voice=args.voice, only=args.only)
    except PromptBuildError as exc:
        print(f"prompts build: {exc}", file=sys.stderr)
        return 1
    for path in paths:
        print(f"wrote {path}")
    print(f"{len(paths)} prompts in {args.out}; copy them to {SOUNDS_HINT} on the Asterisk "
          "host")
    return 0


def _list(args: argparse.Namespace) -> int:
    site = site_from_args(args)
    for pid, p in catalogue(site).items():
        what = f"file {p.file}" if p.file is not None else p.text
        print(f"{pid:<22} {p.origin:<40} {what}")
    return 0
