"""Every register row routes to a defined target in every phase, and phase boundaries hold
to the minute in the site's timezone (Asia/Shanghai)."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from hotline12345.config import load_site
from hotline12345.legacy_numbers import Mode, Phase
from hotline12345.legacy_numbers.model import EMERGENCY_NUMBERS
from hotline12345.routing import Action, CallContext, Router

SITE = load_site(None)
ROUTER = Router(SITE)
TZ = ZoneInfo("Asia/Shanghai")
ROWS = {r.number: r for r in SITE.register}
CALLER = "13800138000"


def test_default_register_has_29_rows_24_by_modes_5_by_linkage() -> None:
    modes = [r.mode for r in SITE.register]
    assert len(modes) == 29
    assert sum(m is Mode.LINKAGE for m in modes) == 5
    assert {Mode.WHOLE_MERGE, Mode.DUAL_NUMBER, Mode.SUB_CENTRE} <= set(modes)
    assert {r.number for r in SITE.register if r.mode is Mode.LINKAGE} == {
        "95598", "96116", "96777", "96069", "10000"}  # utilities: never 110/119/120/122
    assert not {r.number for r in SITE.register} & EMERGENCY_NUMBERS
    for row in SITE.register:
        assert "重构" in row.provenance, f"{row.number} must be marked as a reconstruction"
        assert row.prompt and row.name and row.department


def _times(row_number: str) -> dict[Phase, datetime]:
    row = ROWS[row_number]
    return {
        Phase.BEFORE_TRANSITION: row.transition_start - timedelta(minutes=1),
        Phase.IN_TRANSITION: row.transition_start,
        Phase.RETIRED if row.mode is Mode.WHOLE_MERGE else Phase.LIVE: row.cutover,
    }


@pytest.mark.parametrize("number", sorted(ROWS))
def test_every_row_routes_to_a_defined_target_in_every_phase(number: str) -> None:
    row = ROWS[number]
    queues = {q.name for q in SITE.queues}
    centres = {c.name for c in SITE.file.sub_centres}
    linkage = {t.name: t for t in SITE.file.linkage}
    for phase, at in _times(number).items():
        assert row.phase_at(at) is phase
        d = ROUTER.decide(CallContext(number, at, CALLER))
        assert d.variables["HOTLINE_PHASE"] == phase.code
        assert d.variables["HOTLINE_LEGACY"] == number
        if row.mode in (Mode.WHOLE_MERGE, Mode.DUAL_NUMBER):
            assert d.action is Action.QUEUE and d.target == row.target and d.target in queues
            assert d.variables["HOTLINE_QUEUE"] == row.target
        elif row.mode is Mode.SUB_CENTRE:
            assert d.action is Action.SUB_CENTRE and d.target == row.target in centres
            assert d.variables["HOTLINE_DIAL"].startswith("PJSIP/")
        else:
            assert d.action is Action.LINKAGE and d.target == row.target
            assert d.variables["HOTLINE_DIAL"] == linkage[row.target].dial
        expected_prompts = {
            Phase.BEFORE_TRANSITION: (),
            Phase.IN_TRANSITION: (f"hotline12345/transition-{number}",),
            Phase.RETIRED: ("hotline12345/now-12345",),
            Phase.LIVE: (),
        }[phase]
        assert d.prompts == expected_prompts, (number, phase)
        assert any(number in r for r in d.reasons)


@pytest.mark.parametrize("number", ["12317", "12315", "12366", "95598"])
def test_phase_boundaries_to_the_minute_in_shanghai(number: str) -> None:
    row = ROWS[number]
    start = row.transition_start
    assert start.utcoffset() == timedelta(hours=8)
    # 23:59 local the evening before is still before; 00:00 is in transition.
    assert row.phase_at(start - timedelta(minutes=1)) is Phase.BEFORE_TRANSITION
    assert row.phase_at(start) is Phase.IN_TRANSITION
    assert row.phase_at(row.cutover - timedelta(minutes=1)) is Phase.IN_TRANSITION
    after = Phase.RETIRED if row.mode is Mode.WHOLE_MERGE else Phase.LIVE
    assert row.phase_at(row.cutover) is after
    # The same instant written in UTC decides the same way: 16:00 UTC is 00:00 in Shanghai.
    utc_midnight_local = row.cutover.astimezone(ZoneInfo("UTC"))
    assert utc_midnight_local.hour == 16
    assert row.phase_at(utc_midnight_local) is after
    assert row.phase_at(utc_midnight_local - timedelta(minutes=1)) is Phase.IN_TRANSITION


def test_route_uses_site_timezone_not_utc() -> None:
    # 2020-12-31T16:30Z is 2021-01-01 00:30 in Shanghai: 12317 is already retired there.
    at = datetime(2020, 12, 31, 16, 30, tzinfo=ZoneInfo("UTC"))
    d = ROUTER.decide(CallContext("12317", at, CALLER))
    assert d.variables["HOTLINE_PHASE"] == "retired"
    assert d.prompts == ("hotline12345/now-12345",)


def test_dual_number_stays_live_after_cutover() -> None:
    d = ROUTER.decide(CallContext("12333", datetime(2030, 1, 1, tzinfo=TZ), CALLER))
    assert d.action is Action.QUEUE and d.target == "hr-social" and d.prompts == ()
    assert d.variables["HOTLINE_PHASE"] == "live"
