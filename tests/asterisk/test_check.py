"""``asterisk-conf check``: asterisklint and the cross-checks pass on the shipped render, and
each broken directory of the catalogue gives its error, naming the file and the line."""

from __future__ import annotations

import wave
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from hotline12345.asterisk import CONF_FILES, catalogue
from hotline12345.asterisk.check import check_dir
from hotline12345.asterisk.findings import Finding, Severity
from hotline12345.asterisk.lint import lint_dir
from hotline12345.cli import main
from hotline12345.config import Site

from .conftest import CONFBRIDGE, EXT, MANAGER, PJSIP, QUEUES, SHIPPED


def line_of(path: Path, text: str, nth: int = 1) -> int:
    """1-based number of the nth line containing ``text``."""
    hits = [i for i, ln in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
            if text in ln]
    assert len(hits) >= nth, f"{text!r} not in {path.name}"
    return hits[nth - 1]


# -- the shipped render -------------------------------------------------------------------


def test_asterisklint_passes_on_the_shipped_render() -> None:
    assert lint_dir(SHIPPED, list(CONF_FILES)) == []


def test_shipped_render_has_no_errors_but_its_placeholders(site: Site) -> None:
    result = check_dir(SHIPPED, site, allow_placeholders=True)
    assert result.errors == []
    codes = {f.code for f in result.warnings}
    # Only what the site must still provide: secrets, and the seats' and sub-centres'
    # PJSIP endpoints (site-managed, pjsip_hotline12345_local.conf).
    assert codes == {"placeholder-secret", "endpoint-undefined"}


def test_placeholder_secrets_are_errors_naming_file_and_line(site: Site) -> None:
    result = check_dir(SHIPPED, site)
    assert not result.ok
    assert [(f.file, f.line, f.code) for f in result.errors] == [
        (MANAGER, line_of(SHIPPED / MANAGER, "secret=CHANGE_ME"),
         "placeholder-secret"),
        (PJSIP, line_of(SHIPPED / PJSIP, "password=CHANGE_ME"),
         "placeholder-secret"),
    ]
    assert "HOTLINE12345_AMI_SECRET" in result.errors[0].message
    assert "HOTLINE12345_TRUNK_UNICOM_PASSWORD" in result.errors[1].message


def test_cli_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["asterisk-conf", "check", str(SHIPPED)]) == 1
    out = capsys.readouterr()
    assert f"{MANAGER}:" in out.out and "placeholder-secret" in out.out
    assert "2 errors" in out.err
    assert main(["asterisk-conf", "check", str(SHIPPED), "--allow-placeholders"]) == 0
    assert "0 errors" in capsys.readouterr().out


# -- the catalogue of broken directories --------------------------------------------------


@dataclass(frozen=True)
class Broken:
    name: str
    file: str
    mutate: Callable[[str], str]
    code: str
    marker: str  # text on the line the finding must name ("" = line 0: the file as a whole)
    nth: int = 1


def replace_once(old: str, new: str) -> Callable[[str], str]:
    def f(text: str) -> str:
        assert old in text, old
        return text.replace(old, new, 1)
    return f


def drop_lines(*prefixes: str) -> Callable[[str], str]:
    def f(text: str) -> str:
        lines = text.splitlines(keepends=True)
        kept = [ln for ln in lines if not ln.startswith(prefixes)]
        assert len(kept) < len(lines)
        return "".join(kept)
    return f


def drop_block(start: str, stop: str) -> Callable[[str], str]:
    """Remove from the line equal to ``start`` up to the next line starting with ``stop``."""
    def f(text: str) -> str:
        lines = text.splitlines(keepends=True)
        i = lines.index(start + "\n")
        j = next(k for k in range(i + 1, len(lines)) if lines[k].startswith(stop))
        return "".join(lines[:i] + lines[j:])
    return f


TELECOM_12317 = ("exten => 12317,1,Set(HOTLINE_TRUNK=telecom)\n"
                 " same => n,Goto(hotline12345-inbound,${EXTEN},1)\n")
FALLBACK_GOTO = " same => n,Goto(hotline12345-queue,s,1)\n; announce_hangup"

CATALOGUE = [
    Broken("register DID without a route", EXT,
           replace_once(TELECOM_12317, ""), "no-route", "[hotline12345-from-telecom]"),
    Broken("trunk context without the E.164 catch-all", EXT,
           replace_once("exten => _+X.,1,Set(HOTLINE_TRUNK=telecom)\n"
                        " same => n,Goto(hotline12345-inbound,${EXTEN},1)\n", ""),
           "no-route", "[hotline12345-from-telecom]"),
    Broken("trunk context without the one-digit catch-all", EXT,
           replace_once("exten => _X,1,Set(HOTLINE_TRUNK=unicom)\n"
                        " same => n,Goto(hotline12345-inbound,${EXTEN},1)\n", ""),
           "no-route", "[hotline12345-from-unicom]"),
    Broken("inbound context that takes only _X.", EXT,
           replace_once("exten => _[+0-9]!,1,NoOp(", "exten => _X.,1,NoOp("),
           "no-route", "[hotline12345-inbound]", nth=2),  # 1st: the header comment
    Broken("registration without contact_user (every call arrives as s)", PJSIP,
           drop_lines("contact_user="), "contact-user", "[unicom-registration]"),
    Broken("calls to the Contact user not routed", EXT,
           drop_lines("exten => hotline12345,1,Goto(s,1)"), "no-did-recovery",
           "[hotline12345-from-unicom]"),
    Broken("s counts every call as the first access number", EXT,
           replace_once(" same => n,Gosub(hotline12345-did-from-to,s,1(12345))\n"
                        " same => n,Goto(${GOSUB_RETVAL},1)\n",
                        " same => n,Goto(hotline12345-inbound,12345,1)\n"),
           "no-did-recovery", "[hotline12345-from-telecom]"),
    Broken("DID twice in a context", EXT,
           replace_once(TELECOM_12317, TELECOM_12317 + TELECOM_12317), "did-twice",
           "exten => 12317,1,Set(HOTLINE_TRUNK=telecom)", nth=2),
    Broken("asterisklint sees the same duplicate", EXT,
           replace_once(TELECOM_12317, TELECOM_12317 + TELECOM_12317), "E_DP_PRIO_DUPE",
           "exten => 12317,1,Set(HOTLINE_TRUNK=telecom)", nth=2),
    Broken("another trunk's access number", EXT,
           replace_once(TELECOM_12317, TELECOM_12317 + TELECOM_12317.replace("12317",
                                                                             "057112345")),
           "did-twice", "exten => 057112345,1,Set(HOTLINE_TRUNK=telecom)"),
    Broken("goto to a missing context", EXT,
           replace_once(FALLBACK_GOTO, FALLBACK_GOTO.replace("-queue,", "-queues,")),
           "context-missing", "Goto(hotline12345-queues,s,1)"),
    Broken("asterisklint sees the missing context", EXT,
           replace_once(FALLBACK_GOTO, FALLBACK_GOTO.replace("-queue,", "-queues,")),
           "E_DP_GOTO_NOCONTEXT", "Goto(hotline12345-queues,s,1)"),
    Broken("jump to a missing label", EXT,
           replace_once("n(hangup),Hangup(16)", "n(hang_up),Hangup(16)"),
           "label-missing", '"announce_hangup"]?hangup)'),
    Broken("hangup handler in a missing context", EXT,
           replace_once("hangup_handler_push)=hotline12345-hangup,",
                        "hangup_handler_push)=hotline12345-hangups,"),
           "context-missing", "hangup_handler_push"),
    Broken("Local channel to a missing extension", EXT,
           replace_once("exten => seat,1,Gosub(", "exten => seats,1,Gosub("),
           "extension-missing", "Originate(Local/seat@"),
    Broken("a fallback that never reaches the general queue", EXT,
           replace_once(FALLBACK_GOTO, " same => n,Hangup(17)\n; announce_hangup"),
           "no-fallback", " same => n,Hangup(17)"),
    Broken("unknown application", EXT,
           replace_once(" same => n,Answer()", " same => n,Answre()"),
           "E_APP_MISSING", " same => n,Answre()"),
    Broken("bad Originate option (asterisklint knows Asterisk 22's)", EXT,
           replace_once("acnv(", "acnxv("), "E_APP_ARG_BADOPT", "acnxv("),
    Broken("queue missing from queues.conf", QUEUES,
           drop_block("[market]", "; "), "queue-missing", ""),
    Broken("Queue() of an undefined queue", EXT,
           replace_once(" same => n,Queue(${HOTLINE_QUEUE},,,,",
                        " same => n,Queue(nosuch,,,,"),
           "queue-missing", " same => n,Queue(nosuch,,,,"),
    Broken("general queue that queues.conf does not define ([general] is no queue)",
           EXT,
           replace_once("Set(HOTLINE_GENERAL_QUEUE=q-general)",
                        "Set(HOTLINE_GENERAL_QUEUE=general)"),
           "queue-missing", "Set(HOTLINE_GENERAL_QUEUE=general)"),
    Broken("bad queue strategy", QUEUES,
           replace_once("strategy=rrmemory", "strategy=roundrobin"), "queue-strategy",
           "strategy=roundrobin"),
    Broken("unknown prompt", QUEUES,
           replace_once("periodic-announce=hotline12345/queue-hold",
                        "periodic-announce=hotline12345/queue-hodl"),
           "prompt-missing", "periodic-announce=hotline12345/queue-hodl"),
    Broken("syntax error in queues.conf", QUEUES,
           replace_once("retry=5\n", "retry 5\n"), "E_CONF_BAD_LINE", "retry 5"),
    Broken("our reader sees the syntax error too", QUEUES,
           replace_once("retry=5\n", "retry 5\n"), "syntax", "retry 5"),
    Broken("AMI user may write everything", MANAGER,
           replace_once("write=agent", "write=agent,system,originate"), "ami-privilege",
           "write=agent,system,originate"),
    Broken("AMI user may log in from anywhere", MANAGER,
           replace_once("permit=127.0.0.1/255.255.255.255", "permit=0.0.0.0/0.0.0.0"),
           "ami-open", "permit=0.0.0.0/0.0.0.0"),
    Broken("AMI on loopback for a remote controller", MANAGER,
           replace_once("permit=127.0.0.1/255.255.255.255", "permit=10.0.0.5/255.255.255.255"),
           "ami-unreachable", "bindaddr=127.0.0.1"),
    Broken("controller count without its URL", EXT,
           replace_once("Set(HOTLINE_AGI_COUNT=1)", "Set(HOTLINE_AGI_COUNT=2)"),
           "no-controller", "Set(HOTLINE_AGI_COUNT=2)"),
    Broken("AMI user without deny/permit", MANAGER,
           drop_lines("deny=", "permit="), "ami-open", "[hotline12345]"),
    Broken("trunk endpoint sends calls to a missing context", PJSIP,
           replace_once("context=hotline12345-from-telecom", "context=from-telecom"),
           "context-missing", "context=from-telecom"),
    Broken("IP trunk without identify", PJSIP,
           drop_block("[telecom-identify]", "; "), "identify-missing", "[telecom]"),
    Broken("registration without its auth section", PJSIP,
           drop_block("[unicom-auth]", "[unicom-registration]"), "auth-missing",
           "outbound_auth=unicom-auth"),
    Broken("three-way caller not the marked user", CONFBRIDGE,
           drop_lines("marked=yes"), "confbridge-profile", "[hotline12345-3way-caller]"),
    Broken("watchdog redirects to a missing label", EXT,
           replace_once(" same => n(alone),", " same => n(lonely),"), "label-missing",
           "ChannelRedirect(${HOTLINE_CALLER_CHAN}"),
    Broken("confbridge file missing", CONFBRIDGE, lambda text: "", "missing-file", ""),
    Broken("missing file", MANAGER, lambda text: "", "missing-file", ""),
]


@pytest.mark.parametrize("case", CATALOGUE, ids=[c.name for c in CATALOGUE])
def test_broken_directory_gives_its_error(case: Broken, shipped_copy: Path,
                                          site: Site) -> None:
    path = shipped_copy / case.file
    if case.code == "missing-file":
        path.unlink()
        expected_line = 0
    else:
        path.write_text(case.mutate(path.read_text(encoding="utf-8")), encoding="utf-8")
        expected_line = line_of(path, case.marker, case.nth) if case.marker else 0
    result = check_dir(shipped_copy, site, allow_placeholders=True)
    assert not result.ok
    matching = [f for f in result.findings if f.code == case.code]
    assert matching, "\n".join(str(f) for f in result.errors)
    assert any(f.file == case.file and f.line == expected_line and
               f.severity is Severity.ERROR for f in matching), \
        f"expected {case.file}:{expected_line} [{case.code}]; got " + \
        "; ".join(str(f) for f in matching)
    for f in matching:  # every message says what is wrong in words, not just a code
        assert len(f.message) > 20


def test_findings_print_as_file_line_severity_code_message() -> None:
    f = Finding("queues.conf", 12, Severity.ERROR, "queue-missing", "queue x is missing")
    assert str(f) == "queues.conf:12: error [queue-missing] queue x is missing"


# -- prompt audio -------------------------------------------------------------------------


def write_wav(path: Path, rate: int = 8000, channels: int = 1, seconds: float = 0.2) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"\x10\x00" * int(rate * seconds) * channels)


def test_missing_and_wrong_prompt_audio_is_reported(tmp_path: Path, site: Site) -> None:
    sounds = tmp_path / "sounds"
    sounds.mkdir()
    ids = list(catalogue(site))
    for pid in ids:
        write_wav(sounds / f"{pid}.wav")
    assert check_dir(SHIPPED, site, sounds=sounds, allow_placeholders=True).ok
    (sounds / "transition-12317.wav").unlink()
    write_wav(sounds / "now-12345.wav", rate=16000, channels=2)
    result = check_dir(SHIPPED, site, sounds=sounds, allow_placeholders=True)
    errors = {(f.file, f.code) for f in result.errors}
    assert errors == {(f"{sounds}/transition-12317.wav", "prompt-audio-missing"),
                      (f"{sounds}/now-12345.wav", "prompt-audio-format")}
    missing = next(f for f in result.errors if f.code == "prompt-audio-missing")
    assert "register 12317" in missing.message and "prompts build" in missing.message


def test_a_missing_sounds_directory_is_an_error(tmp_path: Path, site: Site) -> None:
    result = check_dir(SHIPPED, site, sounds=tmp_path / "nope", allow_placeholders=True)
    assert [f.code for f in result.errors] == ["prompt-audio-missing"]


def test_site_managed_endpoints_in_the_local_include_count(shipped_copy: Path,
                                                           site: Site) -> None:
    before = {f.message.split()[2] for f in check_dir(shipped_copy, site,
                                                      allow_placeholders=True).warnings
              if f.code == "endpoint-undefined"}
    assert {"8001", "subcentre-tax"} <= before
    local = "".join(f"[{ep}]\ntype=endpoint\ncontext=hotline12345-seat-transfer\n"
                    "disallow=all\nallow=alaw\n\n" for ep in sorted(before))
    (shipped_copy / "pjsip_hotline12345_local.conf").write_text(local.rstrip("\n") + "\n",
                                                                encoding="utf-8")
    result = check_dir(shipped_copy, site, allow_placeholders=True)
    assert [f for f in result.findings if f.code == "endpoint-undefined"] == []
    assert result.ok
    assert {f.code for f in result.warnings} == {"placeholder-secret"}


def test_one_reading_of_pjsip_dial_strings() -> None:
    """The renderer's site dial strings and the checker's dialplan steps share one regex."""
    from hotline12345.asterisk.names import pjsip_endpoints
    assert pjsip_endpoints("Dial(PJSIP/8001&PJSIP/110@telecom,${HOTLINE_LINKAGE_RING})") == [
        "8001", "telecom"]
    assert pjsip_endpoints("Dial(${HOTLINE_DIAL},30)") == []
    assert pjsip_endpoints("Originate(PJSIP/subcentre-tax,exten,x,join,1)") == ["subcentre-tax"]


def test_a_profile_missing_from_the_confbridge_file_is_named_where_it_is_used(
        shipped_copy: Path, site: Site) -> None:
    path = shipped_copy / CONFBRIDGE
    path.write_text(drop_block("[hotline12345-3way-caller]", "; ")(
        path.read_text(encoding="utf-8")), encoding="utf-8")
    errors = check_dir(shipped_copy, site, allow_placeholders=True).errors
    use = line_of(shipped_copy / EXT, "ConfBridge(${HOTLINE_CONF},hotline12345-3way,"
                  "hotline12345-3way-caller)")
    assert [(f.file, f.line, f.code) for f in errors] == [
        (EXT, use, "confbridge-profile-missing")]
    assert "hotline12345-3way-caller" in errors[0].message
