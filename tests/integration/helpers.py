"""Small helpers shared by the integration tests."""

from __future__ import annotations

import secrets
import time
from typing import Any

import httpx

from tests.server import ServerProcess

FINAL = {"delivered", "undelivered", "failed", "canceled", "received"}


def unique_number() -> str:
    """A possible, unused +1 number for registering as an owned number."""
    return f"+1415{secrets.randbelow(10**7):07d}"


def own_number(
    server: ServerProcess, client: httpx.Client, account_sid: str | None = None, **extra: str
) -> str:
    number = unique_number()
    response = client.post(
        f"{server.accounts_path(account_sid)}/IncomingPhoneNumbers.json",
        data={"PhoneNumber": number, **extra},
    )
    assert response.status_code == 201, response.text
    return number


def send(
    server: ServerProcess, client: httpx.Client, account_sid: str | None = None, **data: Any
) -> httpx.Response:
    return client.post(f"{server.accounts_path(account_sid)}/Messages.json", data=data)


def wait_final(
    server: ServerProcess, client: httpx.Client, sid: str, account_sid: str | None = None, timeout: float = 20
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        body = client.get(f"{server.accounts_path(account_sid)}/Messages/{sid}.json").json()
        if body.get("status") in FINAL or time.monotonic() > deadline:
            return body
        time.sleep(0.05)
