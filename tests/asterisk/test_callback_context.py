"""The rendered [hotline12345-callback] context: the seat's answered channel records the
回访 beside the recordings directory (the seat's channel is the one recorded: r() is the
seat), then dials the caller through centre.callback_dial, or the first trunk by default."""

from __future__ import annotations

import dataclasses
import re

from hotline12345 import channel_variables as cv
from hotline12345.asterisk import RenderOptions, render
from hotline12345.asterisk.names import CTX_CALLBACK
from hotline12345.asterisk.names import EXTENSIONS as EXT
from hotline12345.config import Site


def callback_context(site: Site, **options: str) -> str:
    text = render(site, RenderOptions(**options)).files[EXT]  # type: ignore[arg-type]
    return text.split(f"[{CTX_CALLBACK}]\n", 1)[1].split("\n\n", 1)[0]


def test_the_default_dials_the_caller_through_the_first_trunk(site: Site) -> None:
    ctx = callback_context(site, recordings_dir="/srv/rec")
    first = site.centre.trunks[0]
    assert f"Dial(PJSIP/${{EXTEN}}@{first.name},${{HOTLINE_CALLBACK_RING}}," in ctx
    number = first.access_numbers[0]
    assert f'Set(CALLERID(all)="{number}" <{number}>)' in ctx
    rec = "${HOTLINE_CALLBACK_REC_DIR}/${HOTLINE_CALLBACK_REC}"
    assert f"MixMonitor({rec}.wav,br({rec}-seat.wav)t({rec}-caller.wav)," in ctx
    settings = render(site, RenderOptions(recordings_dir="/srv/rec")).files[EXT]
    assert "Set(HOTLINE_CALLBACK_REC_DIR=/srv/rec-callbacks)" in settings
    # the extension is the caller's number; the hangup reports the ticket and the dial
    assert re.search(r"^exten => _\[\+0-9\]!,1,", ctx, re.M)
    assert f"Ticket: ${{{cv.CALLBACK_TICKET}}}" in ctx and "DialStatus: ${DIALSTATUS}" in ctx
    # MixMonitor before Dial: the whole call is recorded
    assert ctx.index("MixMonitor(") < ctx.index("Dial(")


def test_the_site_names_how_to_reach_the_caller(site: Site) -> None:
    centre = dataclasses.replace(site.file.centre, callback_dial="Local/{number}@callees/n")
    custom = dataclasses.replace(site, file=dataclasses.replace(site.file, centre=centre))
    ctx = callback_context(custom)
    assert "Dial(Local/${EXTEN}@callees/n,${HOTLINE_CALLBACK_RING}," in ctx
    assert "PJSIP/${EXTEN}" not in ctx
