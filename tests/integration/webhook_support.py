"""Helpers for the webhook tests: a receiver per module, subaccounts, and reading the attempt log."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx

from tests.conftest import remember_secret
from tests.receiver import Received, Receiver
from tests.server import ServerProcess


def unique_path(name: str) -> str:
    return f"/{name}/{uuid.uuid4().hex[:12]}"


def statuses(received: list[Received]) -> list[str]:
    return [r.params.get("MessageStatus", "") for r in received]


def subaccount(server: ServerProcess, client: httpx.Client) -> tuple[str, str]:
    response = client.post("/2010-04-01/Accounts.json", data={"FriendlyName": "webhook test"})
    assert response.status_code == 201, response.text
    body = response.json()
    return body["sid"], remember_secret(body["auth_token"])  # the end-of-session log scan looks for it too


def attempts(
    server: ServerProcess, client: httpx.Client, message_sid: str, account_sid: str | None = None
) -> list[dict[str, Any]]:
    response = client.get(f"{server.accounts_path(account_sid)}/Messages/{message_sid}/WebhookAttempts.json")
    assert response.status_code == 200, response.text
    return list(response.json()["webhook_attempts"])


def wait_attempts(
    server: ServerProcess,
    client: httpx.Client,
    message_sid: str,
    count: int,
    account_sid: str | None = None,
    timeout: float = 20,
) -> list[dict[str, Any]]:
    """The attempt log is written just after each request returns; wait until `count` rows are there."""
    deadline = time.monotonic() + timeout
    while True:
        found = attempts(server, client, message_sid, account_sid)
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def first_arrivals(received: list[Received]) -> list[Received]:
    """One request per idempotency token (its first), in arrival order: what a deduplicating app sees."""
    seen: set[str] = set()
    result = []
    for request in received:
        if request.token not in seen:
            seen.add(request.token)
            result.append(request)
    return result


__all__ = ["Receiver", "Received"]
