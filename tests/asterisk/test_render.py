"""The renderer: the shipped render does not drift, renders are deterministic, secrets come
from the environment only, and the dialplan covers every number the site routes."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from hotline12345.asterisk import CONF_FILES, RenderError, RenderOptions, render
from hotline12345.asterisk.check import check_dir
from hotline12345.asterisk.names import (
    CTX_INBOUND,
    placeholder,
    trunk_context,
)
from hotline12345.asterisk.prompts import catalogue
from hotline12345.cli import main
from hotline12345.config import Site
from hotline12345.legacy_numbers.model import EMERGENCY_NUMBERS
from hotline12345.recordings.naming import Leg, file_name
from hotline12345.routing import CallContext, Router

from .conftest import EXT, MANAGER, PJSIP, QUEUES, SHIPPED


def sections(text: str) -> dict[str, str]:
    """Section name -> its body, read independently of the package's own parser."""
    out: dict[str, str] = {}
    for m in re.finditer(r"^\[([^\]]+)\]\n(.*?)(?=^\[|\Z)", text, re.M | re.S):
        out.setdefault(m.group(1), "")
        out[m.group(1)] += m.group(2)
    return out


def routed_numbers(body: str) -> list[str]:
    """Numbers with an ``exten => N,1,...`` whose next step goes to the inbound context."""
    found = re.findall(r"^exten => (\d+),1,Set\(HOTLINE_TRUNK=[\w-]+\)\n same => n,"
                       rf"Goto\({CTX_INBOUND},\$\{{EXTEN\}},1\)$", body, re.M)
    return found


# -- the shipped render -------------------------------------------------------------------


def test_shipped_render_matches_the_generator_byte_for_byte(site: Site) -> None:
    rendered = render(site, RenderOptions())
    assert sorted(p.name for p in SHIPPED.iterdir()) == sorted(CONF_FILES), (
        "asterisk_conf/ must hold exactly the rendered files")
    for name, text in rendered.files.items():
        shipped = (SHIPPED / name).read_bytes()
        assert shipped == text.encode("utf-8"), (
            f"asterisk_conf/{name} drifted from the generator; run "
            "`hotline12345 asterisk-conf render --out asterisk_conf` (with no secrets set)")


def test_render_is_deterministic_through_the_cli(tmp_path: Path) -> None:
    for out in ("a", "b"):
        assert main(["asterisk-conf", "render", "--out", str(tmp_path / out)]) == 0
    for name in CONF_FILES:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
        assert (tmp_path / "a" / name).read_bytes() == (SHIPPED / name).read_bytes()


def test_shipped_render_holds_only_placeholder_secrets() -> None:
    manager = (SHIPPED / MANAGER).read_text(encoding="utf-8")
    pjsip = (SHIPPED / PJSIP).read_text(encoding="utf-8")
    assert re.findall(r"^secret=(.*)$", manager, re.M) == [placeholder("HOTLINE12345_AMI_SECRET")]
    assert re.findall(r"^password=(.*)$", pjsip, re.M) == [
        placeholder("HOTLINE12345_TRUNK_UNICOM_PASSWORD")]


# -- secrets ------------------------------------------------------------------------------


def test_secrets_come_from_the_environment(monkeypatch: pytest.MonkeyPatch, site: Site,
                                           tmp_path: Path) -> None:
    monkeypatch.setenv("HOTLINE12345_AMI_SECRET", "s3cr;et")
    secret_file = tmp_path / "pw"
    secret_file.write_text("trunk-pass\n", encoding="utf-8")
    monkeypatch.setenv("HOTLINE12345_TRUNK_UNICOM_PASSWORD_FILE", str(secret_file))
    out = render(site)
    assert out.placeholders == ()
    assert "secret=s3cr\\;et\n" in out.files[MANAGER]  # ; would start a comment
    assert "password=trunk-pass\n" in out.files[PJSIP]
    assert "CHANGE_ME" not in "".join(out.files.values())
    out.write(tmp_path / "conf")
    result = check_dir(tmp_path / "conf", site)
    assert [f for f in result.findings if f.code == "placeholder-secret"] == []
    assert result.ok, [str(f) for f in result.errors]


def test_missing_secrets_are_named(site: Site) -> None:
    out = render(site)
    assert out.placeholders == ("HOTLINE12345_AMI_SECRET", "HOTLINE12345_TRUNK_UNICOM_PASSWORD")


def test_a_secret_with_a_control_character_is_refused(monkeypatch: pytest.MonkeyPatch,
                                                      site: Site) -> None:
    monkeypatch.setenv("HOTLINE12345_AMI_SECRET", "abc\tdef")
    with pytest.raises(RenderError, match="HOTLINE12345_AMI_SECRET"):
        render(site)


# -- options ------------------------------------------------------------------------------


def test_controller_address_is_a_render_option(site: Site) -> None:
    out = render(site, RenderOptions(agi_hosts=("10.0.0.5",), agi_port=4600,
                                     ami_bind="10.0.0.2"))
    assert "Set(HOTLINE_AGI_1=agi://10.0.0.5:4600)\n" in out.files[EXT]
    manager = out.files[MANAGER]
    assert "permit=10.0.0.5/255.255.255.255\n" in manager
    assert "deny=0.0.0.0/0.0.0.0\n" in manager
    assert "bindaddr=10.0.0.2\n" in manager
    v6 = render(site, RenderOptions(agi_hosts=("::1",), ami_bind="::1"))
    assert "Set(HOTLINE_AGI_1=agi://[::1]:4573)\n" in v6.files[EXT]
    assert "permit=::1/128\n" in v6.files[MANAGER]
    assert "deny=::/0\n" in v6.files[MANAGER] and "deny=0.0.0.0" not in v6.files[MANAGER]
    assert "bindaddr=::1\n" in v6.files[MANAGER]


def test_several_controllers_are_tried_in_order(site: Site) -> None:
    out = render(site, RenderOptions(agi_hosts=("10.0.0.5", "10.0.0.6", "fd00::7"),
                                     ami_bind="::"))
    ext = sections(out.files[EXT])
    settings = ext["hotline12345-settings"]
    assert ("Set(HOTLINE_AGI_COUNT=3)\n same => n,Set(HOTLINE_AGI_1=agi://10.0.0.5:4573)\n"
            " same => n,Set(HOTLINE_AGI_2=agi://10.0.0.6:4573)\n"
            " same => n,Set(HOTLINE_AGI_3=agi://[fd00::7]:4573)\n") in settings
    inbound = [ln for ln in ext[CTX_INBOUND].splitlines() if not ln.startswith(";")]
    agi = next(i for i, ln in enumerate(inbound) if "AGI(${HOTLINE_AGI}/inbound," in ln)
    assert inbound[agi - 1] == " same => n(agi),Set(HOTLINE_AGI=${HOTLINE_AGI_${HOTLINE_AGI_TRY}})"
    # No decision (whatever AGISTATUS says) moves on, unless the caller hung up; the last
    # controller's failure falls back.
    assert inbound[agi + 1] == ' same => n,GotoIf($["${HOTLINE_ACTION}" = ""]?retry)'
    retry = next(i for i, ln in enumerate(inbound) if "n(retry)" in ln)
    assert '"${AGISTATUS}" = "HANGUP"]?gone' in inbound[retry]
    assert "${HOTLINE_AGI_TRY} >= ${HOTLINE_AGI_COUNT}]?fallback" in inbound[retry + 1]
    assert inbound[retry + 3:retry + 5] == [
        " same => n,Set(HOTLINE_AGI_TRY=$[${HOTLINE_AGI_TRY} + 1])", " same => n,Goto(agi)"]
    manager = out.files[MANAGER]
    assert re.findall(r"^(permit|deny)=(.*)$", manager, re.M) == [
        ("deny", "0.0.0.0/0.0.0.0"), ("deny", "::/0"), ("permit", "10.0.0.5/255.255.255.255"),
        ("permit", "10.0.0.6/255.255.255.255"), ("permit", "fd00::7/128")]
    assert "bindaddr=::\n" in manager


def test_a_remote_controller_needs_an_explicit_ami_bind(site: Site) -> None:
    """AMI listens on 127.0.0.1 unless told otherwise: never silently on every address."""
    with pytest.raises(RenderError, match="--ami-bind"):
        render(site, RenderOptions(agi_hosts=("10.0.0.5",)))
    assert "bindaddr=127.0.0.1\n" in render(site).files[MANAGER]
    assert "bindaddr=0.0.0.0\n" in render(
        site, RenderOptions(agi_hosts=("10.0.0.5",), ami_bind="0.0.0.0")).files[MANAGER]


@pytest.mark.parametrize("options, match", [
    (RenderOptions(agi_hosts=("controller.example",)), "--agi-host"),
    (RenderOptions(agi_hosts=()), "--agi-host"),
    (RenderOptions(agi_hosts=("10.0.0.5", "10.0.0.5"), ami_bind="0.0.0.0"), "twice"),
    (RenderOptions(agi_port=70000), "--agi-port"),
    (RenderOptions(ami_bind="localhost"), "--ami-bind"),
    (RenderOptions(agi_hosts=("fd00::7",), ami_bind="10.0.0.2"), "IPv4"),
    (RenderOptions(agi_hosts=("127.0.0.1",), ami_bind="10.0.0.2"), "permit=127.0.0.1"),
    (RenderOptions(recordings_dir="relative/dir"), "--recordings-dir"),
])
def test_bad_options_are_refused(site: Site, options: RenderOptions, match: str) -> None:
    with pytest.raises(RenderError, match=match):
        render(site, options)


def test_cli_takes_several_controllers_and_the_ami_bind(tmp_path: Path) -> None:
    assert main(["asterisk-conf", "render", "--out", str(tmp_path), "--agi-host", "10.0.0.5",
                 "--agi-host", "10.0.0.6", "--ami-bind", "10.0.0.2"]) == 0
    ext = (tmp_path / EXT).read_text(encoding="utf-8")
    assert "Set(HOTLINE_AGI_COUNT=2)" in ext and "Set(HOTLINE_AGI_2=agi://10.0.0.6:4573)" in ext
    assert "bindaddr=10.0.0.2\n" in (tmp_path / MANAGER).read_text(encoding="utf-8")


def test_cli_reports_bad_options(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["asterisk-conf", "render", "--out", str(tmp_path), "--agi-host", "x"]) == 2
    assert "--agi-host" in capsys.readouterr().err


# -- extensions.conf ----------------------------------------------------------------------


def test_every_register_number_is_routed_in_every_inbound_context(site: Site) -> None:
    text = (SHIPPED / EXT).read_text(encoding="utf-8")
    secs = sections(text)
    assert len(site.register) == 29
    # Emergency numbers are no register rows; a trunk passes them straight on (static).
    register = [r.number for r in site.register if r.number not in EMERGENCY_NUMBERS]
    for trunk in site.centre.trunks:
        body = secs[trunk_context(trunk.name)]
        routed = routed_numbers(body)
        missing = [n for n in [*trunk.access_numbers, *register] if n not in routed]
        assert missing == [], f"{trunk.name}: no route for {missing}"


def matches(pattern: str, number: str) -> bool:
    """Asterisk's extension matching, written out for the test: X Z N, [sets], . and !."""
    if not pattern.startswith("_"):
        return pattern == number
    rx = ""
    for token in re.findall(r"\[[^\]]*\]|.", pattern[1:]):
        rx += {"X": "[0-9]", "Z": "[1-9]", "N": "[2-9]", ".": ".+", "!": ".*"}.get(
            token, token if token.startswith("[") else re.escape(token))
    return re.fullmatch(rx, number) is not None


@pytest.mark.parametrize("number", ["+8657112317", "+12025550123", "5", "99999"])
def test_every_shape_of_number_reaches_the_controller(site: Site, number: str) -> None:
    """E.164 (+86...) and one-digit DIDs are not dropped: _X. matches neither."""
    secs = sections((SHIPPED / EXT).read_text(encoding="utf-8"))
    for trunk in site.centre.trunks:
        body = secs[trunk_context(trunk.name)]
        hits = [m for m in re.finditer(r"^exten => ([^,]+),1,Set\(HOTLINE_TRUNK=[\w-]+\)\n"
                                       rf" same => n,Goto\({CTX_INBOUND},\$\{{EXTEN\}},1\)$",
                                       body, re.M) if matches(m.group(1), number)]
        assert hits, f"{trunk.name}: {number} matches no route to the controller"
    inbound = re.findall(r"^exten => ([^,]+),1,", secs[CTX_INBOUND], re.M)
    assert any(matches(p, number) for p in inbound), f"[{CTX_INBOUND}] drops {number}"


def test_no_did_appears_twice(site: Site) -> None:
    secs = sections((SHIPPED / EXT).read_text(encoding="utf-8"))
    owner = {n: t.name for t in site.centre.trunks for n in t.access_numbers}
    for name, body in secs.items():
        firsts = re.findall(r"^exten => ([^,]+),1,", body, re.M)
        assert len(firsts) == len(set(firsts)), f"[{name}] has an extension twice"
    for trunk in site.centre.trunks:
        routed = set(routed_numbers(secs[trunk_context(trunk.name)]))
        foreign = {n for n in routed if owner.get(n, trunk.name) != trunk.name}
        assert foreign == set(), f"{trunk.name} routes other trunks' access numbers {foreign}"


def test_fallback_follows_the_inbound_agi_and_reaches_the_general_queue(site: Site) -> None:
    text = (SHIPPED / EXT).read_text(encoding="utf-8")
    body = sections(text)[CTX_INBOUND]
    lines = [ln for ln in body.splitlines() if not ln.startswith(";")]
    agi = next(i for i, ln in enumerate(lines) if "AGI(${HOTLINE_AGI}/inbound,${EXTEN}," in ln)
    guard = lines[agi + 1]
    assert guard == ' same => n,GotoIf($["${HOTLINE_ACTION}" = ""]?retry)'
    retry = next(i for i, ln in enumerate(lines) if "n(retry)" in ln)
    assert lines[retry + 1].endswith("]?fallback)")  # with one controller, no other to try
    fallback = next(i for i, ln in enumerate(lines) if "n(fallback)" in ln)
    tail = "\n".join(lines[fallback:])
    assert "Set(HOTLINE_QUEUE=${HOTLINE_GENERAL_QUEUE})" in tail
    assert f"Set(HOTLINE_GENERAL_QUEUE={site.centre.general_queue})\n" in text


def test_mixmonitor_follows_the_recording_naming_convention() -> None:
    text = (SHIPPED / EXT).read_text(encoding="utf-8")
    line = next(ln for ln in text.splitlines() if "MixMonitor(" in ln)
    m = re.search(r"MixMonitor\(([^,]+),b?r\(([^)]+)\)t\(([^)]+)\)[,)]", line)
    assert m, line
    mixed, caller, seat = (p.removeprefix("${HOTLINE_REC_DIR}/") for p in m.groups())
    rec = "${HOTLINE_REC}"
    # r() records what Asterisk reads from the inbound channel: the caller's own voice.
    assert (mixed, caller, seat) == (file_name(rec, Leg.MIXED), file_name(rec, Leg.CALLER),
                                     file_name(rec, Leg.SEAT))
    assert "Set(HOTLINE_REC_DIR=/var/spool/asterisk/monitor/hotline12345)\n" in text


def _decisions(site: Site) -> list[dict[str, str]]:
    """The variables of a spread of real decisions: every register number before, during and
    after its transition, every access number, enterprise or not, answered or not."""
    router = Router(site)
    out = []
    numbers = [r.number for r in site.register] + list(site.access_numbers()) + ["99999"]
    for number in numbers:
        row = next((r for r in site.register if r.number == number), None)
        times = [datetime(2021, 3, 1, 10, 0, tzinfo=router.tz)]
        if row is not None:
            times = [row.transition_start - timedelta(days=1), row.transition_start,
                     row.cutover + timedelta(days=1)]
        for at in times:
            for enterprise in (False, True):
                for answer in (None, "", "1"):
                    d = router.decide(CallContext(dialled=number, at=at, enterprise=enterprise,
                                                  answer=answer))
                    if d.action.value != "ask":
                        out.append(dict(d.variables))
    return out


def test_the_dialplan_acts_on_every_decision_the_router_makes(site: Site) -> None:
    text = (SHIPPED / EXT).read_text(encoding="utf-8")
    queues = set(sections((SHIPPED / QUEUES).read_text(encoding="utf-8"))) - {"general"}
    known_prompts = set(catalogue(site))
    decisions = _decisions(site)
    assert len(decisions) > 100
    seen_actions = set()
    for v in decisions:
        action = v["HOTLINE_ACTION"]
        seen_actions.add(action)
        assert f'GotoIf($["${{HOTLINE_ACTION}}" = "{action}"]?' in text, action
        for key in ("HOTLINE_QUEUE", "HOTLINE_FALLBACK_QUEUE", "HOTLINE_OVERFLOW_TARGET"):
            name = v.get(key, "")
            if name and not (key == "HOTLINE_OVERFLOW_TARGET" and
                             v.get("HOTLINE_OVERFLOW_ACTION") == "sub_centre"):
                assert name in queues, f"{key}={name}"
    assert seen_actions >= {"queue", "expert", "sub_centre", "linkage"}
    router = Router(site)
    for row in site.register:
        d = router.decide(CallContext(dialled=row.number, at=row.transition_start))
        for prompt in d.prompts:
            assert prompt.removeprefix("hotline12345/") in known_prompts


def test_the_dialplan_queues_on_the_site_queue_name_the_controller_sets(site: Site) -> None:
    """Queue() takes HOTLINE_QUEUE as the controller set it: the queues.conf sections carry
    the site's names, so AMI actions and events use them too."""
    queues = sections((SHIPPED / QUEUES).read_text(encoding="utf-8"))
    assert "general" not in queues  # the host's queues.conf has app_queue's own settings
    assert site.centre.general_queue in queues
    text = (SHIPPED / EXT).read_text(encoding="utf-8")
    assert re.findall(r"Queue\((\$\{\w+\})", text) == ["${HOTLINE_QUEUE}"] * 4
    # The three-way call's Local channel queues for a seat with the caller's HOTLINE_QUEUE.
    assert "acnv(HOTLINE_CONF=${HOTLINE_CONF}^HOTLINE_QUEUE=${HOTLINE_QUEUE}^" in text


# -- queues.conf, manager.conf, pjsip.conf -------------------------------------------------


def test_queues_conf_has_every_queue_with_its_settings(site: Site) -> None:
    queues = sections((SHIPPED / QUEUES).read_text(encoding="utf-8"))
    for q in site.queues:
        groups = [(q.name, q.members)]
        if q.expert_seats:
            groups.append((f"{q.name}-expert", q.expert_seats))
        for name, members in groups:
            body = queues[name]
            assert f"strategy={q.strategy.value}\n" in body
            assert f"servicelevel={q.service_level_s}\n" in body
            assert f"wrapuptime={q.wrapup_s}\n" in body
            assert re.findall(r"^member => (.*)$", body, re.M) == list(members)
            if q.announce:
                assert f"periodic-announce=hotline12345/{q.announce}\n" in body
            else:
                assert "periodic-announce" not in body


def test_ami_user_is_least_privilege() -> None:
    user = sections((SHIPPED / MANAGER).read_text(encoding="utf-8"))["hotline12345"]
    assert "read=call,agent,user\n" in user
    assert "write=agent,originate\n" in user  # originate: the 回访's Originate only
    assert user.index("deny=0.0.0.0/0.0.0.0") < user.index("permit=127.0.0.1/255.255.255.255")


def test_pjsip_has_a_section_set_per_trunk() -> None:
    text = (SHIPPED / PJSIP).read_text(encoding="utf-8")
    assert "[telecom-identify]\ntype=identify\nendpoint=telecom\n" \
           "match=203.0.113.10,203.0.113.11\n" in text
    assert "context=hotline12345-from-telecom\n" in text
    assert "[unicom-registration]\ntype=registration\n" in text
    assert "outbound_auth=unicom-auth\n" in text
    assert "server_uri=sip:sbc.unicom.example.net:5060\n" in text
    assert "[unicom-registration]" in text and "[telecom-registration]" not in text
