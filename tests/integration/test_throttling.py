"""Throttling of failed authentication: 429/20429 with Retry-After after N failures, but never a lockout.

Each test runs a server of its own, since the throttle counts failures per client address and every client
here is 127.0.0.1.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import BACKENDS, dispose_server, make_server
from tests.integration.auth_support import (
    assert_auth_failure,
    assert_no_secret,
    assert_twilio_error,
    new_key,
    new_subaccount,
    random_account_sid,
    random_token,
)
from tests.server import ServerProcess

MAX_FAILURES = 5
WINDOW_SECONDS = 30


@pytest.fixture(params=BACKENDS)
def throttled(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ServerProcess]:
    instance = make_server(
        tmp_path,
        request.param,
        env={
            "MYCPAAS_AUTH_MAX_FAILURES": str(MAX_FAILURES),
            "MYCPAAS_AUTH_FAILURE_WINDOW_SECONDS": str(WINDOW_SECONDS),
        },
    )
    yield instance
    dispose_server(instance)


def get_messages(
    server: ServerProcess,
    username: str,
    password: str,
    account_sid: str | None = None,
    address: str = "127.0.0.1",
) -> httpx.Response:
    transport = httpx.HTTPTransport(local_address=address)
    with httpx.Client(
        base_url=server.url, auth=(username, password), transport=transport, timeout=30
    ) as client:
        return client.get(f"{server.accounts_path(account_sid)}/Messages.json")


def assert_throttled(
    response: httpx.Response,
    *presented: str,
    window: float = WINDOW_SECONDS,
    limit: int = MAX_FAILURES,
    which: str = "from this address",
) -> None:
    body = assert_twilio_error(response, 429, 20429)
    assert body["message"] == "Too Many Requests"
    # Which limit was hit, and which settings change it.
    assert body["detail"].startswith(
        f"Too many failed authentication attempts {which}: {limit} failures in {window:g} seconds "
        "(settings MYCPAAS_AUTH_MAX_FAILURES and MYCPAAS_AUTH_FAILURE_WINDOW_SECONDS); retry in "
    ), body["detail"]
    retry_after = response.headers.get("retry-after")
    assert retry_after is not None and retry_after.isdigit(), response.headers
    assert 1 <= int(retry_after) <= window + 1
    assert "www-authenticate" not in response.headers
    assert_no_secret(response, *presented)


def test_failures_beyond_the_limit_get_429_but_valid_credentials_still_work(throttled: ServerProcess) -> None:
    server = throttled
    with server.client() as owner:
        sub = new_subaccount(server, owner)
        key = new_key(server, owner, server.account_sid)

    wrong = [random_token() for _ in range(MAX_FAILURES + 3)]
    for token in wrong[:MAX_FAILURES]:
        assert_auth_failure(get_messages(server, server.account_sid, token), token, server.auth_token)
    for token in wrong[MAX_FAILURES:]:
        assert_throttled(get_messages(server, server.account_sid, token), token, server.auth_token)

    # Other kinds of failure from the same address are throttled too: unknown accounts, wrong keys.
    stranger, stranger_token = random_account_sid(), random_token()
    assert_throttled(get_messages(server, stranger, stranger_token, stranger), stranger_token)
    assert_throttled(
        get_messages(server, key.username, ("x" if key.password[0] != "x" else "y") + key.password[1:]),
        key.password,
    )

    # No lockout: correct credentials from the same address keep working while the address is throttled.
    for _ in range(3):
        assert get_messages(server, server.account_sid, server.auth_token).status_code == 200
    assert get_messages(server, sub.username, sub.password, sub.username).status_code == 200
    assert get_messages(server, key.username, key.password).status_code == 200
    with server.client() as owner:
        sent = owner.post("/2010-04-01/Accounts.json", data={"FriendlyName": "made while throttled"})
        assert sent.status_code == 201, sent.text

    # A success does not reset the failure count for the attacker.
    token = random_token()
    assert_throttled(get_messages(server, server.account_sid, token), token)


def test_throttling_counts_failures_not_requests(throttled: ServerProcess) -> None:
    server = throttled
    for _ in range(3 * MAX_FAILURES):
        assert get_messages(server, server.account_sid, server.auth_token).status_code == 200
    for _ in range(MAX_FAILURES):
        token = random_token()
        assert_auth_failure(get_messages(server, server.account_sid, token), token)
    token = random_token()
    assert_throttled(get_messages(server, server.account_sid, token), token)


def test_throttle_expires_after_the_window(tmp_path: Path) -> None:
    server = make_server(
        tmp_path,
        "sqlite",
        env={"MYCPAAS_AUTH_MAX_FAILURES": "2", "MYCPAAS_AUTH_FAILURE_WINDOW_SECONDS": "1.5"},
    )
    try:
        for _ in range(2):
            token = random_token()
            assert_auth_failure(get_messages(server, server.account_sid, token), token)
        token = random_token()
        response = get_messages(server, server.account_sid, token)
        assert_throttled(response, token, window=1.5, limit=2)
        time.sleep(int(response.headers["retry-after"]) + 0.1)
        token = random_token()
        assert_auth_failure(get_messages(server, server.account_sid, token), token)
    finally:
        dispose_server(server)


def test_the_account_limit_names_itself(throttled: ServerProcess) -> None:
    """Failures for one account from several addresses hit the per-account limit, and the 429 says so."""
    server = throttled
    addresses = [f"127.0.0.{2 + n}" for n in range(MAX_FAILURES)]
    for address in addresses:
        token = random_token()
        assert_auth_failure(get_messages(server, server.account_sid, token, address=address), token)
    token = random_token()
    response = get_messages(server, server.account_sid, token, address="127.0.0.200")
    assert_throttled(response, token, which="for this account")


def test_a_test_suite_checking_its_401s_is_not_throttled_by_default(tmp_path: Path) -> None:
    """30 wrong credentials in a row from one client (a client library's own tests of its 401 handling) all
    get 401 with the default limits: the throttle guards load, not guessing (tokens carry 128 random bits)."""
    server = make_server(tmp_path, "sqlite", unset=("MYCPAAS_AUTH_MAX_FAILURES",))
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            for _ in range(30):
                token = random_token()
                response = client.get(
                    f"{server.accounts_path()}/Messages.json", auth=(server.account_sid, token)
                )
                assert_auth_failure(response, token)
    finally:
        dispose_server(server)
