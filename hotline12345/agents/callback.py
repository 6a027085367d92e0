"""The 回访 call: AMI ``Originate`` rings the seat's phone first, then the caller.

=======================  ==================================================================
Channel                  the seat's interface (``PJSIP/8001``, ``Local/8001@seats/n``)
Context, Exten, Priority the rendered ``hotline12345-callback`` context, the caller's number,
                         1: once the seat answers, its channel records the call and dials
                         the caller (``centre.callback_dial``; see docs/revisits.md)
ChannelId                the callback's uniqueid, chosen here (``cb<ticket>-<time>-<random>``),
                         so it is known before the call exists; it names the recording
Variable                 ``HOTLINE_CALLBACK_TICKET`` (the ticket's id), ``HOTLINE_CALLBACK_OF``
                         (the uniqueid of the call the ticket was made from)
Async, ActionID          ``true``, and an ActionID chosen here: Asterisk answers at once
                         (``Originate successfully queued``) and sends ``OriginateResponse``
                         with that ActionID when the seat answered (``Response: Success``)
                         or could not be reached (``Failure``, with a ``Reason`` code)
=======================  ==================================================================

Results: ``connected`` (the seat answered; the caller is being dialled), ``failed`` (the
seat's phone did not answer or could not be rung, or the action was not sent: no AMI),
``rejected`` (Asterisk refused the action: its message is kept), ``unconfirmed`` (queued,
but no OriginateResponse within the seat's ring time and a margin). Every attempt is
written to the audit log (action ``callback``), the caller's number masked there and in the
logs.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any, Final

from hotline12345 import channel_variables as cv
from hotline12345.asterisk.names import CTX_CALLBACK
from hotline12345.logs import log_event, mask_number, mask_text

from .audit import AuditLog
from .client import AmiActionError, AmiError, AmiNotConnected, new_action_id
from .codec import AmiMessage
from .runtime import AgentsRuntime
from .users import User

__all__ = ["REASONS", "CallbackCall", "CallbackDialer", "CallbackRequest"]

_log = logging.getLogger("hotline12345.agents.callback")
#: A number the callback context accepts as its extension (``_[+0-9]!``).
NUMBER = re.compile(r"^\+?[0-9]{3,20}$")
INTERFACE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*/[^\s,|;]{1,120}$")
#: OriginateResponse ``Reason`` codes (Asterisk's AST_CONTROL_* values) in words.
REASONS: Final = {"0": "the seat's channel could not be created (unknown or unregistered "
                       "interface?)",
                  "1": "the seat's phone hung up", "3": "the seat's phone rang out",
                  "5": "the seat's phone was busy", "8": "the seat's phone is congested"}


@dataclass(frozen=True, slots=True)
class CallbackRequest:
    ticket_id: int
    number: str  # the caller's FULL number
    of_uniqueid: str  # the call the ticket was made from
    interface: str  # the seat's phone


@dataclass(frozen=True, slots=True)
class CallbackCall:
    result: str  # connected | failed | rejected | unconfirmed
    uniqueid: str  # the callback call's uniqueid (its recording's name)
    action_id: str
    message: str
    reason: str = ""  # OriginateResponse Reason, when it failed

    @property
    def connected(self) -> bool:
        return self.result == "connected"

    @property
    def http_status(self) -> int:
        return {"connected": 200, "rejected": 409, "unconfirmed": 202}.get(self.result, 502)

    def to_dict(self) -> dict[str, Any]:
        return {"result": self.result, "uniqueid": self.uniqueid, "action_id": self.action_id,
                "message": mask_text(self.message), "reason": self.reason}


def callback_uniqueid(ticket_id: int, now: float) -> str:
    """A fresh uniqueid for a callback of ``ticket_id``: ``cb<ticket>-<unix time>-<hex>``."""
    return f"cb{ticket_id}-{int(now)}-{secrets.token_hex(3)}"


class CallbackDialer:
    """Places 回访 calls through the runtime's AMI monitor; ``seat_ring_s``: how long the
    seat's phone rings (Originate ``Timeout``); the OriginateResponse is awaited that long
    plus ``margin_s``."""

    def __init__(self, runtime: AgentsRuntime, audit: AuditLog, *, seat_ring_s: float = 30.0,
                 margin_s: float = 10.0, clock: Any = time.time) -> None:
        self.runtime = runtime
        self.audit = audit
        self.seat_ring_s = seat_ring_s
        self.margin_s = margin_s
        self.clock = clock

    def fields(self, request: CallbackRequest, uniqueid: str) -> dict[str, str]:
        """The Originate's fields (without ActionID)."""
        return {
            "Channel": request.interface,
            "Context": CTX_CALLBACK,
            "Exten": request.number,
            "Priority": "1",
            "Timeout": str(int(self.seat_ring_s * 1000)),
            "CallerID": f'"回访 {request.ticket_id}" <{request.number}>',
            "ChannelId": uniqueid,
            "Variable": f"{cv.CALLBACK_TICKET}={request.ticket_id},"
                        f"{cv.CALLBACK_OF}={request.of_uniqueid}",
            "Async": "true",
        }

    async def place(self, user: User, request: CallbackRequest) -> CallbackCall:
        if not NUMBER.match(request.number):
            raise ValueError("the caller's number is not one the callback context dials")
        if not INTERFACE.match(request.interface):
            raise ValueError(f"{request.interface!r} is not a seat interface")
        uniqueid = callback_uniqueid(request.ticket_id, self.clock())
        action_id = new_action_id()
        monitor = self.runtime.monitor
        waiter: asyncio.Future[AmiMessage] | None = None
        reason = ""
        try:
            if monitor is None:
                raise AmiNotConnected("AMI is not configured on this instance; call back "
                                      "from a controller connected to Asterisk")

            def answers(m: AmiMessage) -> bool:
                return m.name == "OriginateResponse" and m.get("ActionID") == action_id

            waiter = monitor.expect_event(answers)
            reply = await monitor.action("Originate", action_id=action_id,
                                         **self.fields(request, uniqueid))
            message = reply.get("Message", reply.name)
            try:
                async with asyncio.timeout(self.seat_ring_s + self.margin_s):
                    response = await asyncio.shield(waiter)
            except TimeoutError:
                result = "unconfirmed"
                message = (f"{message}; but no OriginateResponse within "
                           f"{self.seat_ring_s + self.margin_s:g} s")
            else:
                if response.get("Response") == "Success":
                    result, message = "connected", "the seat answered; calling the caller"
                else:
                    reason = response.get("Reason", "")
                    result = "failed"
                    message = REASONS.get(reason, f"the seat's phone was not reached "
                                                  f"(Reason {reason or '?'})")
        except AmiActionError as exc:
            result, message = "rejected", exc.message
        except AmiError as exc:
            result, message = "failed", str(exc)
        finally:
            if waiter is not None and not waiter.done():
                waiter.cancel()
        await self.audit.record(
            user=user.name, role=user.role, action="callback", queue="",
            interface=request.interface,
            detail={"ticket": request.ticket_id, "uniqueid": uniqueid,
                    "number": mask_number(request.number), "reason": reason},
            result=result, message=message)
        log_event(_log, "agents.callback", user=user.name, ticket=request.ticket_id,
                  uniqueid=uniqueid, interface=mask_text(request.interface),
                  number=mask_number(request.number), result=result,
                  message=mask_text(message))
        return CallbackCall(result, uniqueid, action_id, message, reason)
