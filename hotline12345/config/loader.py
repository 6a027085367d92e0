"""Loading and validating a site file: YAML syntax, schema, register merge, cross-references.

``load_site(path)`` returns a :class:`Site` or raises :class:`ConfigError` listing every
problem found, each with file, line, column, field path and a hint.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Iterable
from dataclasses import replace
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ruamel.yaml import YAML
from ruamel.yaml.constructor import RoundTripConstructor
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from hotline12345.config.decode import Decoder, Positions
from hotline12345.config.errors import ConfigError, ConfigIssue
from hotline12345.config.patterns import AREA_CODE, PatternError, compile_pattern
from hotline12345.config.schema import (
    CONTROLLER_TIMEOUT_BOUNDS,
    FEED_EVENTS,
    ActionKind,
    ActionSpec,
    FeedKind,
    LimitRule,
    RegisterRowSpec,
    Rule,
    Site,
    SiteFile,
    TrunkAuth,
    controller_timeout_problem,
    parse_office_hours,
)
from hotline12345.config.targets import url_refusal
from hotline12345.legacy_numbers.model import EMERGENCY_NUMBERS, Mode, RegisterRow

CONFIG_ENV = "HOTLINE12345_CONFIG"
_NUMBER = re.compile(r"[0-9]{3,20}")
_DIGITS = re.compile(r"[0-9*#]")
#: Bounds of the numbers that reach Asterisk (QUEUE_PRIO, HOTLINE_QUEUE_TIMEOUT, ...):
#: (lowest, highest, what it is). A value outside is a typo, never a setting.
MAX_PRIORITY = 100
MAX_QUEUE_SECONDS = 3600
#: ``config check`` warns when the working-day calendar lacks data this many days ahead.
CALENDAR_HORIZON_DAYS = 60
#: Bounds of the ticket loop's numbers: a value outside is a typo, never a setting.
MAX_LIMIT_WORKING_DAYS = 250.0  # about a year of working days
MAX_LIMIT_HOURS = 8760.0  # a year
MAX_EXTENSIONS = 10
MAX_REOPENS = 5
#: The limits a ``tickets.limits`` rule may set, by their key in the site file.
LIMIT_KEYS = ("sign", "answer", "return_window", "revisit")
#: Section names that Asterisk's queues.conf keeps for itself.
RESERVED_QUEUE_NAMES = frozenset({"general"})


def default_site_path() -> Path:
    return Path(str(resources.files("hotline12345.config").joinpath("default_site.yaml")))


def default_register_path() -> Path:
    return Path(str(resources.files("hotline12345.legacy_numbers").joinpath(
        "default_register.yaml")))


def resolve_site_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    """``--config``, then ``HOTLINE12345_CONFIG``, then the shipped default site."""
    chosen = explicit or os.environ.get(CONFIG_ENV)
    return Path(chosen) if chosen else default_site_path()


#: The largest site file read (a real one is a few KB): /dev/zero or a log file given by
#: mistake is refused instead of read without bound.
MAX_SITE_FILE_BYTES = 1024 * 1024
#: The enterprise numbers file: a million numbers fit.
MAX_NUMBERS_FILE_BYTES = 16 * 1024 * 1024
#: Characters YAML does not allow in a document (ruamel's reader refuses them by position).
_NOT_YAML = re.compile("[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd"
                       "\U00010000-\U0010ffff]")


class _Constructor(RoundTripConstructor):
    """Round-trip construction, except that an unquoted date that is no date
    (``cutover: 2021-13-45``) stays text, so that the decoder names its file and line
    instead of the YAML library raising ValueError."""

    def construct_yaml_timestamp(self, node: Any, values: Any = None) -> Any:
        try:
            return super().construct_yaml_timestamp(node, values)
        except ValueError:
            return self.construct_scalar(node)


_Constructor.add_constructor("tag:yaml.org,2002:timestamp",
                             _Constructor.construct_yaml_timestamp)


def _read_text(path: Path, label: str, limit: int) -> tuple[str | None, list[ConfigIssue]]:
    """The file's text, read at most ``limit`` bytes far; or the problem, named."""
    try:
        with path.open("rb") as f:
            data = f.read(limit + 1)
    except FileNotFoundError:
        return None, [ConfigIssue(label, 0, 0, "", "file not found; check the path given to "
                                  f"--config or {CONFIG_ENV}")]
    except IsADirectoryError:
        return None, [ConfigIssue(label, 0, 0, "", "is a directory; give the site file "
                                  "(e.g. site.yaml) inside it")]
    except OSError as exc:
        return None, [ConfigIssue(label, 0, 0, "", f"cannot be read: {exc.strerror}")]
    if len(data) > limit:
        return None, [ConfigIssue(label, 0, 0, "", f"is larger than {limit // 1024} KiB, the "
                                  "most a site file may hold (a real one is a few KB); is it "
                                  "the right file?")]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = text_line_of_offset(data, exc.start)
        column = exc.start - data.rfind(b"\n", 0, exc.start)
        return None, [ConfigIssue(label, line, column, "", "is not UTF-8 text; save the file "
                                  "as UTF-8")]
    return text, []


def _not_yaml_character(text: str, label: str) -> list[ConfigIssue]:
    found = _NOT_YAML.search(text)
    if found is None:
        return []
    at = found.start()
    line = text.count("\n", 0, at) + 1
    column = at - text.rfind("\n", 0, at)
    code = ord(found.group())
    name = {0: " (NUL)", 0x1B: " (ESC)", 0x7F: " (DEL)", 0xFEFF: " (byte-order mark)"}.get(
        code, "")
    return [ConfigIssue(label, line, column, "", f"the character U+{code:04X}{name} is not "
                        "allowed in YAML; remove it (a file with NUL bytes is binary, or was "
                        "saved in another encoding than UTF-8)")]


def _nesting_line(text: str) -> tuple[int, int]:
    """The line where the YAML first nests more than :data:`MAX_NESTING` levels deep."""
    depth = 0
    for token in YAML(typ="rt").scan(text):
        kind = type(token).__name__
        if kind.endswith("StartToken") and kind not in ("StreamStartToken",
                                                         "DocumentStartToken"):
            depth += 1
            if depth > MAX_NESTING:
                return int(token.start_mark.line) + 1, int(token.start_mark.column) + 1
        elif kind.endswith("EndToken") and kind not in ("StreamEndToken", "DocumentEndToken"):
            depth -= 1
    return 0, 0


#: Mappings and lists nested deeper than this are no site file.
MAX_NESTING = 50


def _read_yaml(path: Path, label: str) -> tuple[Any, list[ConfigIssue]]:
    text, issues = _read_text(path, label, MAX_SITE_FILE_BYTES)
    if text is None:
        return None, issues
    issues = _not_yaml_character(text, label)
    if issues:
        return None, issues
    yaml = YAML(typ="rt")
    yaml.Constructor = _Constructor
    try:
        tree = yaml.load(text)
    except RecursionError:
        try:
            line, column = _nesting_line(text)
        except (RecursionError, YAMLError):
            line, column = 0, 0
        return None, [ConfigIssue(label, line, column, "", f"the YAML nests lists or mappings more "
                                  f"than {MAX_NESTING} levels deep; a site file needs a few "
                                  "levels (see the shipped default site)")]
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (0, 0)
        problem = exc.problem or "invalid YAML"
        if "found duplicate key" in str(exc) or "duplicate key" in problem:
            problem = f"{problem}; each key may appear once in a mapping"
        return None, [ConfigIssue(label, line, col, "", f"YAML syntax error: {problem}")]
    except YAMLError as exc:
        return None, [ConfigIssue(label, 0, 0, "", f"YAML error: {exc}")]
    if tree is None:
        return None, [ConfigIssue(label, 1, 1, "", "the file is empty; start from the shipped "
                                  "default site (hotline12345 config show)")]
    return tree, []


def text_line_of_offset(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def load_site(path: str | os.PathLike[str] | None = None) -> Site:
    site, issues = _load(resolve_site_path(path))
    if issues or site is None:
        raise ConfigError(issues)
    return site


def check_site(path: str | os.PathLike[str] | None = None) -> list[ConfigIssue]:
    """Every problem in the site file, in file order; empty when the site is valid."""
    _, issues = _load(resolve_site_path(path))
    return sorted(issues, key=lambda i: (i.file, i.line, i.column, i.path))


def site_warnings(path: str | os.PathLike[str] | None = None, *,
                  today: date) -> list[ConfigIssue]:
    """What in a usable site file will bite later, as of ``today`` (the site's date): the
    ticket loop without departments, and days of the next :data:`CALENDAR_HORIZON_DAYS` that
    the working-day calendar has no data for. Empty for a file with errors (fix those
    first; ``check_site`` lists them)."""
    warnings: list[ConfigIssue] = []
    _load(resolve_site_path(path), today=today, warnings=warnings)
    return sorted(warnings, key=lambda i: (i.file, i.line, i.column, i.path))


def _load(path: Path, *, today: date | None = None,
          warnings: list[ConfigIssue] | None = None) -> tuple[Site | None, list[ConfigIssue]]:
    label = path.name if path == default_site_path() else str(path)
    tree, issues = _read_yaml(path, label)
    if tree is None:
        return None, issues
    positions = Positions(label)
    tz_name = "Asia/Shanghai"
    tz_issue = ""
    centre_node = tree.get("centre") if isinstance(tree, dict) else None
    if isinstance(centre_node, dict) and "timezone" in centre_node:
        value = centre_node["timezone"]
        try:
            if not isinstance(value, str):
                raise ValueError(value)
            ZoneInfo(value)
            tz_name = value
        except (ZoneInfoNotFoundError, ValueError):
            # The rest decodes in the default zone, so every other error is listed too.
            tz_issue = f'unknown timezone "{value}"; use an IANA name such as Asia/Shanghai'
    decoder = Decoder(positions, tz_name)
    site_file: SiteFile | None = decoder.decode(SiteFile, tree, "")
    if tz_issue:
        decoder.error("centre.timezone", tz_issue)
    if site_file is None:
        return None, decoder.issues
    checker = _Checker(site_file, positions, path, decoder.invalid)
    register = checker.merge_register(tz_name)
    enterprise_numbers = checker.load_enterprise_numbers()
    checker.check(register)
    issues = decoder.issues + checker.issues
    if issues:
        return None, issues
    if today is not None and warnings is not None:
        warnings.extend(checker.warnings(today))
    return Site(str(path), site_file, register, enterprise_numbers), []


class _Checker:
    """Cross-reference checks that need the whole file."""

    def __init__(self, site: SiteFile, positions: Positions, path: Path,
                 invalid: set[str] | None = None) -> None:
        self.site = site
        self.pos = positions
        self.path = path
        self.issues: list[ConfigIssue] = []
        # What the decoder already reported: an entry left out for its own errors is still
        # defined for the references to it, and a field reported is not "missing" too.
        self.invalid = invalid or set()
        self.queues = {q.name for q in site.queues} | self._reported("queues")
        self.centres = {c.name for c in site.sub_centres} | self._reported("sub_centres")
        self.linkage = {t.name for t in site.linkage} | self._reported("linkage")
        self.prompts = set(site.prompts) | self._reported("prompts")
        # Field origins of merged register rows: (number, field) -> (positions, path)
        self.row_origin: dict[tuple[str, str], tuple[Positions, str]] = {}

    def error(self, path: str, message: str, positions: Positions | None = None) -> None:
        self.issues.append((positions or self.pos).issue(path, message))

    def _reported(self, section: str) -> set[str]:
        """Names of the ``section`` entries the decoder left out for their own errors."""
        found = (re.fullmatch(rf"{re.escape(section)}\[(.+)\]", p) for p in self.invalid)
        return {m.group(1) for m in found if m is not None}

    def bounded(self, path: str, value: int | None, low: int, high: int, what: str) -> None:
        """An error unless ``low <= value <= high``: these numbers reach Asterisk."""
        if value is not None and not low <= value <= high:
            self.error(path, f"{value} is out of range: {what} goes from {low} to {high}")

    @staticmethod
    def _listing(names: Iterable[str]) -> str:
        names = sorted(names)
        return ", ".join(names) if names else "(none)"

    # -- the register ---------------------------------------------------------------

    def merge_register(self, tz_name: str) -> tuple[RegisterRow, ...]:
        rows: dict[str, dict[str, Any]] = {}
        if self.site.register.use_default:
            default_path = default_register_path()
            tree, issues = _read_yaml(default_path, default_path.name)
            self.issues.extend(issues)
            if tree is not None:
                dpos = Positions(default_path.name)
                decoder = Decoder(dpos, tz_name)
                holder = decoder.decode_value(  # the default file is {hotlines: [...]}
                    tuple[RegisterRowSpec, ...], tree.get("hotlines"), "hotlines", None)
                self.issues.extend(decoder.issues)
                if isinstance(holder, tuple):
                    for spec in holder:
                        self._apply_spec(rows, spec, dpos, is_default=True)
        for number in self.site.register.remove:
            if number not in rows:
                self.error("register.remove", f'number "{number}" is not in the default '
                           f"register; registered numbers: {self._listing(rows)}")
            rows.pop(number, None)
        seen: set[str] = set()
        for spec in self.site.hotlines:
            if spec.number in seen:
                self.error(f"hotlines[{spec.number}]", f'number "{spec.number}" is listed twice; '
                           "merge the two entries")
            seen.add(spec.number)
            self._apply_spec(rows, spec, self.pos, is_default=False)
        merged: list[RegisterRow] = []
        required = [f.name for f in dataclasses.fields(RegisterRow)
                    if f.default is dataclasses.MISSING]
        for number, fields in rows.items():
            missing = [name for name in required if fields.get(name) is None]
            if any(f"hotlines[{number}].{name}" in self.invalid for name in missing):
                continue  # the decoder reported that field; the row is not merged
            if missing:
                positions, path = self.row_origin[(number, "number")]
                self.error(path, f"new hotline {number} needs {', '.join(missing)} (it is not in "
                           "the default register, so every field must be given)", positions)
                continue
            merged.append(RegisterRow(**fields))
        return tuple(sorted(merged, key=lambda r: (len(r.number), r.number)))

    def _apply_spec(self, rows: dict[str, dict[str, Any]], spec: RegisterRowSpec,
                    positions: Positions, *, is_default: bool) -> None:
        path = f"hotlines[{spec.number}]"
        if not _NUMBER.fullmatch(spec.number):
            self.error(f"{path}.number", f'"{spec.number}" is not a phone number; use digits '
                       "only, e.g. \"12317\"", positions)
            return
        if spec.number in EMERGENCY_NUMBERS:
            self.error(f"{path}.number", f"{spec.number} is an emergency number and cannot be "
                       "a register row: the merge covers the government-service hotlines "
                       "\"除110、119、120、122等紧急热线外\" (国办发〔2020〕53号). Remove this row "
                       f'and list {spec.number} under linkage: (e.g. {{name: police-110, number: '
                       f'"{spec.number}", dial: ...}}); a call to it then goes straight to its '
                       "linkage target", positions)
            return
        row = rows.setdefault(spec.number, {})
        for f in dataclasses.fields(spec):
            value = getattr(spec, f.name)
            if value is None:
                continue
            row[f.name] = value
            self.row_origin[(spec.number, f.name)] = (positions, f"{path}.{f.name}")
        self.row_origin.setdefault((spec.number, "number"), (positions, path))

    def _row_error(self, number: str, field: str, message: str) -> None:
        positions, path = self.row_origin.get((number, field)) or self.row_origin[(number,
                                                                                    "number")]
        self.error(path, message, positions)

    def load_enterprise_numbers(self) -> frozenset[str]:
        ent = self.site.enterprise
        if ent is None or not ent.numbers_file:
            return frozenset()
        file = (self.path.parent / ent.numbers_file).resolve()
        if not file.exists():
            self.error("enterprise.numbers_file", f'cannot read "{ent.numbers_file}" '
                       f"(looked at {file}): No such file or directory; the path is relative "
                       "to the site file")
            return frozenset()
        text, issues = _read_text(file, str(file), MAX_NUMBERS_FILE_BYTES)
        if text is None:
            self.issues.extend(replace(i, path="enterprise.numbers_file") for i in issues)
            return frozenset()
        numbers: set[str] = set()
        for lineno, raw in enumerate(text.splitlines(), 1):
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            if not re.fullmatch(r"\+?[0-9]{5,20}", line):
                self.issues.append(ConfigIssue(str(file), lineno, 1, "enterprise.numbers_file",
                                               f'"{line}" is not a phone number; one number per '
                                               "line, digits only, # starts a comment"))
                continue
            numbers.add(line)
        return frozenset(numbers)

    # -- cross-references -----------------------------------------------------------

    def check(self, register: tuple[RegisterRow, ...]) -> None:
        self._check_unique()
        self._check_centre()
        self._check_queues()
        self._check_overflow_cycles()
        self._check_sub_centres()
        self._check_enterprise()
        self._check_prompts()
        self._check_register(register)
        self._check_rules(register)
        for i, pattern in enumerate(self.site.blocklist):
            self._check_pattern(f"blocklist[{i}]", pattern)
        for name in CONTROLLER_TIMEOUT_BOUNDS:
            problem = controller_timeout_problem(name, getattr(self.site.controller, name))
            if problem:
                self.error(f"controller.{name}", problem)
        for rule in self.site.classification:
            if not [k for k in rule.keywords if k.strip()]:
                self.error(f"classification[{self.site.classification.index(rule)}].keywords",
                           "list at least one keyword, e.g. [退款, 假货]")
        self._check_feeds()
        self._check_calendar()
        self._check_departments()
        self._check_ticket_loop()
        for key, defaults in self.site.mode_defaults.items():
            self.bounded(f"mode_defaults[{key}].priority", defaults.priority, 0, MAX_PRIORITY,
                         "a queue priority (QUEUE_PRIO)")
            if key not in {m.value for m in Mode}:
                self.error(f"mode_defaults[{key}]", f'"{key}" is not a mode; modes: '
                           f"{', '.join(m.value for m in Mode)}")

    # -- the ticket loop: calendar, departments, deadlines ---------------------------

    def _check_calendar(self) -> None:
        cal = self.site.calendar
        try:
            ZoneInfo(cal.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            self.error("calendar.timezone", f'unknown timezone "{cal.timezone}"; use an IANA '
                       "name such as Asia/Shanghai")
        if "calendar.office_hours" not in self.invalid:
            try:
                parse_office_hours(cal.office_hours)
            except ValueError as exc:
                self.error("calendar.office_hours", str(exc))
        for key, days in (("holidays", cal.holidays), ("workdays", cal.workdays)):
            seen: set[date] = set()
            for day in days:
                if day in seen:
                    self.error(f"calendar.{key}", f"{day:%Y-%m-%d} is listed twice")
                seen.add(day)
        for day in sorted(set(cal.holidays) & set(cal.workdays)):
            self.error("calendar.workdays", f"{day:%Y-%m-%d} is also in calendar.holidays; a "
                       "day is a holiday or a working day, not both")

    def _check_departments(self) -> None:
        seen: set[str] = set()
        for i, dept in enumerate(self.site.departments):
            if not dept.name.strip():
                self.error(f"departments[{i}].name", "give the department's name (承办单位)")
            elif dept.name in seen:
                self.error(f"departments[{dept.name}]", f'name "{dept.name}" is used twice in '
                           "departments; names must be unique")
            seen.add(dept.name)
            for j, category in enumerate(dept.categories):
                if not category.strip():
                    self.error(f"departments[{dept.name or i}].categories[{j}]", "a category "
                               "needs a name, e.g. 消费投诉")
        if not self.site.departments:
            return  # the classification's departments are warned about, not refused
        names = seen | self._reported("departments")
        for i, rule in enumerate(self.site.classification):
            if rule.department not in names:
                self.error(f"classification[{i}].department", f'department "{rule.department}" '
                           f"is not in departments; departments: {self._listing(names)}. Add it "
                           "under departments: or correct the name")

    def _check_ticket_loop(self) -> None:
        loop = self.site.tickets
        for key in LIMIT_KEYS:
            name = f"{key}_working_days"
            self._positive(f"tickets.{name}", getattr(loop, name), MAX_LIMIT_WORKING_DAYS,
                           "working days")
        for i, rule in enumerate(loop.limits):
            self._check_limit_rule(f"tickets.limits[{i}]", rule)
        self.bounded("tickets.max_extensions", loop.max_extensions, 0, MAX_EXTENSIONS,
                     "the number of 延期 a ticket may get")
        self._positive("tickets.max_extension_working_days", loop.max_extension_working_days,
                       MAX_LIMIT_WORKING_DAYS, "working days")
        self.bounded("tickets.max_reopens", loop.max_reopens, 0, MAX_REOPENS,
                     "the number of 重办 after a 不满意 rating")
        self._positive("tickets.merge_window_hours", loop.merge_window_hours, MAX_LIMIT_HOURS,
                       "hours")
        self._positive("tickets.sweep_interval_s", loop.sweep_interval_s, 86400, "seconds")

    def _check_limit_rule(self, path: str, rule: LimitRule) -> None:
        if rule.urgency is None and rule.category is None and f"{path}.urgency" not in \
                self.invalid:
            self.error(path, "give urgency and/or category: the rule says which tickets it is "
                       "for (limits for every ticket are tickets.sign_working_days, "
                       "tickets.answer_working_days, ...)")
        if rule.category is not None and not rule.category.strip():
            self.error(f"{path}.category", "give the category's name, e.g. 咨询")
        given = False
        for key in LIMIT_KEYS:
            hours, days = getattr(rule, f"{key}_hours"), getattr(rule, f"{key}_working_days")
            if hours is not None and days is not None:
                self.error(f"{path}.{key}_hours", f"give {key}_hours (wall clock, 7×24) or "
                           f"{key}_working_days, not both")
            if hours is not None:
                self._positive(f"{path}.{key}_hours", hours, MAX_LIMIT_HOURS, "hours")
            if days is not None:
                self._positive(f"{path}.{key}_working_days", days, MAX_LIMIT_WORKING_DAYS,
                               "working days")
            given = given or hours is not None or days is not None or any(
                f"{path}.{key}_{unit}" in self.invalid for unit in ("hours", "working_days"))
        if not given:
            self.error(path, "the rule sets no limit; give e.g. answer_working_days: 3 or "
                       "answer_hours: 2")

    def _positive(self, path: str, value: float, high: float, unit: str) -> None:
        """An error unless ``0 < value <= high``."""
        if not 0 < value <= high:
            self.error(path, f"{value:g} is out of range: more than 0 and at most {high:g} "
                       f"{unit}")

    def warnings(self, today: date) -> list[ConfigIssue]:
        """What works today but will not: see :func:`site_warnings`."""
        out: list[ConfigIssue] = []
        site = self.site
        if site.classification and not site.departments:
            out.append(self.pos.issue("classification", "the ticket loop has no departments: "
                                      "list the departments (承办单位) under departments:, "
                                      "those of the classification rules at least"))
        unknown = site.calendar.unknown_days_ahead(today, CALENDAR_HORIZON_DAYS)
        if unknown:
            first = unknown[0]
            years = ", ".join(str(y) for y in sorted({d.year for d in unknown}))
            out.append(self.pos.issue("calendar", f"the working-day calendar has no holiday "
                                      f"data from {first:%Y-%m-%d} ({len(unknown)} of the next "
                                      f"{CALENDAR_HORIZON_DAYS} days; year {years}): deadlines "
                                      "there count Monday to Friday and carry a warning. "
                                      "Upgrade chinesecalendar (pip install -U chinesecalendar) "
                                      "once it has the State Council's notice for the year, or "
                                      "list the days off and the 调休 working days under "
                                      "calendar.holidays and calendar.workdays"))
        return out

    def _check_unique(self) -> None:
        for section, items in (("queues", self.site.queues), ("sub_centres", self.site.sub_centres),
                               ("linkage", self.site.linkage), ("rules", self.site.rules),
                               ("centre.trunks", self.site.centre.trunks),
                               ("feeds", self.site.feeds)):
            seen: set[str] = set()
            for item in items:
                name = getattr(item, "name")  # noqa: B009
                if name in seen:
                    self.error(f"{section}[{name}]", f'name "{name}" is used twice in {section}; '
                               "names must be unique")
                seen.add(name)
        taken = self.queues & self.centres
        for name in sorted(taken):
            self.error(f"sub_centres[{name}]", f'"{name}" is both a queue and a sub-centre; '
                       "rename one")
        experts = {q.expert_queue: q.name for q in self.site.queues if q.expert_seats}
        for name in sorted(experts.keys() & self.queues):
            self.error(f"queues[{name}]", f'"{name}" clashes with the expert-seat queue of '
                       f'"{experts[name]}"; rename it')

    def _check_feeds(self) -> None:
        """The departments' feeds: names that can name a variable, a URL for each webhook
        (refused when it points at the centre's own network, unless allowed), known event
        kinds, sane bounds, one subscription per Redis Stream."""
        streams: dict[str, str] = {}
        departments = ({d.name for d in self.site.departments} | self._reported("departments")
                       if self.site.departments else set())
        for sub in self.site.feeds:
            fpath = f"feeds[{sub.name}]"
            if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", sub.name):
                self.error(f"{fpath}.name", f'"{sub.name}" must be 1-64 ASCII letters, digits, '
                           f"- or _ (it names the secret's variable, {sub.secret_env})")
            if not sub.department.strip():
                self.error(f"{fpath}.department", "name the department (承办单位) whose "
                           "tickets' events this subscription receives")
            elif departments and sub.department not in departments:
                self.error(f"{fpath}.department", f'department "{sub.department}" is not in '
                           f"departments; departments: {self._listing(departments)}")
            if sub.kind is FeedKind.WEBHOOK:
                if not sub.url:
                    self.error(f"{fpath}.url", "a webhook needs the receiver's URL, e.g. "
                               "https://example.gov.cn/12345-hook")
                else:
                    why = url_refusal(sub.url, allow_private=sub.allow_private_targets)
                    if why is not None:
                        self.error(f"{fpath}.url", why)
            elif sub.url:
                self.error(f"{fpath}.url", f"only a webhook has a url; a {sub.kind.value} "
                           "subscription takes none")
            for i, kind in enumerate(sub.events):
                if kind not in FEED_EVENTS:
                    self.error(f"{fpath}.events[{i}]", f'"{kind}" is not an event kind; kinds: '
                               f"{', '.join(FEED_EVENTS)} (leave events out for all of them)")
            if not 0.1 <= sub.timeout_s <= 300:
                self.error(f"{fpath}.timeout_s", f"{sub.timeout_s:g} is out of range: seconds "
                           "from 0.1 to 300")
            self.bounded(f"{fpath}.retry_hours", sub.retry_hours, 1, 720,
                         "retry_hours (hours of retries)")
            self.bounded(f"{fpath}.max_len", sub.max_len, 100, 100_000_000,
                         "max_len (entries kept in the stream)")
            if sub.kind is FeedKind.REDIS_STREAM:
                key = sub.stream_key
                if key in streams:
                    self.error(f"{fpath}.stream", f'the stream "{key}" is already fed by '
                               f'subscription "{streams[key]}"; give each its own stream')
                streams.setdefault(key, sub.name)
            elif sub.stream:
                self.error(f"{fpath}.stream", "only a redis_stream subscription has a stream")

    def _check_centre(self) -> None:
        centre = self.site.centre
        if centre.general_queue not in self.queues:
            self.error("centre.general_queue", f'queue "{centre.general_queue}" is not defined; '
                       f"defined queues: {self._listing(self.queues)}")
        if not centre.trunks:
            self.error("centre.trunks", "at least one trunk is needed to receive calls")
        for i, code in enumerate(centre.area_codes):
            if not AREA_CODE.fullmatch(code):
                self.error(f"centre.area_codes[{i}]", f'"{code}" is not an area code; write it '
                           'with its leading 0 and in quotes, e.g. "0571" (see docs/numbers.md)')
        owner: dict[str, str] = {}
        for trunk in centre.trunks:
            tpath = f"centre.trunks[{trunk.name}]"
            if not re.fullmatch(r"[A-Za-z0-9_-]+", trunk.name):
                self.error(f"{tpath}.name", f'"{trunk.name}" must be ASCII letters, digits, - or '
                           "_ (it names Asterisk sections)")
            if not trunk.access_numbers:
                self.error(f"{tpath}.access_numbers", "list the 12345 numbers this trunk delivers")
            for number in trunk.access_numbers:
                if not _NUMBER.fullmatch(number):
                    self.error(f"{tpath}.access_numbers", f'"{number}" is not a phone number')
                elif number in owner and owner[number] != trunk.name:
                    self.error(f"{tpath}.access_numbers", f'number "{number}" is already an '
                               f'access number of trunk "{owner[number]}"; a DID belongs to one '
                               "trunk")
                owner.setdefault(number, trunk.name)
            self.bounded(f"{tpath}.port", trunk.port, 1, 65535, "a SIP port")
            if trunk.auth is TrunkAuth.REGISTRATION and not (trunk.host and trunk.username):
                self.error(f"{tpath}.auth", "registration needs host and username (the password "
                           f"comes from {trunk.password_env})")
            if trunk.auth is TrunkAuth.IP and not trunk.match:
                self.error(f"{tpath}.match", "IP authentication needs the provider's addresses in "
                           "match, e.g. [203.0.113.10]")

    def _check_queues(self) -> None:
        for queue in self.site.queues:
            qpath = f"queues[{queue.name}]"
            if not re.fullmatch(r"[A-Za-z0-9_-]+", queue.name):
                self.error(f"{qpath}.name", f'"{queue.name}" must be ASCII letters, digits, - or _ '
                           "(it names an Asterisk queue)")
            elif queue.name.lower() in RESERVED_QUEUE_NAMES:
                reserved = queue.name.lower()
                self.error(f"{qpath}.name", f'"{queue.name}" cannot name a queue: queues.conf '
                           f"keeps [{reserved}] for app_queue's own settings; rename it, e.g. "
                           f'"q-{reserved}"')
            if queue.service_level_s <= 0:
                self.error(f"{qpath}.service_level_s", "must be a positive number of seconds "
                           "(GB/T 33358 uses 15)")
            else:
                self.bounded(f"{qpath}.service_level_s", queue.service_level_s, 1, 600,
                             "a service level in seconds")
            if queue.timeout_s <= 0:
                self.error(f"{qpath}.timeout_s", "must be a positive number of seconds")
            else:
                self.bounded(f"{qpath}.timeout_s", queue.timeout_s, 1, MAX_QUEUE_SECONDS,
                             "the seconds a caller waits in the queue")
            self.bounded(f"{qpath}.wrapup_s", queue.wrapup_s, 0, MAX_QUEUE_SECONDS,
                         "a seat's wrap-up time in seconds")
            if queue.announce and queue.announce not in self.prompts:
                self._undefined_prompt(f"{qpath}.announce", queue.announce)
            for i, rule in enumerate(queue.overflow):
                opath = f"{qpath}.overflow[{i}]"
                if bool(rule.to_queue) == bool(rule.to_centre):
                    self.error(opath, "give exactly one of to_queue or to_centre")
                if rule.to_queue and rule.to_queue not in self.queues:
                    self.error(f"{opath}.to_queue", f'queue "{rule.to_queue}" is not defined; '
                               f"defined queues: {self._listing(self.queues)}")
                if rule.to_queue == queue.name:
                    self.error(f"{opath}.to_queue", "a queue cannot overflow to itself")
                if rule.to_centre and rule.to_centre not in self.centres:
                    self.error(f"{opath}.to_centre", f'sub-centre "{rule.to_centre}" is not '
                               f"defined; defined sub-centres: {self._listing(self.centres)}")
                if (rule.after_s <= 0 and rule.waiting_over <= 0
                        and not {f"{opath}.after_s", f"{opath}.waiting_over"} & self.invalid):
                    self.error(opath, "give after_s (seconds in queue) or waiting_over (callers "
                               "waiting), greater than 0")
                self.bounded(f"{opath}.after_s", rule.after_s, 0, MAX_QUEUE_SECONDS,
                             "after_s (seconds in queue before the overflow)")
                self.bounded(f"{opath}.waiting_over", rule.waiting_over, 0, 10000,
                             "waiting_over (callers waiting)")

    def _check_overflow_cycles(self) -> None:
        """Overflow on callers waiting is decided by the router at once, queue after queue;
        a cycle of such rules would never end."""
        edges = {q.name: [r.to_queue for r in q.overflow if r.waiting_over > 0 and r.to_queue]
                 for q in self.site.queues}
        reported: set[frozenset[str]] = set()
        for start in edges:
            stack = [(start, [start])]
            while stack:
                node, trail = stack.pop()
                for nxt in edges.get(node, ()):
                    if nxt == start:
                        cycle = frozenset(trail)
                        if cycle not in reported:
                            reported.add(cycle)
                            loop = " → ".join([*trail, start])
                            self.error(f"queues[{start}].overflow", f"overflow on callers "
                                       f"waiting goes round in a circle ({loop}); end the chain "
                                       "at a queue without waiting_over overflow")
                    elif nxt not in trail and nxt in edges:
                        stack.append((nxt, [*trail, nxt]))

    def _check_sub_centres(self) -> None:
        for centre in self.site.sub_centres:
            if centre.fallback_queue and centre.fallback_queue not in self.queues:
                self.error(f"sub_centres[{centre.name}].fallback_queue", f'queue '
                           f'"{centre.fallback_queue}" is not defined; defined queues: '
                           f"{self._listing(self.queues)}")
        numbers: dict[str, str] = {}
        for target in self.site.linkage:
            if target.number in numbers:
                self.error(f"linkage[{target.name}].number", f'number "{target.number}" is '
                           f'already linkage target "{numbers[target.number]}"')
            numbers[target.number] = target.name
        self._check_transfers_in()

    def _check_transfers_in(self) -> None:
        """A linkage partner's transfer-in DIDs and caller prefixes (110 -> 12345)."""
        access = {n for trunk in self.site.centre.trunks for n in trunk.access_numbers}
        owner: dict[str, str] = {}
        for target in self.site.linkage:
            spec = target.transfers_in
            if spec is None:
                continue
            tpath = f"linkage[{target.name}].transfers_in"
            if not spec.dids and not spec.caller_prefixes:
                self.error(tpath, "give dids (the numbers the partner dials to transfer to "
                           "12345) or caller_prefixes, or remove transfers_in")
            for i, did in enumerate(spec.dids):
                if not _NUMBER.fullmatch(did):
                    self.error(f"{tpath}.dids[{i}]", f'"{did}" is not a phone number; use '
                               'digits, e.g. "12345110"')
                elif did in access or did in EMERGENCY_NUMBERS:
                    self.error(f"{tpath}.dids[{i}]", f"{did} is a number every caller dials; "
                               "every call to it would be marked as transferred by "
                               f"{target.label}. Give the DID reserved for its transfers")
                elif did in owner:
                    self.error(f"{tpath}.dids[{i}]", f"{did} already marks transfers from "
                               f'linkage target "{owner[did]}"')
                owner.setdefault(did, target.name)
            for i, prefix in enumerate(spec.caller_prefixes):
                if not re.fullmatch(r"[0-9]{3,20}", prefix):
                    self.error(f"{tpath}.caller_prefixes[{i}]", f'"{prefix}" must be at least 3 '
                               'digits of a caller number in national form, e.g. "0571110"')
            if spec.queue and spec.queue not in self.queues:
                self.error(f"{tpath}.queue", f'queue "{spec.queue}" is not defined; defined '
                           f"queues: {self._listing(self.queues)}")

    def _check_enterprise(self) -> None:
        ent = self.site.enterprise
        if ent is None:
            return
        if ent.queue not in self.queues:
            self.error("enterprise.queue", f'queue "{ent.queue}" is not defined; defined queues: '
                       f"{self._listing(self.queues)}")
        self.bounded("enterprise.priority", ent.priority, 0, MAX_PRIORITY,
                     "a queue priority (QUEUE_PRIO)")
        for i, prefix in enumerate(ent.prefixes):
            if not re.fullmatch(r"\+?[0-9]+", prefix):
                self.error(f"enterprise.prefixes[{i}]", f'"{prefix}" must be digits, e.g. "0571"')
        if ent.ask is not None:
            if ent.ask.prompt not in self.prompts:
                self._undefined_prompt("enterprise.ask.prompt", ent.ask.prompt)
            if not re.fullmatch(r"[0-9*#]", ent.ask.digit):
                self.error("enterprise.ask.digit", f'"{ent.ask.digit}" must be one key: 0-9, * '
                           "or #")

    def _check_prompts(self) -> None:
        for pid, prompt in self.site.prompts.items():
            ppath = f"prompts[{pid}]"
            if not re.fullmatch(r"[a-z0-9][a-z0-9_-]*", pid):
                self.error(ppath, f'prompt id "{pid}" must be lower-case ASCII, digits, - or _ '
                           "(it names a sound file)")
            if bool(prompt.text) == bool(prompt.file):
                self.error(ppath, "give exactly one of text (spoken by espeak-ng) or file (a "
                           "recording)")
            if prompt.file and not (self.path.parent / prompt.file).is_file():
                self.error(f"{ppath}.file", f'recording "{prompt.file}" not found (relative to '
                           "the site file)")
        if "now-12345" not in self.prompts:
            self.error("prompts", 'the prompt "now-12345" (played on retired numbers) must be '
                       "defined")

    def _undefined_prompt(self, path: str, pid: str,
                          positions: Positions | None = None) -> None:
        self.error(path, f'prompt "{pid}" is not defined; defined prompts: '
                   f"{self._listing(self.prompts)}", positions)

    def _check_register(self, register: tuple[RegisterRow, ...]) -> None:
        access: set[str] = set()
        for trunk in self.site.centre.trunks:
            access.update(trunk.access_numbers)
        for row in register:
            expected: tuple[str, set[str]]
            if row.mode in (Mode.WHOLE_MERGE, Mode.DUAL_NUMBER):
                expected = ("queue", self.queues)
            elif row.mode is Mode.SUB_CENTRE:
                expected = ("sub-centre", self.centres)
            else:
                expected = ("linkage target", self.linkage)
            kind, names = expected
            if row.target not in names:
                plural = "sub-centres" if kind == "sub-centre" else f"{kind}s"
                self._row_error(row.number, "target", f'{kind} "{row.target}" is not defined; '
                                f"defined {plural}: {self._listing(names)}")
            if row.transition_start >= row.cutover:
                self._row_error(row.number, "cutover", f"cut-over {row.cutover:%Y-%m-%d %H:%M} "
                                f"must come after transition_start "
                                f"{row.transition_start:%Y-%m-%d %H:%M}")
            if row.after_cutover is not None and row.mode is not Mode.WHOLE_MERGE:
                self._row_error(row.number, "after_cutover", f"only {Mode.WHOLE_MERGE.value} "
                                f"numbers are retired; {row.mode.value} numbers stay live")
            if row.number in access:
                self._row_error(row.number, "number", f"{row.number} is also a 12345 access "
                                "number of a trunk; a DID has one meaning")
            if not row.prompt.strip():
                self._row_error(row.number, "prompt", "the transition prompt text is empty")

    def _check_pattern(self, path: str, pattern: str) -> None:
        try:
            compile_pattern(pattern)
        except PatternError as exc:
            self.error(path, str(exc))

    def _check_action(self, path: str, spec: ActionSpec, *, in_question: bool) -> None:
        kind = spec.action
        targets: dict[ActionKind, tuple[str, set[str]]] = {
            ActionKind.QUEUE: ("queue", self.queues),
            ActionKind.EXPERT: ("queue", {q.name for q in self.site.queues if q.expert_seats}),
            ActionKind.SUB_CENTRE: ("sub-centre", self.centres),
            ActionKind.LINKAGE: ("linkage target", self.linkage),
        }
        if kind in targets:
            what, names = targets[kind]
            if kind is ActionKind.EXPERT:
                what = "queue with expert_seats"
            if spec.target not in names:
                self.error(f"{path}.target", f'{what} "{spec.target}" is not defined; '
                           f"defined: {self._listing(names)}")
        elif spec.target:
            self.error(f"{path}.target", f"{kind.value} takes no target")
        self.bounded(f"{path}.priority", spec.priority, 0, MAX_PRIORITY,
                     "a queue priority (QUEUE_PRIO)")
        if kind is ActionKind.ANNOUNCE_HANGUP and not spec.prompt:
            self.error(f"{path}.prompt", "announce_hangup needs the prompt to play")
        if spec.prompt and spec.prompt not in self.prompts:
            self._undefined_prompt(f"{path}.prompt", spec.prompt)
        if kind is ActionKind.ASK and in_question:
            self.error(f"{path}.action", "a caller is asked one question at most; an answer "
                       "cannot lead to another question")

    def _check_rules(self, register: tuple[RegisterRow, ...]) -> None:
        known = {r.number for r in register}
        for trunk in self.site.centre.trunks:
            known.update(trunk.access_numbers)
        for rule in self.site.rules:
            rpath = f"rules[{rule.name}]"
            self._check_rule_conditions(rpath, rule, known)
            self._check_action(f"{rpath}.then", rule.then, in_question=False)
            if rule.then.action is ActionKind.ASK and rule.ask is None:
                self.error(f"{rpath}.ask", "then.action is ask, so the rule needs an ask: "
                           "section (prompt, options, default)")
            if rule.ask is not None:
                if rule.then.action is not ActionKind.ASK:
                    self.error(f"{rpath}.then.action", "the rule has an ask: section, so "
                               "then.action must be ask")
                if rule.ask.prompt not in self.prompts:
                    self._undefined_prompt(f"{rpath}.ask.prompt", rule.ask.prompt)
                if not 1 <= rule.ask.timeout_s <= 30:
                    self.error(f"{rpath}.ask.timeout_s", "must be between 1 and 30 seconds")
                if not 0 <= rule.ask.retries <= 1:
                    self.error(f"{rpath}.ask.retries", "a question is repeated at most once "
                               "(0 or 1)")
                for digit, spec in rule.ask.options.items():
                    if not _DIGITS.fullmatch(digit):
                        self.error(f"{rpath}.ask.options[{digit}]", f'"{digit}" must be one '
                                   "key: 0-9, * or #")
                    self._check_action(f"{rpath}.ask.options[{digit}]", spec, in_question=True)
                self._check_action(f"{rpath}.ask.default", rule.ask.default, in_question=True)

    def _check_rule_conditions(self, rpath: str, rule: Rule, known: set[str]) -> None:
        when = rule.when
        for number in when.dialled:
            # Any DID reaches the controller (the dialplan's catch-all), so a rule may name a
            # number outside the register; it must still be a number.
            if not re.fullmatch(r"\+?[0-9]{1,20}", number):
                self.error(f"{rpath}.when.dialled", f'"{number}" is not a phone number; use '
                           'digits, e.g. "12345"')
        for i, pattern in enumerate(when.caller):
            self._check_pattern(f"{rpath}.when.caller[{i}]", pattern)
        if when.time is not None:
            for day in when.time.days:
                if not 1 <= day <= 7:
                    self.error(f"{rpath}.when.time.days", f"{day} is not an ISO weekday; use 1 "
                               "(Monday) to 7 (Sunday)")

