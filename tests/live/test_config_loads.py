"""The rendered configuration, included from minimal host files as the README says, loads in
a real Asterisk 22 without a warning or an error about the project's files."""

from __future__ import annotations

import re

import pytest

from tests.live.ami import Ami
from tests.live.harness import (
    AMI_USER,
    Asterisk,
    Controller,
    Lab,
    eventually,
    hotline,
    iter_log,
)

pytestmark = pytest.mark.live

PROJECT = re.compile(r"hotline12345|extensions\.conf|queues\.conf|manager\.conf|pjsip|"
                     r"confbridge|app_queue|pbx_config|res_agi|manager\.c|res_sorcery|"
                     r"config\.c|chan_local|app_mixmonitor")


def problems(lab: Lab) -> list[str]:
    return [line for line in iter_log(lab.log)
            if (" WARNING[" in line or " ERROR[" in line) and PROJECT.search(line)]


def test_boot_log_has_no_warning_about_the_project(lab: Lab, asterisk: Asterisk) -> None:
    assert lab.log.exists(), "Asterisk wrote no log"
    assert problems(lab) == []


def test_rendered_dialplan_contexts_are_loaded(lab: Lab, asterisk: Asterisk) -> None:
    rendered = (lab.etc / "extensions_hotline12345.conf").read_text("utf-8")
    contexts = re.findall(r"^\[([^\]]+)\]", rendered, re.M)
    assert "hotline12345-inbound" in contexts
    for ctx in contexts:
        out = asterisk.rx(f"dialplan show {ctx}").stdout
        assert f"[ Context '{ctx}' created by 'pbx_config' ]" in out, out[:400]


def test_every_rendered_queue_exists(lab: Lab, asterisk: Asterisk) -> None:
    rendered = (lab.etc / "queues_hotline12345.conf").read_text("utf-8")
    queues = re.findall(r"^\[([^\]]+)\]", rendered, re.M)
    assert "q-general" in queues
    shown = asterisk.rx("queue show").stdout
    for q in queues:
        assert re.search(rf"^{re.escape(q)} has ", shown, re.M), f"queue {q} not loaded"
    # the expert seats the site lists are static members of <queue>-expert
    assert "Local/8201@live-seats/n" in asterisk.rx("queue show market-expert").stdout


def test_ami_user_and_its_privileges(asterisk: Asterisk) -> None:
    out = asterisk.rx(f"manager show user {AMI_USER}").stdout
    assert "read perm: call,agent,user" in out.replace("  ", " ") or re.search(
        r"read perm:\s*call,agent,user", out), out
    assert re.search(r"write perm:\s*agent", out), out


def test_pjsip_trunks_and_registration(lab: Lab, asterisk: Asterisk, ami: Ami) -> None:
    out = asterisk.rx("pjsip show endpoints").stdout
    for trunk in ("telecom", "unicom"):
        assert re.search(rf"Endpoint:\s+{trunk}\b", out), out
    identify = asterisk.rx("pjsip show identifies").stdout
    assert "127.0.0.3" in identify and "127.0.0.4" in identify, identify
    # the registration trunk registers with the provider (a SIPp registrar here)
    eventually(lambda: "Registered" in asterisk.rx("pjsip show registrations").stdout,
               what="the unicom registration")


def test_confbridge_profiles(lab: Lab, asterisk: Asterisk) -> None:
    bridges = asterisk.rx("confbridge show profile bridges").stdout
    users = asterisk.rx("confbridge show profile users").stdout
    assert "hotline12345-3way" in bridges, bridges
    for profile in ("hotline12345-3way-caller", "hotline12345-3way-party"):
        assert profile in users, users
    caller = asterisk.rx("confbridge show profile user hotline12345-3way-caller").stdout
    party = asterisk.rx("confbridge show profile user hotline12345-3way-party").stdout
    assert re.search(r"Marked User:\s+(true|enabled)", caller), caller
    assert re.search(r"END Marked \(All\):\s+enabled", party), party


def test_product_check_accepts_the_deployed_tree(lab: Lab, asterisk: Asterisk) -> None:
    """``asterisk-conf check`` on the directory Asterisk actually runs from."""
    done = hotline("asterisk-conf", "check", str(lab.etc), "--config", str(lab.site),
                   "--sounds", str(lab.root / "data" / "sounds" / "hotline12345"),
                   env=lab.env(), check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_controller_logs_in_to_ami(controller: Controller, lab: Lab) -> None:
    ami = controller.state()["ami"]
    assert ami["connected"] is True, ami
    assert problems(lab) == []
