"""``hotline12345 route`` (the dry run) and ``hotline12345 register list``."""

from __future__ import annotations

import argparse
import json
import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from hotline12345.config.cli import add_config_option, site_from_args
from hotline12345.routing.decision import Action, CallContext
from hotline12345.routing.engine import Router


def register_route_cmd(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    route = sub.add_parser("route", help="dry run: how would a call to NUMBER be routed, and why")
    route.add_argument("number", help="the dialled number, e.g. 12345 or 12317")
    route.add_argument("--caller", help="the caller's number")
    route.add_argument("--at", metavar="ISO-TIME",
                       help="call time, e.g. 2021-01-01T08:30 (site timezone unless given)")
    route.add_argument("--enterprise", action="store_true", help="the caller is an enterprise")
    route.add_argument("--answer", help="the caller's answer to the one question (\"\" = none)")
    route.add_argument("--language", help="the channel language")
    route.add_argument("--json", action="store_true", help="print the decision as JSON")
    add_config_option(route)
    route.set_defaults(handler=_route)


def register_register_cmd(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    reg = sub.add_parser("register", help="the retired-hotline register")
    rsub = reg.add_subparsers(dest="register_command", metavar="ACTION", required=True)
    lst = rsub.add_parser("list", help="every register row with its phase at a time")
    lst.add_argument("--at", metavar="ISO-TIME", help="time (default: now)")
    lst.add_argument("--json", action="store_true")
    add_config_option(lst)
    lst.set_defaults(handler=_register_list)


def parse_at(value: str | None, tz: ZoneInfo) -> datetime:
    if not value:
        return datetime.now(tz)
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        raise SystemExit(f"--at {value!r}: not an ISO time; write e.g. 2021-01-01T08:30") from None
    at = at if at.tzinfo else at.replace(tzinfo=tz)
    try:  # the router reads it in UTC and in the site's timezone
        at.astimezone(UTC)
        at.astimezone(tz)
    except OverflowError:
        raise SystemExit(f"--at {value!r}: out of range once converted to UTC or {tz.key}; "
                         "give a time between the years 1 and 9999, e.g. "
                         "2021-01-01T08:30") from None
    return at


#: What ``route`` takes as a number: digits, with the + of E.164 (docs/numbers.md).
_CLI_NUMBER = re.compile(r"\+?[0-9]{1,32}")


def _check_number(what: str, value: str) -> None:
    if not _CLI_NUMBER.fullmatch(value):
        raise SystemExit(f"hotline12345 route: {what} {value!r} is not a phone number; give "
                         "digits, optionally with a leading + (e.g. 12345, 057112317 or "
                         "+8612366)")


def _route(args: argparse.Namespace) -> int:
    _check_number("NUMBER", args.number)
    if args.caller is not None:
        _check_number("--caller", args.caller)
    site = site_from_args(args)
    router = Router(site)
    ctx = CallContext(dialled=args.number, at=parse_at(args.at, router.tz), caller=args.caller,
                      enterprise=args.enterprise, answer=args.answer, language=args.language)
    decision = router.decide(ctx)
    if args.json:
        print(json.dumps(decision.as_dict(), ensure_ascii=False, indent=2))
        return 0
    print(f"{args.number} at {ctx.at.astimezone(router.tz):%Y-%m-%d %H:%M %Z}")
    print(f"  action:   {decision.action.value}")
    if decision.target:
        print(f"  target:   {decision.target}")
    if decision.action in (Action.QUEUE, Action.EXPERT):
        print(f"  priority: {decision.priority}")
    if decision.prompts:
        print(f"  prompts:  {', '.join(decision.prompts)}")
    if decision.question is not None:
        print(f"  question: {decision.question.prompt} ({decision.question.timeout_s} s, "
              f"{decision.question.retries} retry); decide again with --answer")
    if decision.variables:
        print("  variables:")
        for key, value in decision.variables.items():
            print(f"    {key}={value}")
    print("  why:")
    for reason in decision.reasons:
        print(f"    - {reason}")
    return 0


def _register_list(args: argparse.Namespace) -> int:
    site = site_from_args(args)
    tz = ZoneInfo(site.centre.timezone)
    at = parse_at(args.at, tz)
    rows = [{
        "number": r.number, "name": r.name, "department": r.department, "mode": r.mode.value,
        "target": r.target, "phase": r.phase_at(at).value,
        "transition_start": r.transition_start.isoformat(), "cutover": r.cutover.isoformat(),
        "provenance": r.provenance} for r in site.register]
    if args.json:
        print(json.dumps({"at": at.isoformat(), "rows": rows}, ensure_ascii=False, indent=2))
        return 0
    print(f"register at {at:%Y-%m-%d %H:%M %Z}: {len(rows)} numbers")
    for r in rows:
        print(f"  {r['number']:<6} {r['mode']:<5} {r['phase']:<5} -> {r['target']:<24} "
              f"{r['name']} ({r['department']})")
    return 0
