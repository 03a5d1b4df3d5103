"""Auth Token rotation without downtime: /v1/AuthTokens/Secondary and /v1/AuthTokens/Promote.

Each test rotates the tokens of a subaccount of its own (with the subaccount's credentials, which is how the
v1 endpoints pick the account), so the shared server's owner token never changes.
"""

from __future__ import annotations

import re

import httpx
import pytest

from tests.conftest import remember_secret
from tests.integration.auth_support import (
    Creds,
    assert_auth_failure,
    assert_no_secret,
    assert_twilio_error,
    new_subaccount,
)
from tests.integration.helpers import own_number, send
from tests.integration.webhook_support import unique_path
from tests.receiver import Received, Receiver, is_valid
from tests.schemas import assert_valid, resource_validator
from tests.server import ServerProcess

SECONDARY = resource_validator("accounts.v1.secondary_auth_token", spec="twilio_accounts_v1.json")
PROMOTION = resource_validator("accounts.v1.auth_token_promotion", spec="twilio_accounts_v1.json")
ISO_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
TOKEN = re.compile(r"^[0-9a-f]{32}$")


@pytest.fixture
def sub(server: ServerProcess) -> Creds:
    with server.client() as parent:
        return new_subaccount(server, parent, "rotation test")


def works(server: ServerProcess, sid: str, token: str) -> bool:
    with server.client(sid, token) as client:
        response = client.get(f"{server.accounts_path(sid)}/Messages.json")
    assert response.status_code in (200, 401), response.text
    return response.status_code == 200


def create_secondary(server: ServerProcess, creds: Creds) -> dict[str, object]:
    with server.client(creds.username, creds.password) as client:
        response = client.post("/v1/AuthTokens/Secondary")
    assert response.status_code == 201, response.text
    body = response.json()
    remember_secret(body["secondary_auth_token"])
    assert_valid(SECONDARY, body)
    return body


def promote(server: ServerProcess, creds: Creds) -> httpx.Response:
    with server.client(creds.username, creds.password) as client:
        response = client.post("/v1/AuthTokens/Promote")
    if response.status_code == 200:
        remember_secret(response.json()["auth_token"])
    return response


def test_secondary_response_shape(server: ServerProcess, sub: Creds) -> None:
    body = create_secondary(server, sub)
    assert body["account_sid"] == sub.username
    assert TOKEN.match(str(body["secondary_auth_token"]))
    assert body["secondary_auth_token"] != sub.password
    assert ISO_UTC.match(str(body["date_created"])) and ISO_UTC.match(str(body["date_updated"]))
    assert body["url"] == f"{server.url}/v1/AuthTokens/Secondary"


def test_secondary_works_beside_primary(server: ServerProcess, sub: Creds) -> None:
    secondary = str(create_secondary(server, sub)["secondary_auth_token"])
    assert works(server, sub.username, sub.password)
    assert works(server, sub.username, secondary)
    assert works(server, sub.username, sub.password)


def test_a_new_secondary_replaces_the_previous_one(server: ServerProcess, sub: Creds) -> None:
    first = str(create_secondary(server, sub)["secondary_auth_token"])
    second = str(create_secondary(server, sub)["secondary_auth_token"])
    assert first != second
    assert not works(server, sub.username, first)
    assert works(server, sub.username, second)
    assert works(server, sub.username, sub.password)


def test_promote_switches_tokens_at_once(server: ServerProcess, sub: Creds) -> None:
    secondary = str(create_secondary(server, sub)["secondary_auth_token"])
    response = promote(server, sub)
    assert response.status_code == 200, response.text
    body = response.json()
    assert_valid(PROMOTION, body)
    assert body["account_sid"] == sub.username
    assert body["auth_token"] == secondary
    assert ISO_UTC.match(body["date_created"]) and ISO_UTC.match(body["date_updated"])
    assert body["url"] == f"{server.url}/v1/AuthTokens/Promote"
    assert_no_secret(response, sub.password)

    with server.client(sub.username, sub.password) as client:
        refused = client.get(f"{server.accounts_path(sub.username)}/Messages.json")
    assert_auth_failure(refused, sub.password, secondary, says=("rotated",))
    assert works(server, sub.username, secondary)
    # The account shows the new token to its parent, and the old one is gone everywhere.
    with server.client() as parent:
        fetched = parent.get(f"{server.accounts_path(sub.username)}.json").json()
    assert fetched["auth_token"] == secondary


def test_promote_can_be_called_with_the_secondary_itself(server: ServerProcess, sub: Creds) -> None:
    secondary = str(create_secondary(server, sub)["secondary_auth_token"])
    response = promote(server, Creds(sub.username, secondary))
    assert response.status_code == 200, response.text
    assert not works(server, sub.username, sub.password)
    assert works(server, sub.username, secondary)


def test_promote_leaves_no_secondary(server: ServerProcess, sub: Creds) -> None:
    secondary = str(create_secondary(server, sub)["secondary_auth_token"])
    assert promote(server, sub).status_code == 200
    with server.client(sub.username, secondary) as client:
        response = client.delete("/v1/AuthTokens/Secondary")
    assert_twilio_error(response, 404, 20404)
    assert works(server, sub.username, secondary)


def test_delete_secondary_stops_it_working(server: ServerProcess, sub: Creds) -> None:
    secondary = str(create_secondary(server, sub)["secondary_auth_token"])
    with server.client(sub.username, sub.password) as client:
        response = client.delete("/v1/AuthTokens/Secondary")
    assert response.status_code == 204, response.text
    assert response.content == b""
    assert not works(server, sub.username, secondary)
    assert works(server, sub.username, sub.password)


def test_delete_without_secondary_is_404(server: ServerProcess, sub: Creds) -> None:
    with server.client(sub.username, sub.password) as client:
        response = client.delete("/v1/AuthTokens/Secondary")
    body = assert_twilio_error(response, 404, 20404)
    assert body["message"] == "The requested resource /AuthTokens/Secondary was not found"
    assert_no_secret(response, sub.password)


def test_promote_without_secondary_is_refused(server: ServerProcess, sub: Creds) -> None:
    response = promote(server, sub)
    assert 400 <= response.status_code < 500 and response.status_code not in (401, 404), response.text
    body = assert_twilio_error(response, response.status_code)
    assert "secondary" in (body["message"] + body.get("detail", "")).lower()
    assert_no_secret(response, sub.password)
    assert works(server, sub.username, sub.password)


def test_rotation_only_touches_the_calling_account(server: ServerProcess, sub: Creds) -> None:
    with server.client() as parent:
        sibling = new_subaccount(server, parent, "rotation sibling")
    create_secondary(server, sub)
    assert promote(server, sub).status_code == 200
    assert works(server, sibling.username, sibling.password)
    assert works(server, server.account_sid, server.auth_token)
    with server.client(sibling.username, sibling.password) as client:
        assert_twilio_error(client.delete("/v1/AuthTokens/Secondary"), 404, 20404)


def test_webhook_signatures_switch_to_the_new_token_at_promotion(server: ServerProcess, sub: Creds) -> None:
    """While a secondary token exists, webhooks are still signed with the primary one; once it is promoted,
    with the new primary (docs/authentication.md): a receiver validating with the old token rejects them."""
    receiver = Receiver()
    try:
        client = server.client(sub.username, sub.password)
        sender = own_number(server, client, sub.username)
        secondary = str(create_secondary(server, sub)["secondary_auth_token"])

        def callbacks(name: str, creds: Creds) -> tuple[str, list[Received]]:
            path = unique_path(name)
            url = receiver.url(path)
            with server.client(creds.username, creds.password) as sending:
                sent = send(
                    server,
                    sending,
                    sub.username,
                    To="+15551230003",
                    From=sender,
                    Body="x",
                    StatusCallback=url,
                )
            assert sent.status_code == 201, sent.text
            return url, receiver.wait_for(lambda found: len(found) >= 3, path=path)

        url, before = callbacks("before-promotion", sub)
        assert all(is_valid(sub.password, r, url) for r in before)
        assert not any(is_valid(secondary, r, url) for r in before)

        assert promote(server, sub).status_code == 200
        url, after = callbacks("after-promotion", Creds(sub.username, secondary))
        assert all(is_valid(secondary, r, url) for r in after)
        assert not any(is_valid(sub.password, r, url) for r in after)
    finally:
        receiver.close()
