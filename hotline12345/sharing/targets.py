"""Delivery-time SSRF protection: a webhook goes only to public addresses, unless its
subscription has ``allow_private_targets: true``.

The receiver's name is resolved once, every address it resolves to is checked
(:func:`hotline12345.config.targets.address_refusal`), and the connection goes to those
very addresses: aiohttp connects to what its resolver returns, so a name cannot answer
a public address to the check and a private one to the connection (DNS rebinding).
A URL with a literal address is checked before the request (aiohttp skips the resolver
for it). Redirects are not followed.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from hotline12345.config.targets import address_refusal

__all__ = ["GuardedResolver", "TargetRefused", "literal_refusal"]


class TargetRefused(OSError):
    """The target resolves to an address a feed may not send to."""


def literal_refusal(url: str, *, allow_private: bool) -> str | None:
    """Why the literal address in ``url`` may not be sent to, or ``None`` (a name, or
    allowed)."""
    if allow_private:
        return None
    host = urlsplit(url).hostname or ""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return None
    why = address_refusal(host)
    return None if why is None else f"{why}: refused as a target (SSRF)"


class GuardedResolver(AbstractResolver):
    """Resolves with ``inner`` (the system's resolver by default) and refuses the whole
    name when any address it resolves to is not public."""

    def __init__(self, inner: AbstractResolver | None = None) -> None:
        self._inner = inner or DefaultResolver()

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        found = await self._inner.resolve(host, port, family)
        for result in found:
            why = address_refusal(result["host"])
            if why is not None:
                raise TargetRefused(f"{host} resolves to {result['host']}: {why}; refused "
                                    "as a target (SSRF)")
        return found

    async def close(self) -> None:
        await self._inner.close()
