"""Which network addresses a feed may send to (SSRF): a webhook URL that resolves to the
centre's own machine or network is refused unless the site file allows it.

:func:`address_refusal` says why an address may not be a target (loopback, link-local,
private, multicast, unspecified, reserved or otherwise not globally routable), or ``None``.
An IPv4 address written as IPv6 (``::ffff:127.0.0.1``, NAT64 ``64:ff9b::7f00:1``) is judged
as the IPv4 address it carries. :func:`url_refusal` checks what can be known of a URL
without asking DNS (the scheme, credentials in it, a literal address, ``localhost``);
the sender resolves names at delivery time and checks every address it would connect to
(:mod:`hotline12345.sharing.targets`).
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

__all__ = ["address_refusal", "url_refusal"]

_NAT64 = ipaddress.ip_network("64:ff9b::/96")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def _unwrapped(address: IPAddress) -> IPAddress:
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address in _NAT64:
            return ipaddress.IPv4Address(int(address) & 0xFFFF_FFFF)
    return address


def address_refusal(address: str | IPAddress) -> str | None:
    """Why ``address`` may not be a feed's target, or ``None`` when it is a public address.
    A text that is no IP address is refused too."""
    try:
        ip = _unwrapped(ipaddress.ip_address(address) if isinstance(address, str) else address)
    except ValueError:
        return f"{address!r} is not an IP address"
    checks = (("loopback", ip.is_loopback), ("unspecified", ip.is_unspecified),
              ("link-local", ip.is_link_local), ("multicast", ip.is_multicast),
              ("reserved", ip.is_reserved), ("private", ip.is_private),
              ("not globally routable", not ip.is_global))
    for what, hit in checks:
        if hit:
            return f"{ip} is a {what} address"
    return None


def url_refusal(url: str, *, allow_private: bool) -> str | None:
    """Why ``url`` cannot be a webhook target, judged without DNS, or ``None``."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        return f"{url!r} is not a URL ({exc})"
    if parts.scheme not in ("http", "https"):
        return f"{url!r}: the scheme must be https (or http), e.g. https://example.gov.cn/hook"
    host = parts.hostname
    if not host:
        return f"{url!r} has no host name"
    if parts.username is not None or parts.password is not None:
        return ("put no user name or password in the URL (it would be logged); the "
                "signature authenticates the centre")
    if port == 0:
        return f"{url!r}: port 0 cannot be connected to"
    if allow_private:
        return None
    if host == "localhost" or host.endswith(".localhost"):
        return (f"{host} is this machine (loopback); set allow_private_targets: true if "
                "the receiver really is local")
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        return None  # a name: resolved and checked when delivering
    why = address_refusal(literal)
    if why is not None:
        return (f"{why}: refused as a target (SSRF); set allow_private_targets: true if the "
                "receiver is on the centre's own network")
    return None
