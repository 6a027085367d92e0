"""A small blocking AMI client for the live tests, on the product's sans-IO codec.

A reader thread feeds :class:`hotline12345.agents.codec.AmiParser` and keeps every event of
the session in order; tests send actions and wait for events *by condition* (never for a
duration): ``ami.wait(lambda e: e.name == "QueueCallerJoin" and ..., since=mark)``.
"""

from __future__ import annotations

import contextlib
import itertools
import socket
import threading
import time
from collections.abc import Callable, Iterable

from hotline12345.agents.codec import AmiMessage, AmiParser, encode_action

__all__ = ["Ami", "AmiError", "AmiMessage", "Predicate"]

Predicate = Callable[[AmiMessage], bool]


class AmiError(AssertionError):
    """An action was refused, or a wait ran out."""


class Ami:
    def __init__(self, host: str, port: int, user: str, secret: str) -> None:
        self._login = (host, port, user, secret)
        self._cond = threading.Condition()
        self.events: list[AmiMessage] = []
        self._responses: dict[str, AmiMessage] = {}
        self._ids = itertools.count(1)
        self._connect()

    def _connect(self) -> None:
        host, port, user, secret = self._login
        self._sock = socket.create_connection((host, port), timeout=10)
        self._sock.settimeout(None)
        self._parser = AmiParser()
        self._closed = False
        self._reader = threading.Thread(target=self._read, name="live-ami", daemon=True)
        self._reader.start()
        self.action("Login", Username=user, Secret=secret, Events="on")

    def reconnect(self) -> None:
        """A new connection after Asterisk restarted; the event log goes on (marks stay)."""
        self.close()
        self._connect()

    # -- reading ----------------------------------------------------------------------
    def _read(self) -> None:
        try:
            while True:
                data = self._sock.recv(65536)
                if not data:
                    break
                messages = self._parser.feed(data)
                with self._cond:
                    for m in messages:
                        if m.kind == "response":
                            self._responses[m.action_id] = m
                        elif m.kind == "event":
                            self.events.append(m)
                    self._cond.notify_all()
        except OSError:
            pass
        finally:
            with self._cond:
                self._closed = True
                self._cond.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed

    def mark(self) -> int:
        """A position in the event log: ``wait(..., since=mark)`` looks only after it."""
        with self._cond:
            return len(self.events)

    def _wait_until(self, ready: Callable[[], object], timeout: float, what: str) -> object:
        end = time.monotonic() + timeout
        with self._cond:
            while True:
                value = ready()
                if value:
                    return value
                left = end - time.monotonic()
                if left <= 0:
                    raise AmiError(f"AMI: no {what} within {timeout:.0f} s")
                if self._closed:
                    raise AmiError(f"AMI connection closed while waiting for {what}")
                self._cond.wait(min(left, 0.5))

    def wait(self, pred: Predicate, *, since: int = 0, timeout: float = 20.0,
             what: str = "matching event") -> AmiMessage:
        """The first event at or after ``since`` that matches ``pred``."""
        pos = [since]

        def ready() -> AmiMessage | None:
            for i in range(pos[0], len(self.events)):
                if pred(self.events[i]):
                    return self.events[i]
            pos[0] = len(self.events)
            return None

        return self._wait_until(ready, timeout, what)  # type: ignore[return-value]

    def next_events(self, pos: int, timeout: float) -> tuple[list[AmiMessage], int]:
        """The events after ``pos`` (waiting up to ``timeout`` for one), and the new position."""
        with self._cond:
            if len(self.events) <= pos and not self._closed:
                self._cond.wait(timeout)
            new = self.events[pos:]
            return new, pos + len(new)

    def find(self, pred: Predicate, *, since: int = 0) -> list[AmiMessage]:
        with self._cond:
            return [e for e in self.events[since:] if pred(e)]

    # -- actions ----------------------------------------------------------------------
    def send(self, action: str, **fields: str | int | Iterable[str]) -> str:
        action_id = f"live-{next(self._ids)}"
        clean = {k: (v if isinstance(v, (str, int)) else list(v)) for k, v in fields.items()}
        self._sock.sendall(encode_action(action, action_id, clean))
        return action_id

    def action(self, action: str, *, timeout: float = 20.0, check: bool = True,
               **fields: str | int | Iterable[str]) -> AmiMessage:
        """Send an action and return its response; ``Response: Error`` raises."""
        action_id = self.send(action, **fields)
        reply = self._wait_until(lambda: self._responses.pop(action_id, None), timeout,
                                 f"reply to {action}")
        assert isinstance(reply, AmiMessage)
        if check and reply.name == "Error":
            raise AmiError(f"AMI {action} refused: {reply.get('Message')}")
        return reply

    def list_action(self, action: str, complete: str, *, timeout: float = 20.0,
                    **fields: str) -> list[AmiMessage]:
        """An action answered by a list of events ending with ``complete``."""
        mark = self.mark()
        action_id = self.send(action, **fields)
        reply = self._wait_until(lambda: self._responses.pop(action_id, None), timeout,
                                 f"reply to {action}")
        if isinstance(reply, AmiMessage) and reply.name == "Error":
            raise AmiError(f"AMI {action} refused: {reply.get('Message')}")
        done = self.wait(lambda e: e.name == complete and e.action_id == action_id,
                         since=mark, timeout=timeout, what=complete)
        return [e for e in self.find(lambda e: e.action_id == action_id, since=mark)
                if e is not done]

    def command(self, command: str, timeout: float = 20.0) -> str:
        """A CLI command over AMI (``Action: Command``); its output as text."""
        reply = self.action("Command", Command=command, timeout=timeout)
        lines = [v for k, v in (reply.pairs or reply.headers.items()) if k == "Output"]
        return "\n".join(lines) if lines else "\n".join(reply.body)

    def getvar(self, channel: str, variable: str) -> str:
        reply = self.action("Getvar", Channel=channel, Variable=variable, check=False)
        return reply.get("Value")

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.send("Logoff")
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()
        self._reader.join(5)
