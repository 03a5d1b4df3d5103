"""Helpers for the authentication tests: 401 checks that no secret slips through, and extra accounts and keys.

Every secret a helper here sees (subaccount tokens, CLI-created tokens, key secrets) is passed to
`remember_secret`, so the session-end log scan in tests/conftest.py looks for it too.
"""

from __future__ import annotations

import base64
import os
import re
import secrets
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

import httpx

from tests.conftest import remember_secret, secret_forms
from tests.server import ServerProcess

REALM = 'Basic realm="mycpaas API"'
AUTH_ERROR_KEYS = {"code", "message", "detail", "more_info", "status"}
TWILIO_ERROR_REQUIRED = {"code", "message", "more_info", "status"}
TWILIO_ERROR_ALLOWED = TWILIO_ERROR_REQUIRED | {"detail"}
TO = "+15558675310"


@dataclass(frozen=True)
class Creds:
    """A username/password pair: Account SID + Auth Token, or API key SID + secret."""

    username: str
    password: str


def random_account_sid() -> str:
    return "AC" + secrets.token_hex(16)


def random_token() -> str:
    return secrets.token_hex(16)


def basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def secret_leaks(text: str, presented: list[str] | tuple[str, ...]) -> list[str]:
    """Which of `presented` appear in `text`, literally or Base64-encoded."""
    found = []
    for secret in presented:
        for form in secret_forms(secret):
            if form in text:
                found.append(f"{secret[:4]}… (as {form[:6]}…)")
                break
    return found


def response_text(response: httpx.Response) -> str:
    headers = "\n".join(f"{name}: {value}" for name, value in response.headers.multi_items())
    return f"{headers}\n\n{response.text}"


def assert_no_secret(response: httpx.Response, *presented: str) -> None:
    leaks = secret_leaks(response_text(response), presented)
    assert not leaks, f"secret echoed in response: {leaks}"


def assert_auth_failure(
    response: httpx.Response,
    *presented: str,
    says: tuple[str, ...] = (),
    never_says: tuple[str, ...] = (),
) -> str:
    """A 401 in Twilio's exact shape whose detail contains every phrase in `says`; returns the detail."""
    assert response.status_code == 401, (
        f"{response.request.method} {response.request.url}: {response.status_code} {response.text}"
    )
    assert response.headers.get("www-authenticate") == REALM
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    body = response.json()
    assert set(body) == AUTH_ERROR_KEYS, body
    assert body["code"] == 20003 and type(body["code"]) is int
    assert body["message"] == "Authenticate"
    assert body["status"] == 401 and type(body["status"]) is int
    assert isinstance(body["more_info"], str) and body["more_info"].startswith("https://")
    detail = body["detail"]
    assert isinstance(detail, str) and detail.strip(), body
    for phrase in says:
        assert phrase.lower() in detail.lower(), f"detail lacks {phrase!r}: {detail}"
    for phrase in never_says:
        assert phrase.lower() not in detail.lower(), f"detail has {phrase!r}: {detail}"
    assert_no_secret(response, *presented)
    return detail


def assert_twilio_error(response: httpx.Response, status: int, code: int | None = None) -> dict[str, Any]:
    assert response.status_code == status, f"{response.status_code} {response.text}"
    body = response.json()
    assert TWILIO_ERROR_REQUIRED <= set(body) <= TWILIO_ERROR_ALLOWED, body
    assert type(body["code"]) is int and body["status"] == status
    assert isinstance(body["message"], str) and body["message"]
    assert body["more_info"] == f"https://www.twilio.com/docs/errors/{body['code']}"
    if code is not None:
        assert body["code"] == code, body
    return body


def raw_client(server: ServerProcess, authorization: str | None = None) -> httpx.Client:
    """A client that sends exactly the Authorization header given (or none)."""
    headers = {"Authorization": authorization} if authorization is not None else {}
    return httpx.Client(base_url=server.url, headers=headers, timeout=30)


def new_subaccount(server: ServerProcess, parent: httpx.Client, name: str = "auth test sub") -> Creds:
    response = parent.post("/2010-04-01/Accounts.json", data={"FriendlyName": name})
    assert response.status_code == 201, response.text
    body = response.json()
    return Creds(body["sid"], remember_secret(body["auth_token"]))


def new_key(
    server: ServerProcess, client: httpx.Client, account_sid: str, name: str = "auth test key"
) -> Creds:
    response = client.post(f"{server.accounts_path(account_sid)}/Keys.json", data={"FriendlyName": name})
    assert response.status_code == 201, response.text
    body = response.json()
    return Creds(body["sid"], remember_secret(body["secret"]))


def cli_environment(server: ServerProcess) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MYCPAAS_")}
    env["MYCPAAS_DATABASE_URL"] = server.database_url
    env["MYCPAAS_DATA_DIR"] = str(server.data_dir)
    return env


def new_main_account(server: ServerProcess, name: str = "unrelated main account") -> Creds:
    """A second main account on the same server, made with `mycpaas accounts create` as an operator would."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mycpaas",
            "accounts",
            "create",
            "--data-dir",
            str(server.data_dir),
            "--database-url",
            server.database_url,
            "--friendly-name",
            name,
        ],
        capture_output=True,
        text=True,
        env=cli_environment(server),
        cwd=server.data_dir,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    sid = re.search(r"Account SID: (AC[0-9a-f]{32})", done.stdout)
    token = re.search(r"Auth Token:\s+([0-9a-f]{32})", done.stdout)
    assert sid and token, done.stdout
    return Creds(sid.group(1), remember_secret(token.group(1)))


_MAIN_ACCOUNTS: dict[str, Creds] = {}


def other_main_account(server: ServerProcess) -> Creds:
    """One unrelated main account per server, shared by the test modules (the CLI takes about a second)."""
    if server.url not in _MAIN_ACCOUNTS:
        _MAIN_ACCOUNTS[server.url] = new_main_account(server)
    return _MAIN_ACCOUNTS[server.url]


def unique_number() -> str:
    return f"+1415{secrets.randbelow(10**7):07d}"


def own_number(server: ServerProcess, client: httpx.Client, account_sid: str) -> tuple[str, str]:
    """Register a number on the account; returns (PN sid, E.164 number)."""
    response = client.post(
        f"{server.accounts_path(account_sid)}/IncomingPhoneNumbers.json",
        data={"PhoneNumber": unique_number()},
    )
    assert response.status_code == 201, response.text
    return response.json()["sid"], response.json()["phone_number"]


def send_message(
    server: ServerProcess, client: httpx.Client, account_sid: str, sender: str, body: str
) -> str:
    response = client.post(
        f"{server.accounts_path(account_sid)}/Messages.json", data={"To": TO, "From": sender, "Body": body}
    )
    assert response.status_code == 201, response.text
    return str(response.json()["sid"])


def list_all(client: httpx.Client, path: str, key: str) -> list[dict[str, Any]]:
    """Every item of a list resource, following next_page_uri."""
    items: list[dict[str, Any]] = []
    url: str | None = f"{path}?PageSize=1000"
    while url:
        response = client.get(url)
        assert response.status_code == 200, response.text
        body = response.json()
        items += body[key]
        url = body.get("next_page_uri")
    return items
