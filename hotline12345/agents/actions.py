"""Supervisor actions on seats: validated, sent over AMI, confirmed by the resulting event,
and written to the audit log.

=================  =====================  =========================================
action             AMI action             confirming event
=================  =====================  =========================================
pause / unpause    ``QueuePause``         ``QueueMemberPause`` (Paused 1 / 0)
add to queue       ``QueueAdd``           ``QueueMemberAdded``
remove from queue  ``QueueRemove``        ``QueueMemberRemoved``
change penalty     ``QueuePenalty``       ``QueueMemberPenalty`` (the new penalty)
=================  =====================  =========================================

Every request body is checked field by field; a bad one raises :class:`RequestError`
naming the field and saying how to fix it.
"""

from __future__ import annotations

import asyncio
import logging
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from hotline12345.logs import log_event, mask_text

from .audit import AuditLog
from .client import AmiActionError, AmiError, AmiNotConnected
from .codec import AmiMessage
from .runtime import AgentsRuntime
from .users import User

__all__ = ["ActionOutcome", "RequestError", "SeatActions", "masked_entry"]

_log = logging.getLogger("hotline12345.agents.actions")
_INTERFACE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*/[^\s,|;]{1,120}$")
MAX_PENALTY: Final = 1000
MAX_TEXT: Final = 64


class RequestError(ValueError):
    """A bad request: ``field`` names the offending field."""

    def __init__(self, field: str, message: str, status: int = 400) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
        self.status = status

    def to_dict(self) -> dict[str, str]:
        return {"error": self.message, "field": self.field}


@dataclass(frozen=True, slots=True)
class ActionOutcome:
    result: str  # confirmed | rejected | unconfirmed | failed
    message: str
    audit: dict[str, Any]

    @property
    def http_status(self) -> int:
        return {"confirmed": 200, "rejected": 409, "unconfirmed": 202}.get(self.result, 503)

    def to_dict(self) -> dict[str, Any]:
        return {"result": self.result, "message": self.message, "audit": self.audit}


def _text(body: Mapping[str, Any], field: str, *, required: bool, max_len: int = MAX_TEXT,
          example: str = "") -> str:
    value = body.get(field)
    if value is None or value == "":
        if required:
            hint = f", e.g. {example!r}" if example else ""
            raise RequestError(field, f"'{field}' is required{hint}")
        return ""
    if not isinstance(value, str):
        raise RequestError(field, f"'{field}' must be a string, not {type(value).__name__}")
    value = value.strip()
    if len(value) > max_len:
        raise RequestError(field, f"'{field}' is {len(value)} characters; at most {max_len}")
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in value):
        raise RequestError(field, f"'{field}' must not contain control characters or line breaks")
    return value


def _bool(body: Mapping[str, Any], field: str) -> bool:
    value = body.get(field)
    if not isinstance(value, bool):
        raise RequestError(field, f"'{field}' is required and must be true or false")
    return value


def _penalty(body: Mapping[str, Any], field: str = "penalty", *, required: bool) -> int | None:
    value = body.get(field)
    if value is None:
        if required:
            raise RequestError(field, f"'{field}' is required: a whole number 0-{MAX_PENALTY}")
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_PENALTY:
        raise RequestError(field, f"'{field}' must be a whole number 0-{MAX_PENALTY}, "
                                  f"got {value!r}")
    return value


class SeatActions:
    def __init__(self, runtime: AgentsRuntime, audit: AuditLog, *,
                 confirm_timeout_s: float = 5.0) -> None:
        self.runtime = runtime
        self.audit = audit
        self.confirm_timeout_s = confirm_timeout_s

    # validation ----------------------------------------------------------------

    def _interface(self, body: Mapping[str, Any], *, known: bool) -> str:
        """The seat's interface: as Asterisk names it, or as the wallboard shows it (its
        numbers masked, ``PJSIP/139****5678``) when that names exactly one known seat."""
        iface = _text(body, "interface", required=True, max_len=128, example="PJSIP/8001")
        seats = self.runtime.state.seats
        if iface not in seats:
            shown_as = [s for s in seats if s != iface and mask_text(s) == iface]
            if len(shown_as) == 1:
                return shown_as[0]
            if shown_as:
                raise RequestError("interface", f"{len(shown_as)} seats show as {iface!r}; "
                                                "send the seat's full interface", 409)
            if "****" in iface:
                raise RequestError("interface", f"no seat shows as {iface!r}; known seats: "
                                                + _some(seats), 404)
        if not _INTERFACE.match(iface):
            raise RequestError("interface", f"{iface!r} is not a seat interface; "
                                            "use Technology/resource, e.g. 'PJSIP/8001'")
        if known and iface not in self.runtime.state.seats:
            raise RequestError("interface", f"no seat {iface!r} in any queue; "
                                            "known seats: " + _some(self.runtime.state.seats),
                               404)
        return iface

    def _queue(self, body: Mapping[str, Any], *, required: bool) -> str:
        name = _text(body, "queue", required=required, max_len=128, example="general")
        if name and name not in self.runtime.state.queues:
            raise RequestError("queue", f"unknown queue {name!r}; known queues: "
                                        + _some(self.runtime.state.queues), 404)
        return name

    def _unknown_fields(self, body: Mapping[str, Any], allowed: set[str]) -> None:
        extra = sorted(set(body) - allowed)
        if extra:
            raise RequestError(extra[0], f"unknown field {extra[0]!r}; allowed: "
                                         + ", ".join(sorted(allowed)))

    # actions -------------------------------------------------------------------

    async def pause(self, user: User, body: Mapping[str, Any]) -> ActionOutcome:
        self._unknown_fields(body, {"interface", "queue", "paused", "reason"})
        iface = self._interface(body, known=True)
        paused = _bool(body, "paused")
        reason = _text(body, "reason", required=paused, example="培训")
        queue = self._queue(body, required=False)
        if queue and queue not in self.runtime.state.seats[iface].memberships:
            raise RequestError("queue", f"seat {iface!r} is not in queue {queue!r}", 409)
        fields: dict[str, str] = {"Interface": iface, "Paused": "true" if paused else "false"}
        if queue:
            fields["Queue"] = queue
        if reason:
            fields["Reason"] = reason
        flag = "1" if paused else "0"

        def confirms(m: AmiMessage) -> bool:
            return (m.name == "QueueMemberPause" and m.get("Interface") == iface
                    and m.get("Paused") == flag and (not queue or m.get("Queue") == queue))

        return await self._run(user, "pause" if paused else "unpause", "QueuePause", fields,
                               confirms, queue, iface, {"reason": reason} if reason else {})

    async def add(self, user: User, body: Mapping[str, Any]) -> ActionOutcome:
        self._unknown_fields(body, {"interface", "queue", "member_name", "penalty", "paused",
                                    "reason"})
        iface = self._interface(body, known=False)
        queue = self._queue(body, required=True)
        name = _text(body, "member_name", required=False)
        penalty = _penalty(body, required=False)
        paused = body.get("paused", False)
        if not isinstance(paused, bool):
            raise RequestError("paused", "'paused' must be true or false")
        reason = _text(body, "reason", required=False)
        seat = self.runtime.state.seats.get(iface)
        if seat is not None and queue in seat.memberships:
            raise RequestError("interface", f"seat {iface!r} is already in queue {queue!r}", 409)
        fields: dict[str, str] = {"Queue": queue, "Interface": iface}
        if name:
            fields["MemberName"] = name
        if penalty is not None:
            fields["Penalty"] = str(penalty)
        if paused:
            fields["Paused"] = "true"
            if reason:
                fields["Reason"] = reason
        detail: dict[str, Any] = {k: v for k, v in (("member_name", name), ("penalty", penalty),
                                  ("paused", paused or None), ("reason", reason)) if v}

        def confirms(m: AmiMessage) -> bool:
            return (m.name == "QueueMemberAdded" and m.get("Interface") == iface
                    and m.get("Queue") == queue)

        return await self._run(user, "add", "QueueAdd", fields, confirms, queue, iface, detail)

    async def remove(self, user: User, body: Mapping[str, Any]) -> ActionOutcome:
        self._unknown_fields(body, {"interface", "queue"})
        iface = self._interface(body, known=False)
        queue = self._queue(body, required=True)

        def confirms(m: AmiMessage) -> bool:
            return (m.name == "QueueMemberRemoved" and m.get("Interface") == iface
                    and m.get("Queue") == queue)

        return await self._run(user, "remove", "QueueRemove",
                               {"Queue": queue, "Interface": iface}, confirms, queue, iface, {})

    async def penalty(self, user: User, body: Mapping[str, Any]) -> ActionOutcome:
        self._unknown_fields(body, {"interface", "queue", "penalty"})
        iface = self._interface(body, known=True)
        penalty = _penalty(body, required=True)
        queue = self._queue(body, required=False)
        if queue and queue not in self.runtime.state.seats[iface].memberships:
            raise RequestError("queue", f"seat {iface!r} is not in queue {queue!r}", 409)
        fields = {"Interface": iface, "Penalty": str(penalty)}
        if queue:
            fields["Queue"] = queue

        def confirms(m: AmiMessage) -> bool:
            return (m.name == "QueueMemberPenalty" and m.get("Interface") == iface
                    and m.get("Penalty") == str(penalty)
                    and (not queue or m.get("Queue") == queue))

        return await self._run(user, "penalty", "QueuePenalty", fields, confirms, queue, iface,
                               {"penalty": penalty})

    async def _run(
        self,
        user: User,
        what: str,
        ami_action: str,
        fields: dict[str, str],
        confirms: Callable[[AmiMessage], bool],
        queue: str,
        iface: str,
        detail: dict[str, Any],
    ) -> ActionOutcome:
        monitor = self.runtime.monitor
        waiter: asyncio.Future[AmiMessage] | None = None
        try:
            if monitor is None:
                raise AmiNotConnected("AMI is not configured on this instance; "
                                      "act from a controller connected to Asterisk")
            waiter = monitor.expect_event(confirms)
            reply = await monitor.action(ami_action, **fields)
            message = reply.get("Message", reply.name)
            try:
                async with asyncio.timeout(self.confirm_timeout_s):
                    await asyncio.shield(waiter)
                result = "confirmed"
            except TimeoutError:
                result = "unconfirmed"
                message = (f"{message}; but no confirming event within "
                           f"{self.confirm_timeout_s:g} s")
        except AmiActionError as exc:
            result, message = "rejected", exc.message
        except AmiError as exc:
            result, message = "failed", str(exc)
        finally:
            if waiter is not None and not waiter.done():
                waiter.cancel()
        entry = await self.audit.record(user=user.name, role=user.role, action=what, queue=queue,
                                        interface=iface, detail=detail, result=result,
                                        message=message)
        log_event(_log, "agents.action", user=user.name, action=what, queue=queue,
                  interface=mask_text(iface), result=result,
                  message=mask_text(message))
        return ActionOutcome(result, mask_text(message), masked_entry(entry))


def masked_entry(entry: dict[str, Any]) -> dict[str, Any]:
    """An audit entry as the API shows it: numbers in its interface, detail (a pause
    reason) and Asterisk's message masked. The audit table keeps them as they were."""
    out = dict(entry)
    for key in ("interface", "message"):
        if isinstance(out.get(key), str):
            out[key] = mask_text(out[key])
    detail = out.get("detail")
    if isinstance(detail, dict):
        out["detail"] = {k: mask_text(v) if isinstance(v, str) else v
                         for k, v in detail.items()}
    return out


def _some(names: Mapping[str, Any]) -> str:
    listed = sorted(mask_text(n) for n in names)
    if not listed:
        return "(none yet)"
    more = f" and {len(listed) - 10} more" if len(listed) > 10 else ""
    return ", ".join(listed[:10]) + more
