"""The inbound flow: every call to 12345 or to a legacy number.

1. Ask the routing core for a decision (pure, no I/O).
2. If it asks the one question: ``GET DATA`` with its timeout and retries, then decide again
   with the digits, or with ``""`` (no answer: the router's default applies).
3. Play the prompts it chose (the transition prompt, or "now 12345").
4. Set the channel variables the decision carries (queue, priority, sub-centre or linkage
   dial string, transfer kind, ...) plus ``HOTLINE_REC``, the MixMonitor file's base name
   (the call's uniqueid). The dialplan then queues, transfers or makes the three-way call.
5. Hand the call's facts to the call store (write-behind: never waits on the database).

The numbers go to the router as Asterisk sends them (``+8612366``, ``+8613800138000``); the
router normalises them once (:mod:`hotline12345.routing.numbers`).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from types import MappingProxyType

from hotline12345 import channel_variables as cv
from hotline12345.calls.store import RoutedCall
from hotline12345.ivr.channel import Channel, ChannelHungUp
from hotline12345.ivr.flows.common import (
    FlowInputError,
    Recorder,
    dialled_number,
    flag,
    require_uniqueid,
    utc_now,
)
from hotline12345.logs import log_event
from hotline12345.routing import Action, CallContext, Question, QueueLoad, Router

log = logging.getLogger(__name__)

REC_VARIABLE = cv.REC
LINKED_FROM_VARIABLE = cv.LINKED_FROM  # set by the router on a call 110 transferred

_NO_LOAD: Mapping[str, QueueLoad] = MappingProxyType({})


async def ask_once(channel: Channel, question: Question) -> str:
    """The one question: DTMF with a timeout, retried on no answer; ``""`` if none came."""
    for _ in range(1 + max(0, question.retries)):
        digits = await channel.get_data(question.prompt, question.timeout_s * 1000,
                                        question.max_digits)
        if digits:
            return digits
    return ""


class InboundFlow:
    """Routes one inbound call live. Registered as ``inbound``."""

    def __init__(self, router: Router, recorder: Recorder, *,
                 clock: Callable[[], datetime] = utc_now,
                 queue_load: Callable[[], Mapping[str, QueueLoad]] | None = None) -> None:
        self.router = router
        self.recorder = recorder
        self.clock = clock
        self.queue_load = queue_load

    async def __call__(self, channel: Channel) -> None:
        env = channel.env
        uniqueid = require_uniqueid(env)
        dialled = dialled_number(env)
        caller = env.callerid
        started = self.clock()
        ctx = CallContext(dialled=dialled, at=started, caller=caller,
                          enterprise=flag(env, "enterprise"),
                          language=env.query.get("language") or env.language,
                          queue_load=self.queue_load() if self.queue_load else _NO_LOAD)
        decision = self.router.decide(ctx)
        answer: str | None = None
        outcome = "failed"
        routed_at: datetime | None = None
        try:
            answered = False
            if decision.action is Action.ASK:
                if decision.question is None:
                    raise FlowInputError(f"routing for {dialled} asked a question without one")
                await channel.answer()
                answered = True
                answer = await ask_once(channel, decision.question)
                decision = self.router.decide(dataclasses.replace(ctx, answer=answer))
                if decision.action is Action.ASK:
                    raise FlowInputError(f"routing for {dialled} asked a second question; a "
                                         "caller is asked one question at most")
            if decision.prompts:
                if not answered:
                    await channel.answer()
                for prompt in decision.prompts:
                    await channel.stream_file(prompt)
            variables = decision.variables  # + the MixMonitor file name, unless it is set
            await channel.set_variables(variables, None if REC_VARIABLE in variables
                                        else {REC_VARIABLE: uniqueid})
            routed_at = self.clock()
            outcome = "routed"
        except ChannelHungUp:
            outcome = "hangup"
            raise
        finally:
            action = decision.action.value
            # The numbers as received go on the record; the decision's reasons say how
            # routing read them, and its caller (the national form) is what logs mask.
            self.recorder.submit(RoutedCall(
                uniqueid=uniqueid, caller=caller, caller_name=env.calleridname,
                dialled=dialled, action=action, target=decision.target or None,
                priority=decision.priority, reasons=decision.reasons, answer=answer,
                outcome=outcome, started_at=started, routed_at=routed_at,
                linked_from=decision.variables.get(LINKED_FROM_VARIABLE)))
            # The caller as routing read it (the national form) is what the log masks.
            log_event(log, "ivr.inbound",
                      uniqueid=uniqueid, caller=decision.caller if caller is not None else None,
                      dialled=dialled, action=action, target=decision.target,
                      priority=decision.priority, answer=answer, outcome=outcome)
