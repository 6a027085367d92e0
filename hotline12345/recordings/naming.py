"""How recordings are named: the one convention shared by the dialplan and the pipeline.

MixMonitor runs on the caller's inbound channel and names every file by that channel's
``${UNIQUEID}``, all in the recordings directory:

==========================  ==========================================================
``<uniqueid>.<ext>``        the mixed recording (both parties)
``<uniqueid>-caller.<ext>`` MixMonitor ``r()``: audio *read* from the channel, i.e. the caller
``<uniqueid>-seat.<ext>``   MixMonitor ``t()``: audio *transmitted* to the channel, i.e. the seat
==========================  ==========================================================

``<ext>`` is one of :data:`FORMATS` (MixMonitor picks the format from the extension; the
rendered dialplan uses ``wav``). The Asterisk-config renderer uses :func:`mixmonitor_args`
so that the dialplan and this module cannot drift apart.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from pathlib import Path


class Leg(enum.StrEnum):
    MIXED = "mixed"
    CALLER = "caller"
    SEAT = "seat"


#: File-name suffix of each leg, before the extension. THE naming convention.
LEG_SUFFIXES: dict[Leg, str] = {Leg.MIXED: "", Leg.CALLER: "-caller", Leg.SEAT: "-seat"}

#: Extensions MixMonitor writes that the pipeline reads, mapped to the pipeline's format name.
FORMATS: dict[str, str] = {
    "wav": "wav",
    "wav16": "wav",
    "gsm": "gsm",
    "ulaw": "ulaw",
    "ul": "ulaw",
    "pcm": "ulaw",  # Asterisk's "pcm" format is raw mu-law
    "alaw": "alaw",
    "al": "alaw",
    "sln": "sln",
    "raw": "sln",
    "sln16": "sln16",
}

#: The format the rendered dialplan records in.
DEFAULT_FORMAT = "wav"

#: Name of the AMI UserEvent the dialplan may send when a recording is complete
#: (``UserEvent(HotlineRecording,Uniqueid: ${UNIQUEID})`` in the ``h`` extension).
RECORDING_USEREVENT = "HotlineRecording"

_UNIQUEID = re.compile(r"^[0-9A-Za-z][0-9A-Za-z._-]{0,149}$")


def file_name(uniqueid: str, leg: Leg, ext: str = DEFAULT_FORMAT) -> str:
    """``file_name("1795849881.4", Leg.CALLER)`` -> ``"1795849881.4-caller.wav"``."""
    return f"{uniqueid}{LEG_SUFFIXES[leg]}.{ext}"


def mixmonitor_args(directory: str, ext: str = DEFAULT_FORMAT) -> str:
    """The MixMonitor application arguments for the rendered dialplan, e.g.
    ``/var/spool/asterisk/monitor/${UNIQUEID}.wav,r(/var/.../${UNIQUEID}-caller.wav)t(...)``."""
    base = directory.rstrip("/")
    mixed = f"{base}/{file_name('${UNIQUEID}', Leg.MIXED, ext)}"
    caller = f"{base}/{file_name('${UNIQUEID}', Leg.CALLER, ext)}"
    seat = f"{base}/{file_name('${UNIQUEID}', Leg.SEAT, ext)}"
    return f"{mixed},r({caller})t({seat})"


def valid_uniqueid(uniqueid: str) -> bool:
    """Asterisk uniqueids look like ``1795849881.4`` (``pbx1-1795849881.4`` when
    ``systemname`` is set); anything with a path separator or a space is refused."""
    return bool(_UNIQUEID.match(uniqueid))


@dataclass(frozen=True, slots=True)
class RecordingName:
    uniqueid: str
    leg: Leg
    ext: str


def parse_name(path: str | Path) -> RecordingName | None:
    """Split a recording's file name into uniqueid, leg and extension; None if it does not
    follow the convention (unknown extension, or a stem that is no uniqueid)."""
    name = path if isinstance(path, str) and "/" not in path else Path(path).name
    stem, dot, ext = name.rpartition(".")
    if not dot or ext.lower() not in FORMATS:
        return None
    leg = Leg.MIXED
    for candidate in (Leg.CALLER, Leg.SEAT):
        suffix = LEG_SUFFIXES[candidate]
        if stem.endswith(suffix):
            stem, leg = stem[: -len(suffix)], candidate
            break
    if not valid_uniqueid(stem):
        return None
    return RecordingName(stem, leg, ext.lower())


def leg_paths(directory: Path, uniqueid: str) -> dict[Leg, Path]:
    """The files of one call that exist in ``directory``, by leg (first known extension wins,
    ``wav`` first)."""
    found: dict[Leg, Path] = {}
    for leg in Leg:
        for ext in FORMATS:
            candidate = directory / file_name(uniqueid, leg, ext)
            if candidate.is_file():
                found[leg] = candidate
                break
    return found
