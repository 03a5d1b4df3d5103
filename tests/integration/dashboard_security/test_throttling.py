"""Throttling of failed sign-ins, password re-entries and set-up codes, per address (no lockout from elsewhere).
Throttling changes settings, so it runs on a server of its own (over http).

Over real HTTP against real `mycpaas serve` processes; the shared world and helpers are in support.py and
conftest.py of this package."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx
import pytest

from tests.conftest import dispose_server, make_server, remember_secret
from tests.dashboard_support import PASSWORD, create_user
from tests.integration.dashboard_security.support import (
    Browser,
    close_browsers,
    hex_tag,
    set_cookies,
)
from tests.server import ServerProcess

# --- 3. Throttling ------------------------------------------------------------------------------------------

MAX_FAILURES = 3


@dataclass
class Throttled:
    server: ServerProcess
    users: dict[str, str]


@pytest.fixture(scope="module")
def throttled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Throttled]:
    """A server that throttles after 3 failures. The throttle counts per address (and per address and
    email), and every test client is on the loopback: each test below uses addresses of its own (127.0.0.x)."""
    server = make_server(
        tmp_path_factory.mktemp("dashboard-throttle"),
        "sqlite",
        env={"MYCPAAS_SIGN_IN_MAX_FAILURES": str(MAX_FAILURES)},
    )
    tag = hex_tag()
    users = {name: f"{name}-{tag}@example.com" for name in ("victim", "other")}
    with ThreadPoolExecutor(2) as pool:
        for done in [pool.submit(create_user, server, email) for email in users.values()]:
            done.result()
    yield Throttled(server, users)
    close_browsers(server)
    dispose_server(server)


def assert_throttled(response: httpx.Response, *passwords: str) -> None:
    assert response.status_code == 429, f"{response.status_code} {response.text[:300]}"
    limit = (
        rf"Too many failed attempts (from this address|for this email from this address): {MAX_FAILURES} in "
        r"900 seconds \(settings MYCPAAS_SIGN_IN_MAX_FAILURES and MYCPAAS_SIGN_IN_FAILURE_WINDOW_SECONDS\); "
        r"try again in \d+ seconds"
    )
    assert re.search(limit, response.text), response.text
    assert not any(p in response.text for p in passwords)
    assert not any(name.endswith("mycpaas_session") for name in set_cookies(response))


def test_failed_sign_ins_are_throttled_per_address(throttled: Throttled) -> None:
    server, users = throttled.server, throttled.users
    attacker = Browser(server, "127.0.0.2")
    wrong = [remember_secret(f"not the password {hex_tag()}") for _ in range(MAX_FAILURES)]
    for password in wrong:
        response = attacker.try_sign_in(users["victim"], password)
        assert response.status_code == 401 and "not correct" in response.text
        assert password not in response.text
    # The right password no longer helps, and other emails from that address are refused too.
    assert_throttled(attacker.try_sign_in(users["victim"]), PASSWORD, *wrong)
    assert_throttled(attacker.try_sign_in(users["other"]), PASSWORD)
    assert_throttled(attacker.try_sign_in(f"nobody-{hex_tag()}@example.com", "another guess 123"))
    assert not attacker.session_id

    # No lockout: the victim signs in from another address (the email alone is not a key).
    assert Browser(server, "127.0.0.3").sign_in(users["victim"]).status_code == 303


def test_password_re_entry_and_set_up_codes_are_throttled(throttled: Throttled) -> None:
    server, email = throttled.server, throttled.users["other"]
    browser = Browser(server, "127.0.0.4")
    browser.sign_in(email)
    wrong = [remember_secret(f"wrong re-entry {hex_tag()}") for _ in range(MAX_FAILURES)]
    for password in wrong:
        response = browser.unlock(password)
        assert response.status_code == 401 and "not correct" in response.text
        assert password not in response.text
    assert_throttled(browser.unlock(PASSWORD), PASSWORD, *wrong)
    assert server.auth_token not in browser.get("/credentials").text
    # Re-entries and sign-ins share the count of the address.
    assert_throttled(Browser(server, "127.0.0.4").try_sign_in(throttled.users["victim"]))

    guesser = Browser(server, "127.0.0.5")
    guesser.form_token("/setup")
    form = {"email": f"new-{hex_tag()}@example.com", "password": PASSWORD, "password_again": PASSWORD}
    for _ in range(MAX_FAILURES):
        code = secrets.token_urlsafe(24)
        response = guesser.post("/setup", {**form, "code": code, "csrf_token": guesser.token})
        assert response.status_code == 401, response.text
    response = guesser.post("/setup", {**form, "code": "x", "csrf_token": guesser.token})
    assert_throttled(response, PASSWORD)
