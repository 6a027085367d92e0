"""Emergency numbers are no register rows (国办发〔2020〕53号) and 12345 <-> 110 linkage works
both ways (国办发〔2022〕12号): the config check refuses 110/119/120/122 as rows and says why;
a call to one goes straight to its linkage target; a call 110 transfers to 12345 (by the
DID or caller prefix the site names) takes the linkage priority and is marked."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hotline12345.config import check_site, default_site_path, load_site
from hotline12345.routing import Action, CallContext, Router

AT = datetime(2026, 11, 28, 6, 30, tzinfo=UTC)
ROW = ('  - {{number: "{n}", name: 报警, department: 公安, mode: 协同联动, target: police-110, '
       'prompt: 转接, transition_start: 2021-01-01, cutover: 2021-03-01, provenance: 重构}}\n')


def config_check(path: Path) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("hotline12345")
    return subprocess.run([str(exe), "config", "check", str(path)], capture_output=True,
                          text=True, timeout=60, check=False)


@pytest.mark.parametrize("number", ["110", "119", "120", "122"])
@pytest.mark.parametrize("own_register", [False, True])
def test_config_check_refuses_an_emergency_number_as_a_row(tmp_path: Path, number: str,
                                                           own_register: bool) -> None:
    text = default_site_path().read_text(encoding="utf-8")
    if own_register:  # the site's own register, without the default one
        text = text.replace("  use_default: true\n", "  use_default: false\n")
    site = tmp_path / "site.yaml"
    site.write_text(text.replace("hotlines: []\n", "hotlines:\n" + ROW.format(n=number)),
                    encoding="utf-8")
    line = site.read_text(encoding="utf-8").splitlines().index(
        ROW.format(n=number).rstrip("\n")) + 1
    run = config_check(site)
    assert run.returncode == 1
    [error] = [x for x in run.stdout.splitlines() if f"hotlines[{number}]" in x]
    assert error.startswith(f"{site}:{line}:")
    assert f"{number} is an emergency number and cannot be a register row" in error
    assert "国办发〔2020〕53号" in error and "linkage:" in error
    assert "Traceback" not in run.stderr


def test_the_default_site_is_consistent() -> None:
    assert check_site(None) == []
    site = load_site(None)
    assert {t.number for t in site.file.linkage} >= {"110", "119", "120", "122"}
    assert not {"110", "119", "120", "122"} & {r.number for r in site.register}


@pytest.fixture(scope="module")
def router() -> Router:
    return Router(load_site(None))


@pytest.mark.parametrize(("dialled", "target"), [("110", "police-110"), ("119", "fire-119"),
                                                 ("120", "ambulance-120"),
                                                 ("122", "traffic-122"),
                                                 ("+86110", "police-110")])
def test_an_emergency_number_goes_straight_to_its_target(router: Router, dialled: str,
                                                         target: str) -> None:
    d = router.decide(CallContext(dialled, AT, "13800138000"))
    assert (d.action, d.target, d.prompts, d.question) == (Action.LINKAGE, target, (), None)
    assert d.variables["HOTLINE_TRANSFER"] == "blind"  # no three-way wait for a 12345 seat
    assert "HOTLINE_LEGACY" not in d.variables
    assert any("emergency number, excluded from the merge (国办发〔2020〕53号)" in r
               for r in d.reasons)


def test_a_call_110_transferred_by_its_did(router: Router) -> None:
    d = router.decide(CallContext("12345110", AT, "057187654321"))
    assert (d.action, d.target, d.priority) == (Action.QUEUE, "q-general", 5)
    assert d.question is None  # never asked the enterprise question
    assert d.variables["HOTLINE_LINKED_FROM"] == "110"
    assert d.variables["QUEUE_PRIO"] == "5"
    assert any(r.startswith("transferred to 12345 by 公安110 110 (DID 12345110)")
               for r in d.reasons)
    plain = router.decide(CallContext("12345", AT, "057187654321", answer=""))
    assert "HOTLINE_LINKED_FROM" not in plain.variables and plain.priority == 0


def test_a_call_110_transferred_by_its_caller_prefix(tmp_path: Path) -> None:
    text = default_site_path().read_text(encoding="utf-8").replace(
        'transfers_in: {dids: ["12345110"], caller_prefixes: []}',
        'transfers_in: {caller_prefixes: ["05718711"], queue: backup}')
    site = tmp_path / "site.yaml"
    site.write_text(text, encoding="utf-8")
    router = Router(load_site(site))
    for caller in ("057187110000", "+8657187110000", "57187110000", "87110000"):
        d = router.decide(CallContext("12345", AT, caller))
        assert (d.action, d.target, d.priority) == (Action.QUEUE, "backup", 5), caller
        assert d.variables["HOTLINE_LINKED_FROM"] == "110"
        assert any("(caller number starting 05718711)" in r for r in d.reasons)
    other = router.decide(CallContext("12345", AT, "057187654321", answer=""))
    assert "HOTLINE_LINKED_FROM" not in other.variables


@pytest.mark.parametrize(("transfers_in", "path", "message"), [
    ('{dids: ["12345"]}', "transfers_in.dids[0]", "12345 is a number every caller dials"),
    ('{dids: ["110"]}', "transfers_in.dids[0]", "110 is a number every caller dials"),
    ('{dids: ["x1"]}', "transfers_in.dids[0]", '"x1" is not a phone number'),
    ('{caller_prefixes: ["1"]}', "transfers_in.caller_prefixes[0]", "at least 3 digits"),
    ("{}", "transfers_in", "give dids"),
    ('{dids: ["12345110"], queue: nowhere}', "transfers_in.queue", 'queue "nowhere"'),
])
def test_bad_transfers_in(tmp_path: Path, transfers_in: str, path: str, message: str) -> None:
    text = default_site_path().read_text(encoding="utf-8").replace(
        '{dids: ["12345110"], caller_prefixes: []}', transfers_in)
    site = tmp_path / "site.yaml"
    site.write_text(text, encoding="utf-8")
    issues = check_site(site)
    assert [i.path for i in issues] == [f"linkage[police-110].{path}"]
    assert message in issues[0].message
