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
    """A call flow: drives one channel from start to end."""

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
