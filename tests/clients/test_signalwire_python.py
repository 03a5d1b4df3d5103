"""The official Python `signalwire` SDK (2.1.1) against a real https `mycpaas serve` process.

signalwire pins twilio==6.54.0, so it lives in its own virtualenv (.venv-signalwire, made by the Makefile):

    python3 -m venv .venv-signalwire && .venv-signalwire/bin/pip install signalwire==2.1.1

tests/clients/signalwire_driver.py runs there, prints what it saw as JSON, and the assertions are made here.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import remember_secret
from tests.server import ROOT, ServerProcess

SIGNALWIRE_PYTHON = ROOT / ".venv-signalwire" / "bin" / "python"
DRIVER = Path(__file__).with_name("signalwire_driver.py")

pytestmark = pytest.mark.skipif(
    not SIGNALWIRE_PYTHON.exists(),
    reason=f"{SIGNALWIRE_PYTHON} is missing; create it with `python3 -m venv .venv-signalwire && "
    ".venv-signalwire/bin/pip install signalwire==2.1.1` (the Makefile does this)",
)

UNAUTHORIZED = {"status": 401, "code": 20003, "type": "TwilioRestException"}


@pytest.fixture(scope="module")
def run(tls_server: ServerProcess) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "SIGNALWIRE_", "REQUESTS_CA"))}
    env.update(
        SW_SPACE_URL=f"127.0.0.1:{tls_server.port}",
        SW_PROJECT=tls_server.account_sid,
        SW_TOKEN=tls_server.auth_token,
        SW_CA_FILE=str(tls_server.cert_file),
    )
    done = subprocess.run(
        [str(SIGNALWIRE_PYTHON), str(DRIVER)], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, f"driver failed:\n{done.stderr}\n{done.stdout}"
    out: dict[str, Any] = json.loads(done.stdout)
    remember_secret(out["sub"]["auth_token"])
    remember_secret(out["key"]["secret"])
    return out


def test_driver_used_the_pinned_sdk_over_https(run: dict[str, Any], tls_server: ServerProcess) -> None:
    assert run["versions"] == {"signalwire": "2.1.1", "twilio": "6.54.0"}
    assert run["base_url"] == tls_server.url
    assert tls_server.url.startswith("https://")


def test_messages(run: dict[str, Any], tls_server: ServerProcess) -> None:
    sid = tls_server.account_sid
    assert run["number"]["phone_number"].startswith("+1415")
    assert run["number"]["sid"].startswith("PN")
    assert run["number"]["account_sid"] == sid
    created = run["create"]
    assert created["sid"].startswith("SM") and len(created["sid"]) == 34
    assert created["account_sid"] == sid
    assert (created["to"], created["from"]) == (created["recipient"], created["sender"])
    assert created["body"] == "Hello from signalwire-python"
    assert created["status"] in ("accepted", "queued", "sending", "sent", "delivered")
    assert created["direction"] == "outbound-api"
    assert created["date_created_utc"] is True
    # The SDK's default path has no /api/laml prefix.
    assert created["url"] == f"{tls_server.url}/2010-04-01/Accounts/{sid}/Messages.json"
    assert run["fetch"] == {
        "sid": created["sid"],
        "body": created["body"],
        "to": created["recipient"],
        "from": created["sender"],
    }
    assert run["final"] == {"status": "delivered", "date_sent_set": True}
    assert run["redact"] == {"body": "", "fetched_body": ""}
    assert run["delete"] is True, "signalwire's delete() is `status == 204`"
    assert run["fetch_deleted"] == {"status": 404, "code": 20404, "type": "TwilioRestException"}


def test_list_follows_every_page_of_a_filtered_list(run: dict[str, Any], tls_server: ServerProcess) -> None:
    listing = run["list"]
    assert listing["listed"] == listing["wanted_newest_first"]
    assert len(listing["listed"]) == 5
    assert not set(listing["old"]) & set(listing["listed"])
    gets = listing["gets"]
    assert len(gets) == 3, gets
    first_method, first_url, first_params = gets[0]
    assert first_url == f"{tls_server.url}/2010-04-01/Accounts/{tls_server.account_sid}/Messages.json"
    assert first_params["DateSent>"] == listing["cutoff"]
    assert first_params["PageSize"] == 2
    for _, url, _ in gets[1:]:
        # next_page_uri appended to the host root, as every SDK does.
        assert url.startswith(f"{tls_server.url}/2010-04-01/Accounts/{tls_server.account_sid}/Messages.json?")
        assert "PageToken=" in url
    assert run["list_limited"] == {"listed": listing["wanted_newest_first"][:3], "gets": 2}


def test_subaccounts(run: dict[str, Any], tls_server: ServerProcess) -> None:
    sub = run["sub"]
    assert sub["sid"].startswith("AC") and sub["sid"] != tls_server.account_sid
    assert (sub["status"], sub["owner_account_sid"]) == ("active", tls_server.account_sid)
    assert sub["friendly_name"].startswith("sw-suite-")
    assert len(sub["auth_token"]) == 32
    assert run["sub_message"]["account_sid"] == sub["sid"]
    assert run["sub_message"]["uri"].startswith(f"/2010-04-01/Accounts/{sub['sid']}/Messages/SM")
    assert run["sub_list_via_parent"] is True
    assert run["sub_fetch_own"] == sub["sid"]
    assert run["sub_reaches_parent_fetch"] == UNAUTHORIZED
    assert run["sub_reaches_parent_create"] == UNAUTHORIZED
    assert run["sub_fetches_parent_account"] == UNAUTHORIZED
    assert run["suspend"] == "suspended"
    assert run["suspended_sub_fetch"] == UNAUTHORIZED
    assert run["reactivate"] == "active"
    assert run["reactivated_sub_fetch"] is True
    assert run["close"] == "closed"
    assert run["closed_sub_fetch"] == UNAUTHORIZED
    assert run["closed_parent_on_sub_fetch"] == UNAUTHORIZED
    assert run["closed_listed"] == [[sub["sid"], "closed"]]


def test_api_keys(run: dict[str, Any], tls_server: ServerProcess) -> None:
    key = run["key"]
    assert key["sid"].startswith("SK") and len(key["sid"]) == 34
    assert key["friendly_name"] == "sw-suite-key"
    assert key["secret"]
    assert run["key_message"]["account_sid"] == tls_server.account_sid
    assert run["key_message"]["fetched"].startswith("SM")
    assert run["key_on_accounts"] == UNAUTHORIZED
    assert run["key_on_keys"] == UNAUTHORIZED
    assert run["key_delete"] is True, "signalwire's delete() is `status == 204`"
    assert run["deleted_key_create"] == UNAUTHORIZED


def test_unauthorized(run: dict[str, Any]) -> None:
    for label in ("wrong_token", "unknown_sid"):
        assert run[label]["create"] == UNAUTHORIZED, label
        assert run[label]["fetch"] == UNAUTHORIZED, label
        # list/page errors are the base TwilioException in twilio 6.54 too.
        assert run[label]["list"] == {"status": 401, "code": 20003, "type": "TwilioException"}, label
    raw = run["raw_401"]
    assert raw["status"] == 401
    assert {k: raw["json"][k] for k in ("code", "message", "more_info", "status")} == {
        "code": 20003,
        "message": "Authenticate",
        "more_info": "https://www.twilio.com/docs/errors/20003",
        "status": 401,
    }
