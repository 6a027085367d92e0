"""Numbers in the forms carriers send, dialled and calling, route as the bare number: through
the router, through ``hotline12345 route`` (a subprocess) and through the inbound flow over
FastAGI (tests/ivr/test_numbers_flow.py). docs/numbers.md lists the forms."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hotline12345.config import load_site
from hotline12345.routing import CallContext, Decision, Router
from hotline12345.routing.numbers import NumberPlan, derive_area_codes

from .conftest import MINIMAL_SITE

AT = datetime(2026, 11, 28, 6, 30, tzinfo=UTC)  # after every default-register cut-over

#: (as received, as the site writes it): every form a carrier delivers a dialled number in.
DIALLED_FORMS = [
    ("+8612366", "12366"), ("8612366", "12366"), ("008612366", "12366"),  # sub-centre
    ("+8657112317", "12317"), ("057112317", "12317"), ("57112317", "12317"),  # legacy prompt
    ("008657112317", "12317"), ("8657112317", "12317"),
    ("+8612333", "12333"),  # recovered from <tel:+8612333>
    ("+8612315", "12315"), ("+8695598", "95598"),
    ("+8657112345", "057112345"),  # the unicom trunk's own access number
    ("+8612345", "12345"), ("057112366", "12366"),
]

#: Numbers that must reach routing exactly as received.
KEPT_DIALLED = ["12345", "057112345", "95598", "12366", "12317", "99999", "86", "0086",
                "860", "8699999", "057199999"]


@pytest.fixture(scope="module")
def default_router() -> Router:
    return Router(load_site(None))


def comparable(d: Decision) -> tuple[object, ...]:
    variables = {k: v for k, v in d.variables.items() if k != "HOTLINE_DIALLED"}
    return d.action, d.target, d.priority, d.prompts, variables, d.question


@pytest.mark.parametrize(("received", "bare"), DIALLED_FORMS)
def test_dialled_forms_route_as_the_bare_number(default_router: Router, received: str,
                                                bare: str) -> None:
    # answer "": the enterprise question on 12345 is asked and not answered (a final decision)
    plain = default_router.decide(CallContext(bare, AT, "13800138000", answer=""))
    got = default_router.decide(CallContext(received, AT, "13800138000", answer=""))
    assert comparable(got) == comparable(plain)
    assert got.variables["HOTLINE_DIALLED"] == received  # as received, for the engineer
    assert got.variables["HOTLINE_ROUTED_AS"] == bare
    assert got.reasons[0].startswith(f"dialled {received} read as {bare} (")
    assert got.reasons[1:] == plain.reasons


def test_the_forms_reach_what_the_issue_saw_lost(default_router: Router) -> None:
    """+8612366 reached the general queue instead of the tax sub-centre; +8657112317 lost its
    legacy prompt."""
    tax = default_router.decide(CallContext("+8612366", AT))
    assert (tax.action.value, tax.target) == ("sub_centre", "tax-12366")
    retired = default_router.decide(CallContext("+8657112317", AT))
    assert retired.prompts == ("hotline12345/now-12345",) and retired.target == "rural"


@pytest.mark.parametrize("number", KEPT_DIALLED)
def test_numbers_that_are_not_rewritten(default_router: Router, number: str) -> None:
    d = default_router.decide(CallContext(number, AT, "13800138000", answer=""))
    assert d.variables["HOTLINE_ROUTED_AS"] == number
    assert not any(r.startswith("dialled ") for r in d.reasons)


def test_area_codes_default_from_the_access_numbers(default_router: Router) -> None:
    assert default_router.numbers.area_codes == ("0571",)  # from the trunk's 057112345
    assert derive_area_codes(["12345", "02012345"], ["12345"]) == ("020",)
    assert derive_area_codes(["12345"], ["12345"]) == ()
    assert derive_area_codes(["9912345"], ["12345"]) == ()  # 99 is no area code


CALLER_FORMS = [
    ("+8613800138000", "13800138000"), ("8613800138000", "13800138000"),
    ("008613800138000", "13800138000"), ("013800138000", "13800138000"),
    ("13800138000", "13800138000"),
    ("+8657187654321", "057187654321"), ("8657187654321", "057187654321"),
    ("57187654321", "057187654321"), ("057187654321", "057187654321"),
    ("87654321", "057187654321"),  # a local number: the centre's area code
    ("+861087654321", "01087654321"), ("1087654321", "01087654321"),  # Beijing, 010
    ("95598", "95598"), ("110", "110"), ("4008001234", "4008001234"),
    ("86123456", "057186123456"),  # a local number that starts with 86 keeps its 86
]


@pytest.mark.parametrize(("received", "national"), CALLER_FORMS)
def test_caller_forms(received: str, national: str) -> None:
    plan = NumberPlan.of(["0571"], ["12345"])
    got = plan.caller(received)
    assert got is not None and got.number == national
    assert bool(got.why) == (received != national)
    assert plan.caller(None) is None


AREA_SITE = MINIMAL_SITE.replace("  city: 测试市\n", '  city: 测试市\n  area_codes: ["0571"]\n')

CALLER_RULES = """\
  - name: blocked
    when: {blocked: true}
    then: {action: announce_hangup, prompt: blocked}
  - name: mobile-138
    when: {dialled: ["12345"], caller: ["_138XXXXXXXX"]}
    then: {action: queue, target: market}
  - name: local-landline
    when: {dialled: ["12345"], caller: ["_0571XXXXXXXX"]}
    then: {action: queue, target: dialect}
"""


@pytest.fixture
def caller_router(tmp_path: Path) -> Router:
    (tmp_path / "ent.txt").write_text("+8613900139000\n02066668888\n", encoding="utf-8")
    site = tmp_path / "site.yaml"
    site.write_text(AREA_SITE.replace("RULES\n", CALLER_RULES).replace(
        'blocklist: ["_170XXXXXXXX"]', 'blocklist: ["_170XXXXXXXX", "+8613700137000"]'),
        encoding="utf-8")
    return Router(load_site(site))


@pytest.mark.parametrize("caller", ["+8613800138000", "8613800138000", "008613800138000",
                                    "013800138000", "13800138000"])
def test_caller_forms_match_rules(caller_router: Router, caller: str) -> None:
    d = caller_router.decide(CallContext("12345", AT, caller))
    assert (d.action.value, d.target) == ("queue", "market")
    assert d.caller == "13800138000"
    assert (caller == "13800138000") != any(
        r.startswith(f"caller {caller} read as 13800138000") for r in d.reasons)


@pytest.mark.parametrize("caller", ["+8657187654321", "57187654321", "057187654321",
                                    "87654321", "008657187654321"])
def test_landline_forms_match_rules(caller_router: Router, caller: str) -> None:
    d = caller_router.decide(CallContext("12345", AT, caller))
    assert (d.action.value, d.target) == ("queue", "dialect")


@pytest.mark.parametrize("caller", ["+8613900139000", "13900139000", "8613900139000",
                                    "02066668888", "+862066668888", "2066668888"])
def test_enterprise_list_sees_the_national_form(caller_router: Router, caller: str) -> None:
    d = caller_router.decide(CallContext("12345", AT, caller))
    assert any(r == "enterprise caller (in the enterprise number list)" for r in d.reasons)
    assert d.target == "enterprise"


@pytest.mark.parametrize("caller", ["+8617012345678", "017012345678", "13700137000",
                                    "+8613700137000", "008613700137000"])
def test_block_list_sees_the_national_form(caller_router: Router, caller: str) -> None:
    d = caller_router.decide(CallContext("12345", AT, caller))
    assert d.action.value == "announce_hangup"
    assert "caller is on the block list" in d.reasons


def route(*args: str) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("hotline12345")
    return subprocess.run([str(exe), "route", *args, "--at", "2026-11-28T14:30", "--json"],
                          capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.parametrize(("received", "bare"), [("+8612366", "12366"), ("8612366", "12366"),
                                                ("+8657112317", "12317"),
                                                ("057112317", "12317"),
                                                ("008612366", "12366"),
                                                ("+8612333", "12333")])
def test_route_command_answers_as_for_the_bare_number(received: str, bare: str) -> None:
    got, plain = route(received, "--caller", "+8613800138000"), route(bare)
    assert got.returncode == 0 == plain.returncode, got.stderr + plain.stderr
    g, p = json.loads(got.stdout), json.loads(plain.stdout)
    assert g["variables"].pop("HOTLINE_DIALLED") == received
    assert p["variables"].pop("HOTLINE_DIALLED") == bare
    for key in ("action", "target", "priority", "prompts", "variables", "question"):
        assert g[key] == p[key], key
    assert g["reasons"][:2] == [
        f"dialled {received} read as {bare} ({g['reasons'][0].split(' (', 1)[1]}",
        "caller +8613800138000 read as 13800138000 (country code +86 removed)"]
    assert g["caller"] == "13800138000"


@pytest.mark.parametrize("code", ["571", "00571", "0", "05711", "abc"])
def test_a_bad_area_code_is_a_config_error(tmp_path: Path, code: str) -> None:
    from hotline12345.config import check_site

    (tmp_path / "ent.txt").write_text("", encoding="utf-8")
    site = tmp_path / "site.yaml"
    site.write_text(AREA_SITE.replace('area_codes: ["0571"]', f'area_codes: ["{code}"]')
                    .replace("RULES\n", "  []\n")
                    .replace("rules:\n  []", "rules: []"), encoding="utf-8")
    [issue] = check_site(site)
    assert issue.path == "centre.area_codes[0]" and issue.line == 5
    assert 'e.g. "0571"' in issue.message
