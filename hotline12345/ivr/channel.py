"""The channel a call flow talks to, independent of the transport.

Flows are written against :class:`Channel` (async). :class:`~hotline12345.ivr.server.FastAgiChannel`
implements it over a FastAGI socket; :class:`~hotline12345.ivr.classic.Pyst2Channel` over
pyst2's stdin/stdout for classic AGI. Both only implement :meth:`Channel.execute`; every
helper below, and so every flow, is shared.

Hangups surface as :class:`ChannelHungUp`: the unsolicited ``HANGUP`` line (media helpers
then raise without sending), a ``511`` reply, or ``result=-1`` from a command that waits on
the caller. ``GET/SET VARIABLE`` and
``VERBOSE`` still work on a dead channel and do not raise.
"""

from __future__ import annotations

import abc
import logging
from collections.abc import Iterator, Mapping, Sequence
from typing import NamedTuple

from hotline12345.ivr.protocol import (
    MAX_COMMAND_BYTES,
    MSET_MAX_PAIRS,
    Environment,
    Quoted,
    Reply,
    mset_pair,
)
from hotline12345.logs import log_event

_MSET_BYTES = MAX_COMMAND_BYTES - len(b'EXEC MSet ""\n')


class _Batch(NamedTuple):
    arg: str  # the MSet argument
    n: int  # pairs
    size: int  # worst-case bytes on the wire
    pairs: tuple[tuple[str, str], ...]


def _cost(pair: str) -> int:
    # Worst case after AGI quoting: every byte a backslash or a quote, doubled.
    return 2 * len(pair.encode("utf-8")) + 1


def _add_pair(batches: list[_Batch], pair: str, name: str, value: str) -> None:
    """Append an MSet ``pair`` to the last batch while it has room, else start a batch."""
    cost = _cost(pair)
    if batches and batches[-1].n < MSET_MAX_PAIRS and batches[-1].size + cost <= _MSET_BYTES:
        last = batches[-1]
        batches[-1] = _Batch(f"{last.arg},{pair}", last.n + 1, last.size + cost,
                             (*last.pairs, (name, value)))
    else:
        batches.append(_Batch(pair, 1, cost, ((name, value),)))


#: How a set of variables goes to Asterisk: MSet batches, then SET VARIABLE one by one.
MSetPlan = tuple[tuple[_Batch, ...], tuple[tuple[str, str], ...]]


def plan_mset(items: Sequence[tuple[str, str]]) -> MSetPlan:
    """MSet batches and SET VARIABLE leftovers for ``items``."""
    batches: list[_Batch] = []
    single: list[tuple[str, str]] = []
    for name, value in items:
        pair = mset_pair(name, value)
        if pair is None:
            single.append((name, value))
            continue
        _add_pair(batches, pair, name, value)
    return tuple(batches), tuple(single)


class MSetPlans:
    """:func:`plan_mset`, remembered for the sessions of one server: a decision's variables
    recur call after call. Plans are immutable, so sessions share them; bounded (emptied
    when full). Each server owns one: two servers in one process share nothing."""

    __slots__ = ("_plans", "max_entries")

    def __init__(self, max_entries: int = 1024) -> None:
        self.max_entries = max_entries
        self._plans: dict[tuple[tuple[str, str], ...], MSetPlan] = {}

    def __len__(self) -> int:
        return len(self._plans)

    def __contains__(self, items: object) -> bool:
        return items in self._plans

    def __iter__(self) -> Iterator[tuple[tuple[str, str], ...]]:
        """The variable sets planned so far."""
        return iter(list(self._plans))

    def plan(self, items: tuple[tuple[str, str], ...]) -> MSetPlan:
        plan = self._plans.get(items)
        if plan is None:
            plan = plan_mset(items)
            if len(self._plans) >= self.max_entries:
                self._plans.clear()
            self._plans[items] = plan
        return plan


log = logging.getLogger(__name__)


class AgiError(Exception):
    """Base class of the channel errors."""


class CallInputError(ValueError):
    """The call's facts from Asterisk (its AGI environment) cannot drive the flow: an input
    error, not a fault of the controller. The server logs it as one WARNING line without a
    traceback and ends the session with FAILURE, so the dialplan's fallback takes the call."""


class ChannelHungUp(AgiError):
    """The caller hung up. Not an error of ours: the session ends without FAILURE."""


class CommandFailed(AgiError):
    """Asterisk rejected a command (510 unknown, 520 usage, or an unexpected reply)."""

    def __init__(self, command: str, reply: Reply) -> None:
        self.command = command
        self.reply = reply
        first = reply.text.split("\n", 1)[0]
        super().__init__(f"{command}: Asterisk answered {first!r}")


class AgiTimeout(AgiError):
    """Asterisk did not answer a command in time."""


class ConnectionLost(AgiError):
    """The connection to Asterisk closed or broke while a reply was awaited."""


class Channel(abc.ABC):
    """One call's AGI channel. Subclasses implement :meth:`execute`."""

    __slots__ = ("__weakref__", "env", "hung_up", "mset_plans", "use_mset")

    def __init__(self, env: Environment, mset_plans: MSetPlans | None = None) -> None:
        """``mset_plans``: the plan cache of the server this call belongs to (a new one if
        not given)."""
        self.env = env
        self.hung_up = False
        self.mset_plans = MSetPlans() if mset_plans is None else mset_plans
        #: Set variables in batches through ``EXEC MSet``; turned off for the channel when
        #: Asterisk answers ``-2`` (application not found).
        self.use_mset = True

    @abc.abstractmethod
    async def execute(self, verb: str, *args: str | int) -> Reply:
        """Send one command and return its reply (any code). Raises :class:`AgiTimeout`,
        :class:`ConnectionLost`."""

    # -- helpers shared by every transport ---------------------------------------------

    def _alive(self, what: str) -> None:
        # After Asterisk's HANGUP line, a media command can only get 511: do not send it.
        if self.hung_up:
            raise ChannelHungUp(f"{what}: the caller has hung up")

    def _media(self, what: str, reply: Reply) -> Reply:
        if reply.code == 511:
            self.hung_up = True
            raise ChannelHungUp(f"{what}: channel is dead (511)")
        if reply.code != 200:
            raise CommandFailed(what, reply)
        return reply

    def _plain(self, what: str, reply: Reply) -> Reply:
        if reply.code != 200:
            raise CommandFailed(what, reply)
        return reply

    async def answer(self) -> None:
        self._alive("ANSWER")
        r = self._media("ANSWER", await self.execute("ANSWER"))
        if r.result == -1:
            self.hung_up = True
            raise ChannelHungUp("ANSWER: result=-1")

    async def stream_file(self, sound: str, escape_digits: str = "") -> str:
        """Play ``sound``; return the escape digit pressed, or ``""``.

        ``result=-1 endpos=0`` is what Asterisk answers for a sound file it cannot open; that
        is logged and the flow goes on (a missing prompt must not lose the call). Any other
        ``-1`` is a hangup.
        """
        self._alive(f"STREAM FILE {sound}")
        r = self._media(f"STREAM FILE {sound}",
                        await self.execute("STREAM FILE", sound, Quoted(escape_digits)))
        if r.result == -1:
            if r.endpos == 0 and not self.hung_up:
                log_event(log, "ivr.prompt_unplayable", logging.WARNING, sound=sound,
                          uniqueid=self.env.uniqueid)
                return ""
            self.hung_up = True
            raise ChannelHungUp(f"STREAM FILE {sound}: result=-1")
        return chr(r.result) if r.result and r.result > 0 else ""

    async def get_data(self, prompt: str, timeout_ms: int, max_digits: int) -> str:
        """Play ``prompt`` and read up to ``max_digits`` DTMF digits; ``""`` for none."""
        self._alive(f"GET DATA {prompt}")
        r = self._media(f"GET DATA {prompt}",
                        await self.execute("GET DATA", prompt, timeout_ms, max_digits))
        if r.result == -1:
            self.hung_up = True
            raise ChannelHungUp(f"GET DATA {prompt}: result=-1")
        return r.result_text

    async def wait_for_digit(self, timeout_ms: int) -> str:
        """One DTMF digit, or ``""`` on timeout."""
        self._alive("WAIT FOR DIGIT")
        r = self._media("WAIT FOR DIGIT", await self.execute("WAIT FOR DIGIT", timeout_ms))
        if r.result == -1:
            self.hung_up = True
            raise ChannelHungUp("WAIT FOR DIGIT: result=-1")
        return chr(r.result) if r.result and r.result > 0 else ""

    async def set_variable(self, name: str, value: str) -> None:
        """Set a channel variable (works on a dead channel too)."""
        r = await self.execute("SET VARIABLE", name, Quoted(value))
        self._plain(f"SET VARIABLE {name}", r)

    async def set_variables(self, variables: Mapping[str, str],
                            per_call: Mapping[str, str] | None = None) -> None:
        """Set several channel variables (works on a dead channel too).

        AGI has no multi-variable command and Asterisk reads one command at a time (no
        pipelining: its ``fgets`` buffer would hide the rest from ``poll``), so each
        ``SET VARIABLE`` costs a round trip. ``EXEC MSet`` sets up to
        :data:`~hotline12345.ivr.protocol.MSET_MAX_PAIRS` in one; values it cannot carry
        safely (``$``, control characters) and single variables use ``SET VARIABLE``.

        ``variables`` that recur from call to call (a decision's) are batched once and the
        batches reused; ``per_call`` ones (e.g. the recording name) are added each time.
        """
        batches: list[_Batch] = []
        single: list[tuple[str, str]] = []
        if self.use_mset:
            planned_batches, planned_single = self.mset_plans.plan(tuple(variables.items()))
            batches.extend(planned_batches)
            single.extend(planned_single)
        else:
            single.extend(variables.items())
        if per_call:
            for name, value in per_call.items():
                pair = mset_pair(name, value) if self.use_mset else None
                if pair is None:
                    single.append((name, value))
                    continue
                _add_pair(batches, pair, name, value)
        for batch in batches:
            if batch.n == 1 or not self.use_mset:
                single.extend(batch.pairs)
                continue
            r = self._plain("EXEC MSet", await self.execute("EXEC", "MSet", batch.arg))
            if r.result == -2:
                self.use_mset = False
                log_event(log, "ivr.mset_unavailable", logging.WARNING,
                          uniqueid=self.env.uniqueid, hint="falling back to SET VARIABLE")
                single.extend(batch.pairs)
            elif r.result != 0:
                raise CommandFailed("EXEC MSet", r)
        for name, value in single:
            await self.set_variable(name, value)

    async def get_variable(self, name: str) -> str | None:
        """A channel variable's value, ``None`` if it is not set."""
        r = self._plain(f"GET VARIABLE {name}", await self.execute("GET VARIABLE", name))
        return r.data if r.result == 1 else None

    async def verbose(self, message: str, level: int = 1) -> None:
        self._plain("VERBOSE", await self.execute("VERBOSE", Quoted(message), level))
