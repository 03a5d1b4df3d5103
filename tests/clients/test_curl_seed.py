"""The curl example from the user's authentication page, run as written against a real server.

Only the scheme and host change (and the ACxxx / AUTH_TOKEN placeholders become real credentials). The example
sends `-d "To=+491234567890"`: curl does not encode the `+`, so the server receives a space there.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from typing import Any

import pytest

from tests.schemas import assert_valid, resource_validator
from tests.server import ServerProcess

# Copied verbatim from the auth page ("Passing credentials"); nothing outside the project is read by tests.
SEED_COMMAND = """\
curl -X POST https://developer.mycpaas.io/api/laml/2010-04-01/Accounts/ACxxx/Messages.json \\
  -u ACxxx:AUTH_TOKEN \\
  -d "To=+491234567890" \\
  -d "From=+491098765432" \\
  -d "Body=Hello from mycpaas"
"""
SEED_HOST = "https://developer.mycpaas.io"
SEED_FROM = "+491098765432"
STATUS_MARKER = "\n__HTTP_STATUS__="
MESSAGE = resource_validator("api.v2010.account.message")

pytestmark = pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")


def seed_command(server: ServerProcess, sid: str, token: str) -> str:
    command = SEED_COMMAND.replace(SEED_HOST, server.url).replace("ACxxx", sid).replace("AUTH_TOKEN", token)
    # The test harness's additions: quiet, print the HTTP status, trust the self-signed certificate.
    extra = f"-sS -w '{STATUS_MARKER}%{{http_code}}'"
    if server.tls:
        extra += f" --cacert '{server.cert_file}'"
    return command.replace("curl ", f"curl {extra} ", 1)


def run_curl(command: str) -> tuple[int, Any]:
    done = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    body, _, status = done.stdout.rpartition(STATUS_MARKER)
    return int(status), json.loads(body)


def own_seed_number(server: ServerProcess) -> None:
    """+491098765432 is owned by the account (the shared server may already have it from an earlier test)."""
    numbers = f"{server.accounts_path()}/IncomingPhoneNumbers.json"
    with server.client() as http:
        listed = http.get(numbers, params={"PhoneNumber": SEED_FROM}).json()["incoming_phone_numbers"]
        if SEED_FROM not in [n["phone_number"] for n in listed]:
            created = http.post(numbers, data={"PhoneNumber": SEED_FROM})
            assert created.status_code == 201, created.text


def check_seed_example_sends_a_message(server: ServerProcess) -> None:
    own_seed_number(server)
    status, body = run_curl(seed_command(server, server.account_sid, server.auth_token))
    assert status == 201, body
    assert_valid(MESSAGE, body)
    assert body["to"] == "+491234567890", "curl's unencoded + arrives as a space and must still mean +"
    assert body["from"] == SEED_FROM
    assert body["body"] == "Hello from mycpaas"
    assert body["account_sid"] == server.account_sid
    assert body["status"] in ("accepted", "queued")
    assert body["direction"] == "outbound-api"
    assert body["num_segments"] == "1"
    assert body["sid"].startswith("SM")
    assert body["uri"] == f"/api/laml/2010-04-01/Accounts/{server.account_sid}/Messages/{body['sid']}.json"

    with server.client() as http:
        fetched = http.get(f"{server.accounts_path()}/Messages/{body['sid']}.json")
    assert fetched.status_code == 200
    assert (fetched.json()["to"], fetched.json()["from"]) == ("+491234567890", SEED_FROM)


def check_bad_credentials_give_a_json_401(server: ServerProcess, mistake: str) -> None:
    wrong_token = "f" * 32 if server.auth_token != "f" * 32 else "e" * 32
    if mistake == "wrong token":
        sid, token = server.account_sid, wrong_token
    else:
        sid, token = "AC" + "0" * 32, server.auth_token
    status, body = run_curl(seed_command(server, sid, token))
    assert status == 401
    assert {k: body[k] for k in ("code", "message", "more_info", "status")} == {
        "code": 20003,
        "message": "Authenticate",
        "more_info": "https://www.twilio.com/docs/errors/20003",
        "status": 401,
    }
    assert token not in json.dumps(body), "the secret presented must never be echoed"
    # The detail names the row of the auth page's 401 table that applies.
    expected_hint = "Re-copy the Auth Token" if mistake == "wrong token" else "No mycpaas account"
    assert expected_hint in body.get("detail", ""), body


def test_seed_curl_example_over_http(server: ServerProcess) -> None:
    check_seed_example_sends_a_message(server)


def test_seed_curl_example_over_https(tls_server: ServerProcess) -> None:
    check_seed_example_sends_a_message(tls_server)


@pytest.mark.parametrize("mistake", ["wrong token", "wrong account sid"])
def test_seed_curl_example_with_bad_credentials_over_http(server: ServerProcess, mistake: str) -> None:
    check_bad_credentials_give_a_json_401(server, mistake)


@pytest.mark.parametrize("mistake", ["wrong token", "wrong account sid"])
def test_seed_curl_example_with_bad_credentials_over_https(tls_server: ServerProcess, mistake: str) -> None:
    check_bad_credentials_give_a_json_401(tls_server, mistake)
