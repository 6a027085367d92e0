"""The site file's ticket-loop sections (calendar, departments, tickets): loaded into the
deadline policy, and the warnings of ``config check`` (no departments; no holiday data for
the next 60 days), checked as of an injected day, never the real one. The errors are in the
catalogue (cases.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from hotline12345.config import load_site
from hotline12345.config.loader import CALENDAR_HORIZON_DAYS, site_warnings
from hotline12345.config.schema import TicketLoopSettings, Urgency
from hotline12345.tickets.deadlines import DeadlinePolicy, Limit, LimitSpan
from hotline12345.tickets.workdays import WorkCalendar, calendar_knows_year

from .cases import BASE

LAST_KNOWN = max(y for y in range(2004, 2100) if calendar_knows_year(y))
FIRST_UNKNOWN = date(LAST_KNOWN + 1, 1, 1)
CLASSIFICATION = """\
classification:
  - {department: 税务局, category: 纳税服务, keywords: [发票]}
"""
DEPARTMENTS = """\
departments:
  - {name: 税务局, categories: [纳税服务]}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "site.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def messages(path: Path, today: date) -> list[str]:
    return [str(w).replace(str(path), "site.yaml") for w in site_warnings(path, today=today)]


def test_no_warnings_with_departments_and_calendar_data(tmp_path: Path) -> None:
    path = write(tmp_path, BASE + CLASSIFICATION + DEPARTMENTS)
    assert messages(path, date(LAST_KNOWN, 3, 1)) == []


def test_classification_without_departments_is_a_warning(tmp_path: Path) -> None:
    path = write(tmp_path, BASE + CLASSIFICATION)
    assert messages(path, date(LAST_KNOWN, 3, 1)) == [
        "site.yaml:39:1 classification: the ticket loop has no departments: list the "
        "departments (承办单位) under departments:, those of the classification rules at least"]
    load_site(path)  # a warning, not an error


def test_sixty_days_without_calendar_data_is_a_warning_naming_the_first_day(
        tmp_path: Path) -> None:
    path = write(tmp_path, BASE + DEPARTMENTS)
    today = date(LAST_KNOWN, 12, 1)
    unknown = (today + timedelta(days=CALENDAR_HORIZON_DAYS) - FIRST_UNKNOWN).days  # 29
    assert messages(path, today) == [
        f"site.yaml calendar: the working-day calendar has no holiday data from "
        f"{FIRST_UNKNOWN:%Y-%m-%d} ({unknown} of the next 60 days; year {LAST_KNOWN + 1}): "
        "deadlines there count Monday to Friday and carry a warning. Upgrade chinesecalendar "
        "(pip install -U chinesecalendar) once it has the State Council's notice for the "
        "year, or list the days off and the 调休 working days under calendar.holidays and "
        "calendar.workdays"]
    # today and the 59 days after it are looked at: the day the unknown year comes into
    # view is the first day with a warning
    assert messages(path, FIRST_UNKNOWN - timedelta(days=60)) == []
    [warning] = messages(path, FIRST_UNKNOWN - timedelta(days=59))
    assert f"from {FIRST_UNKNOWN:%Y-%m-%d} (1 of the next 60 days;" in warning


def test_overrides_move_the_first_unknown_day(tmp_path: Path) -> None:
    first, second = FIRST_UNKNOWN, date(LAST_KNOWN + 1, 1, 2)
    calendar = f"calendar:\n  holidays: [{first}]\n  workdays: [{second}]\n"
    path = write(tmp_path, BASE + DEPARTMENTS + calendar)
    [warning] = messages(path, date(LAST_KNOWN, 12, 1))
    assert f"no holiday data from {LAST_KNOWN + 1}-01-03 " in warning
    assert warning.startswith("site.yaml:41:1 calendar:")


def test_a_file_with_errors_has_no_warnings(tmp_path: Path) -> None:
    path = write(tmp_path, BASE + "tickets: {max_reopens: 99}\n")
    assert site_warnings(path, today=date(LAST_KNOWN, 12, 1)) == []


def test_config_check_prints_warnings_and_still_passes(tmp_path: Path) -> None:
    path = write(tmp_path, BASE + CLASSIFICATION)
    run = subprocess.run([sys.executable, "-m", "hotline12345.cli", "config", "check",
                          "--today", f"{LAST_KNOWN}-12-01", str(path)],
                         capture_output=True, text=True, env={**os.environ, "PYTHONUTF8": "1"},
                         check=False)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.strip().splitlines()
    assert lines[0].startswith(f"warning: {path} calendar: the working-day calendar has no "
                               f"holiday data from {FIRST_UNKNOWN:%Y-%m-%d} (")
    assert lines[1].startswith(f"warning: {path}:39:1 classification: the ticket loop has no "
                               "departments")
    assert lines[2] == f"{path}: OK"
    bad = subprocess.run([sys.executable, "-m", "hotline12345.cli", "config", "check",
                          "--today", "2026-13-01", str(path)],
                         capture_output=True, text=True, check=False)
    assert bad.returncode == 2
    assert "'2026-13-01' is not a date; write e.g. 2026-12-07" in bad.stderr


def test_the_default_site_declares_its_classification_departments() -> None:
    site = load_site()
    names = {d.name for d in site.file.departments}
    assert site.file.classification
    assert {rule.department for rule in site.file.classification} <= names
    assert site.file.tickets == TicketLoopSettings()  # it spells out the defaults
    assert site_warnings(None, today=date(LAST_KNOWN, 3, 1)) == []


def test_a_loaded_site_makes_the_calendar_and_the_policy(tmp_path: Path) -> None:
    text = BASE + DEPARTMENTS + """\
calendar:
  timezone: Asia/Shanghai
  office_hours: ["08:30-12:00", "14:00-18:00"]
  holidays: [2031-03-03]
  workdays: [2031-03-08]
tickets:
  limits:
    - {category: 纳税服务, urgency: 一般, answer_working_days: 2, revisit_hours: 24}
  answer_working_days: 4
"""
    site = load_site(write(tmp_path, text))
    policy = DeadlinePolicy.for_site(site.file)
    calendar = policy.calendar
    assert calendar.day_length == WorkCalendar.from_settings(site.file.calendar).day_length
    cst = ZoneInfo("Asia/Shanghai")
    assert not calendar.is_workday(date(2031, 3, 3)) and calendar.is_workday(date(2031, 3, 8))
    assert calendar.known(date(2031, 3, 3)) and not calendar.known(date(2031, 3, 4))
    assert policy.span(Limit.ANSWER, category="纳税服务", urgency=Urgency.NORMAL) == LimitSpan(
        2, wall_clock=False)
    assert policy.span(Limit.ANSWER, category="纳税服务", urgency=Urgency.URGENT) == LimitSpan(
        4, wall_clock=False)  # the site's list replaces the built-in 紧急 rule
    # Friday 28 Feb 2031 16:00 + 2 working days of 7.5 h: Monday 3 March is off
    due = policy.due(Limit.ANSWER, category="纳税服务", urgency=Urgency.NORMAL,
                     start=datetime(2031, 2, 28, 16, tzinfo=cst))
    assert due.at == datetime(2031, 3, 5, 16, tzinfo=cst)
    assert due.warning == "2031 年无节假日数据，按周一至周五计算（2031-02-28 至 2031-03-05）"
