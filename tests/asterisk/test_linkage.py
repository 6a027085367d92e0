"""The three-way linkage call (三方通话) never leaves a caller alone on hold: a target that
cannot be called sends the caller to the fallback queue at once, and a watchdog does the same
when no seat came and the target is not there either. The target sees the caller's number,
the conference profiles ship in the confbridge file, and the seat that joined is kept for the
ticket."""

from __future__ import annotations

import re

from hotline12345.asterisk.names import (
    BRIDGE_PROFILE,
    CALLER_PROFILE,
    CONFBRIDGE,
    CTX_3WAY_SEAT,
    CTX_CONFERENCE,
    CTX_HANGUP,
    CTX_LINKAGE,
    CTX_SETTINGS,
    PARTY_PROFILE,
)
from hotline12345.asterisk.render import RenderOptions, render
from hotline12345.config import Site

from .conftest import EXT, SHIPPED
from .test_render import sections

TEXT = (SHIPPED / EXT).read_text(encoding="utf-8")
SECS = sections(TEXT)


def steps(context: str) -> list[str]:
    """The context's dialplan lines without comments."""
    return [ln for ln in SECS[context].splitlines() if ln and not ln.startswith(";")]


def settings() -> dict[str, str]:
    return dict(re.findall(r"Set\((\w+)=([^)]*)\)", SECS[CTX_SETTINGS]))


def originate(kind: str) -> tuple[int, str]:
    lines = steps(CTX_LINKAGE)
    i = next(i for i, ln in enumerate(lines) if "Originate(" in ln and kind in ln)
    return i, lines[i]


def test_the_target_is_called_with_the_callers_number() -> None:
    _, line = originate("${HOTLINE_DIAL}")
    options = re.search(r",(\w*)v\(", line)
    assert options, line
    # c and n without a value: the caller ID of the current channel, the caller's.
    assert {"a", "c", "n"} <= set(options.group(1)), line


def test_each_originate_is_checked_and_failure_means_the_fallback_queue() -> None:
    lines = steps(CTX_LINKAGE)
    for kind in ("${HOTLINE_DIAL}", "Local/seat@"):
        i, _ = originate(kind)
        assert lines[i + 1] == ' same => n,GotoIf($["${ORIGINATE_STATUS}" != "SUCCESS"]?fallback)'
    fallback = next(i for i, ln in enumerate(lines) if "n(fallback)" in ln)
    assert "Set(HOTLINE_QUEUE=${HOTLINE_FALLBACK_QUEUE})" in lines[fallback + 1]
    assert any("Goto(hotline12345-queue,s,1)" in ln for ln in lines[fallback:])
    # Both legs are placed before the caller enters the conference.
    conf = next(i for i, ln in enumerate(lines) if "ConfBridge(" in ln)
    assert originate("Local/seat@")[0] < conf


def test_the_watchdog_sends_a_lone_caller_to_the_fallback_queue() -> None:
    seat = steps(CTX_3WAY_SEAT)
    queue = next(i for i, ln in enumerate(seat) if "Queue(${HOTLINE_QUEUE}" in ln)
    assert "${HOTLINE_3WAY_SEAT_WAIT}" in seat[queue]
    after = "\n".join(seat[queue + 1:])
    # It waits out the target's ring time, then acts only if the caller is alone.
    assert "Wait(${HOTLINE_WAIT})" in after and "${HOTLINE_LINKAGE_RING}" in after
    assert "GotoIf($[${CONFBRIDGE_INFO(parties,${HOTLINE_CONF})} != 1]?done)" in after
    redirect = re.search(r"ChannelRedirect\(\$\{HOTLINE_CALLER_CHAN\},([\w-]+),s,(\w+)\)", after)
    assert redirect and redirect.group(1) == CTX_LINKAGE
    linkage = steps(CTX_LINKAGE)
    alone = next(i for i, ln in enumerate(linkage) if f"n({redirect.group(2)})" in ln)
    assert "Goto(fallback)" in "\n".join(linkage[alone:alone + 2])
    # The Local leg carries what the watchdog needs, and its Originate outlives it.
    _, leg = originate("Local/seat@")
    for var in ("HOTLINE_CALLER_CHAN=${CHANNEL}", "HOTLINE_3WAY_START=${EPOCH}",
                "HOTLINE_CONF=${HOTLINE_CONF}", "HOTLINE_QUEUE=${HOTLINE_QUEUE}"):
        assert var in leg
    assert ",${HOTLINE_3WAY_LEG_TIMEOUT}," in leg
    values = settings()
    assert int(values["HOTLINE_3WAY_LEG_TIMEOUT"]) > max(
        int(values["HOTLINE_3WAY_SEAT_WAIT"]), int(values["HOTLINE_LINKAGE_RING"]))


def test_leg_timeout_follows_the_render_options(site: Site) -> None:
    text = render(site, RenderOptions(three_way_seat_wait_s=40, linkage_ring_s=90)).files[EXT]
    assert "Set(HOTLINE_3WAY_LEG_TIMEOUT=120)" in text


def test_the_seat_that_joined_is_kept_on_the_callers_channel() -> None:
    conf = "\n".join(steps(CTX_CONFERENCE))
    assert ("exten => seat,1,Set(SHARED(HOTLINE_3WAY_SEAT,${HOTLINE_CALLER_CHAN})="
            "${IMPORT(${CHANNEL:0:-1}2,MEMBERINTERFACE)})") in conf
    hangup = "\n".join(steps(CTX_HANGUP))
    assert "Set(HOTLINE_SEAT=${SHARED(HOTLINE_3WAY_SEAT)})" in hangup
    assert "Seat: ${HOTLINE_SEAT})" in hangup


def test_the_conference_profiles_ship_and_are_used() -> None:
    profiles = sections((SHIPPED / CONFBRIDGE).read_text(encoding="utf-8"))
    assert "type=bridge\n" in profiles[BRIDGE_PROFILE]
    assert "type=user\n" in profiles[CALLER_PROFILE] and "marked=yes\n" in profiles[CALLER_PROFILE]
    assert "end_marked=yes\n" in profiles[PARTY_PROFILE]
    uses = re.findall(r"ConfBridge\(\$\{HOTLINE_CONF\},([\w-]+),([\w-]+)\)", TEXT)
    assert sorted(uses) == sorted([(BRIDGE_PROFILE, CALLER_PROFILE),
                                   (BRIDGE_PROFILE, PARTY_PROFILE)])
    assert "CONFBRIDGE(user," not in TEXT  # profiles live in the file, not in the dialplan
