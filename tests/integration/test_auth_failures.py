"""Every cause of a 401 from the user's authentication page, over real HTTP on SQLite and PostgreSQL.

Each 401 must be Twilio's exact shape (code 20003, message "Authenticate", detail, more_info, status)
with `WWW-Authenticate: Basic realm="mycpaas API"`, a detail naming the cause from the 401 troubleshooting
table, and never the secret that was presented, neither as sent nor Base64-encoded.
"""

from __future__ import annotations

import base64
import re
import secrets
import uuid
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime

import pytest

from tests.integration.auth_support import (
    assert_auth_failure,
    basic,
    new_key,
    new_subaccount,
    other_main_account,
    random_account_sid,
    random_token,
    raw_client,
)
from tests.server import ServerProcess

SEPARATE = "separate from Twilio and SignalWire"


def messages_path(server: ServerProcess, sid: str | None = None) -> str:
    return f"{server.accounts_path(sid)}/Messages.json"


# --- The Authorization header itself


def test_no_authorization_header(server: ServerProcess) -> None:
    with raw_client(server) as client:
        response = client.get(messages_path(server))
    detail = assert_auth_failure(response, server.auth_token, says=("No Authorization header",))
    assert "Basic" in detail


@pytest.mark.parametrize("scheme", ["Bearer", "Digest", "Token"])
def test_non_basic_scheme(server: ServerProcess, scheme: str) -> None:
    with raw_client(server, f"{scheme} {server.auth_token}") as client:
        response = client.get(messages_path(server))
    assert_auth_failure(response, server.auth_token, says=("Basic scheme",))


def test_basic_without_credentials(server: ServerProcess) -> None:
    with raw_client(server, "Basic") as client:
        response = client.get(messages_path(server))
    assert_auth_failure(response, says=("Basic scheme",))


@pytest.mark.parametrize(
    "encoded",
    [
        pytest.param("{sid}:{token}", id="unencoded-sid-colon-token"),
        pytest.param("!!{token}!!", id="not-base64-alphabet"),
        pytest.param("{b64}x", id="bad-padding"),
    ],
)
def test_base64_that_does_not_decode(server: ServerProcess, encoded: str) -> None:
    b64 = base64.b64encode(f"{server.account_sid}:{server.auth_token}".encode()).decode()
    value = encoded.format(sid=server.account_sid, token=server.auth_token, b64=b64)
    with raw_client(server, f"Basic {value}") as client:
        response = client.get(messages_path(server))
    assert_auth_failure(response, server.auth_token, says=("not valid Base64", "colon"))


def test_base64_of_non_utf8_bytes(server: ServerProcess) -> None:
    with raw_client(server, "Basic " + base64.b64encode(b"\xff\xfe:\xff").decode()) as client:
        response = client.get(messages_path(server))
    assert_auth_failure(response, says=("Base64",))


def test_no_colon_between_sid_and_token(server: ServerProcess) -> None:
    value = base64.b64encode(f"{server.account_sid}{server.auth_token}".encode()).decode()
    with raw_client(server, f"Basic {value}") as client:
        response = client.get(messages_path(server))
    assert_auth_failure(response, server.auth_token, says=("no colon", "colon separator"))


# --- Wrong Account SID


@pytest.mark.parametrize(
    "username", ["XX" + "0" * 32, "ac" + "0" * 32, "0123456789abcdef", "user@example.com"]
)
def test_sid_not_starting_with_ac(server: ServerProcess, username: str) -> None:
    with server.client(username, server.auth_token) as client:
        response = client.get(messages_path(server))
    assert_auth_failure(response, server.auth_token, says=("starts with AC",))


def test_token_and_sid_swapped(server: ServerProcess) -> None:
    """A pasted-backwards pair: the token as the username must not be echoed either."""
    with server.client(server.auth_token, server.account_sid) as client:
        response = client.get(messages_path(server))
    assert_auth_failure(response, server.auth_token, says=("starts with AC",))


@pytest.mark.parametrize("length", [2, 10, 33, 35, 40])
def test_ac_sid_of_wrong_length(server: ServerProcess, length: int) -> None:
    username = (server.account_sid + "0" * 10)[:length]
    with server.client(username, server.auth_token) as client:
        response = client.get(messages_path(server))
    assert_auth_failure(response, server.auth_token, says=("34", f"{length} characters"))


def test_unknown_account(server: ServerProcess) -> None:
    sid, token = random_account_sid(), random_token()
    with server.client(sid, token) as client:
        response = client.get(messages_path(server, sid))
    detail = assert_auth_failure(response, token, says=(SEPARATE, sid))
    assert "Dashboard" in detail


def test_signalwire_project_id_as_username(server: ServerProcess) -> None:
    project, token = str(uuid.uuid4()), "PT" + secrets.token_hex(24)
    with server.client(project, token) as client:
        response = client.get(messages_path(server))
    assert_auth_failure(response, token, says=("SignalWire Project ID", SEPARATE))


def test_signalwire_pt_token_as_password(server: ServerProcess) -> None:
    token = "PT" + secrets.token_hex(24)
    with server.client(server.account_sid, token) as client:
        response = client.get(messages_path(server))
    assert_auth_failure(response, token, says=("SignalWire API token", SEPARATE))


def test_signalwire_pt_token_as_username(server: ServerProcess) -> None:
    token = "PT" + secrets.token_hex(24)
    with server.client(token, server.auth_token) as client:
        response = client.get(messages_path(server))
    assert_auth_failure(response, token, server.auth_token, says=("SignalWire API token",))


# --- Wrong Auth Token


def test_wrong_token(server: ServerProcess) -> None:
    token = random_token()
    with server.client(server.account_sid, token) as client:
        response = client.get(messages_path(server))
    assert_auth_failure(response, token, server.auth_token, says=("not valid", server.account_sid, "Re-copy"))


def test_empty_token(server: ServerProcess) -> None:
    with raw_client(server, basic(server.account_sid, "")) as client:
        response = client.get(messages_path(server))
    assert_auth_failure(response, server.auth_token, says=("No Auth Token",))


@pytest.mark.parametrize(
    "wrap",
    ["{} ", "{}\n", "{}\r\n", " {}", "\t{}", "  {}  "],
    ids=["space", "lf", "crlf", "lead", "tab", "both"],
)
def test_token_with_surrounding_whitespace(server: ServerProcess, wrap: str) -> None:
    presented = wrap.format(server.auth_token)
    with server.client(server.account_sid, presented) as client:
        response = client.get(messages_path(server))
    assert_auth_failure(
        response,
        presented,
        server.auth_token,
        says=("extra spaces", server.account_sid),
        never_says=("not valid",),
    )


def test_rotated_token_says_when(server: ServerProcess) -> None:
    with server.client() as parent:
        sub = new_subaccount(server, parent)
    with server.client(sub.username, sub.password) as client:
        assert client.post("/v1/AuthTokens/Secondary").status_code == 201
        promoted = client.post("/v1/AuthTokens/Promote")
    assert promoted.status_code == 200, promoted.text
    rotated_at = datetime.fromisoformat(promoted.json()["date_updated"].replace("Z", "+00:00"))
    with server.client(sub.username, sub.password) as client:
        response = client.get(messages_path(server, sub.username))
    detail = assert_auth_failure(
        response, sub.password, promoted.json()["auth_token"], says=("rotated", sub.username)
    )
    when = re.search(
        r"rotated on ([A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} \+0000)", detail
    )
    assert when, detail
    assert abs(parsedate_to_datetime(when.group(1)) - rotated_at) <= timedelta(seconds=2)
    assert "new token" in detail


def test_rotated_token_with_whitespace_is_still_refused(server: ServerProcess) -> None:
    with server.client() as parent:
        sub = new_subaccount(server, parent)
    with server.client(sub.username, sub.password) as client:
        assert client.post("/v1/AuthTokens/Secondary").status_code == 201
        assert client.post("/v1/AuthTokens/Promote").status_code == 200
    with server.client(sub.username, sub.password + "\n") as client:
        response = client.get(messages_path(server, sub.username))
    assert_auth_failure(response, sub.password)


# --- Credentials on the wrong account


def test_main_account_credentials_on_another_main_accounts_path(server: ServerProcess) -> None:
    other = other_main_account(server)
    with server.client() as client:
        response = client.get(messages_path(server, other.username))
    assert_auth_failure(response, server.auth_token, other.password, says=("cannot access", other.username))
    with server.client(other.username, other.password) as client:
        assert client.get(messages_path(server, other.username)).status_code == 200
        response = client.get(messages_path(server))
    assert_auth_failure(
        response, server.auth_token, other.password, says=("cannot access", server.account_sid)
    )


def test_subaccount_credentials_on_parents_path(server: ServerProcess) -> None:
    with server.client() as parent:
        sub = new_subaccount(server, parent)
    with server.client(sub.username, sub.password) as client:
        assert client.get(messages_path(server, sub.username)).status_code == 200
        for path in (messages_path(server), server.accounts_path() + ".json"):
            response = client.get(path)
            assert_auth_failure(response, sub.password, says=("cannot access", server.account_sid))


def test_credentials_on_path_of_nonexistent_account(server: ServerProcess) -> None:
    missing = random_account_sid()
    with server.client() as client:
        response = client.get(messages_path(server, missing))
    assert_auth_failure(response, server.auth_token, says=("cannot access", missing))


@pytest.mark.parametrize("status", ["suspended", "closed"])
def test_suspended_or_closed_subaccount_cannot_authenticate(server: ServerProcess, status: str) -> None:
    with server.client() as parent:
        sub = new_subaccount(server, parent)
        with server.client(sub.username, sub.password) as client:
            key = new_key(server, client, sub.username)
            assert client.get(messages_path(server, sub.username)).status_code == 200
        changed = parent.post(f"{server.accounts_path(sub.username)}.json", data={"Status": status})
        assert changed.status_code == 200 and changed.json()["status"] == status, changed.text
        for creds in (sub, key):
            with server.client(creds.username, creds.password) as client:
                response = client.get(messages_path(server, sub.username))
            assert_auth_failure(response, creds.password, says=(status, sub.username))
        if status == "suspended":
            assert (
                parent.post(
                    f"{server.accounts_path(sub.username)}.json", data={"Status": "active"}
                ).status_code
                == 200
            )
            with server.client(sub.username, sub.password) as client:
                assert client.get(messages_path(server, sub.username)).status_code == 200


# --- API keys


def test_revoked_api_key(server: ServerProcess) -> None:
    with server.client() as owner:
        key = new_key(server, owner, server.account_sid)
        with server.client(key.username, key.password) as client:
            assert client.get(messages_path(server)).status_code == 200
        assert owner.delete(f"{server.accounts_path()}/Keys/{key.username}.json").status_code == 204
    with server.client(key.username, key.password) as client:
        response = client.get(messages_path(server))
    assert_auth_failure(response, key.password, says=("revoked", key.username))


def test_api_key_with_wrong_secret(server: ServerProcess) -> None:
    with server.client() as owner:
        key = new_key(server, owner, server.account_sid)
    wrong = secrets.token_urlsafe(24)
    with server.client(key.username, wrong) as client:
        response = client.get(messages_path(server))
    assert_auth_failure(response, wrong, key.password, says=("not valid", key.username))


def test_unknown_api_key(server: ServerProcess) -> None:
    sid, secret = "SK" + secrets.token_hex(16), secrets.token_urlsafe(24)
    with server.client(sid, secret) as client:
        response = client.get(messages_path(server))
    assert_auth_failure(response, secret, says=(sid, SEPARATE))


def test_malformed_api_key_sid(server: ServerProcess) -> None:
    secret = secrets.token_urlsafe(24)
    with server.client("SK123", secret) as client:
        response = client.get(messages_path(server))
    assert_auth_failure(response, secret, says=("34", "5 characters"))


# --- The same 401 everywhere


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/laml/2010-04-01/Accounts/{sid}/Messages.json"),
        ("GET", "/2010-04-01/Accounts/{sid}/Messages"),
        ("POST", "/v1/AuthTokens/Secondary"),
        ("POST", "/v1/AuthTokens/Promote"),
        ("GET", "/2010-04-01/Accounts.json"),
        ("GET", "/2010-04-01/Accounts/{sid}/NoSuchResource.json"),
        ("GET", "/2010-04-01/NoSuchThing"),
    ],
)
def test_wrong_token_is_refused_on_every_kind_of_path(server: ServerProcess, method: str, path: str) -> None:
    token = random_token()
    with server.client(server.account_sid, token) as client:
        response = client.request(method, path.format(sid=server.account_sid))
    assert_auth_failure(response, token, server.auth_token, says=("not valid",))
