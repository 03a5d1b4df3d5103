"""Callback URL hosts: one spelling per address. Every other spelling of an IPv4 address, a final dot or a
malformed name is refused when the URL is given, not retried later as a connection failure."""

from __future__ import annotations

import pytest

from mycpaas.domain.urls import callback_url_problem, url_problem

ACCEPTED = [
    "example.com",
    "App-1.Example.COM",
    "localhost",
    "localhost:8080",
    "xn--bcher-kva.example",  # an IDN, as punycode
    "deadbeef",  # a name made of hex letters is still a name
    "0x.example.com",  # a numeric-looking label is fine unless it is the last
    "127.0.0.1",
    "203.0.113.7:8443",
    "0.0.0.0",  # a valid literal; whether it may be called is the guard's question
    "[::1]",
    "[2001:db8::1]:8080",
    "[::ffff:127.0.0.1]",
    "user:pass@example.com",
]

REFUSED = [
    "2130706433",  # 127.0.0.1 as one number
    "0177.0.0.1",  # octal
    "0x7f.1",  # hex, short form
    "0x7f000001",
    "127.1",  # short form
    "127.0.1",
    "1.2.3.4.5",
    "256.1.1.1",
    "01.2.3.4",
    "example.123",  # ends in a number: read as IPv4 by URL parsers
    "example.com.",
    "localhost.",
    "a..b",
    ".example.com",
    "-bad.example.com",
    "bad-.example.com",
    "under_score.example.com",
    "bücher.example",  # IDNs in their punycode form only
    "%31%32%37.0.0.1",
    "a" * 64 + ".example.com",
    "[v1.future]",
    "[fe80::1%25eth0]",
    "[:::1]",
    "example.com:0",
    "example.com:65536",
    "",
]


@pytest.mark.parametrize("host", ACCEPTED)
def test_accepted_hosts(host: str) -> None:
    assert url_problem(f"http://{host}/hook?x=1") is None
    assert callback_url_problem(f"https://{host}/hook#rc=2") is None


@pytest.mark.parametrize("host", REFUSED)
def test_refused_hosts(host: str) -> None:
    problem = url_problem(f"http://{host}/hook")
    assert problem is not None
    assert callback_url_problem(f"http://{host}/hook") == problem


def test_the_reason_names_the_rule() -> None:
    assert url_problem("http://0x7f.1/") == (
        "the host is not a dotted-quad IPv4 address (a.b.c.d, decimal, no leading zeros)"
    )
    assert url_problem("http://example.com./") == "the host name ends in a dot"
    assert url_problem("ftp://example.com/") == "must be a fully qualified http or https URL"
