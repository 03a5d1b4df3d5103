"""Where webhooks may connect: a resolver that refuses non-public answers, and the same rule for IP literals.
The connector connects only to addresses the resolver checked, so DNS cannot swap one in between.

In production the platform refuses private, loopback, link-local, multicast and reserved destinations (a
customer's URL must not become a way into the operator's network); in development they are allowed so that
a receiver on localhost works.
"""

from __future__ import annotations

import ipaddress
import socket

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver

REFUSED_MARKER = "mycpaas: destination refused"


# The NAT64 well-known prefix (RFC 6052): 64:ff9b::a.b.c.d reaches the IPv4 address a.b.c.d.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def is_public(address: str) -> bool:
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        # An IPv6 address that carries an IPv4 destination is judged by that destination.
        if ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        elif ip.sixtofour is not None:
            ip = ip.sixtofour
        elif ip in _NAT64:
            ip = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.is_multicast or ip.is_reserved or (isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local):
        return False  # ipaddress's is_global counts reserved (::/8) and site-local (fec0::/10) as global
    return ip.is_global


class DestinationRefused(OSError):
    """The webhook URL leads to an address this platform may not call."""


def refuse(host: str) -> DestinationRefused:
    return DestinationRefused(f"{REFUSED_MARKER}: {host} resolves to a non-public address")


def is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return False
    return True


class GuardedResolver(AbstractResolver):
    """Resolves with the system resolver and refuses the whole answer if any address is not public. The
    connector connects only to the addresses returned here (and caches them), so what was checked is what is
    used. IP literals never reach a resolver: the client checks those itself."""

    def __init__(self, refuse_private: bool) -> None:
        self.refuse_private = refuse_private
        self._inner: ThreadedResolver | None = None  # bound to the running loop, so made on first use

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        if self._inner is None:
            self._inner = ThreadedResolver()
        found = await self._inner.resolve(host, port, family)
        if self.refuse_private and not all(is_public(entry["host"]) for entry in found):
            raise refuse(host)
        return found

    async def close(self) -> None:
        if self._inner is not None:
            await self._inner.close()
