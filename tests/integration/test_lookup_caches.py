"""The caches of per-request lookups (services/lookup_cache.py) never answer what the database would not.

Authentication keeps its successes and every create keeps the From number's owner; both are emptied by the
change signal (services/changes.py). Proved from outside, on real servers:

- In the process that makes a change, the next request sees it at once (no polling): a token promoted away, a
  key revoked, a subaccount suspended or closed by its parent, a number released or moved to another account.
- In the other processes of `serve --workers 2` (PostgreSQL), within a bounded wait: the access log names the
  process that answered each request (by its Twilio-Request-Id), and the old credential or number must be
  refused by both processes. Without invalidation a cached answer would last for ever, so any bound proves it;
  the documented one (one poll, 0.25 s) is not timed here.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import dispose_server, make_server, remember_secret
from tests.dashboard_support import create_user
from tests.integration.auth_support import (
    TO,
    Creds,
    assert_auth_failure,
    assert_twilio_error,
    new_key,
    new_subaccount,
    own_number,
)
from tests.integration.dashboard_security.support import Browser, secondary_token
from tests.server import ServerProcess

EVENTUALLY = 15.0  # seconds: a liveness bound for the other processes, far above the 0.25 s poll


def messages_path(server: ServerProcess, account_sid: str) -> str:
    return f"{server.accounts_path(account_sid)}/Messages.json"


def send(client: httpx.Client, server: ServerProcess, account_sid: str, sender: str) -> httpx.Response:
    return client.post(messages_path(server, account_sid), data={"To": TO, "From": sender, "Body": "cache"})


# One process: the change is seen by the very next request.


def test_a_promoted_token_is_refused_at_once(server: ServerProcess) -> None:
    with server.client() as parent:
        sub = new_subaccount(server, parent, "cache rotation")
    with server.client(sub.username, sub.password) as client:
        for _ in range(3):  # cached now
            assert client.get(messages_path(server, sub.username)).status_code == 200
        secondary = remember_secret(client.post("/v1/AuthTokens/Secondary").json()["secondary_auth_token"])
        assert client.get(messages_path(server, sub.username)).status_code == 200  # both work meanwhile
        assert client.post("/v1/AuthTokens/Promote").status_code == 200
        refused = client.get(messages_path(server, sub.username))
    assert_auth_failure(refused, sub.password, says=("rotated",))
    with server.client(sub.username, secondary) as client:
        assert client.get(messages_path(server, sub.username)).status_code == 200


def test_a_deleted_secondary_and_a_revoked_key_are_refused_at_once(server: ServerProcess) -> None:
    with server.client() as parent:
        sub = new_subaccount(server, parent, "cache secondary")
        key = new_key(server, parent, server.account_sid, "cache key")
    with server.client(sub.username, sub.password) as client:
        secondary = remember_secret(client.post("/v1/AuthTokens/Secondary").json()["secondary_auth_token"])
    with server.client(sub.username, secondary) as client:
        assert client.get(messages_path(server, sub.username)).status_code == 200
        assert client.delete("/v1/AuthTokens/Secondary").status_code == 204
        assert_auth_failure(client.get(messages_path(server, sub.username)), secondary)
    with server.client(key.username, key.password) as client:
        assert client.get(messages_path(server, server.account_sid)).status_code == 200
    with server.client() as owner:
        assert owner.delete(f"{server.accounts_path()}/Keys/{key.username}.json").status_code == 204
    with server.client(key.username, key.password) as client:
        assert_auth_failure(
            client.get(messages_path(server, server.account_sid)), key.password, says=("revoked",)
        )


def test_a_parent_sees_its_subaccounts_status_at_once(server: ServerProcess) -> None:
    with server.client() as parent:
        sub = new_subaccount(server, parent, "cache status")
        _, number = own_number(server, parent, sub.username)
        assert send(parent, server, sub.username, number).status_code == 201  # the parent on the sub's path
        with server.client(sub.username, sub.password) as own:
            assert own.get(messages_path(server, sub.username)).status_code == 200
        suspend = parent.post(f"{server.accounts_path(sub.username)}.json", data={"Status": "suspended"})
        assert suspend.status_code == 200, suspend.text
        assert_twilio_error(send(parent, server, sub.username, number), 403, 20005)
        with server.client(sub.username, sub.password) as own:
            assert_auth_failure(
                own.get(messages_path(server, sub.username)), sub.password, says=("suspended",)
            )
        reopen = parent.post(f"{server.accounts_path(sub.username)}.json", data={"Status": "active"})
        assert reopen.status_code == 200, reopen.text
        assert send(parent, server, sub.username, number).status_code == 201
        close = parent.post(f"{server.accounts_path(sub.username)}.json", data={"Status": "closed"})
        assert close.status_code == 200, close.text
        assert_auth_failure(parent.get(messages_path(server, sub.username)), says=("closed",))


def test_a_released_or_moved_number_is_not_the_senders_at_once(server: ServerProcess) -> None:
    with server.client() as parent:
        sub = new_subaccount(server, parent, "cache numbers")
        sid, number = own_number(server, parent, server.account_sid)
        for _ in range(2):  # cached now
            assert send(parent, server, server.account_sid, number).status_code == 201
        moved = parent.post(
            f"{server.accounts_path()}/IncomingPhoneNumbers/{sid}.json", data={"AccountSid": sub.username}
        )
        assert moved.status_code == 200, moved.text
        assert_twilio_error(send(parent, server, server.account_sid, number), 400, 21606)
        assert send(parent, server, sub.username, number).status_code == 201  # the new owner's now
        released = parent.delete(f"{server.accounts_path(sub.username)}/IncomingPhoneNumbers/{sid}.json")
        assert released.status_code == 204, released.text
        assert_twilio_error(send(parent, server, sub.username, number), 400, 21606)


# Two processes on one port: the other one follows within a bounded wait.


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[ServerProcess]:
    server = make_server(tmp_path, "postgres", args=["--workers", "2"])
    yield server
    dispose_server(server)


class Answers:
    """Requests on fresh connections (so either process may take each), and which process answered which."""

    def __init__(self, server: ServerProcess) -> None:
        self.server = server

    def pid_of(self, response: httpx.Response) -> int:
        request_id = response.headers["twilio-request-id"]
        pattern = re.compile(rf"\[(\d+)\] mycpaas\.access.*{request_id}")
        deadline = time.monotonic() + EVENTUALLY
        while time.monotonic() < deadline:  # the access log line is written just after the response
            if found := pattern.search(self.server.log_text()):
                return int(found[1])
            time.sleep(0.02)
        raise AssertionError(f"no access log line for {request_id}")

    def ask(self, call: Callable[[httpx.Client], httpx.Response], creds: Creds) -> tuple[int, int]:
        """(status, pid) of one request on a new connection."""
        with httpx.Client(base_url=self.server.url, auth=(creds.username, creds.password), timeout=30) as c:
            response = call(c)
        return response.status_code, self.pid_of(response)

    def until_every_process(
        self, call: Callable[[httpx.Client], httpx.Response], creds: Creds, status: int
    ) -> None:
        """Ask until both processes' latest answers are `status`: polled, bounded by EVENTUALLY."""
        latest: dict[int, int] = {}
        deadline = time.monotonic() + EVENTUALLY
        while time.monotonic() < deadline:
            answered, pid = self.ask(call, creds)
            latest[pid] = answered
            if len(latest) == 2 and set(latest.values()) == {status}:
                return
            time.sleep(0.02)
        raise AssertionError(f"processes still answering {latest} after {EVENTUALLY} s, not all {status}")


def test_changes_through_one_process_are_followed_by_the_other(workers: ServerProcess) -> None:
    server = workers
    answers = Answers(server)
    owner = Creds(server.account_sid, server.auth_token)
    with server.client() as parent:
        sub = new_subaccount(server, parent, "workers cache")
        key = new_key(server, parent, sub.username, "workers key")
        number_sid, number = own_number(server, parent, sub.username)

    def read(account_sid: str) -> Callable[[httpx.Client], httpx.Response]:
        return lambda c: c.get(messages_path(server, account_sid))

    def create(c: httpx.Client) -> httpx.Response:
        return send(c, server, sub.username, number)

    # Both processes hold every answer in their caches first.
    answers.until_every_process(read(sub.username), sub, 200)
    answers.until_every_process(read(sub.username), Creds(key.username, key.password), 200)
    answers.until_every_process(create, owner, 201)

    # The token promoted away: refused at once on the connection that promoted it, then by both processes.
    with server.client(sub.username, sub.password) as kept:
        secondary = remember_secret(kept.post("/v1/AuthTokens/Secondary").json()["secondary_auth_token"])
        assert kept.post("/v1/AuthTokens/Promote").status_code == 200
        assert_auth_failure(kept.get(messages_path(server, sub.username)), sub.password, says=("rotated",))
    answers.until_every_process(read(sub.username), sub, 401)
    sub = Creds(sub.username, secondary)
    answers.until_every_process(read(sub.username), sub, 200)

    # The key revoked by the parent.
    with server.client() as parent:
        assert (
            parent.delete(f"{server.accounts_path(sub.username)}/Keys/{key.username}.json").status_code == 204
        )
    answers.until_every_process(read(sub.username), Creds(key.username, key.password), 401)

    # The number released: 21606 from both processes.
    with server.client() as parent:
        released = parent.delete(
            f"{server.accounts_path(sub.username)}/IncomingPhoneNumbers/{number_sid}.json"
        )
        assert released.status_code == 204, released.text
    answers.until_every_process(create, owner, 400)

    # The subaccount suspended: its token refused by both processes.
    with server.client() as parent:
        suspended = parent.post(f"{server.accounts_path(sub.username)}.json", data={"Status": "suspended"})
        assert suspended.status_code == 200, suspended.text
    answers.until_every_process(read(sub.username), sub, 401)


# The Dashboard changes credentials through the same use cases: the API in its process follows at once.


def test_a_rotation_and_a_revocation_on_the_dashboard_are_followed_by_the_api_at_once(tmp_path: Path) -> None:
    server = make_server(tmp_path, "sqlite")
    try:
        email = "cache@example.com"
        create_user(server, email)
        with server.client() as parent:
            sub = new_subaccount(server, parent, "dashboard cache")
            key = new_key(server, parent, sub.username, "dashboard cache key")
        with server.client(sub.username, sub.password) as client:
            assert client.get(messages_path(server, sub.username)).status_code == 200
        with server.client(key.username, key.password) as client:
            assert client.get(messages_path(server, sub.username)).status_code == 200
        browser = Browser(server)
        browser.sign_in(email)
        browser.switch(sub.username)
        assert browser.unlock().status_code == 303
        assert browser.submit("/credentials/secondary").status_code == 303
        secondary = secondary_token(browser.get("/credentials").text)
        assert browser.submit("/credentials/promote", {"confirm": "yes"}).status_code == 303
        with server.client(sub.username, sub.password) as client:
            assert_auth_failure(
                client.get(messages_path(server, sub.username)), sub.password, says=("rotated",)
            )
        with server.client(sub.username, secondary) as client:
            assert client.get(messages_path(server, sub.username)).status_code == 200
        assert browser.submit(f"/keys/{key.username}/revoke").status_code == 303
        with server.client(key.username, key.password) as client:
            refused = client.get(messages_path(server, sub.username))
        assert_auth_failure(refused, key.password, says=("revoked",))
    finally:
        dispose_server(server)
