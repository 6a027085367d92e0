"""A fake Asterisk AMI peer over real TCP, following Asterisk 22's wire format exactly.

Formats are those of ../shared/asterisk-22-captures/ami-queue-call.raw: the greeting
``Asterisk Call Manager/11.0.0\\r\\n`` with no blank line after it, CRLF framing, replies
such as ``Message: Added interface to queue`` before the event they cause, member events
with every field in Asterisk's order, ``QueueStatus`` as ``QueueParams``/``QueueMember``/
``QueueEntry``/``QueueStatusComplete`` (field order from app_queue.c).

It keeps a small queue model so that actions and resyncs answer consistently, and it can
misbehave on purpose: ignore pings (a half-open connection) or answer them with an error,
dribble its bytes, delay replies, drop connections, send arbitrary bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from typing import Any

GREETING = b"Asterisk Call Manager/11.0.0\r\n"
TRUE_WORDS = {"yes", "true", "y", "t", "1", "on"}


def frame(*pairs: tuple[str, str | int]) -> bytes:
    return ("".join(f"{k}: {v}\r\n" for k, v in pairs) + "\r\n").encode("utf-8")


@dataclass
class FakeMember:
    interface: str
    name: str
    penalty: int = 0
    paused: bool = False
    reason: str = ""
    membership: str = "dynamic"
    status: int = 1
    in_call: bool = False
    calls_taken: int = 0
    last_pause: int = 0
    login_time: int = 1795849879
    wrapup: int = 0


@dataclass
class FakeCaller:
    uniqueid: str
    channel: str
    number: str
    name: str
    joined: float
    wait: int | None = None  # fixed QueueEntry Wait, else from the real clock


@dataclass
class FakeQueue:
    name: str
    members: dict[str, FakeMember] = field(default_factory=dict)
    callers: list[FakeCaller] = field(default_factory=list)


class _Conn:
    def __init__(self, writer: asyncio.StreamWriter, peer: FakeAmi) -> None:
        self.writer = writer
        self.peer = peer
        self.logged_in = False
        self.out: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.unsent = 0  # sends not yet written to the socket and drained
        self.task = asyncio.get_running_loop().create_task(self._writer_loop())

    async def _writer_loop(self) -> None:
        try:
            while True:
                data = await self.out.get()
                if data is None:
                    break
                step, delay = self.peer.drip_bytes, self.peer.drip_delay
                if step:
                    for i in range(0, len(data), step):
                        self.writer.write(data[i : i + step])
                        await self.writer.drain()
                        await asyncio.sleep(delay)
                else:
                    self.writer.write(data)
                    await self.writer.drain()
                self.unsent -= 1
        except (ConnectionError, OSError):
            pass
        finally:
            self.writer.close()

    def send(self, data: bytes) -> None:
        self.unsent += 1
        self.out.put_nowait(data)

    def close(self) -> None:
        self.out.put_nowait(None)


class FakeAmi:
    """``async with FakeAmi() as ami:`` listens on 127.0.0.1:<ami.port>."""

    def __init__(self, username: str = "hotline", secret: str = "s3cret") -> None:
        self.username = username
        self.secret = secret
        self.queues: dict[str, FakeQueue] = {}
        self.actions: list[dict[str, str]] = []
        self.connections = 0
        self.logins = 0
        self.answer_pings = True
        self.ping_error = ""  # non-empty: answer Ping with ``Response: Error`` and this message
        self.drip_bytes = 0
        self.drip_delay = 0.0
        self.reply_delay: dict[str, float] = {}
        self.emit_member_events = True
        # Originate: "success" (the seat answered), "failure" (with originate_reason), or
        # "silent" (queued, never an OriginateResponse); "error" refuses the action itself.
        self.originate_result = "success"
        self.originate_reason = 3  # AST_CONTROL_RINGING: rang out (when "failure")
        self.originate_delay = 0.0  # seconds between the reply and the OriginateResponse
        self.originates: list[dict[str, str]] = []
        self._conns: list[_Conn] = []
        self._server: asyncio.Server | None = None
        self.port = 0
        self._tasks: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> FakeAmi:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        self.drop_all()
        for t in list(self._tasks):
            t.cancel()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._server.wait_closed(), 2)

    # model helpers ----------------------------------------------------------

    def add_queue(self, name: str) -> FakeQueue:
        return self.queues.setdefault(name, FakeQueue(name))

    def add_member(self, queue: str, member: FakeMember) -> None:
        self.add_queue(queue).members[member.interface] = member

    @property
    def live(self) -> list[_Conn]:
        return [c for c in self._conns if c.logged_in]

    def broadcast(self, data: bytes) -> None:
        for c in self.live:
            c.send(data)

    def sent_everything(self) -> bool:
        """Every frame sent so far is in the kernel's hands (written and drained)."""
        return all(c.unsent == 0 for c in self._conns)

    def drop_all(self) -> None:
        for c in self._conns:
            c.close()
        self._conns.clear()

    # events, formatted like the capture ------------------------------------------

    @staticmethod
    def member_event(event: str, queue: str, m: FakeMember) -> bytes:
        return frame(
            ("Event", event), ("Privilege", "agent,all"), ("Queue", queue),
            ("MemberName", m.name), ("Interface", m.interface), ("StateInterface", m.interface),
            ("Membership", m.membership), ("Penalty", m.penalty), ("CallsTaken", m.calls_taken),
            ("LastCall", 0), ("LastPause", m.last_pause), ("LoginTime", m.login_time),
            ("InCall", int(m.in_call)), ("Status", m.status), ("Paused", int(m.paused)),
            ("PausedReason", m.reason), ("Ringinuse", 1), ("Wrapuptime", m.wrapup),
        )

    @staticmethod
    def channel_fields(c: FakeCaller) -> list[tuple[str, str | int]]:
        return [
            ("Channel", c.channel), ("ChannelState", 6), ("ChannelStateDesc", "Up"),
            ("CallerIDNum", c.number), ("CallerIDName", c.name),
            ("ConnectedLineNum", c.number), ("ConnectedLineName", c.name),
            ("Language", "en"), ("AccountCode", ""), ("Context", "queuetest"), ("Exten", "s"),
            ("Priority", 3), ("Uniqueid", c.uniqueid), ("Linkedid", c.uniqueid),
        ]

    def caller_join(self, queue: str, caller: FakeCaller, *, emit: bool = True) -> bytes:
        q = self.add_queue(queue)
        q.callers.append(caller)
        data = frame(("Event", "QueueCallerJoin"), ("Privilege", "agent,all"),
                     *self.channel_fields(caller), ("Queue", queue),
                     ("Position", len(q.callers)), ("Count", len(q.callers)))
        if emit:
            self.broadcast(data)
        return data

    def caller_abandon(self, queue: str, uniqueid: str) -> bytes:
        q = self.queues[queue]
        caller = next(c for c in q.callers if c.uniqueid == uniqueid)
        pos = q.callers.index(caller) + 1
        q.callers.remove(caller)
        data = frame(("Event", "QueueCallerAbandon"), ("Privilege", "agent,all"),
                     *self.channel_fields(caller), ("Queue", queue), ("Position", pos),
                     ("OriginalPosition", pos), ("HoldTime", int(time.time() - caller.joined)))
        data += frame(("Event", "QueueCallerLeave"), ("Privilege", "agent,all"),
                      *self.channel_fields(caller), ("Queue", queue), ("Position", pos),
                      ("Count", len(q.callers)))
        self.broadcast(data)
        return data

    def queue_status(self, action_id: str, queue: str = "") -> bytes:
        out = frame(("Response", "Success"), ("ActionID", action_id), ("EventList", "start"),
                    ("Message", "Queue status will follow"))
        items = 0
        for q in self.queues.values():
            if queue and q.name != queue:
                continue
            items += 1
            out += frame(("Event", "QueueParams"), ("Queue", q.name), ("Max", 0),
                         ("Strategy", "rrmemory"), ("Calls", len(q.callers)), ("Holdtime", 0),
                         ("TalkTime", 0), ("Completed", 0), ("Abandoned", 0),
                         ("ServiceLevel", 0), ("ServicelevelPerf", "0.0"),
                         ("ServicelevelPerf2", "0.0"), ("Weight", 0), ("ActionID", action_id))
            for m in q.members.values():
                items += 1
                out += frame(("Event", "QueueMember"), ("Queue", q.name), ("Name", m.name),
                             ("Location", m.interface), ("StateInterface", m.interface),
                             ("Membership", m.membership), ("Penalty", m.penalty),
                             ("CallsTaken", m.calls_taken), ("LastCall", 0),
                             ("LastPause", m.last_pause), ("LoginTime", m.login_time),
                             ("InCall", int(m.in_call)), ("Status", m.status),
                             ("Paused", int(m.paused)), ("PausedReason", m.reason),
                             ("Wrapuptime", m.wrapup), ("ActionID", action_id))
            for pos, c in enumerate(q.callers, 1):
                items += 1
                out += frame(("Event", "QueueEntry"), ("Queue", q.name), ("Position", pos),
                             ("Channel", c.channel), ("Uniqueid", c.uniqueid),
                             ("CallerIDNum", c.number), ("CallerIDName", c.name),
                             ("ConnectedLineNum", c.number), ("ConnectedLineName", c.name),
                             ("Wait", c.wait if c.wait is not None
                              else int(time.time() - c.joined)), ("Priority", 0),
                             ("ActionID", action_id))
        out += frame(("Event", "QueueStatusComplete"), ("ActionID", action_id),
                     ("EventList", "Complete"), ("ListItems", items))
        return out

    # the connection -------------------------------------------------------------

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        conn = _Conn(writer, self)
        self._conns.append(conn)
        conn.send(GREETING)
        buf = b""
        try:
            while True:
                data = await reader.read(4096)
                if not data:
                    break
                buf += data
                while b"\r\n\r\n" in buf:
                    raw, buf = buf.split(b"\r\n\r\n", 1)
                    fields: dict[str, str] = {}
                    for line in raw.decode("utf-8").split("\r\n"):
                        k, _, v = line.partition(": ")
                        fields[k] = v
                    self.actions.append(fields)
                    task = asyncio.get_running_loop().create_task(self._answer(conn, fields))
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
        except (ConnectionError, OSError):
            pass
        finally:
            conn.close()
            if conn in self._conns:
                self._conns.remove(conn)

    async def _answer(self, conn: _Conn, f: dict[str, str]) -> None:
        action = f.get("Action", "")
        aid = f.get("ActionID", "")
        delay = self.reply_delay.get(action, 0.0)
        if delay:
            await asyncio.sleep(delay)

        def ok(message: str) -> bytes:
            return frame(("Response", "Success"), ("ActionID", aid), ("Message", message))

        def error(message: str) -> bytes:
            return frame(("Response", "Error"), ("ActionID", aid), ("Message", message))

        if action == "Login":
            if f.get("Username") == self.username and f.get("Secret") == self.secret:
                conn.logged_in = True
                self.logins += 1
                conn.send(ok("Authentication accepted") + frame(
                    ("Event", "FullyBooted"), ("Privilege", "system,all"), ("Uptime", 68),
                    ("LastReload", 68), ("Status", "Fully Booted")))
            else:
                conn.send(error("Authentication failed"))
                conn.close()
            return
        if not conn.logged_in:
            conn.send(error("Authentication Required"))
            return
        if action == "Ping":
            if self.ping_error:
                conn.send(error(self.ping_error))
            elif self.answer_pings:
                conn.send(frame(("Response", "Success"), ("ActionID", aid), ("Ping", "Pong"),
                                ("Timestamp", f"{time.time():.6f}")))
            return
        if action == "QueueStatus":
            conn.send(self.queue_status(aid, f.get("Queue", "")))
            return
        if action == "Logoff":
            conn.send(frame(("Response", "Goodbye"), ("ActionID", aid),
                            ("Message", "Thanks for all the fish.")))
            conn.close()
            return
        iface = f.get("Interface", "")
        qname = f.get("Queue", "")
        if action == "QueueAdd":
            q = self.queues.get(qname)
            if q is None:
                conn.send(error("Unable to add interface to queue: No such queue"))
            elif iface in q.members:
                conn.send(error("Unable to add interface: Already there"))
            else:
                paused = f.get("Paused", "false").lower() in TRUE_WORDS
                m = FakeMember(iface, f.get("MemberName") or iface,
                               penalty=int(f.get("Penalty") or 0), paused=paused,
                               reason=f.get("Reason", "") if paused else "")
                q.members[iface] = m
                conn.send(ok("Added interface to queue"))
                if self.emit_member_events:
                    self.broadcast(self.member_event("QueueMemberAdded", qname, m))
            return
        if action == "QueueRemove":
            q = self.queues.get(qname)
            if q is None:
                conn.send(error("Unable to remove interface from queue: No such queue"))
            elif iface not in q.members:
                conn.send(error("Unable to remove interface: Not there"))
            else:
                m = q.members.pop(iface)
                conn.send(ok("Removed interface from queue"))
                if self.emit_member_events:
                    self.broadcast(self.member_event("QueueMemberRemoved", qname, m))
            return
        if action == "QueuePause":
            paused = f.get("Paused", "").lower() in TRUE_WORDS
            hits = [(q.name, q.members[iface]) for q in self.queues.values()
                    if iface in q.members and (not qname or q.name == qname)]
            if not hits:
                conn.send(error("Interface not found"))
                return
            conn.send(ok("Interface paused successfully" if paused
                         else "Interface unpaused successfully"))
            for name, m in hits:
                m.paused = paused
                m.reason = f.get("Reason", "") if paused else ""
                m.last_pause = int(time.time()) if paused else m.last_pause
                if self.emit_member_events:
                    self.broadcast(self.member_event("QueueMemberPause", name, m))
            return
        if action == "QueuePenalty":
            hits = [(q.name, q.members[iface]) for q in self.queues.values()
                    if iface in q.members and (not qname or q.name == qname)]
            penalty = f.get("Penalty", "")
            if not hits or not penalty.isdigit():
                conn.send(error("Invalid interface, queuename or penalty"))
                return
            conn.send(ok("Interface penalty set successfully"))
            for name, m in hits:
                m.penalty = int(penalty)
                if self.emit_member_events:
                    self.broadcast(self.member_event("QueueMemberPenalty", name, m))
            return
        if action == "Originate":
            await self._originate(conn, f, ok, error)
            return
        conn.send(error("Invalid/unknown command"))

    async def _originate(self, conn: _Conn, f: dict[str, str], ok: Any, error: Any) -> None:
        """As manager.c: with ``Async: true`` the reply at once, the ``OriginateResponse``
        (field order of the capture ami-queue-call.raw) when the channel answered or failed."""
        aid = f.get("ActionID", "")
        if self.originate_result == "error" or not f.get("Channel"):
            conn.send(error("Channel not specified" if not f.get("Channel")
                            else "Originate failed"))
            return
        # decided when the action arrives, as each Originate goes its own way
        result, reason, delay = self.originate_result, self.originate_reason, \
            self.originate_delay
        self.originates.append(f)
        conn.send(ok("Originate successfully queued"))
        if result == "silent":
            return
        if delay:
            await asyncio.sleep(delay)
        success = result == "success"
        number, _, name = f.get("CallerID", "").partition(" <")
        conn.send(frame(
            ("Event", "OriginateResponse"), ("Privilege", "call,all"), ("ActionID", aid),
            ("Response", "Success" if success else "Failure"),
            ("Channel", f"{f['Channel']}-00000001" if success else f["Channel"]),
            ("Context", f.get("Context", "")), ("Exten", f.get("Exten", "")),
            ("Reason", 4 if success else reason),
            ("Uniqueid", f.get("ChannelId", "1795849890.9") if success else "<null>"),
            ("CallerIDNum", name.rstrip(">")), ("CallerIDName", number.strip('"'))))
