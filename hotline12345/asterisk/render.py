"""Render the Asterisk 22 configuration of a site: the files of ``names.CONF_FILES``
(``extensions_hotline12345.conf``, ``queues_hotline12345.conf``...), each meant to be pulled
into the host's own file of that kind by an ``#include`` line, so nothing the host already
has is overwritten.

``render(site, options)`` is pure apart from reading secrets from the environment (through
:func:`hotline12345.secrets.read_secret`): the same site, options and environment give the
same bytes. Without a secret's variable, a placeholder (``CHANGE_ME_...``) is written and
``asterisk-conf check`` reports it; the repository's ``asterisk_conf/`` is rendered that way.
"""

from __future__ import annotations

import grp
import ipaddress
import os
import re
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from hotline12345 import channel_variables as cv
from hotline12345.asterisk import names
from hotline12345.asterisk.names import (
    CTX_3WAY_SEAT,
    CTX_CALLBACK,
    CTX_CONFERENCE,
    CTX_DID_FROM_TO,
    CTX_HANGUP,
    CTX_HOP_HEADER,
    CTX_HOPS,
    CTX_INBOUND,
    CTX_LINKAGE,
    CTX_QUEUE,
    CTX_RECORD,
    CTX_SEAT_TRANSFER,
    CTX_SETTINGS,
    CTX_SUB_CENTRE,
    HOPS_HEADER,
    HOPS_PREDIAL,
    HOPS_VARIABLE,
    expert_queue_name,
    trunk_context,
)
from hotline12345.config.schema import LinkageTarget, Site, Trunk, TrunkAuth
from hotline12345.legacy_numbers.model import EMERGENCY_NUMBERS, Mode
from hotline12345.recordings.naming import DEFAULT_FORMAT, RECORDING_USEREVENT, Leg, file_name
from hotline12345.routing.engine import sound
from hotline12345.secrets import read_secret, secret_source

TRANSPORTS = ("udp", "tcp", "tls")


class RenderError(ValueError):
    """Bad render options or secrets; the message names the option and the fix."""


def ami_reach_problem(bind: str, controller: str) -> str | None:
    """Why a controller at ``controller`` could not log in to AMI listening on ``bind`` (both
    IP addresses), or None. The permit= rule sees the connection's source address, which is
    the controller's own only when it connects over the network to a non-loopback address."""
    b, c = ipaddress.ip_address(bind), ipaddress.ip_address(controller)
    if b.version == 4 and c.version == 6:
        return f"AMI listens on IPv4 {b} only"
    if b.version == 6 and c.version == 4 and not b.is_unspecified:
        return f"AMI listens on IPv6 {b} only"
    if b.is_loopback and not c.is_loopback:
        return f"AMI listens on {b}, which only this host can reach"
    if c.is_loopback and not (b.is_loopback or b.is_unspecified):
        return (f"a controller on this host reaching AMI at {b} connects from {b}, not from "
                f"{c}, so permit={c} never matches")
    return None


@dataclass(frozen=True, slots=True)
class Timing:
    """A time the dialplan or the queues wait, set at render time by ``flag``."""

    flag: str
    field: str  # of RenderOptions
    what: str


#: The render's times, each a command-line flag of ``asterisk-conf render``.
TIMINGS = (
    Timing("--member-ring", "member_ring_s",
           "how long one seat rings before the queue tries the next (queues.conf timeout)"),
    Timing("--sub-centre-ring", "sub_centre_ring_s",
           "how long a sub-centre (设分中心) rings before the call comes back to 12345"),
    Timing("--linkage-ring", "linkage_ring_s",
           "how long a linkage target (110, 119, water, power...) rings"),
    Timing("--three-way-seat-wait", "three_way_seat_wait_s",
           "how long a three-way call (三方通话) looks for a 12345 seat"),
    Timing("--periodic-announce", "periodic_announce_s",
           "how often a waiting caller hears the queue's announcement"),
    Timing("--callback-ring", "callback_ring_s", "how long a 回访 callback rings the caller"),
)
MAX_TIMING_S = 3600


@dataclass(frozen=True, slots=True)
class RenderOptions:
    # The controllers (FastAGI servers and AMI clients), in the order the dialplan tries them.
    agi_hosts: tuple[str, ...] = ("127.0.0.1",)
    agi_port: int = 4573
    recordings_dir: str = "/var/spool/asterisk/monitor/hotline12345"
    ami_port: int = 5038
    ami_bind: str = "127.0.0.1"  # manager.conf bindaddr: where AMI listens
    member_ring_s: int = 15  # queues.conf timeout: how long one seat rings
    sub_centre_ring_s: int = 30
    linkage_ring_s: int = 60
    three_way_seat_wait_s: int = 300  # how long a three-way call looks for a 12345 seat
    periodic_announce_s: int = 30
    callback_ring_s: int = 45  # how long a 回访 call rings the caller
    #: A call that has already passed through this dialplan this many times (a routing loop:
    #: a trunk or a provider that sends a dialled number back here) is not routed again.
    max_hops: int = 5

    def validate(self) -> None:
        if not self.agi_hosts:
            raise RenderError("give at least one --agi-host (the controller's address)")
        for host in self.agi_hosts:
            try:
                ipaddress.ip_address(host)
            except ValueError:
                raise RenderError(f'--agi-host "{host}" must be an IP address (it is also the '
                                  "AMI user's permit= address); e.g. 127.0.0.1 or 10.0.0.5"
                                  ) from None
        seen = [str(ipaddress.ip_address(h)) for h in self.agi_hosts]
        if len(set(seen)) != len(seen):
            raise RenderError(f"--agi-host {', '.join(self.agi_hosts)}: a controller is given "
                              "twice; give each once, in the order to try them")
        try:
            ipaddress.ip_address(self.ami_bind)
        except ValueError:
            raise RenderError(f'--ami-bind "{self.ami_bind}" must be an IP address of this '
                              "Asterisk host (or 0.0.0.0 / :: for all)") from None
        for host in self.agi_hosts:
            problem = ami_reach_problem(self.ami_bind, host)
            if problem is not None:
                raise RenderError(f"--agi-host {host} cannot reach AMI: {problem}; give "
                                  "--ami-bind with this Asterisk host's address on the "
                                  "controller's network (or 0.0.0.0 to listen everywhere, "
                                  "the permit= lines still admitting only the controllers)")
        if not 1 <= self.max_hops <= 100:
            raise RenderError(f"--max-hops {self.max_hops}: give how many times a call may "
                              "pass through this dialplan before it is no longer routed, "
                              "1-100 (default 5)")
        for label, port in (("--agi-port", self.agi_port), ("--ami-port", self.ami_port)):
            if not 1 <= port <= 65535:
                raise RenderError(f"{label} {port} is not a TCP port (1-65535)")
        if not self.recordings_dir.startswith("/") or re.search(r"[\s,;()$]",
                                                                 self.recordings_dir):
            raise RenderError(f'--recordings-dir "{self.recordings_dir}" must be an absolute '
                              "path without spaces, commas, semicolons, parentheses or $")
        for timing in TIMINGS:
            value = getattr(self, timing.field)
            if not 1 <= value <= MAX_TIMING_S:
                default = getattr(RenderOptions(), timing.field)
                raise RenderError(f"{timing.flag} {value}: give {timing.what} in whole "
                                  f"seconds, 1-{MAX_TIMING_S} (default {default})")

    @property
    def agi_urls(self) -> list[str]:
        """``agi://HOST:PORT`` of each controller, in order."""
        out = []
        for h in self.agi_hosts:
            host = ipaddress.ip_address(h)
            out.append(f"agi://[{host}]:{self.agi_port}" if host.version == 6
                       else f"agi://{host}:{self.agi_port}")
        return out


@dataclass(frozen=True, slots=True)
class Rendered:
    files: dict[str, str]  # file name -> text
    placeholders: tuple[str, ...] = field(default=())  # env variables that were not set

    def write(self, out: Path) -> list[Path]:
        """Write every file into ``out``. The files that hold secrets (``SECRET_FILES``)
        are created 0600 whatever the umask (0640 and group asterisk when that group exists
        and we run as root, so Asterisk, running as asterisk, can read them)."""
        out.mkdir(parents=True, exist_ok=True)
        secret_mode, secret_group = secret_file_mode()
        written = []
        for name, text in self.files.items():
            path = out / name
            if name in names.SECRET_FILES:
                _write_private(path, text, secret_mode, secret_group)
            else:
                path.write_text(text, encoding="utf-8", newline="\n")
            written.append(path)
        return written


def secret_file_mode(group: str = names.ASTERISK_GROUP) -> tuple[int, int | None]:
    """The mode and group of a rendered file that holds a secret: (0o640, its gid) when
    ``group`` exists and we run as root (we can give the file to it), else (0o600, None)."""
    if os.geteuid() != 0:
        return 0o600, None
    try:
        return 0o640, grp.getgrnam(group).gr_gid
    except KeyError:
        return 0o600, None


def _write_private(path: Path, text: str, mode: int, group: int | None) -> None:
    """Create or overwrite ``path`` with ``mode`` (not widened by the umask, and an existing
    file's wider mode narrowed) before any secret is written into it."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with open(fd, "w", encoding="utf-8", newline="\n") as f:
        os.fchmod(fd, mode)
        if group is not None:
            os.fchown(fd, -1, group)
        f.write(text)


def render(site: Site, options: RenderOptions | None = None) -> Rendered:
    opts = options or RenderOptions()
    opts.validate()
    secrets = _Secrets()
    files = {
        names.EXTENSIONS: _extensions(site, opts),
        names.QUEUES: _queues(site, opts),
        names.MANAGER: _manager(site, opts, secrets),
        names.PJSIP: _pjsip(site, secrets),
        names.CONFBRIDGE: _confbridge(site),
    }
    assert tuple(files) == names.CONF_FILES
    return Rendered(files, tuple(secrets.missing))


# -- helpers ------------------------------------------------------------------------------


class _Secrets:
    def __init__(self) -> None:
        self.missing: list[str] = []

    def get(self, env: str) -> str:
        value = read_secret(env)
        if value is None:
            self.missing.append(env)
            return names.placeholder(env)
        if not value.strip():
            source = secret_source(env)
            what = "the secret file" if source != env else "the variable"
            raise RenderError(f"{source}: {what} is empty or holds only whitespace, so "
                              f"Asterisk would get an empty secret; put the secret in it (or "
                              f"unset {env} and {env}_FILE to render a placeholder)")
        if value != value.strip() or any(ord(c) < 32 or c == "\x7f" for c in value):
            raise RenderError(f"{env}: the secret has leading/trailing spaces or control "
                              "characters, which Asterisk config files cannot hold; set it "
                              "without them")
        return value.replace("\\", "\\\\").replace(";", "\\;")  # ; starts a comment


def _header(site: Site, file: str, purpose: str) -> list[str]:
    stock = names.STOCK_FILES[file]
    return [
        f"; {file} for hotline12345 ({site.centre.name}): {purpose}",
        f"; Rendered from the site file {Path(site.source).name} by `hotline12345 asterisk-conf "
        "render`.",
        "; Do not edit: change the site file, render again, then check with `hotline12345 "
        "asterisk-conf check`.",
        f"; /etc/asterisk/{stock} pulls it in with this as its last line: #include {file}",
        "",
    ]


def _wrapped(text: str, width: int = 88) -> list[str]:
    """``text`` as comment lines."""
    return [f"; {line}" for line in textwrap.wrap(text, width - 2)]


def _comment(text: str) -> str:
    return " ".join(text.split()).replace(";", ",")


def all_asterisk_queues(site: Site) -> list[str]:
    """Every Asterisk queue the site needs: skill queues, then their expert-seat groups."""
    out = [q.name for q in site.queues]
    out += [expert_queue_name(q.name) for q in site.queues if q.expert_seats]
    return out


# -- extensions.conf ----------------------------------------------------------------------


def _extensions(site: Site, opts: RenderOptions) -> str:
    f = site.file
    general = f.centre.general_queue
    linkage_prio = f.mode_defaults.get(Mode.LINKAGE.value)
    rec = "${HOTLINE_REC_DIR}/"
    mixed, caller, seat = (rec + file_name(f"${{{cv.REC}}}", leg, DEFAULT_FORMAT)
                           for leg in (Leg.MIXED, Leg.CALLER, Leg.SEAT))
    lines = _header(site, names.EXTENSIONS, "the dialplan")
    lines += [
        "; How a call runs",
        "; 1. A trunk delivers the call to its context hotline12345-from-<trunk>. Every 12345",
        ";    access number of the trunk and every DID of the retired-hotline register goes to",
        f";    [{CTX_INBOUND}] with the dialled number.",
        "; 2. The inbound step answers and hands the call to the controller over FastAGI,",
        ";    AGI(agi://HOST:PORT/inbound,<dialled>,<trunk>). The controller plays the",
        ";    prompts (transition / now 12345 / the one question) and leaves channel",
        ";    variables: HOTLINE_ACTION, HOTLINE_QUEUE, QUEUE_PRIO, HOTLINE_QUEUE_TIMEOUT,",
        ";    HOTLINE_OVERFLOW_*, HOTLINE_DIAL, HOTLINE_TRANSFER, HOTLINE_FALLBACK_QUEUE,",
        ";    HOTLINE_REC (the recording's base name).",
        "; 3. A controller that leaves no decision (no HOTLINE_ACTION: unreachable, or it died",
        ";    mid-call, which Asterisk reports as AGISTATUS=SUCCESS) hands a call that is still",
        ";    up to the next one, if there are several. When the last one leaves no decision,",
        ";    or a decision is unusable, the fallback sends the call to the general 12345 queue.",
        "; 4. The action runs: queue (with overflow), sub-centre transfer, linkage transfer",
        ";    (blind, or three-way in a conference), or announce-and-hang-up.",
        "; 5. MixMonitor records every connected call; the survey (好差评) runs when the seat",
        ";    hangs up first (Queue option c); a hangup handler closes the recording.",
        "; Every leg the dialplan places carries the call's hop count (HOTLINE_HOPS, and the",
        f";    {HOPS_HEADER} SIP header); a call that comes back more than HOTLINE_MAX_HOPS",
        ";    times (a routing loop) goes to the general queue without the controller.",
        "",
        "; No [general] or [globals] here: this file is #included into the host's",
        "; extensions.conf, and Asterisk reads only the first section of each of those names.",
        "; The render-time settings are channel variables, set by a Gosub on every channel that",
        "; starts in this dialplan (a call from a trunk, a three-way leg, a seat's transfer).",
        f"[{CTX_SETTINGS}]",
        *_settings(site, opts, general, linkage_prio.priority if linkage_prio else 0),
        "",
    ]
    for trunk in f.centre.trunks:
        lines += _trunk_context(site, trunk)
    lines += _did_from_to_context()
    lines += _inbound_context()
    lines += _hop_contexts()
    lines += _queue_contexts()
    lines += _record_context(mixed, caller, seat)
    lines += _sub_centre_context()
    lines += _linkage_contexts()
    lines += _hangup_context()
    lines += _seat_transfer_context(site)
    lines += _callback_context(site)
    return "\n".join(lines).rstrip("\n") + "\n"


def _settings(site: Site, opts: RenderOptions, general: str, linkage_prio: int) -> list[str]:
    urls = opts.agi_urls
    values = [
        ("HOTLINE_AGI_COUNT", str(len(urls))),
        *((f"HOTLINE_AGI_{i}", url) for i, url in enumerate(urls, 1)),
        ("HOTLINE_GENERAL_QUEUE", general),
        ("HOTLINE_REC_DIR", opts.recordings_dir.rstrip("/")),
        ("HOTLINE_SUB_CENTRE_RING", str(opts.sub_centre_ring_s)),
        ("HOTLINE_LINKAGE_RING", str(opts.linkage_ring_s)),
        ("HOTLINE_LINKAGE_PRIO", str(linkage_prio)),
        ("HOTLINE_3WAY_SEAT_WAIT", str(opts.three_way_seat_wait_s)),
        ("HOTLINE_MAX_HOPS", str(opts.max_hops)),
        ("HOTLINE_CALLBACK_REC_DIR", opts.recordings_dir.rstrip("/")
         + names.CALLBACK_REC_DIR_SUFFIX),
        ("HOTLINE_CALLBACK_RING", str(opts.callback_ring_s)),
        # The seat leg's Originate ring time: longer than its watchdog (seat wait, then the
        # rest of the target's ring time), so the watchdog is never hung up halfway.
        ("HOTLINE_3WAY_LEG_TIMEOUT",
         str(max(opts.three_way_seat_wait_s, opts.linkage_ring_s) + 30)),
    ]
    steps = [f"Set({name}={value})" for name, value in values] + ["Return()"]
    return [f"exten => s,1,{steps[0]}", *(f" same => n,{step}" for step in steps[1:])]


def _route(number: str, trunk: str, target: str = "${EXTEN}") -> list[str]:
    return [f"exten => {number},1,Set(HOTLINE_TRUNK={trunk})",
            f" same => n,Goto({CTX_INBOUND},{target},1)"]


def _trunk_context(site: Site, trunk: Trunk) -> list[str]:
    label = f" ({_comment(trunk.label)})" if trunk.label else ""
    lines = [f"; Trunk {trunk.name}{label}: its endpoint in {names.PJSIP} sends its calls here.",
             f"[{trunk_context(trunk.name)}]",
             "; 12345 access numbers of this trunk"]
    for number in trunk.access_numbers:
        lines += _route(number, trunk.name)
    lines += _emergency_routes(site)
    lines.append("; Retired-hotline register: every DID goes to the controller too")
    for row in site.register:
        if row.number in EMERGENCY_NUMBERS:
            continue  # never a register row (config check refuses it); routed above
        lines.append(f"; {row.number} {_comment(row.name)} ({_comment(row.department)}): "
                     f"{row.mode.value} -> {row.target}")
        lines += _route(row.number, trunk.name)
    first = trunk.access_numbers[0]
    contact = (f", or {names.CONTACT_USER}, the contact_user of this trunk's registration "
               "(a provider that sends its calls to our Contact puts it there)"
               if trunk.auth is TrunkAuth.REGISTRATION else "")
    lines += [
        *_wrapped(f"No DID in the Request-URI: s (no user part){contact}. The DID is then the "
                  f"user part of the To header; without a usable one, {first}, this trunk's "
                  "first access number. It goes through this context again, like any DID."),
        f"exten => s,1,Set(HOTLINE_TRUNK={trunk.name})",
        f" same => n,Gosub({CTX_DID_FROM_TO},s,1({first}))",
        " same => n,Goto(${GOSUB_RETVAL},1)",
    ]
    if trunk.auth is TrunkAuth.REGISTRATION:
        lines.append(f"exten => {names.CONTACT_USER},1,Goto(s,1)")
    lines += [
        "; Any other number still reaches the controller (it sends unknown numbers to the",
        "; general queue, so the caller still reaches a human): national numbers, E.164",
        "; (+86...) and single digits.",
        *(line for pattern in names.CATCH_ALL for line in _route(pattern, trunk.name)),
        "",
    ]
    return lines


def emergency_targets(site: Site) -> dict[str, LinkageTarget]:
    """Each emergency number -> the site's ``linkage:`` entry with that number; a
    RenderError naming ``linkage:`` when one has none."""
    targets = {t.number: t for t in site.file.linkage}
    missing = sorted(EMERGENCY_NUMBERS - set(targets))
    if missing:
        raise RenderError(
            f"{site.source}: linkage: has no entry for the emergency number"
            f"{'s' * (len(missing) > 1)} {', '.join(missing)}. A trunk that delivers one must "
            "pass it straight on (never to the controller or a queue), so the dialplan needs "
            f"its target: add to linkage: e.g. {{name: emergency-{missing[0]}, number: "
            f'"{missing[0]}", label: ..., dial: PJSIP/{missing[0]}@<trunk>}} with the dial '
            "string of the local emergency centre, then render again")
    return {n: targets[n] for n in sorted(EMERGENCY_NUMBERS)}


def _emergency_routes(site: Site) -> list[str]:
    lines = _wrapped(
        "Emergency numbers (110, 119, 120, 122; also as +86..., 86..., 0086...) are not "
        "12345's: a call a trunk delivers on one goes straight to its linkage: target, with "
        "no answer, prompt, controller, queue or recording. Only a routing loop (over the hop "
        "limit: the target leads back here) ends it, with one log line.")
    for number, target in emergency_targets(site).items():
        lines += [f"; {number} {_comment(target.label)} -> {target.name}",
                  f"exten => {number},1,Gosub({CTX_SETTINGS},s,1)",
                  f" same => n,Gosub({CTX_HOPS},s,1({number}))",
                  ' same => n,GotoIf($["${GOSUB_RETVAL}" = "over"]?loop)',
                  f" same => n,Dial({target.dial},,{HOPS_PREDIAL})",
                  " same => n,Hangup()",
                  " same => n(loop),Hangup(34)"]
        lines += [f"exten => {form},1,Goto({number},1)"
                  for form in names.emergency_forms(number)[1:]]
    return lines


def _did_from_to_context() -> list[str]:
    return [
        "; The DID of a call whose Request-URI has none: the user part of the SIP To header,",
        '; as in <sip:12317@host>;tag=.., "name" <sip:+8657112317@host;user=phone> or',
        "; <tel:+8657112317>, kept only if it is digits with an optional leading +.",
        "; ARG1: the number to return otherwise. CUT takes the variable by name, so what the",
        "; provider sent is cut as data, never read as dialplan.",
        f"[{CTX_DID_FROM_TO}]",
        "exten => s,1,Set(HOTLINE_TO=${PJSIP_HEADER(read,To)})",
        " same => n,GotoIf($[${LEN(${CUT(HOTLINE_TO,<,2)})} = 0]?uri)",
        " same => n,Set(HOTLINE_TO=${CUT(HOTLINE_TO,<,2)})",
        " same => n(uri),Set(HOTLINE_TO=${CUT(HOTLINE_TO,>,1)})",
        " same => n,Set(HOTLINE_TO=${CUT(HOTLINE_TO,@,1)})",
        " same => n,Set(HOTLINE_TO=${CUT(HOTLINE_TO,\\;,1)})",
        " same => n,Set(HOTLINE_TO=${CUT(HOTLINE_TO,:,2)})",
        " same => n,Set(HOTLINE_TO_DID=${FILTER(+0-9,${HOTLINE_TO})})",
        " same => n,GotoIf($[${LEN(${HOTLINE_TO_DID})} = 0 | "
        "${LEN(${HOTLINE_TO_DID})} != ${LEN(${HOTLINE_TO})}]?none)",
        " same => n,Return(${HOTLINE_TO_DID})",
        " same => n(none),NoOp(hotline12345 no DID in To: ${HOTLINE_TO})",
        " same => n,Return(${ARG1})",
        "",
    ]


def _inbound_context() -> list[str]:
    def when(action: str, target: str) -> str:
        return f' same => n,GotoIf($["${{{cv.ACTION}}}" = "{action}"]?{target})'
    return [
        "; Every inbound call: the controller decides, the dialplan acts on its variables.",
        "; Its one extension matches whatever a trunk context passes on: digits or +digits,",
        "; one digit or more.",
        f"[{CTX_INBOUND}]",
        f"exten => {names.INBOUND_PATTERN},1,NoOp(hotline12345 inbound ${{EXTEN}} on trunk "
        "${HOTLINE_TRUNK})",
        f" same => n,Gosub({CTX_SETTINGS},s,1)",
        f" same => n,Set(CHANNEL(hangup_handler_push)={CTX_HANGUP},s,1)",
        " same => n,Answer()",
        f" same => n,Set({cv.DIALLED}=${{EXTEN}})",
        "; A call over the hop limit (a routing loop) is not routed again: the general queue.",
        f" same => n,Gosub({CTX_HOPS},s,1(${{EXTEN}}))",
        ' same => n,GotoIf($["${GOSUB_RETVAL}" = "over"]?fallback)',
        "; The controllers HOTLINE_AGI_1..HOTLINE_AGI_COUNT, in order (see retry below);",
        "; HOTLINE_AGI stays the one that took the call (the survey goes to it too).",
        f" same => n,Set({cv.ACTION}=)",
        " same => n,Set(HOTLINE_AGI_TRY=1)",
        " same => n(agi),Set(HOTLINE_AGI=${HOTLINE_AGI_${HOTLINE_AGI_TRY}})",
        " same => n,AGI(${HOTLINE_AGI}/inbound,${EXTEN},${HOTLINE_TRUNK})",
        *_wrapped(f"The controller's decision is {cv.ACTION}, set after its prompts. Decide "
                  "by it, not by AGISTATUS: res_agi reports a FastAGI connection that the "
                  "controller closed mid-session (it died while playing a prompt) as "
                  "AGISTATUS=SUCCESS, the same as a finished flow. No decision: the next "
                  "controller (retry, below). A decision is acted on whatever AGISTATUS says, "
                  "and is never asked for twice."),
        f' same => n,GotoIf($["${{{cv.ACTION}}}" = ""]?retry)',
        when("queue", f"{CTX_QUEUE},s,1"),
        when("expert", f"{CTX_QUEUE},s,1"),
        when("sub_centre", f"{CTX_SUB_CENTRE},s,1"),
        when("linkage", f"{CTX_LINKAGE},s,1"),
        when("announce_hangup", "hangup"),
        "; A decision this dialplan does not know, or no controller decided: the general queue.",
        " same => n(fallback),NoOp(hotline12345 fallback AGISTATUS=${AGISTATUS} "
        f"{cv.ACTION}=${{{cv.ACTION}}})",
        f" same => n,Set({cv.ACTION}=queue)",
        f" same => n,Set({cv.QUEUE}=${{HOTLINE_GENERAL_QUEUE}})",
        f" same => n,Set({cv.QUEUE_PRIO}=0)",
        f" same => n,Set({cv.QUEUE_TIMEOUT}=)",
        f" same => n,Set({cv.OVERFLOW_ACTION}=)",
        f" same => n,Goto({CTX_QUEUE},s,1)",
        "; announce_hangup: the controller has played the announcement.",
        " same => n(hangup),Hangup(16)",
        *_wrapped("No decision. A caller who hung up is never retried (AGISTATUS=HANGUP; "
                  "Asterisk also stops the dialplan of a hung-up channel after the AGI). A "
                  "call still up goes to the next controller: it was unreachable (FAILURE: "
                  "connection refused, or no answer within res_agi's 2 s connect timeout), "
                  "answered NOTFOUND, or ended its session without deciding (SUCCESS: it died "
                  "mid-call). The next one starts the call's flow over: a prompt the failed one "
                  "had already played is heard again. Only the last controller's failure "
                  "falls back to the general queue."),
        ' same => n(retry),GotoIf($["${AGISTATUS}" = "HANGUP"]?gone)',
        " same => n,GotoIf($[${HOTLINE_AGI_TRY} >= ${HOTLINE_AGI_COUNT}]?fallback)",
        " same => n,NoOp(hotline12345 controller ${HOTLINE_AGI} gave no decision "
        "(AGISTATUS=${AGISTATUS}), trying the next)",
        " same => n,Set(HOTLINE_AGI_TRY=$[${HOTLINE_AGI_TRY} + 1])",
        " same => n,Goto(agi)",
        " same => n(gone),Hangup()",
        "",
    ]


def _hop_contexts() -> list[str]:
    hops = f"${{{HOPS_VARIABLE}}}"
    return [
        *_wrapped(f"The hop count: how many times this call has passed through this dialplan. "
                  f"It arrives as {HOPS_VARIABLE} (inherited through Local channels and "
                  f"Originate's v()) or, on a PJSIP call, as the {HOPS_HEADER} header that "
                  f"[{CTX_HOP_HEADER}] adds to every leg this dialplan places (Dial and "
                  "Originate option b(); ChannelRedirect keeps the channel and its count). "
                  "ARG1: the dialled number, for the log. Returns over when the call has "
                  "already passed HOTLINE_MAX_HOPS times (a routing loop: a trunk or a "
                  "provider that sends a dialled number back here), after one log line; "
                  f"else ok, with {HOPS_VARIABLE} one higher for the legs it places."),
        f"[{CTX_HOPS}]",
        f"exten => s,1,Set(HOTLINE_HOPS_IN=${{FILTER(0-9,{hops})}})",
        ' same => n,GotoIf($["${HOTLINE_HOPS_IN}" != "" | "${CHANNEL(channeltype)}" != '
        '"PJSIP"]?count)',
        f" same => n,Set(HOTLINE_HOPS_IN=${{FILTER(0-9,${{PJSIP_HEADER(read,{HOPS_HEADER})}})}})",
        f" same => n(count),Set(__{HOPS_VARIABLE}=$[0${{HOTLINE_HOPS_IN}} + 1])",
        f" same => n,GotoIf($[{hops} > ${{HOTLINE_MAX_HOPS}}]?over)",
        " same => n,Return(ok)",
        " same => n(over),Log(WARNING,hotline12345 call ${UNIQUEID} to ${ARG1} arrived after "
        "${HOTLINE_HOPS_IN} hops through this dialplan - the limit is ${HOTLINE_MAX_HOPS}: a "
        "routing loop? It is not routed again)",
        " same => n,Return(over)",
        "",
        "; Pre-dial handler of every Dial and Originate leg: a PJSIP leg carries the hop count",
        f"; in the {HOPS_HEADER} header (ARG1).",
        f"[{CTX_HOP_HEADER}]",
        'exten => s,1,ExecIf($["${CHANNEL(channeltype)}" = "PJSIP" & "${ARG1}" != ""]?'
        f"Set(PJSIP_HEADER(add,{HOPS_HEADER})=${{ARG1}}))",
        " same => n,Return()",
        "",
    ]


def _queue_contexts() -> list[str]:
    continued = ' same => n,GotoIf($["${QUEUESTATUS}" = "CONTINUE"]?survey)'
    return [
        "; The queue step. HOTLINE_QUEUE, QUEUE_PRIO (Queue() reads it as the caller's",
        "; priority) and HOTLINE_QUEUE_TIMEOUT come from the controller. Options: c = go on in",
        "; the dialplan when the seat hangs up first (QUEUESTATUS=CONTINUE: the survey runs);",
        "; t = the seat may transfer the caller (features.conf blindxfer/atxfer) to the",
        f"; numbers of [{CTX_SEAT_TRANSFER}].",
        "; On TIMEOUT (or any other way out) the controller's overflow target is tried once,",
        "; then the general queue without a time limit, so every caller reaches a human.",
        f"[{CTX_QUEUE}]",
        f'exten => s,1,ExecIf($["${{{cv.QUEUE}}}" = ""]?Set({cv.QUEUE}='
        '${HOTLINE_GENERAL_QUEUE}))',
        f' same => n,ExecIf($["${{{cv.QUEUE_PRIO}}}" = ""]?Set({cv.QUEUE_PRIO}=0))',
        f" same => n,Gosub({CTX_RECORD},s,1)",
        f" same => n,Set(__TRANSFER_CONTEXT={CTX_SEAT_TRANSFER})",
        f" same => n,Queue(${{{cv.QUEUE}}},ct,,,${{{cv.QUEUE_TIMEOUT}}})",
        continued,
        f" same => n,NoOp(hotline12345 left queue ${{{cv.QUEUE}}} with ${{QUEUESTATUS}})",
        f' same => n,GotoIf($["${{{cv.OVERFLOW_ACTION}}}" = "queue"]?overflow_queue)',
        f' same => n,GotoIf($["${{{cv.OVERFLOW_ACTION}}}" = "sub_centre"]?overflow_centre)',
        f' same => n(last_resort),GotoIf($["${{{cv.QUEUE}}}" = "${{HOTLINE_GENERAL_QUEUE}}" & '
        '"${QUEUESTATUS}" != "TIMEOUT"]?no_seat)',
        f" same => n,Set({cv.QUEUE}=${{HOTLINE_GENERAL_QUEUE}})",
        f" same => n,Queue(${{{cv.QUEUE}}},ct)",
        continued,
        "; Only when the general queue itself cannot take calls (missing, full, or joinempty).",
        f" same => n(no_seat),NoOp(hotline12345 no seat in ${{{cv.QUEUE}}}: ${{QUEUESTATUS}})",
        " same => n,Hangup(34)",
        "; Overflow to another queue (多援一), once.",
        f" same => n(overflow_queue),Set({cv.OVERFLOW_ACTION}=)",
        f" same => n,Set({cv.QUEUE}=${{{cv.OVERFLOW_TARGET}}})",
        f" same => n,Queue(${{{cv.QUEUE}}},ct)",
        continued,
        " same => n,Goto(last_resort)",
        "; Overflow to a sub-centre, once.",
        f" same => n(overflow_centre),Set({cv.OVERFLOW_ACTION}=)",
        f' same => n,GotoIf($["${{{cv.OVERFLOW_DIAL}}}" = ""]?last_resort)',
        f" same => n,Dial(${{{cv.OVERFLOW_DIAL}}},${{HOTLINE_SUB_CENTRE_RING}},{HOPS_PREDIAL})",
        ' same => n,GotoIf($["${DIALSTATUS}" = "ANSWER"]?done)',
        " same => n,Goto(last_resort)",
        "; The survey (好差评) after the seat hung up, while the caller is still on the line.",
        " same => n(survey),AGI(${HOTLINE_AGI}/survey)",
        " same => n(done),Hangup()",
        "",
    ]


def _record_context(mixed: str, caller: str, seat: str) -> list[str]:
    return [
        "; MixMonitor, once per call, on the caller's channel. Files are named by",
        "; HOTLINE_REC (set by the controller; the channel's UNIQUEID otherwise):",
        ";   <rec>.wav mixed, <rec>-caller.wav = r() = audio read from the caller's",
        ";   channel (the caller's own voice), <rec>-seat.wav = t() = audio sent to the caller",
        ";   (the seat). Option b records only while bridged (no hold music).",
        ";   Callers' voices: when the call ends, MixMonitor's command makes the three files",
        ";   0640 (owner asterisk, group asterisk: the recordings workers' group), whatever",
        ";   Asterisk's umask; while it records, the recordings directory (0750, see",
        ";   docs/asterisk-dialplan.md) keeps other users out.",
        f"[{CTX_RECORD}]",
        'exten => s,1,GotoIf($["${HOTLINE_RECORDING}" = "1"]?done)',
        f' same => n,ExecIf($["${{{cv.REC}}}" = ""]?Set({cv.REC}=${{UNIQUEID}}))',
        "; Never let a variable put a path or a space into a file name (- first: a literal).",
        f" same => n,Set({cv.REC}=${{FILTER(-.0-9A-Z_a-z,${{{cv.REC}}})}})",
        f" same => n,MixMonitor({mixed},br({caller})t({seat}),chmod 0640 {mixed} {caller} "
        f"{seat})",
        " same => n,Set(HOTLINE_RECORDING=1)",
        " same => n(done),Return()",
        "",
    ]


def _sub_centre_context() -> list[str]:
    return [
        "; Sub-centre transfer (设分中心): ring the sub-centre; if it does not answer, the",
        "; caller goes to HOTLINE_FALLBACK_QUEUE, keeping the priority.",
        f"[{CTX_SUB_CENTRE}]",
        f"exten => s,1,Gosub({CTX_RECORD},s,1)",
        f' same => n,GotoIf($["${{{cv.DIAL}}}" = ""]?fallback)',
        f" same => n,Dial(${{{cv.DIAL}}},${{HOTLINE_SUB_CENTRE_RING}},{HOPS_PREDIAL})",
        ' same => n,GotoIf($["${DIALSTATUS}" = "ANSWER"]?done)',
        f" same => n(fallback),NoOp(hotline12345 sub-centre ${{{cv.TARGET}}} not reached: "
        "${DIALSTATUS})",
        f" same => n,Set({cv.QUEUE}=${{{cv.FALLBACK_QUEUE}}})",
        f" same => n,Set({cv.QUEUE_TIMEOUT}=)",
        f" same => n,Set({cv.OVERFLOW_ACTION}=)",
        f" same => n,Goto({CTX_QUEUE},s,1)",
        " same => n(done),Hangup()",
        "",
    ]


def _linkage_contexts() -> list[str]:
    conf = f"${{HOTLINE_CONF}},{names.BRIDGE_PROFILE}"
    hops = f"^__{HOPS_VARIABLE}=${{{HOPS_VARIABLE}}}"  # Originate's legs inherit nothing
    return [
        "; Linkage (协同联动) to 110/119/120/122 or a utility hotline.",
        "; blind (盲转): Dial the target and bridge the caller to it; no 12345 seat stays. (A SIP",
        ";   REFER via Transfer() would take Asterisk out of the media path, but PSTN trunks",
        ";   rarely accept REFER, so the call is bridged.) Unreached: the fallback queue.",
        "; three_way (三方通话): the caller, the target and a 12345 seat in one ConfBridge",
        f";   (profiles in {names.CONFBRIDGE}):",
        ";   1. Originate(..., a) rings the target asynchronously into the conference, with the",
        ";      caller's number and name as its caller ID (c and n without a value: the current",
        ";      channel's), so 110/120 see who is calling. ORIGINATE_STATUS other than SUCCESS",
        ";      (the call could not be placed: unknown endpoint, trunk down): fallback queue.",
        ";   2. a second Originate rings a Local channel whose other half queues for a seat in",
        ";      HOTLINE_FALLBACK_QUEUE; when a seat answers, it joins the conference. That half",
        f";      is also the watchdog ([{CTX_3WAY_SEAT}]): a caller still alone once no seat",
        ";      came and the target's ring time is over goes to the fallback queue (async",
        ";      Originate cannot report a target that rings out, is busy or fails later).",
        ";   3. the caller enters the conference at once (hold music until someone joins).",
        ";   The caller is the marked user; the others have end_marked, so the conference",
        ";   ends when the caller hangs up, while the seat or the target may leave at will.",
        ";   (No ConfBridge user timeout for the caller: it would also cut off a three-way",
        ";   call that is going on.)",
        f"[{CTX_LINKAGE}]",
        f"exten => s,1,Gosub({CTX_RECORD},s,1)",
        f' same => n,GotoIf($["${{{cv.DIAL}}}" = ""]?fallback)',
        f' same => n,GotoIf($["${{{cv.TRANSFER}}}" = "three_way"]?three_way)',
        f" same => n,Dial(${{{cv.DIAL}}},${{HOTLINE_LINKAGE_RING}},{HOPS_PREDIAL})",
        ' same => n,GotoIf($["${DIALSTATUS}" = "ANSWER"]?done)',
        f" same => n(fallback),NoOp(hotline12345 linkage ${{{cv.TARGET}}} not reached: "
        "DIALSTATUS=${DIALSTATUS} ORIGINATE_STATUS=${ORIGINATE_STATUS})",
        f" same => n,Set({cv.QUEUE}=${{{cv.FALLBACK_QUEUE}}})",
        f' same => n,ExecIf($["${{{cv.QUEUE_PRIO}}}" = ""]?'
        f"Set({cv.QUEUE_PRIO}=${{HOTLINE_LINKAGE_PRIO}}))",
        f" same => n,Set({cv.QUEUE_TIMEOUT}=)",
        f" same => n,Set({cv.OVERFLOW_ACTION}=)",
        f" same => n,Goto({CTX_QUEUE},s,1)",
        " same => n(three_way),Set(HOTLINE_CONF=hotline12345-${UNIQUEID})",
        f" same => n,Set({cv.QUEUE}=${{{cv.FALLBACK_QUEUE}}})",
        f" same => n,Originate(${{{cv.DIAL}}},exten,{CTX_CONFERENCE},join,1,"
        f"${{HOTLINE_LINKAGE_RING}},acnv(HOTLINE_CONF=${{HOTLINE_CONF}}{hops}){HOPS_PREDIAL})",
        ' same => n,GotoIf($["${ORIGINATE_STATUS}" != "SUCCESS"]?fallback)',
        f" same => n,Originate(Local/seat@{CTX_3WAY_SEAT}/n,exten,{CTX_CONFERENCE},seat,1,"
        f"${{HOTLINE_3WAY_LEG_TIMEOUT}},acnv(HOTLINE_CONF=${{HOTLINE_CONF}}^{cv.QUEUE}="
        f"${{{cv.QUEUE}}}^{cv.QUEUE_PRIO}=${{HOTLINE_LINKAGE_PRIO}}^HOTLINE_CALLER_CHAN=${{CHANNEL}}"
        f"^HOTLINE_3WAY_START=${{EPOCH}}{hops}){HOPS_PREDIAL})",
        ' same => n,GotoIf($["${ORIGINATE_STATUS}" != "SUCCESS"]?fallback)',
        f" same => n,ConfBridge({conf},{names.CALLER_PROFILE})",
        " same => n(done),Hangup()",
        "; The watchdog sends a caller left alone here (ChannelRedirect).",
        " same => n(alone),NoOp(hotline12345 three-way: no seat, and the caller is alone)",
        " same => n,Goto(fallback)",
        "",
        "; The target and the seat of a three-way call join here once they answer; if the",
        "; caller has already left (no marked user in the conference, even after a moment),",
        "; they hang up instead. The seat first leaves its queue member (MEMBERINTERFACE of the",
        "; Local channel's other half, which took the queue call) on the caller's channel as",
        "; SHARED(HOTLINE_3WAY_SEAT), for the ticket.",
        f"[{CTX_CONFERENCE}]",
        "exten => seat,1,Set(SHARED(HOTLINE_3WAY_SEAT,${HOTLINE_CALLER_CHAN})="
        "${IMPORT(${CHANNEL:0:-1}2,MEMBERINTERFACE)})",
        " same => n,Goto(join,1)",
        "exten => join,1,GotoIf($[${CONFBRIDGE_INFO(marked,${HOTLINE_CONF})} > 0]?in)",
        " same => n,Wait(2)",
        " same => n,GotoIf($[${CONFBRIDGE_INFO(marked,${HOTLINE_CONF})} = 0]?gone)",
        f" same => n(in),ConfBridge({conf},{names.PARTY_PROFILE})",
        " same => n(gone),Hangup()",
        "",
        "; The Local channel's other half: wait for a 12345 seat (Local channels copy the",
        "; Originate v() variables, so HOTLINE_QUEUE, QUEUE_PRIO and the rest are set here).",
        "; No seat in time (or the queue cannot take the call): the watchdog waits until 5 s",
        "; after the target's ring time (by then it has joined or failed), and a caller",
        "; still alone in the conference goes to the fallback queue. (Its Originate allows",
        "; HOTLINE_3WAY_LEG_TIMEOUT, longer than all this, so this half is never cut short.)",
        f"[{CTX_3WAY_SEAT}]",
        f"exten => seat,1,Gosub({CTX_SETTINGS},s,1)",
        f" same => n,Queue(${{{cv.QUEUE}}},,,,${{HOTLINE_3WAY_SEAT_WAIT}})",
        f" same => n,NoOp(hotline12345 three-way: no seat in ${{{cv.QUEUE}}}: ${{QUEUESTATUS}})",
        " same => n,Set(HOTLINE_WAIT=$[${HOTLINE_3WAY_START} + ${HOTLINE_LINKAGE_RING} + 5 - "
        "${EPOCH}])",
        " same => n,ExecIf($[${HOTLINE_WAIT} > 0]?Wait(${HOTLINE_WAIT}))",
        " same => n,GotoIf($[${CONFBRIDGE_INFO(parties,${HOTLINE_CONF})} != 1]?done)",
        f" same => n,ChannelRedirect(${{HOTLINE_CALLER_CHAN}},{CTX_LINKAGE},s,alone)",
        " same => n(done),Hangup()",
        "",
    ]


def _hangup_context() -> list[str]:
    return [
        "; Hangup handler: close the recording so the pipeline can read it, then tell the AMI",
        f"; monitor (UserEvent {RECORDING_USEREVENT}, with the call's facts as headers). Seat:",
        "; the queue member that took the call, or the seat that joined a three-way call.",
        f"[{CTX_HANGUP}]",
        'exten => s,1,GotoIf($["${HOTLINE_RECORDING}" != "1"]?done)',
        " same => n,StopMixMonitor()",
        " same => n,Set(HOTLINE_SEAT=${MEMBERINTERFACE})",
        ' same => n,ExecIf($["${HOTLINE_SEAT}" = ""]?Set(HOTLINE_SEAT='
        '${SHARED(HOTLINE_3WAY_SEAT)}))',
        f" same => n,UserEvent({RECORDING_USEREVENT},Uniqueid: ${{UNIQUEID}},"
        f"Base: ${{{cv.REC}}},Dialled: ${{{cv.DIALLED}}},LegacyNumber: ${{{cv.LEGACY}}},"
        f"LegacyMode: ${{{cv.MODE}}},Route: ${{{cv.ACTION}}},Queue: ${{{cv.QUEUE}}},"
        "Seat: ${HOTLINE_SEAT})",
        " same => n(done),Return()",
        "",
    ]


def _seat_transfer_context(site: Site) -> list[str]:
    lines = [
        "; Numbers a seat may transfer a caller to (TRANSFER_CONTEXT): the linkage targets and",
        "; the sub-centres' register numbers. features.conf decides the keys: blindxfer (# by",
        "; default) for a blind transfer; atxfer then atxferthreeway for a three-way call in",
        "; which the seat stays.",
        f"[{CTX_SEAT_TRANSFER}]",
    ]
    targets: dict[str, tuple[str, str, str]] = {}
    for t in site.file.linkage:
        targets.setdefault(t.number, (t.dial, "${HOTLINE_LINKAGE_RING}", _comment(t.label)))
    centres = {c.name: c for c in site.file.sub_centres}
    for row in site.register:
        if row.mode is Mode.SUB_CENTRE and row.target in centres:
            c = centres[row.target]
            targets.setdefault(row.number, (c.dial, "${HOTLINE_SUB_CENTRE_RING}",
                                            _comment(c.label)))
    for number, (dial, ring, label) in targets.items():
        lines += [f"; {label}",
                  f"exten => {number},1,Gosub({CTX_SETTINGS},s,1)",
                  f" same => n,Dial({dial},{ring},{HOPS_PREDIAL})",
                  " same => n,Hangup()"]
    lines.append("")
    return lines


def callback_dial(site: Site) -> str:
    """The dial string of a 回访 call, ``{number}`` standing for the caller's number:
    ``centre.callback_dial``, or ``PJSIP/{number}@<the first trunk>``."""
    return site.centre.callback_dial or f"PJSIP/{{number}}@{site.centre.trunks[0].name}"


def _callback_context(site: Site) -> list[str]:
    rec = "${HOTLINE_CALLBACK_REC_DIR}/"
    base = "${HOTLINE_CALLBACK_REC}"
    mixed, caller, seat = (rec + file_name(base, leg, DEFAULT_FORMAT)
                           for leg in (Leg.MIXED, Leg.CALLER, Leg.SEAT))
    first = site.centre.trunks[0].access_numbers[0]
    dial = callback_dial(site).replace("{number}", "${EXTEN}")
    return [
        *_wrapped("回访 (callbacks, docs/revisits.md). The controller's AMI Originate rings the "
                  "seat's phone (Channel: the seat's interface; ChannelId: the callback's "
                  f"uniqueid; variables {cv.CALLBACK_TICKET}, the ticket, and {cv.CALLBACK_OF}, "
                  "the call it was made from). Once the seat answers, the seat's channel runs "
                  "this extension, named by the caller's number: it records the call, then "
                  "dials the caller (centre.callback_dial) showing the centre's number. The "
                  "recording goes beside the recordings directory, never into it (a callback is "
                  "no new call and makes no ticket), named by the callback's uniqueid: <id>.wav "
                  "mixed, <id>-seat.wav = r() = the seat (audio read from the seat's channel), "
                  "<id>-caller.wav = t() = the caller. When the channel hangs up, UserEvent "
                  f"{names.CALLBACK_USEREVENT} reports the dial's status."),
        f"[{CTX_CALLBACK}]",
        f"exten => {names.INBOUND_PATTERN},1,NoOp(hotline12345 callback of ticket "
        f"${{{cv.CALLBACK_TICKET}}})",
        f" same => n,Gosub({CTX_SETTINGS},s,1)",
        " same => n,Set(HOTLINE_CALLBACK_REC=${FILTER(-.0-9A-Z_a-z,${UNIQUEID})})",
        f" same => n,MixMonitor({mixed},br({seat})t({caller}),chmod 0640 {mixed} {caller} "
        f"{seat})",
        f' same => n,Set(CALLERID(all)="{first}" <{first}>)',
        f" same => n,Dial({dial},${{HOTLINE_CALLBACK_RING}},{HOPS_PREDIAL})",
        " same => n,Hangup()",
        f"exten => h,1,UserEvent({names.CALLBACK_USEREVENT},Ticket: ${{{cv.CALLBACK_TICKET}}},"
        f"Uniqueid: ${{UNIQUEID}},Of: ${{{cv.CALLBACK_OF}}},DialStatus: ${{DIALSTATUS}},"
        "Base: ${HOTLINE_CALLBACK_REC})",
        "",
    ]


# -- queues.conf --------------------------------------------------------------------------


def _queues(site: Site, opts: RenderOptions) -> str:
    lines = _header(site, names.QUEUES, "one queue per skill queue and per expert-seat group")
    lines += [
        "; No [general]: app_queue reads only the first one, the host's queues.conf's. The",
        "; queues rely on Asterisk 22's defaults there (persistentmembers=yes: seats logged in",
        "; over AMI survive a restart; shared_lastcall=yes: wrap-up counts across queues) and",
        "; set autofill=yes themselves.",
        "",
    ]
    prompts = site.file.prompts
    for q in site.queues:
        entries = [(q.name, q.label, q.members, "skill queue")]
        if q.expert_seats:
            entries.append((expert_queue_name(q.name), f"{q.label}（专家座席）", q.expert_seats,
                            f"expert seats of {q.name}"))
        for name, label, members, kind in entries:
            skills = f"; skills: {', '.join(q.skills)}" if q.skills else ""
            lines += [f"; {_comment(label)}: {kind}{skills}",
                      f"[{name}]",
                      f"strategy={q.strategy.value}",
                      f"servicelevel={q.service_level_s}",
                      f"timeout={opts.member_ring_s}",
                      "retry=5",
                      "autofill=yes",
                      f"wrapuptime={q.wrapup_s}",
                      "timeoutpriority=app",
                      "ringinuse=no",
                      "setinterfacevar=yes",
                      "setqueuevar=yes",
                      "announce-holdtime=no",
                      "announce-position=no",
                      "musicclass=default"]
            if q.announce and q.announce in prompts:
                lines += [f"periodic-announce={sound(q.announce)}",
                          f"periodic-announce-frequency={opts.periodic_announce_s}"]
            lines += [f"member => {m}" for m in members]
            lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


# -- confbridge.conf ----------------------------------------------------------------------


def _confbridge(site: Site) -> str:
    lines = _header(site, names.CONFBRIDGE, "the profiles of the three-way linkage call")
    lines += [
        "; The conference: the caller, the linkage target and one 12345 seat. MixMonitor on",
        "; the caller's channel records it, so the bridge records nothing itself.",
        f"[{names.BRIDGE_PROFILE}]",
        "type=bridge",
        "max_members=3",
        "record_conference=no",
        "",
        "; The caller: the marked user, with hold music while alone; no prompts.",
        f"[{names.CALLER_PROFILE}]",
        "type=user",
        "marked=yes",
        "music_on_hold_when_empty=yes",
        "quiet=yes",
        "announce_only_user=no",
        "",
        "; The target and the seat: let go when the caller (the marked user) leaves.",
        f"[{names.PARTY_PROFILE}]",
        "type=user",
        "end_marked=yes",
        "quiet=yes",
        "announce_only_user=no",
    ]
    return "\n".join(lines) + "\n"


# -- manager.conf -------------------------------------------------------------------------

#: What the AMI monitor reads: queue and seat events (class agent), channel events such as
#: Hangup (class call) and the dialplan's HotlineRecording UserEvent (class user).
AMI_READ = ("call", "agent", "user")
#: Asterisk sends the monitor only the events it reads (manager.conf ``eventfilter``, regexes
#: over the event's text; an event passes when one of the filters matches and none of the
#: ``!`` ones does): the queue and agent events and Hangup of the state model, the dialplan's
#: UserEvent and MixMonitor's stop, and the VarSet that names a MixMonitor file (the
#: recordings' job sources), the OriginateResponse that confirms a 回访's Originate (class
#: call), but not HangupRequest, the hangup handler's HangupHandler* events nor
#: MixMonitorStart/Mute, which the first filter's prefixes would let through and nobody
#: reads. A call's channels make about 29 events of these classes; the filter passes about a
#: fifth of them. Action replies (QueueStatus's list included) are no events and always
#: reach the monitor.
AMI_EVENT_FILTERS = ("Event: (Queue|Agent|Hangup|UserEvent|MixMonitor|OriginateResponse)",
                     "Variable: MIXMONITOR_FILENAME",
                     "!Event: (Hangup(Request|Handler)|MixMonitor(Start|Mute))")
#: QueueAdd, QueueRemove, QueuePause and QueuePenalty need class agent; the 回访's
#: Originate (into the callback context, no application) class originate; QueueStatus,
#: QueueSummary and Ping need no class (app_queue.c, manager.c).
AMI_WRITE = ("agent", "originate")


def _manager(site: Site, opts: RenderOptions, secrets: _Secrets) -> str:
    hosts = [ipaddress.ip_address(h) for h in opts.agi_hosts]
    denies = [f"deny={net}" for version, net in ((4, "0.0.0.0/0.0.0.0"), (6, "::/0"))
              if any(h.version == version for h in hosts)]
    permits = [f"permit={h}/255.255.255.255" if h.version == 4 else f"permit={h}/128"
               for h in hosts]
    secret = secrets.get(names.AMI_SECRET_ENV)
    lines = _header(site, names.MANAGER, "the AMI user of the hotline12345 AMI monitor")
    lines += [
        "; (+) adds these to the [general] section manager.conf already has (it must have one",
        "; before the #include line); coming after its own lines, they win. They apply to every",
        "; AMI user of this host.",
        "[general](+)",
        "enabled=yes",
        f"port={opts.ami_port}",
        f"bindaddr={ipaddress.ip_address(opts.ami_bind)}",
        "",
        "; Least privilege: read only call, agent and user events; write only classes agent",
        "; (QueueAdd/QueueRemove/QueuePause/QueuePenalty) and originate (回访's Originate). Ping",
        "; and QueueStatus need none. Logins only from the controllers' addresses. The secret "
        "comes from",
        f"; {names.AMI_SECRET_ENV} at render time.",
        f"[{names.AMI_USER}]",
        f"secret={secret}",
        *denies,
        *permits,
        f"read={','.join(AMI_READ)}",
        f"write={','.join(AMI_WRITE)}",
        "writetimeout=5000",
        "; Only the events the monitor reads (the others of these classes are most of them).",
        *(f"eventfilter={f}" for f in AMI_EVENT_FILTERS),
    ]
    return "\n".join(lines) + "\n"


# -- pjsip.conf ---------------------------------------------------------------------------


def _pjsip(site: Site, secrets: _Secrets) -> str:
    lines = _header(site, names.PJSIP, "one transport per protocol, one set of sections per "
                    "trunk")
    trunks = site.centre.trunks
    used = [t for t in TRANSPORTS if any(tr.transport == t for tr in trunks)]
    for tr in trunks:
        if tr.transport not in TRANSPORTS:
            raise RenderError(f'centre.trunks[{tr.name}].transport "{tr.transport}" is not one '
                              f"of {', '.join(TRANSPORTS)}")
    for proto in used:
        port = 5061 if proto == "tls" else 5060
        lines += [f"[hotline12345-{proto}]", "type=transport", f"protocol={proto}",
                  f"bind=0.0.0.0:{port}"]
        if proto == "tls":
            lines += ["; Give the certificate files of this host:",
                      "cert_file=/etc/asterisk/keys/asterisk.crt",
                      "priv_key_file=/etc/asterisk/keys/asterisk.key",
                      "method=tlsv1_2"]
        lines.append("")
    for tr in trunks:
        lines += _pjsip_trunk(tr, secrets)
    lines += ["; Seats (queue members such as PJSIP/8001) and sub-centre links are site-managed:",
              f"; define them in {names.PJSIP_LOCAL} next to this file.",
              f"#tryinclude {names.PJSIP_LOCAL}"]
    return "\n".join(lines) + "\n"


def _pjsip_trunk(tr: Trunk, secrets: _Secrets) -> list[str]:
    label = f" ({_comment(tr.label)})" if tr.label else ""
    how = ("registration (the provider authenticates us)" if tr.auth is TrunkAuth.REGISTRATION
           else "IP authentication (calls are accepted from the match= addresses)")
    contact_host = tr.host or (tr.match[0] if tr.match else "")
    uri = f"sip:{contact_host}:{tr.port}" if contact_host else ""
    lines = [f"; Trunk {tr.name}{label}: {how}; access numbers "
             f"{', '.join(tr.access_numbers)}",
             f"[{tr.name}]",
             "type=endpoint",
             f"transport=hotline12345-{tr.transport}",
             f"context={trunk_context(tr.name)}",
             "disallow=all",
             f"allow={','.join(tr.codecs)}",
             f"aors={tr.name}",
             "direct_media=no",
             "rtp_symmetric=yes",
             "force_rport=yes",
             "rewrite_contact=yes",
             "dtmf_mode=rfc4733",
             "trust_id_inbound=no",
             "send_pai=no"]
    if tr.auth is TrunkAuth.REGISTRATION:
        lines += [f"outbound_auth={tr.name}-auth",
                  f"from_user={tr.username}",
                  f"from_domain={tr.host}"]
    lines.append("")
    lines += [f"[{tr.name}]", "type=aor"]
    if uri:
        lines += [f"contact={uri}", "qualify_frequency=30"]
    lines.append("")
    match = list(tr.match)
    if tr.auth is TrunkAuth.REGISTRATION and tr.host and tr.host not in match:
        match.insert(0, tr.host)  # the provider's calls come from its registrar host
    if match:
        lines += [f"[{tr.name}-identify]", "type=identify", f"endpoint={tr.name}",
                  f"match={','.join(match)}", ""]
    if tr.auth is TrunkAuth.REGISTRATION:
        env = names.trunk_password_env(tr.name)
        lines += [f"; The password comes from {env} at render time.",
                  f"[{tr.name}-auth]",
                  "type=auth",
                  "auth_type=userpass",
                  f"username={tr.username}",
                  f"password={secrets.get(env)}",
                  "",
                  f"[{tr.name}-registration]",
                  "type=registration",
                  f"transport=hotline12345-{tr.transport}",
                  f"outbound_auth={tr.name}-auth",
                  f"server_uri={uri}",
                  f"client_uri=sip:{tr.username}@{tr.host}:{tr.port}",
                  "; The provider's calls to our Contact arrive as this name, whatever was",
                  "; dialled: the dialplan then reads the DID from the To header.",
                  f"contact_user={names.CONTACT_USER}",
                  "retry_interval=60",
                  "forbidden_retry_interval=300",
                  "max_retries=10000",
                  "expiration=3600",
                  "line=yes",
                  f"endpoint={tr.name}",
                  ""]
    return lines


def site_dials(site: Site) -> Mapping[str, str]:
    """Every dial string of the site, with where it is defined."""
    out: dict[str, str] = {}
    for c in site.file.sub_centres:
        out.setdefault(c.dial, f"sub_centres[{c.name}].dial")
    for t in site.file.linkage:
        out.setdefault(t.dial, f"linkage[{t.name}].dial")
    for q in site.queues:
        for m in (*q.members, *q.expert_seats):
            out.setdefault(m, f"queues[{q.name}] member")
    return out
