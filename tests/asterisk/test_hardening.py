"""Issue 12, the dialplan's part, through the command line as a user runs it: render, then
check the render (subprocesses, real files)."""

from __future__ import annotations

import grp
import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from hotline12345.asterisk.render import secret_file_mode
from hotline12345.config import Site
from hotline12345.config.loader import load_site
from hotline12345.legacy_numbers.model import EMERGENCY_NUMBERS

from .conftest import EXT, QUEUES


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hotline12345.cli", *args],
                          capture_output=True, text=True, check=False)


def render(out: Path, *args: str) -> None:
    run = run_cli("asterisk-conf", "render", "--out", str(out), *args)
    assert run.returncode == 0, run.stderr


def check(directory: Path) -> subprocess.CompletedProcess[str]:
    return run_cli("asterisk-conf", "check", str(directory), "--allow-placeholders",
                   "--no-lint")


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new), encoding="utf-8")


CONTROLLERS = ("10.0.0.5", "10.0.0.6", "10.0.0.7")


# -- item 3: the README's multi-controller deployment passes its own check ---------------


@pytest.mark.parametrize("count", [1, 2, 3])
def test_render_then_check_passes_with_one_two_and_three_controllers(
        tmp_path: Path, count: int) -> None:
    hosts = [a for h in CONTROLLERS[:count] for a in ("--agi-host", h)]
    render(tmp_path, *hosts, "--ami-bind", "10.0.0.2")
    run = check(tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "0 errors" in run.stdout
    assert "no-failover" not in run.stdout


def test_check_catches_a_dialplan_that_never_tries_the_next_controller(
        tmp_path: Path) -> None:
    render(tmp_path, "--agi-host", "10.0.0.5", "--agi-host", "10.0.0.6", "--ami-bind",
           "10.0.0.2")
    edit(tmp_path / EXT, " same => n,Goto(agi)\n", " same => n,Goto(fallback)\n")
    run = check(tmp_path)
    assert run.returncode == 1
    assert "error [no-failover] 2 controllers are set but after controller 1" in run.stdout
    assert "not controller 2 (agi://10.0.0.6:4573)" in run.stdout


def test_check_catches_a_retry_that_asks_the_same_controller_again(tmp_path: Path) -> None:
    render(tmp_path, "--agi-host", "10.0.0.5", "--agi-host", "10.0.0.6", "--agi-host",
           "10.0.0.7", "--ami-bind", "10.0.0.2")
    edit(tmp_path / EXT, " same => n,Set(HOTLINE_AGI_TRY=$[${HOTLINE_AGI_TRY} + 1])\n", "")
    run = check(tmp_path)
    assert run.returncode == 1
    assert "reaches AGI(agi://10.0.0.5:4573/inbound" in run.stdout


# -- item 10: a controller that dies mid-call ---------------------------------------------


def test_check_passes_the_rendered_rule_for_a_controller_that_dies_mid_call(
        tmp_path: Path) -> None:
    """Asterisk reports a FastAGI session whose controller died as AGISTATUS=SUCCESS: the
    rendered dialplan moves on by the missing decision, which the check verifies."""
    render(tmp_path, "--agi-host", "10.0.0.5", "--agi-host", "10.0.0.6", "--ami-bind",
           "10.0.0.2")
    run = check(tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    text = (tmp_path / EXT).read_text(encoding="utf-8")
    assert 'GotoIf($["${HOTLINE_ACTION}" = ""]?retry)' in text


def test_check_catches_a_dialplan_that_retries_only_on_failure(tmp_path: Path) -> None:
    render(tmp_path, "--agi-host", "10.0.0.5", "--agi-host", "10.0.0.6", "--ami-bind",
           "10.0.0.2")
    edit(tmp_path / EXT, 'GotoIf($["${HOTLINE_ACTION}" = ""]?retry)',
         'GotoIf($["${AGISTATUS}" != "SUCCESS"]?retry)')
    run = check(tmp_path)
    assert run.returncode == 1
    assert ("after controller 1 (agi://10.0.0.5:4573) ends its session without a decision"
            in run.stdout)


def test_check_catches_a_decision_asked_for_twice(tmp_path: Path) -> None:
    render(tmp_path, "--agi-host", "10.0.0.5", "--agi-host", "10.0.0.6", "--ami-bind",
           "10.0.0.2")
    edit(tmp_path / EXT, 'GotoIf($["${HOTLINE_ACTION}" = ""]?retry)',
         'GotoIf($["${AGISTATUS}" != "SUCCESS" | "${HOTLINE_ACTION}" = ""]?retry)')
    run = check(tmp_path)
    assert run.returncode == 1
    assert "[failover-decided]" in run.stdout and "AGISTATUS=FAILURE" in run.stdout


def test_check_catches_a_hung_up_caller_sent_on(tmp_path: Path) -> None:
    render(tmp_path, "--agi-host", "10.0.0.5", "--agi-host", "10.0.0.6", "--ami-bind",
           "10.0.0.2")
    edit(tmp_path / EXT, ' same => n(retry),GotoIf($["${AGISTATUS}" = "HANGUP"]?gone)\n',
         " same => n(retry),NoOp()\n")
    run = check(tmp_path)
    assert run.returncode == 1
    assert "[failover-hangup]" in run.stdout


# -- item 2: call loops -------------------------------------------------------------------


def test_the_hop_limit_is_a_render_setting_shown_in_the_settings(tmp_path: Path) -> None:
    render(tmp_path / "default")
    assert " same => n,Set(HOTLINE_MAX_HOPS=5)\n" in (tmp_path / "default" / EXT).read_text(
        encoding="utf-8")
    render(tmp_path / "two", "--max-hops", "2")
    assert " same => n,Set(HOTLINE_MAX_HOPS=2)\n" in (tmp_path / "two" / EXT).read_text(
        encoding="utf-8")
    run = check(tmp_path / "two")
    assert run.returncode == 0, run.stdout + run.stderr
    bad = run_cli("asterisk-conf", "render", "--out", str(tmp_path / "bad"), "--max-hops", "0")
    assert bad.returncode == 2
    assert "--max-hops 0" in bad.stderr and "Traceback" not in bad.stderr


def test_check_catches_an_inbound_step_without_the_hop_limit(tmp_path: Path) -> None:
    render(tmp_path)
    edit(tmp_path / EXT, ' same => n,GotoIf($["${GOSUB_RETVAL}" = "over"]?fallback)\n', "")
    run = check(tmp_path)
    assert run.returncode == 1
    assert "error [hop-limit] a call arriving with HOTLINE_HOPS=5" in run.stdout


def test_check_catches_a_hop_count_read_only_from_the_variable(tmp_path: Path) -> None:
    """A call looped through a PJSIP trunk has no channel variable of its first pass: only
    the SIP header carries the count."""
    render(tmp_path)
    edit(tmp_path / EXT, "${FILTER(0-9,${PJSIP_HEADER(read,X-Hotline-Hops)})}", "")
    run = check(tmp_path)
    assert run.returncode == 1
    assert "error [hop-limit] a call arriving with the SIP header X-Hotline-Hops: 5" in run.stdout


@pytest.mark.parametrize("old, new, missing", [
    (",${HOTLINE_LINKAGE_RING},b(hotline12345-hop-header^s^1(${HOTLINE_HOPS})))",
     ",${HOTLINE_LINKAGE_RING})", "the option b(hotline12345-hop-header"),
    ("^__HOTLINE_HOPS=${HOTLINE_HOPS})b(", ")b(", "__HOTLINE_HOPS=${HOTLINE_HOPS} in v()"),
])
def test_check_catches_a_leg_without_the_hop_count(tmp_path: Path, old: str, new: str,
                                                   missing: str) -> None:
    render(tmp_path)
    edit(tmp_path / EXT, old, new)
    run = check(tmp_path)
    assert run.returncode == 1
    assert "error [hop-count]" in run.stdout and missing in run.stdout


def test_check_warns_of_a_linkage_trunk_whose_aor_is_this_host(tmp_path: Path) -> None:
    render(tmp_path, "--agi-host", "10.0.0.5", "--ami-bind", "10.0.0.2")
    assert "loop-trunk" not in check(tmp_path).stdout
    pjsip = tmp_path / "pjsip_hotline12345.conf"
    for contact in ("sip:127.0.0.1:5060", "sip:10.0.0.2:5060", "sip:[::1]:5060"):
        edit(pjsip, "contact=sip:203.0.113.10:5060", f"contact={contact}")
        run = check(tmp_path)
        assert run.returncode == 0  # a warning: the hop limit still cuts the loop short
        assert (f"warning [loop-trunk] linkage[power-95598].dial PJSIP/95598@telecom goes "
                f"through endpoint telecom, whose AOR telecom has contact {contact}") in run.stdout
        edit(pjsip, f"contact={contact}", "contact=sip:203.0.113.10:5060")


def test_check_warns_of_a_sub_centre_link_back_to_a_controller(tmp_path: Path) -> None:
    """Sub-centre endpoints are the site's own (pjsip_hotline12345_local.conf)."""
    render(tmp_path, "--agi-host", "10.0.0.5", "--ami-bind", "10.0.0.2")
    (tmp_path / "pjsip_hotline12345_local.conf").write_text(
        "[subcentre-tax]\ntype=endpoint\naors=subcentre-tax\n\n"
        "[subcentre-tax]\ntype=aor\ncontact=sip:12366@10.0.0.5:5060\n", encoding="utf-8")
    run = check(tmp_path)
    assert ("warning [loop-trunk] sub_centres[tax-12366].dial PJSIP/12366@subcentre-tax goes "
            "through endpoint subcentre-tax") in run.stdout


# -- item 1: emergency numbers are passed straight on -------------------------------------

EMERGENCY = {"110": "PJSIP/110@telecom", "119": "PJSIP/119@telecom",
             "120": "PJSIP/120@telecom", "122": "PJSIP/122@telecom"}


def test_a_trunk_delivering_an_emergency_number_dials_its_linkage_target(
        tmp_path: Path) -> None:
    render(tmp_path)
    text = (tmp_path / EXT).read_text(encoding="utf-8")
    for trunk in ("telecom", "unicom"):
        context = text.split(f"[hotline12345-from-{trunk}]\n", 1)[1].split("\n[", 1)[0]
        for number, dial in EMERGENCY.items():
            block = context.split(f"exten => {number},1,", 1)[1].split("\nexten => ", 1)[0]
            assert f" same => n,Dial({dial},,b(hotline12345-hop-header" in block
            for forbidden in ("AGI(", "Queue(", "Playback(", "Answer(", "MixMonitor(",
                              "hotline12345-inbound"):
                assert forbidden not in block
            for form in (f"+86{number}", f"86{number}", f"0086{number}"):
                assert f"exten => {form},1,Goto({number},1)\n" in context
    run = check(tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "emergency-route" not in run.stdout


@pytest.mark.parametrize("old, new, message", [
    ("exten => 110,1,Gosub(hotline12345-settings,s,1)\n",
     "exten => 110,1,Goto(hotline12345-inbound,${EXTEN},1)\n"
     " same => n,Gosub(hotline12345-settings,s,1)\n",
     "a call to the emergency number 110 in [hotline12345-from-telecom] reaches Goto("),
    ("exten => 119,1,Gosub(hotline12345-settings,s,1)\n",
     "exten => 119,1,Answer()\n same => n,Gosub(hotline12345-settings,s,1)\n",
     "a call to the emergency number 119 in [hotline12345-from-telecom] reaches Answer()"),
    ("exten => +86120,1,Goto(120,1)\n", "",
     "[hotline12345-from-telecom] has no extension of its own for the emergency number +86120"),
    (" same => n,Dial(PJSIP/122@telecom,,", " same => n,Dial(PJSIP/12345@telecom,,",
     "a call to the emergency number 122 in [hotline12345-from-telecom] dials "
     "PJSIP/12345@telecom, not its linkage: target PJSIP/122@telecom"),
])
def test_check_catches_an_emergency_number_that_is_not_passed_straight_on(
        tmp_path: Path, old: str, new: str, message: str) -> None:
    render(tmp_path)
    text = (tmp_path / EXT).read_text(encoding="utf-8")
    (tmp_path / EXT).write_text(text.replace(old, new, 1), encoding="utf-8")
    run = check(tmp_path)
    assert run.returncode == 1
    assert "error [emergency-route]" in run.stdout and message in run.stdout


def test_an_emergency_number_without_a_linkage_target_is_a_render_error(
        tmp_path: Path, site: Site) -> None:
    text = Path(site.source).read_text(encoding="utf-8")
    lines = [ln for ln in text.splitlines() if "name: ambulance-120" not in ln]
    # A register that still lists the emergency numbers (before they left it) would point
    # at the removed target; they are no register rows, so they go.
    listed = [r.number for r in site.register if r.number in EMERGENCY_NUMBERS]
    edited = "\n".join(lines).replace("  remove: []", f"  remove: {json.dumps(listed)}")
    own = tmp_path / "site.yaml"
    own.write_text(edited + "\n", encoding="utf-8")
    assert run_cli("config", "check", str(own)).returncode == 0
    run = run_cli("asterisk-conf", "render", "--config", str(own), "--out",
                  str(tmp_path / "out"))
    assert run.returncode == 2
    assert f"{own}: linkage: has no entry for the emergency number 120" in run.stderr
    assert 'add to linkage: e.g. {name: emergency-120, number: "120"' in run.stderr
    assert "Traceback" not in run.stderr
    assert not (tmp_path / "out").exists()


# -- item 5: files that hold secrets or callers' voices -----------------------------------

SECRET_ENV = {"HOTLINE12345_AMI_SECRET": "ami-s3cret",
              "HOTLINE12345_TRUNK_UNICOM_PASSWORD": "trunk-s3cret"}


def expected_secret_mode() -> tuple[int, int]:
    """0640 and group asterisk when that group exists and we are root; else 0600, our gid."""
    if os.geteuid() == 0:
        try:
            return 0o640, grp.getgrnam("asterisk").gr_gid
        except KeyError:
            pass
    return 0o600, os.getegid()


@pytest.mark.parametrize("umask", [0o000, 0o022, 0o077])
def test_rendered_secret_files_are_private_whatever_the_umask(tmp_path: Path,
                                                              umask: int) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "manager_hotline12345.conf").write_text("old\n", encoding="utf-8")
    (out / "manager_hotline12345.conf").chmod(0o666)  # an earlier, careless copy
    run = subprocess.run([sys.executable, "-m", "hotline12345.cli", "asterisk-conf", "render",
                          "--out", str(out)], capture_output=True, text=True, check=False,
                         env={**os.environ, **SECRET_ENV}, preexec_fn=lambda: os.umask(umask))
    assert run.returncode == 0, run.stderr
    mode, gid = expected_secret_mode()
    for name in ("manager_hotline12345.conf", "pjsip_hotline12345.conf"):
        st = (out / name).stat()
        assert (stat.S_IMODE(st.st_mode), st.st_gid) == (mode, gid), name
    assert "ami-s3cret" in (out / "manager_hotline12345.conf").read_text(encoding="utf-8")


def test_the_secret_file_mode_follows_the_group() -> None:
    if os.geteuid() == 0:
        assert secret_file_mode("root") == (0o640, 0)
    else:
        assert secret_file_mode("root") == (0o600, None)
    assert secret_file_mode("no-such-group-hotline12345") == (0o600, None)


def test_check_warns_of_a_secret_others_may_read(tmp_path: Path) -> None:
    run = subprocess.run([sys.executable, "-m", "hotline12345.cli", "asterisk-conf", "render",
                          "--out", str(tmp_path)], capture_output=True, text=True, check=False,
                         env={**os.environ, **SECRET_ENV})
    assert run.returncode == 0, run.stderr
    manager = tmp_path / "manager_hotline12345.conf"
    assert "secret-readable" not in check(tmp_path).stdout
    manager.chmod(0o644)
    out = check(tmp_path).stdout
    assert ("manager_hotline12345.conf:19: warning [secret-readable] manager_hotline12345.conf "
            "holds a secret (secret=) and every user of this host may read it (mode 0644)"
            ) in out
    group = next(g for g in grp.getgrall() if g.gr_name != "asterisk")
    if os.geteuid() == 0:
        os.chown(manager, -1, group.gr_gid)
        manager.chmod(0o640)
        assert (f"and group {group.gr_name} may read it (mode 0640), not only asterisk"
                in check(tmp_path).stdout)


def test_placeholders_are_no_secrets(tmp_path: Path) -> None:
    render(tmp_path)
    (tmp_path / "manager_hotline12345.conf").chmod(0o644)
    assert "secret-readable" not in check(tmp_path).stdout


def test_callers_recordings_end_up_0640() -> None:
    """MixMonitor creates the files with Asterisk's umask (0644 under the usual 022); its
    command makes all three 0640 when the recording ends."""
    text = (Path(__file__).resolve().parents[2] / "asterisk_conf" / EXT).read_text(
        encoding="utf-8")
    line = next(ln for ln in text.splitlines() if "MixMonitor(" in ln and "same" in ln)
    files = [f"${{HOTLINE_REC_DIR}}/${{HOTLINE_REC}}{suffix}.wav"
             for suffix in ("", "-caller", "-seat")]
    assert line.endswith(f",chmod 0640 {' '.join(files)})")


# -- item 4 (our part): bad --out and empty secrets get a clear error --------------------


def test_render_into_an_existing_file_is_a_clear_error(tmp_path: Path) -> None:
    out = tmp_path / "a-file"
    out.write_text("keep me\n", encoding="utf-8")
    run = run_cli("asterisk-conf", "render", "--out", str(out))
    assert run.returncode == 2
    assert run.stderr == (f"asterisk-conf render: --out {out}: it is a file, not a directory; "
                          "give a directory you may write to (it is created if missing)\n")
    assert out.read_text(encoding="utf-8") == "keep me\n"


def test_render_under_a_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("", encoding="utf-8")
    out = tmp_path / "a-file" / "sub" / "dir"
    run = run_cli("asterisk-conf", "render", "--out", str(out))
    assert run.returncode == 2
    assert f"--out {out}: {tmp_path / 'a-file'} is a file, not a directory" in run.stderr
    assert "Traceback" not in run.stderr


def test_render_into_a_directory_that_cannot_be_written_is_a_clear_error() -> None:
    out = Path("/sys/hotline12345-render-test")  # sysfs: nobody, not even root, may mkdir
    run = run_cli("asterisk-conf", "render", "--out", str(out))
    assert run.returncode == 2
    assert f"asterisk-conf render: --out {out}: cannot write into {out} (" in run.stderr
    assert "Traceback" not in run.stderr and not out.exists()


@pytest.mark.parametrize("content", ["", "\n", "   \n", "\t \r\n"])
def test_an_empty_secret_file_is_a_clear_error(tmp_path: Path, content: str) -> None:
    secret = tmp_path / "ami.secret"
    secret.write_text(content, encoding="utf-8")
    out = tmp_path / "out"
    run = subprocess.run([sys.executable, "-m", "hotline12345.cli", "asterisk-conf", "render",
                          "--out", str(out)], capture_output=True, text=True, check=False,
                         env={**os.environ, "HOTLINE12345_AMI_SECRET_FILE": str(secret)})
    assert run.returncode == 2
    assert (f"asterisk-conf render: HOTLINE12345_AMI_SECRET_FILE={secret}: the secret file is "
            "empty or holds only whitespace") in run.stderr
    assert "Traceback" not in run.stderr and not out.exists()


def test_a_secret_of_only_whitespace_is_a_clear_error(tmp_path: Path) -> None:
    run = subprocess.run([sys.executable, "-m", "hotline12345.cli", "asterisk-conf", "render",
                          "--out", str(tmp_path / "out")], capture_output=True, text=True,
                         check=False, env={**os.environ, "HOTLINE12345_AMI_SECRET": "   "})
    assert run.returncode == 2
    assert ("HOTLINE12345_AMI_SECRET: the variable is empty or holds only whitespace"
            in run.stderr)


# -- item 7 (our part): which dialled-number forms the dialplan passes on ----------------


def test_check_says_which_dialled_number_forms_reach_the_controller(tmp_path: Path) -> None:
    render(tmp_path)
    run = check(tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    info = [ln for ln in run.stdout.splitlines() if ln.startswith("info: dialled numbers")]
    assert len(info) == 1, run.stdout
    # The example is the register's first legacy number, whichever the register holds.
    example = re.search(r"exact DIDs \((\d+)\)", info[0])
    assert example is not None, info[0]
    n = example.group(1)
    assert n in {row.number for row in load_site(None).register}
    assert info[0] == (
        "info: dialled numbers reach the controller as received on every trunk: exact DIDs "
        f"({n}), +86… (+86{n}), 86… (86{n}), 0086… (0086{n}), area code + short number "
        f"(0571{n}); a call whose Request-URI has no number (s, or a registration trunk's "
        f"contact user hotline12345) takes it from the To header (<sip:+86{n}@…> -> +86{n}). "
        "The controller normalises them (country code, area code before a short number) before "
        "routing; HOTLINE_DIALLED keeps the number as received. Emergency numbers (110, 119, "
        "120, 122, also as +86…, 86…, 0086…) never reach it: they dial their linkage: target")


@pytest.mark.parametrize("old, new, message", [
    # E.164 numbers cut down in the dialplan: the controller no longer sees what was sent.
    ("exten => _+X.,1,Set(HOTLINE_TRUNK=telecom)\n same => n,Goto(hotline12345-inbound,"
     "${EXTEN},1)", "exten => _+X.,1,Set(HOTLINE_TRUNK=telecom)\n same => n,Goto("
     "hotline12345-inbound,${EXTEN:3},1)",
     "[hotline12345-from-telecom]: a call with +86… (+86{n}) reaches "
     "AGI(agi://127.0.0.1:4573/inbound,{n},telecom)"),
    # A To header's + is dropped: +8612301 is no number any more, the call counts as 12345.
    ("Set(HOTLINE_TO_DID=${FILTER(+0-9,${HOTLINE_TO})})",
     "Set(HOTLINE_TO_DID=${FILTER(0-9,${HOTLINE_TO})})",
     "a call with the To header <sip:+86{n}@…> of a call to hotline12345 (hotline12345) "
     "reaches AGI(agi://127.0.0.1:4573/inbound,057112345,unicom)"),
])
def test_check_catches_a_form_not_passed_on_as_received(tmp_path: Path, old: str, new: str,
                                                        message: str) -> None:
    render(tmp_path)
    edit(tmp_path / EXT, old, new)
    run = check(tmp_path)
    assert run.returncode == 1
    # check builds its example on the register's first legacy number
    first = next(r.number for r in load_site(None).register if r.number not in EMERGENCY_NUMBERS)
    assert message.format(n=first) in run.stdout
    assert "info: dialled numbers" not in run.stdout


def test_check_catches_a_decision_that_is_ignored(tmp_path: Path) -> None:
    """A controller that decided and then died (AGISTATUS=FAILURE) keeps its decision: a
    dialplan that sends such calls to the general queue loses their routing."""
    render(tmp_path, "--agi-host", "10.0.0.5", "--agi-host", "10.0.0.6", "--ami-bind",
           "10.0.0.2")
    edit(tmp_path / EXT, 'GotoIf($["${HOTLINE_ACTION}" = ""]?retry)',
         'GotoIf($["${HOTLINE_ACTION}" = "" | "${AGISTATUS}" = "FAILURE"]?retry)')
    edit(tmp_path / EXT, ' same => n(retry),GotoIf($["${AGISTATUS}" = "HANGUP"]?gone)',
         ' same => n(retry),GotoIf($["${AGISTATUS}" = "HANGUP" | "${HOTLINE_ACTION}" != ""]'
         '?fallback)')
    run = check(tmp_path)
    assert run.returncode == 1
    assert ("[failover-decided] a controller that decided (HOTLINE_ACTION=queue, HOTLINE_QUEUE="
            "backup) and ended with AGISTATUS=FAILURE: the call reaches Queue(q-general") \
        in run.stdout


# -- the render's times --------------------------------------------------------------------


def test_every_time_is_a_render_flag_that_reaches_its_setting(tmp_path: Path) -> None:
    render(tmp_path, "--member-ring", "11", "--sub-centre-ring", "12", "--linkage-ring", "13",
           "--three-way-seat-wait", "14", "--periodic-announce", "16", "--callback-ring", "17")
    settings = (tmp_path / EXT).read_text(encoding="utf-8")
    for line in ("HOTLINE_SUB_CENTRE_RING=12", "HOTLINE_LINKAGE_RING=13",
                 "HOTLINE_3WAY_SEAT_WAIT=14", "HOTLINE_CALLBACK_RING=17",
                 "HOTLINE_3WAY_LEG_TIMEOUT=44"):  # the longer wait + 30
        assert f" same => n,Set({line})\n" in settings, line
    queues = (tmp_path / QUEUES).read_text(encoding="utf-8")
    assert "timeout=11\n" in queues and "timeout=15\n" not in queues
    assert "periodic-announce-frequency=16\n" in queues
    run = check(tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr


@pytest.mark.parametrize(("flag", "value"), [("--linkage-ring", "0"),
                                             ("--member-ring", "3601"),
                                             ("--three-way-seat-wait", "-5")])
def test_a_time_out_of_range_is_refused_naming_its_flag(tmp_path: Path, flag: str,
                                                        value: str) -> None:
    bad = run_cli("asterisk-conf", "render", "--out", str(tmp_path), flag, value)
    assert bad.returncode == 2
    assert f"asterisk-conf render: {flag} {value}: give " in bad.stderr
    assert "1-3600 (default " in bad.stderr and "Traceback" not in bad.stderr
    assert not list(tmp_path.iterdir())  # nothing written
