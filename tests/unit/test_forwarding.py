"""MYCPAAS_TRUSTED_PROXIES parsed at start-up, and forwarding.py's decision of whom to believe.

The end-to-end behaviour (throttles, audit log, cookies, Origin check over a real server) is in
tests/integration/test_trusted_proxies.py; here the parsing and the header walk, case by case.
"""

from __future__ import annotations

from ipaddress import ip_network
from pathlib import Path
from typing import Any

import pytest

from mycpaas.forwarding import TrustedProxies, parse_address
from mycpaas.settings import Settings

SRC = Path(__file__).resolve().parents[2] / "src" / "mycpaas"


# --- the setting ------------------------------------------------------------------------------------------


def test_no_proxy_is_trusted_by_default() -> None:
    assert Settings().trusted_proxy_networks == ()
    assert Settings.from_env({"MYCPAAS_DATA_DIR": "/nonexistent"}).trusted_proxy_networks == ()


def test_addresses_and_networks_of_both_families() -> None:
    settings = Settings.from_env(
        {
            "MYCPAAS_DATA_DIR": "/nonexistent",
            "MYCPAAS_TRUSTED_PROXIES": " 127.0.0.1,10.0.0.0/8, ::1 ,fd00::/8,",
        }
    )
    assert settings.trusted_proxy_networks == (
        ip_network("127.0.0.1/32"),
        ip_network("10.0.0.0/8"),
        ip_network("::1/128"),
        ip_network("fd00::/8"),
    )


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ("localhost", "'localhost' is not an IP address or network"),
        ("10.0.0.1/8", "write the network as 10.0.0.0/8"),
        ("10.0.0.0/33", "'10.0.0.0/33'"),
        ("fd00::/8, 2001:db8::g", "'2001:db8::g'"),
        ("*", "'*'"),
        ("10.0.0.1 10.0.0.2", "'10.0.0.1 10.0.0.2'"),
    ],
)
def test_a_malformed_entry_stops_the_start_naming_it(raw: str, says: str) -> None:
    with pytest.raises(ValueError, match="MYCPAAS_TRUSTED_PROXIES") as info:
        Settings.from_env({"MYCPAAS_DATA_DIR": "/nonexistent", "MYCPAAS_TRUSTED_PROXIES": raw})
    assert says in str(info.value)


def test_addresses_parse_bare_only_and_unmap_ipv4() -> None:
    assert str(parse_address(" 203.0.113.9 ")) == "203.0.113.9"
    assert str(parse_address("2001:DB8::1")) == "2001:db8::1"  # one spelling per address: one throttle key
    assert str(parse_address("::ffff:10.1.2.3")) == "10.1.2.3"
    for garbage in (
        "",
        "unknown",
        "203.0.113.9:4711",
        "[2001:db8::1]",
        "203.0.113",
        "_hidden",
        "1.2.3.4.5",
        "1" * 100,
    ):
        assert parse_address(garbage) is None, garbage


# --- the decision -------------------------------------------------------------------------------------------


def scope(peer: str | None, *headers: tuple[str, str], scheme: str = "http") -> dict[str, Any]:
    return {
        "type": "http",
        "scheme": scheme,
        "client": (peer, 50000) if peer else None,
        "headers": [(b"host", b"127.0.0.1:8080")] + [(k.encode(), v.encode()) for k, v in headers],
    }


def host_of(resolved: dict[str, Any]) -> str:
    hosts = [v.decode() for k, v in resolved["headers"] if k == b"host"]
    assert len(hosts) == 1, hosts
    return hosts[0]


PROXIES = TrustedProxies([ip_network("127.0.0.1/32"), ip_network("10.0.0.0/8"), ip_network("fd00::/8")])


@pytest.mark.parametrize(
    ("forwarded_for", "client"),
    [
        ("203.0.113.9", "203.0.113.9"),
        ("198.51.100.1, 203.0.113.9", "203.0.113.9"),  # the left part may be the client's forgery
        ("198.51.100.1, 203.0.113.9, 10.0.0.7", "203.0.113.9"),  # a chain of trusted proxies is skipped
        ("10.0.0.8, 10.0.0.7", "10.0.0.8"),  # all trusted: the farthest one
        ("2001:db8::9", "2001:db8::9"),
        ("2001:db8::9, fd00::1", "2001:db8::9"),
        ("garbage", "127.0.0.1"),
        ("", "127.0.0.1"),
        ("203.0.113.9:4711", "127.0.0.1"),
        ("203.0.113.9, garbage", "127.0.0.1"),  # nothing left of garbage is believed
        ("198.51.100.1, garbage, 10.0.0.7", "10.0.0.7"),
        ("203.0.113.9,", "127.0.0.1"),
    ],
)
def test_the_client_is_the_right_most_untrusted_address(forwarded_for: str, client: str) -> None:
    resolved = PROXIES.resolve(scope("127.0.0.1", ("x-forwarded-for", forwarded_for)))
    assert resolved["client"][0] == client


def test_several_forwarded_for_headers_are_one_list_in_order() -> None:
    resolved = PROXIES.resolve(
        scope("127.0.0.1", ("x-forwarded-for", "198.51.100.1"), ("x-forwarded-for", "203.0.113.9, 10.0.0.7"))
    )
    assert resolved["client"] == ("203.0.113.9", 0)


def test_nothing_is_believed_from_an_untrusted_peer() -> None:
    forged = scope(
        "198.51.100.20",
        ("x-forwarded-for", "203.0.113.9"),
        ("x-forwarded-proto", "https"),
        ("x-forwarded-host", "proxy.example"),
    )
    assert PROXIES.resolve(forged) is forged
    assert TrustedProxies([]).resolve(scope("127.0.0.1", ("x-forwarded-for", "203.0.113.9")))["client"] == (
        "127.0.0.1",
        50000,
    )
    unix_socket = scope(None, ("x-forwarded-for", "203.0.113.9"))
    assert PROXIES.resolve(unix_socket) is unix_socket


def test_an_ipv4_peer_on_a_dual_stack_listener_is_matched_as_ipv4() -> None:
    resolved = PROXIES.resolve(scope("::ffff:10.0.0.3", ("x-forwarded-for", "203.0.113.9")))
    assert resolved["client"] == ("203.0.113.9", 0)


def test_proto_and_host_from_a_trusted_peer_the_right_most_well_formed_value() -> None:
    resolved = PROXIES.resolve(
        scope("10.1.1.1", ("x-forwarded-proto", "HTTPS"), ("x-forwarded-host", "sms.example.com:8443"))
    )
    assert resolved["scheme"] == "https" and host_of(resolved) == "sms.example.com:8443"
    assert resolved["client"] == ("10.1.1.1", 50000)  # no X-Forwarded-For: the peer stays
    appended = PROXIES.resolve(
        scope(
            "10.1.1.1", ("x-forwarded-proto", "https, http"), ("x-forwarded-host", "evil.example, [fd00::1]")
        )
    )
    assert appended["scheme"] == "http" and host_of(appended) == "[fd00::1]"
    for proto, host in [
        ("ftp", "a b"),
        ("javascript", "x.example/path"),
        ("", "user@x.example"),
        ("https ,", ""),
    ]:
        resolved = PROXIES.resolve(
            scope("10.1.1.1", ("x-forwarded-proto", proto), ("x-forwarded-host", host), scheme="http")
        )
        assert resolved["scheme"] == "http" and host_of(resolved) == "127.0.0.1:8080", (proto, host)


def test_only_forwarding_reads_the_forwarded_headers() -> None:
    """One place decides: any other module reading X-Forwarded-* or Forwarded would believe anyone."""
    readers = [
        path.relative_to(SRC).as_posix()
        for path in SRC.rglob("*.py")
        if path.name != "forwarding.py"
        and any(name in path.read_text().lower() for name in ('"x-forwarded', "b'x-forwarded", '"forwarded"'))
    ]
    assert readers == []
