"""Where webhooks may connect: a network backend that resolves the host itself and connects only to the
addresses it checked, so a DNS answer cannot swap a public address for a private one between check and use.

In production the platform refuses private, loopback, link-local, multicast and reserved destinations (a
customer's URL must not become a way into the operator's network); in development they are allowed so that
a receiver on localhost works.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable

import httpcore

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


class GuardedBackend(httpcore.AsyncNetworkBackend):
    def __init__(self, refuse_private: bool) -> None:
        self.refuse_private = refuse_private
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        try:
            infos = await asyncio.wait_for(
                loop.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP), timeout
            )
        except (OSError, TimeoutError) as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {type(exc).__name__}") from None
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
        if self.refuse_private and not all(is_public(address) for address in addresses):
            raise httpcore.ConnectError(f"{REFUSED_MARKER}: {host} resolves to a non-public address")
        last: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    address, port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        raise last or httpcore.ConnectError(f"{host} has no address")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)
