"""The AMI user's event filter passes every event the product reads, and cuts the rest.

Asterisk applies ``eventfilter`` lines as regexes over an event's text; an event passes
when one matches and no ``!`` (exclude) line does. The events the product reads are the
state model's handlers and the recordings' job sources; this test builds each as Asterisk
writes it and runs the rendered filter over it (the live tests show the same on the real
Asterisk)."""

from __future__ import annotations

import re

from hotline12345.agents.state import _HANDLERS
from hotline12345.asterisk.render import AMI_EVENT_FILTERS
from hotline12345.recordings.naming import RECORDING_USEREVENT

from .conftest import MANAGER, SHIPPED


def passes(text: str) -> bool:
    """As Asterisk applies regex filters when some include and some (``!``) exclude: an
    event passes when an include filter matches and no exclude filter does."""
    include = [f for f in AMI_EVENT_FILTERS if not f.startswith("!")]
    exclude = [f[1:] for f in AMI_EVENT_FILTERS if f.startswith("!")]
    return (any(re.search(f, text) for f in include)
            and not any(re.search(f, text) for f in exclude))


def event(name: str, **headers: str) -> str:
    return "".join(f"{k}: {v}\r\n" for k, v in {"Event": name, **headers}.items()) + "\r\n"


def test_every_event_the_product_reads_passes() -> None:
    for name in _HANDLERS:
        assert passes(event(name, Queue="q-general")), name
    assert passes(event("UserEvent", UserEvent=RECORDING_USEREVENT))
    assert passes(event("MixMonitorStop", Channel="PJSIP/telecom-00000001"))
    assert passes(event("VarSet", Channel="PJSIP/telecom-00000001",
                        Variable="MIXMONITOR_FILENAME", Value="/var/spool/x.wav"))


def test_the_chatter_of_a_call_is_cut() -> None:
    for name in ("Newexten", "Newstate", "Newchannel", "NewCallerid", "NewConnectedLine",
                 "DialBegin", "DialEnd", "BridgeEnter", "BridgeLeave", "LocalBridge",
                 "DeviceStateChange", "HangupRequest", "HangupHandlerPush",
                 "HangupHandlerRun", "HangupHandlerPop", "MixMonitorStart", "MixMonitorMute"):
        assert not passes(event(name, Channel="PJSIP/telecom-00000001")), name
    assert not passes(event("VarSet", Variable="HOTLINE_ACTION", Value="queue"))


def test_the_rendered_manager_file_carries_the_filters() -> None:
    lines = (SHIPPED / MANAGER).read_text(encoding="utf-8").splitlines()
    assert [ln.split("=", 1)[1] for ln in lines if ln.startswith("eventfilter=")] == list(
        AMI_EVENT_FILTERS)
