"""The channel variables the controller and the rendered dialplan pass each other.

One name per constant, used by the routing core (:mod:`hotline12345.routing.engine`, which
puts them in a decision), the flows (:mod:`hotline12345.ivr.flows`, which set them on the
channel) and the dialplan renderer (:mod:`hotline12345.asterisk.render`, which reads them),
so that a renamed variable cannot silently break the dialplan. ``tests/asterisk/
test_channel_variables.py`` renders the dialplan and checks that what it reads from the
controller is exactly :data:`DIALPLAN_INPUTS`.

Variables the dialplan keeps for itself (``HOTLINE_TRUNK``, ``HOTLINE_AGI_TRY``, the
``[globals]`` settings, ...) are not part of the contract, except the hop count, which the
controller's transfers must carry too.
"""

from __future__ import annotations

from typing import Final

# -- set by the controller, read by the dialplan ---------------------------------------
#: The decision: ``queue``, ``expert``, ``sub_centre``, ``linkage``; empty = no decision
#: (the dialplan retries the next controller, then queues to the general queue).
ACTION: Final = "HOTLINE_ACTION"
#: The queue, sub-centre or linkage target named by the decision (logs, NoOp lines).
TARGET: Final = "HOTLINE_TARGET"
#: The Asterisk queue the caller waits in.
QUEUE: Final = "HOTLINE_QUEUE"
#: The caller's priority in the queue; ``Queue()`` reads it under this name.
QUEUE_PRIO: Final = "QUEUE_PRIO"
#: Seconds in the queue before the overflow (empty: the queue's own timeout).
QUEUE_TIMEOUT: Final = "HOTLINE_QUEUE_TIMEOUT"
#: After the queue timeout: ``queue`` or ``sub_centre`` (empty: no overflow).
OVERFLOW_ACTION: Final = "HOTLINE_OVERFLOW_ACTION"
#: The overflow's queue or sub-centre.
OVERFLOW_TARGET: Final = "HOTLINE_OVERFLOW_TARGET"
#: The overflow sub-centre's dial string.
OVERFLOW_DIAL: Final = "HOTLINE_OVERFLOW_DIAL"
#: The sub-centre's or linkage target's dial string.
DIAL: Final = "HOTLINE_DIAL"
#: A linkage transfer: ``blind`` or ``three_way``.
TRANSFER: Final = "HOTLINE_TRANSFER"
#: Where a sub-centre or linkage call goes when nobody answers.
FALLBACK_QUEUE: Final = "HOTLINE_FALLBACK_QUEUE"
#: The recording's base name (the MixMonitor files); the flow sets the call's uniqueid.
REC: Final = "HOTLINE_REC"
#: The dialled number as received (before normalisation; the dialplan sets ``${EXTEN}``
#: first). With the two below, the hangup handler's recording event carries it.
DIALLED: Final = "HOTLINE_DIALLED"
#: The legacy number of the register row, and its merge mode.
LEGACY: Final = "HOTLINE_LEGACY"
MODE: Final = "HOTLINE_MODE"

# -- set by the controller for the call record, CDR and logs; the dialplan does not read them
#: The number the call was routed as (normalised).
ROUTED_AS: Final = "HOTLINE_ROUTED_AS"
#: The site-file rule that decided, if any.
RULE: Final = "HOTLINE_RULE"
#: The register row's phase.
PHASE: Final = "HOTLINE_PHASE"
#: The decision's priority (also for calls that do not queue).
PRIORITY: Final = "HOTLINE_PRIORITY"
#: The linkage partner's number (110, 119, ...).
LINKAGE_NUMBER: Final = "HOTLINE_LINKAGE_NUMBER"
#: On a call a linkage partner transferred to 12345: that partner's number.
LINKED_FROM: Final = "HOTLINE_LINKED_FROM"

# -- set by the controller's callback Originate (回访), read by the callback context ------
#: The ticket the callback is for (its id): in the dialplan's log line and its
#: ``HotlineCallback`` event. The callback call's own uniqueid is the Originate's ChannelId.
CALLBACK_TICKET: Final = "HOTLINE_CALLBACK_TICKET"
#: The uniqueid of the call the ticket was made from (the caller's first call).
CALLBACK_OF: Final = "HOTLINE_CALLBACK_OF"

# -- kept by the dialplan, carried by every leg -----------------------------------------
#: How many times the call has passed through this dialplan (inherited as ``__HOTLINE_HOPS``).
HOPS: Final = "HOTLINE_HOPS"

#: What the dialplan reads that only the controller sets (or overrides), by a decision or
#: by the callback's Originate.
DIALPLAN_INPUTS: Final = frozenset({
    ACTION, TARGET, QUEUE, QUEUE_PRIO, QUEUE_TIMEOUT, OVERFLOW_ACTION, OVERFLOW_TARGET,
    OVERFLOW_DIAL, DIAL, TRANSFER, FALLBACK_QUEUE, REC, DIALLED, LEGACY, MODE,
    CALLBACK_TICKET, CALLBACK_OF})
#: Everything a decision or a flow may set on the channel.
CONTROLLER_SETS: Final = DIALPLAN_INPUTS | frozenset({
    ROUTED_AS, RULE, PHASE, PRIORITY, LINKAGE_NUMBER, LINKED_FROM})
