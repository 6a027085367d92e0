"""The survey flow (好差评): after the seat hangs up, the caller scores the service 1-5.

The dialplan runs it on the caller's channel when ``Queue()`` returns with the caller still
there: ``AGI(agi://HOST:4573/survey)``. The score is stored with the call (same uniqueid);
``?uniqueid=`` overrides it when the survey runs on another channel. Asked and not
answered is stored too (score ``NULL``), so participation can be measured.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from hotline12345.calls.store import SurveyResult
from hotline12345.ivr.channel import Channel
from hotline12345.ivr.flows.common import Recorder, require_uniqueid, utc_now
from hotline12345.logs import log_event
from hotline12345.routing import sound

log = logging.getLogger(__name__)

SCORES = frozenset("12345")


class SurveyFlow:
    """Registered as ``survey``."""

    def __init__(self, recorder: Recorder, *, clock: Callable[[], datetime] = utc_now,
                 timeout_s: int = 5, retries: int = 1,
                 question: str = sound("survey-question"),
                 invalid: str = sound("survey-invalid"),
                 thanks: str = sound("survey-thanks")) -> None:
        self.recorder = recorder
        self.clock = clock
        self.timeout_s = timeout_s
        self.retries = retries
        self.question = question
        self.invalid = invalid
        self.thanks = thanks

    async def __call__(self, channel: Channel) -> None:
        env = channel.env
        uniqueid = require_uniqueid(env, env.query.get("uniqueid"))
        score: int | None = None
        try:
            for attempt in range(1 + max(0, self.retries)):
                digits = await channel.get_data(self.question, self.timeout_s * 1000, 1)
                if digits in SCORES:
                    score = int(digits)
                    break
                if digits and attempt < self.retries:
                    await channel.stream_file(self.invalid)
            if score is not None:
                await channel.set_variable("SURVEY_SCORE", str(score))
                await channel.stream_file(self.thanks)
        finally:
            self.recorder.submit(SurveyResult(uniqueid=uniqueid, score=score, at=self.clock()))
            log_event(log, "ivr.survey", uniqueid=uniqueid, caller=env.callerid, score=score,
                      hung_up=channel.hung_up)
