"""Connection overrides in the webhook URL's #fragment (Twilio's ct/rt/tt/rc/rp syntax)."""

from __future__ import annotations

import pytest

from mycpaas.domain.connection_policy import (
    DEFAULT_RETRY_ON,
    ConnectionPolicy,
    InvalidOverride,
    split_overrides,
)

DEFAULT = ConnectionPolicy()
BASE = "https://example.com/sms?a=1&b=two"
EVERY_CLASS = {"ct", "rt", "4xx", "5xx"}


def test_no_fragment_returns_url_and_default_unchanged() -> None:
    """Without overrides the URL and the very same default policy come back."""
    assert split_overrides(BASE, DEFAULT) == (BASE, DEFAULT)


@pytest.mark.parametrize("fragment", ["", "ct=1000", "rc=0&rp=all", "e=ie1&edge=dublin&sni=off"])
def test_fragment_is_stripped_and_query_kept(fragment: str) -> None:
    """The fragment is never sent nor signed; the query string must survive untouched."""
    url, _ = split_overrides(f"{BASE}#{fragment}", DEFAULT)
    assert url == BASE


@pytest.mark.parametrize(
    ("fragment", "field", "expected"),
    [
        ("ct=100", "connect_timeout", 0.1),
        ("ct=10000", "connect_timeout", 10.0),
        ("rt=15000", "read_timeout", 15.0),
        ("rt=2500", "read_timeout", 2.5),
        ("tt=100", "total_timeout", 0.1),
        ("tt=15000", "total_timeout", 15.0),
        ("rc=0", "retries", 0),
        ("rc=5", "retries", 5),
        ("rc=05", "retries", 5),
    ],
)
def test_each_override(fragment: str, field: str, expected: float) -> None:
    """Each override sets its field (ms converted to seconds) and leaves the others at the default."""
    _, policy = split_overrides(f"{BASE}#{fragment}", DEFAULT)
    assert getattr(policy, field) == expected
    others = {name for name in ConnectionPolicy.__slots__ if name != field}
    assert all(getattr(policy, name) == getattr(DEFAULT, name) for name in others)


def test_several_overrides_combine() -> None:
    """A realistic fragment sets everything at once."""
    _, policy = split_overrides(f"{BASE}#ct=2000&rt=5000&tt=9000&rc=2&rp=ct,4xx", DEFAULT)
    assert policy == ConnectionPolicy(2.0, 5.0, 9.0, 2, frozenset({"ct", "4xx"}))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("5xx", {"5xx"}),
        ("ct,rt", {"ct", "rt"}),
        (" 4xx , 5xx ", {"4xx", "5xx"}),
        ("all", EVERY_CLASS),
        ("ct,all", EVERY_CLASS),
    ],
)
def test_retry_policy(value: str, expected: set[str]) -> None:
    """rp lists failure classes; `all` means every class."""
    _, policy = split_overrides(f"{BASE}#rp={value}", DEFAULT)
    assert policy.retry_on == expected


def test_edge_selectors_are_ignored() -> None:
    """e/edge/sni pick a Twilio edge; they are accepted and have no effect here."""
    assert split_overrides(f"{BASE}#e=ie1&edge=dublin&sni=x", DEFAULT)[1] == DEFAULT


@pytest.mark.parametrize(
    "fragment",
    [
        "ct=99",
        "ct=10001",
        "rt=15001",
        "tt=99",
        "rc=6",
        "ct=-1",
        "rc=-0",
        "ct=1e3",
        "ct=1000.0",
        "ct=",
        "ct",
        "rc=+3",
        "rc=٣",  # Arabic-Indic three: str.isdigit() is True, int() would accept it
        "rc=³",  # superscript three: isdigit() is True, int() would refuse it
        "rp=",
        "rp=6xx",
        "rp=all,bogus",
        "bogus=1",
    ],
)
def test_invalid_override_raises(fragment: str) -> None:
    """Unknown names and out-of-range or non-decimal values are Twilio's 11243, never silently dropped."""
    with pytest.raises(InvalidOverride):
        split_overrides(f"{BASE}#{fragment}", DEFAULT)


def test_should_retry_counts_retries_after_first_attempt() -> None:
    """rc=N allows N retries: attempts 1..N may be retried, attempt N+1 is the last."""
    policy = ConnectionPolicy(retries=2, retry_on=frozenset({"5xx"}))
    assert [policy.should_retry("5xx", attempt) for attempt in (1, 2, 3)] == [True, True, False]
    assert not ConnectionPolicy(retries=0).should_retry("ct", 1)


def test_should_retry_only_listed_failures() -> None:
    """The default retries connection, read and 5xx failures but never a 4xx."""
    assert DEFAULT.retry_on == DEFAULT_RETRY_ON
    assert all(DEFAULT.should_retry(failure, 1) for failure in ("ct", "rt", "5xx"))
    assert not DEFAULT.should_retry("4xx", 1)
