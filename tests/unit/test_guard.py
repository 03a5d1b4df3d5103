"""Webhook destinations: in production a customer's URL must not reach the operator's own network."""

from __future__ import annotations

import asyncio

import pytest

from mycpaas.webhooks.guard import (
    REFUSED_MARKER,
    DestinationRefused,
    GuardedResolver,
    is_ip_literal,
    is_public,
)

NON_PUBLIC = [
    "127.0.0.1",
    "127.255.255.254",
    "::1",
    "10.0.0.1",
    "172.16.5.4",
    "192.168.1.1",
    "169.254.169.254",  # cloud metadata
    "fe80::1",
    "fe80::1%eth0",
    "100.64.0.1",  # CGNAT
    "224.0.0.1",
    "ff02::1",
    "0.0.0.0",
    "::",
    "255.255.255.255",
    "240.0.0.1",
    "fc00::1",
    "fd12:3456::1",
    "fec0::1",  # deprecated site-local
    "::ffff:10.0.0.1",
    "::ffff:127.0.0.1",
    "::ffff:169.254.169.254",
    "::127.0.0.1",  # IPv4-compatible (reserved ::/96)
    "2002:a00:1::1",  # 6to4 of 10.0.0.1
    "2002:7f00:1::",  # 6to4 of 127.0.0.1
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
    "64:ff9b::10.1.2.3",  # NAT64 of 10.1.2.3
    "64:ff9b:1::a00:1",  # local-use NAT64 prefix
]
PUBLIC = [
    "8.8.8.8",
    "1.1.1.1",
    "2606:4700:4700::1111",
    "::ffff:8.8.8.8",
    "2002:808:808::1",
    "64:ff9b::8.8.8.8",
]


@pytest.mark.parametrize("address", NON_PUBLIC)
def test_non_public_addresses(address: str) -> None:
    """Loopback, private, link-local, CGNAT, multicast, reserved and IPv6 wrappings of them are refused."""
    assert not is_public(address)


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses(address: str) -> None:
    """Real internet destinations, including NAT64/6to4 of public IPv4 (IPv6-only hosts), are allowed."""
    assert is_public(address)


@pytest.mark.parametrize("refuse_private", [True, False])
def test_the_resolver_refuses_names_of_private_addresses_only_when_told(refuse_private: bool) -> None:
    """`localhost` resolves to loopback: refused in production, allowed in development."""
    resolver = GuardedResolver(refuse_private)

    async def resolve() -> list[str]:
        try:
            return [entry["host"] for entry in await resolver.resolve("localhost", 80)]
        finally:
            await resolver.close()

    if refuse_private:
        with pytest.raises(DestinationRefused, match=REFUSED_MARKER):
            asyncio.run(resolve())
    else:
        assert "127.0.0.1" in asyncio.run(resolve())


@pytest.mark.parametrize(("host", "literal"), [("127.0.0.1", True), ("[::1]", True), ("example.com", False)])
def test_ip_literals_are_recognised(host: str, literal: bool) -> None:
    """IP literals skip the resolver, so the client checks them itself."""
    assert is_ip_literal(host) is literal
