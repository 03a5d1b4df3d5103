"""The one place that decides which client address, scheme and host a request came from.

Behind a reverse proxy the TCP peer is the proxy, which tells who its client was in `X-Forwarded-For`, and
what that client asked for in `X-Forwarded-Proto` and `X-Forwarded-Host`. Anyone can send those headers, so
they are believed only from a directly connected peer in MYCPAAS_TRUSTED_PROXIES (default: nobody), and then
the ASGI scope is rewritten (`client`, `scheme`, the `host` header) before any handler runs. Everything else
reads the scope and never these headers: the failed-auth and sign-in throttles, the audit log, the access log,
Secure cookies, the dashboard's Origin check, the URLs the API builds. The HTTP server must hand the scope
over raw, without applying proxy headers of its own (uvicorn: `proxy_headers=False`).

The client is the right-most address of `X-Forwarded-For` that is not a trusted proxy: the list is walked from
the right while its entries are trusted proxies (a chain of them), and an entry that is not a bare IP address
stops the walk, keeping the last address believed; a forged left part of the list is never reached. Of
`-Proto` and `-Host` the right-most value counts (the one the connected proxy wrote), if well formed. The
RFC 7239 `Forwarded` header is not read: common proxies send the `X-Forwarded-*` trio.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address
from typing import Any

Scope = dict[str, Any]
Address = IPv4Address | IPv6Address
Network = IPv4Network | IPv6Network

_HOST = re.compile(r"(?:[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.?|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?")
_SCHEMES = {"http", "https"}


def parse_address(text: str) -> Address | None:
    """A bare IPv4 or IPv6 address (an IPv4-mapped IPv6 address as its IPv4 address), else None."""
    text = text.strip()
    # No address is longer (IPv6 with an IPv4 tail and a zone); longer text is not worth a slot in the cache.
    return _parse(text) if len(text) <= 64 else None


@lru_cache(maxsize=4096)  # clients and proxies repeat; parsing is most of this module's cost per request
def _parse(text: str) -> Address | None:
    try:
        address = ip_address(text)
    except ValueError:
        return None
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


class TrustedProxies:
    def __init__(self, networks: Iterable[Network]) -> None:
        self.networks = tuple(networks)
        self.trusts = lru_cache(maxsize=4096)(self._trusts)

    def _trusts(self, address: Address) -> bool:
        return any(address in network for network in self.networks)

    def client_of(self, peer: Address, forwarded_for: str) -> Address:
        """The client behind a trusted `peer`, from its X-Forwarded-For list (all its headers joined)."""
        client = peer
        for entry in reversed(forwarded_for.split(",")):
            address = parse_address(entry)
            if address is None:
                break  # never believe what follows garbage
            client = address
            if not self.trusts(address):
                break
        return client

    def resolve(self, scope: Scope) -> Scope:
        """The scope as the client made the request: a new scope when a trusted proxy said so, else this one."""
        if not self.networks:
            return scope
        peer = parse_address(str((scope.get("client") or ("",))[0]))
        if peer is None or not self.trusts(peer):
            return scope
        forwarded: dict[bytes, list[str]] = {}
        for name, value in scope["headers"]:
            if name in (b"x-forwarded-for", b"x-forwarded-proto", b"x-forwarded-host"):
                forwarded.setdefault(name, []).append(value.decode("latin-1"))
        if not forwarded:
            return scope
        scope = dict(scope)
        if b"x-forwarded-for" in forwarded:
            client = self.client_of(peer, ",".join(forwarded[b"x-forwarded-for"]))
            if client != peer:
                scope["client"] = (str(client), 0)
        proto = _last(forwarded.get(b"x-forwarded-proto")).lower()
        if proto in _SCHEMES:
            scope["scheme"] = proto
        host = _last(forwarded.get(b"x-forwarded-host"))
        if _HOST.fullmatch(host):
            headers = [(name, value) for name, value in scope["headers"] if name != b"host"]
            scope["headers"] = [(b"host", host.encode("latin-1")), *headers]
        return scope


def _last(values: list[str] | None) -> str:
    return ",".join(values or []).rpartition(",")[2].strip()
