"""The flow registry: one handler per call flow, each registered explicitly by name.

As in wazo-agid, nothing registers itself on import: :func:`hotline12345.ivr.flows.build_registry`
lists every flow in one place, and a name can be registered once only.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Protocol

from hotline12345.ivr.channel import Channel

_NAME = re.compile(r"[a-z][a-z0-9_-]*(?:/[a-z][a-z0-9_-]*)*\Z")


class Flow(Protocol):
    """A call flow: drives one channel from start to end.

    The contract, the same over FastAGI and classic AGI:

    - **It is plain asyncio code.** It runs in its own asyncio Task, one per session, so
      ``asyncio.timeout``, ``TaskGroup``, ``create_task``, locks and other services may be
      awaited anywhere in it (prefer ``asyncio.timeout`` to ``asyncio.wait_for``, which in
      Python 3.11 can lose the cancellation of a call's end). It awaits the :class:`Channel`'s
      methods for commands; Asterisk takes one command at a time, so commands sent from
      several tasks at once go out one after the other, and a command the flow gave up on
      (its own timeout) still has its reply read and dropped before the next is sent.
    - **Returning ends the call's AGI:** the socket is closed and the dialplan continues
      after ``AGI()`` with ``AGISTATUS=SUCCESS`` (the channel variables it set apply).
    - **An exception ends it with FAILURE:** the server writes ``FAILURE`` so the dialplan's
      fallback takes the call (``AGISTATUS=FAILURE``) and logs the error, with a traceback
      unless it is a :class:`~hotline12345.ivr.channel.CallInputError` (bad call facts).
      So do a command without a reply within the command timeout
      (:class:`~hotline12345.ivr.channel.AgiTimeout`), the session budget running out
      (the Task is cancelled) and a shutdown past its grace period.
    - **Hangup:** once the caller has hung up, media commands raise
      :class:`~hotline12345.ivr.channel.ChannelHungUp` (``GET``/``SET VARIABLE`` and
      ``VERBOSE`` still work); letting it propagate ends the session as a hangup, not a
      failure. Use ``try/finally`` for what must happen either way (recording the call).
    - A flow keeps nothing of one call for the next but what its own object holds: the
      :class:`~hotline12345.ivr.protocol.Environment` is read-only and belongs to the call.
    """

    async def __call__(self, channel: Channel) -> None: ...


class FlowRegistry:
    """Script name (``agi://host:4573/<name>?...``) -> flow handler."""

    def __init__(self) -> None:
        self._flows: dict[str, Flow] = {}

    def register(self, name: str, flow: Flow) -> None:
        if not _NAME.match(name):
            raise ValueError(f"flow name {name!r}: use lower-case letters, digits, '-' and '_' "
                             "(the script part of agi://host:4573/<name>)")
        if name in self._flows:
            raise ValueError(f"flow {name!r} is already registered; one handler per flow")
        self._flows[name] = flow

    def resolve(self, script: str | None) -> Flow | None:
        if script is None:
            return None
        return self._flows.get(script)

    def names(self) -> list[str]:
        return sorted(self._flows)

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __contains__(self, name: object) -> bool:
        return name in self._flows
