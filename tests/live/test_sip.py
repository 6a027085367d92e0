"""The DID as real providers send it, over real SIP (SIPp) to the rendered PJSIP trunks, from
the trunk's ``match=`` address: in the Request-URI, and on the registration trunk to our
Contact user with the DID in the To header. Each call must reach the legacy number's flow
(the controller's decision for that number: HOTLINE_LEGACY, and the queue ``route`` names).
"""

from __future__ import annotations

import json
import socket
import subprocess
from dataclasses import dataclass
from typing import Any

import pytest

from tests.live.ami import Ami
from tests.live.harness import TELECOM_IP, UNICOM_IP, Controller, Lab, hotline

pytestmark = pytest.mark.live

LEGACY = "12329"  # 住房公积金服务热线, 双号并行 -> housing-fund (no prompt: a short call)

UAC = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="provider INVITE">
  <send retrans="500">
    <![CDATA[
INVITE {ruri} SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: "13800138000" <sip:13800138000@[local_ip]:[local_port]>;tag=[pid]live[call_number]
To: {to}
Call-ID: [call_id]
CSeq: 1 INVITE
Contact: <sip:13800138000@[local_ip]:[local_port]>
Max-Forwards: 70
Content-Type: application/sdp
Content-Length: [len]

v=0
o=- 53655765 2353687637 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 8
a=rtpmap:8 PCMA/8000

    ]]>
  </send>
  <recv response="100" optional="true" />
  <recv response="180" optional="true" />
  <recv response="183" optional="true" />
  <recv response="200" />
  <send>
    <![CDATA[
ACK {ruri} SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: "13800138000" <sip:13800138000@[local_ip]:[local_port]>;tag=[pid]live[call_number]
To: {to}[peer_tag_param]
Call-ID: [call_id]
CSeq: 1 ACK
Contact: <sip:13800138000@[local_ip]:[local_port]>
Max-Forwards: 70
Content-Length: 0

    ]]>
  </send>
  <recv request="BYE" timeout="60000" />
  <send>
    <![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

    ]]>
  </send>
</scenario>
"""


@dataclass(frozen=True)
class Invite:
    name: str
    source: str  # the trunk's match= address
    ruri_user: str  # "" = a Request-URI without a user part
    to: str  # the To header; {host} is Asterisk's address:port

    def ruri(self, host: str) -> str:
        return f"sip:{self.ruri_user}@{host}" if self.ruri_user else f"sip:{host}"


INVITES = [
    Invite("ip-trunk-ruri", TELECOM_IP, LEGACY, f"<sip:{LEGACY}@{{host}}>"),
    Invite("ip-trunk-no-ruri-user-to", TELECOM_IP, "", f"<sip:{LEGACY}@{{host}}>"),
    Invite("registration-ruri", UNICOM_IP, LEGACY, f"<sip:{LEGACY}@{{host}}>"),
    Invite("registration-contact-to-sip", UNICOM_IP, "hotline12345", f"<sip:{LEGACY}@{{host}}>"),
    Invite("registration-contact-to-e164-user-phone", UNICOM_IP, "hotline12345",
           '"provider" <sip:+86571' + LEGACY + "@{host};user=phone>"),
    Invite("registration-contact-to-tel", UNICOM_IP, "hotline12345", f"<tel:+86571{LEGACY}>"),
]


def free_udp(ip: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((ip, 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def expected(lab: Lab) -> dict[str, Any]:
    """The decision for the legacy number, from the CLI."""
    return json.loads(hotline("route", LEGACY, "--json", "--config", str(lab.site),  # type: ignore[no-any-return]
                              env=lab.env()).stdout)


@pytest.mark.parametrize("invite", INVITES, ids=lambda i: i.name)
def test_did_from_sip_reaches_the_legacy_numbers_flow(
        invite: Invite, lab: Lab, ami: Ami, controller: Controller,
        expected: dict[str, Any]) -> None:
    host = f"127.0.0.1:{lab.sip_port}"
    scenario = lab.root / f"uac-{invite.name}.xml"
    scenario.write_text(UAC.format(ruri=invite.ruri(host), to=invite.to.format(host=host)))
    mark = ami.mark()
    sipp = subprocess.Popen(
        ["sipp", "127.0.0.1:" + str(lab.sip_port), "-sf", str(scenario), "-m", "1",
         "-i", invite.source, "-p", str(free_udp(invite.source)), "-nostdin",
         "-timeout", "90", "-trace_err", "-error_file",
         str(lab.root / "log" / f"sipp-{invite.name}-errors.log")],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        cwd=lab.root, start_new_session=True)
    try:
        trunk = "telecom" if invite.source == TELECOM_IP else "unicom"
        chan = ami.wait(lambda e: e.name == "Newchannel"
                        and e.get("Channel").startswith(f"PJSIP/{trunk}-"), since=mark,
                        timeout=30, what=f"the INVITE on trunk {trunk}")
        uid = chan.get("Uniqueid")
        join = ami.wait(lambda e: e.name in ("QueueCallerJoin", "Hangup")
                        and e.get("Uniqueid") == uid, since=mark, timeout=30,
                        what="the call in a queue")
        legacy = [e.get("Value") for e in ami.find(
            lambda e: e.name == "VarSet" and e.get("Uniqueid") == uid
            and e.get("Variable") == "HOTLINE_LEGACY", since=mark)]
        dialled = [e.get("Value") for e in ami.find(
            lambda e: e.name == "VarSet" and e.get("Uniqueid") == uid
            and e.get("Variable") == "HOTLINE_DIALLED", since=mark)]
        assert legacy[:1] == [LEGACY], (
            f"{invite.name}: dialled {dialled} did not reach {LEGACY}'s flow "
            f"(HOTLINE_LEGACY {legacy}; ended in {join.name} {join.get('Queue')})")
        assert join.name == "QueueCallerJoin"
        assert join.get("Queue") == expected["variables"]["HOTLINE_QUEUE"]
        ami.action("Hangup", Channel=chan.get("Channel"))
        assert sipp.wait(30) == 0, sipp.stderr.read().decode() if sipp.stderr else ""
    finally:
        if sipp.poll() is None:
            sipp.kill()
            sipp.wait(5)
