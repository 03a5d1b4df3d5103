"""The official Node client libraries against a real `mycpaas serve` process.

- npm `twilio` 6.3.1 over plain http: `client.api.baseUrl` is the server root (and, once, the `/api/laml` prefix
  goes in `client.api.v2010._version`), as the client reference CLIENTS.md, section 3a, describes.
- npm `twilio`'s Messaging v1 domain (`client.messaging.baseUrl`, as docs/clients.md says) in a second run of its
  own: Services, their PhoneNumbers and AlphaSenders, every raw response validated against Twilio's Messaging v1
  OpenAPI schemas (tests/data/twilio-oai/twilio_messaging_v1.json).
- npm `@signalwire/compatibility-api` 3.2.0 over https: `RestClient(sid, token, {signalwireSpaceUrl})` with the
  server's self-signed certificate in NODE_EXTRA_CA_CERTS (section 3b). It sends `Connection: close` on Node's
  keep-alive agent, needs 204 from DELETE for `remove()` to be true, and JSON.parses error bodies.

Both are pinned in tests/clients/node/package.json + package-lock.json; scripts/test.sh runs `npm ci` there.
tests/clients/node/driver.js runs under `node`, prints what it saw as JSON, and the assertions are made here.
The driver creates no credentials: the secrets it uses are the owner's Auth Token, which make_server() already
registered with remember_secret(), and a subaccount's, made and registered here.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import remember_secret
from tests.schemas import assert_valid, response_validator
from tests.server import ServerProcess

NODE = shutil.which("node")
NODE_DIR = Path(__file__).with_name("node")
NODE_MODULES = NODE_DIR / "node_modules"
DRIVER = NODE_DIR / "driver.js"

pytestmark = [
    pytest.mark.skipif(
        NODE is None, reason="`node` is not installed (scripts/test.sh installs Debian's nodejs+npm)"
    ),
    pytest.mark.skipif(
        not NODE_MODULES.is_dir(),
        reason=f"{NODE_MODULES} is missing; run `npm ci` in {NODE_DIR} (scripts/test.sh does this)",
    ),
]

TWILIO_VERSION = "6.3.1"
COMPAT_VERSION = "3.2.0"
UNAUTHORIZED = {
    "type": "RestException",
    "status": 401,
    "code": 20003,
    "message": "Authenticate",
    "moreInfo": "https://www.twilio.com/docs/errors/20003",
}
# Settings that would send the libraries elsewhere: edge/region rewrite the hostname, proxies reroute axios.
DROPPED_ENV = ("TWILIO_", "SIGNALWIRE_", "NODE_", "HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy")


def run_driver(client: str, server: ServerProcess, **extra: str) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(DROPPED_ENV)}
    env.update(
        DRIVER_CLIENT=client,
        DRIVER_ACCOUNT_SID=server.account_sid,
        DRIVER_AUTH_TOKEN=server.auth_token,
        **extra,
    )
    done = subprocess.run(
        [str(NODE), str(DRIVER)], env=env, cwd=NODE_DIR, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, f"driver failed:\n{done.stderr}\n{done.stdout}"
    out: dict[str, Any] = json.loads(done.stdout)
    return out


@pytest.fixture(scope="module")
def twilio_run(server: ServerProcess) -> dict[str, Any]:
    return run_driver("twilio", server, DRIVER_BASE_URL=server.url)


@pytest.fixture(scope="module")
def messaging_run(server: ServerProcess) -> dict[str, Any]:
    """The Messaging v1 run, on a new subaccount of the owner: its service list holds only what the run makes."""
    with server.client() as http:
        made = http.post(
            "/2010-04-01/Accounts.json", data={"FriendlyName": f"node-mg-{secrets.token_hex(4)}"}
        )
    assert made.status_code == 201, made.text
    sub = made.json()
    return run_driver(
        "twilio-messaging",
        server,
        DRIVER_BASE_URL=server.url,
        DRIVER_SUB_SID=sub["sid"],
        DRIVER_SUB_TOKEN=remember_secret(sub["auth_token"]),
    )


@pytest.fixture(scope="module")
def compat_run(tls_server: ServerProcess) -> dict[str, Any]:
    return run_driver(
        "compat",
        tls_server,
        DRIVER_SPACE_URL=f"127.0.0.1:{tls_server.port}",
        NODE_EXTRA_CA_CERTS=str(tls_server.cert_file),
    )


def messages_path(server: ServerProcess) -> str:
    return f"{server.url}/2010-04-01/Accounts/{server.account_sid}/Messages.json"


def assert_message_lifecycle(run: dict[str, Any], server: ServerProcess, body: str) -> None:
    sid = server.account_sid
    assert run["number"]["phone_number"].startswith("+1415")
    assert run["number"]["sid"].startswith("PN")
    assert run["number"]["account_sid"] == sid
    created = run["create"]
    assert created["request"] == {"method": "POST", "uri": messages_path(server), "status": 201}
    assert created["sid"].startswith("SM") and len(created["sid"]) == 34
    assert created["account_sid"] == sid
    assert (created["to"], created["from"]) == (created["recipient"], created["sender"])
    assert created["body"] == body
    assert created["status"] in ("accepted", "queued", "sending", "sent", "delivered")
    assert created["direction"] == "outbound-api"
    assert created["date_created_valid"] is True
    assert created["uri"] == f"/2010-04-01/Accounts/{sid}/Messages/{created['sid']}.json"
    assert run["fetch"] == {
        "sid": created["sid"],
        "body": body,
        "to": created["recipient"],
        "from": created["sender"],
    }
    assert run["final"] == {"status": "delivered", "date_sent_valid": True}
    assert run["redact"] == {"body": "", "fetched_body": ""}
    assert run["remove_status"] == 204
    assert run["remove"] is True
    removed = run["fetch_removed"]
    assert (removed["type"], removed["status"], removed["code"]) == ("RestException", 404, 20404)
    assert removed["moreInfo"] == "https://www.twilio.com/docs/errors/20404"


def assert_paging(run: dict[str, Any], server: ServerProcess) -> None:
    listing = run["list"]
    wanted = listing["wanted_newest_first"]
    assert len(wanted) == 5
    assert listing["listed"] == wanted, "newest first, exactly the 5 messages to the filtered recipient"
    assert listing["listed_to"] == [listing["target"]]
    gets = listing["gets"]
    assert len(gets) == 3, f"5 records at PageSize=2 are 3 pages, each fetched once: {gets}"
    assert all(get["status"] == 200 for get in gets)
    assert gets[0]["uri"] == messages_path(server)
    assert gets[0]["params"] == {"To": listing["target"], "PageSize": 2}
    for page, get in enumerate(gets[1:], start=1):
        # next_page_uri appended to the host root: relative, unprefixed, carrying the filter.
        assert get["uri"].startswith(messages_path(server) + "?"), get["uri"]
        assert f"Page={page}" in get["uri"] and "PageSize=2" in get["uri"] and "PageToken=" in get["uri"]
        assert "To=%2B" + listing["target"][1:] in get["uri"]
    assert run["list_limited"] == {"listed": wanted[:3], "gets": 2}
    assert run["pages"] == {"sizes": [2, 2, 1], "sids": wanted}


# npm twilio 6.x, plain http ----------------------------------------------------------------------------------


def test_twilio_node_is_the_pinned_version_over_http(
    twilio_run: dict[str, Any], server: ServerProcess
) -> None:
    assert twilio_run["versions"] == {"twilio": TWILIO_VERSION}
    assert twilio_run["base_url"] == server.url
    assert server.url.startswith("http://")
    assert {call["user_agent"].split(" ")[0] for call in twilio_run["calls"]} == {
        f"twilio-node/{TWILIO_VERSION}"
    }


def test_twilio_node_messages(twilio_run: dict[str, Any], server: ServerProcess) -> None:
    assert_message_lifecycle(twilio_run, server, "Hello from twilio-node")


def test_twilio_node_list_follows_every_page(twilio_run: dict[str, Any], server: ServerProcess) -> None:
    assert_paging(twilio_run, server)


def test_twilio_node_laml_prefix_in_the_version(twilio_run: dict[str, Any], server: ServerProcess) -> None:
    laml = twilio_run["laml_list"]
    assert laml["listed"] == twilio_run["list"]["wanted_newest_first"]
    assert len(laml["gets"]) == 3
    prefix = f"{server.url}/api/laml/2010-04-01/Accounts/{server.account_sid}/Messages.json"
    assert laml["gets"][0] == prefix
    assert all(uri.startswith(prefix + "?") for uri in laml["gets"][1:]), laml["gets"]


def test_twilio_node_schedules_and_cancels(twilio_run: dict[str, Any]) -> None:
    run = twilio_run["scheduling"]
    assert run["created"] == {"status": "scheduled", "from": None, "service": run["service"]}
    assert run["canceled"]["status"] == "canceled" and run["canceled"]["date_sent"] is None
    assert (run["again"]["status"], run["again"]["code"]) == (400, 30409)


def test_twilio_node_unauthorized(twilio_run: dict[str, Any]) -> None:
    for call in ("create", "fetch", "list"):
        assert twilio_run["wrong_token"][call] == UNAUTHORIZED, call
    assert twilio_run["wrong_token_is_rest_exception"] is True, "instanceof require('twilio').RestException"


def test_twilio_node_sends_through_a_messaging_service(twilio_run: dict[str, Any]) -> None:
    service = twilio_run["service"]
    assert service["created"] == {
        "status": "accepted",
        "from": None,
        "num_segments": "0",
        "messaging_service_sid": service["sid"],
    }
    assert service["final"]["status"] == "delivered" and service["final"]["num_segments"] == "1"
    assert service["final"]["from"] in service["pool"]
    assert service["again"] == {"status": "delivered", "from": service["final"]["from"]}, "sticky sender"
    unknown = service["unknown"]
    assert (unknown["type"], unknown["status"], unknown["code"]) == ("RestException", 400, 21701)


# npm twilio 6.x, the Messaging v1 domain ---------------------------------------------------------------------

MESSAGING_SPEC = "twilio_messaging_v1.json"


def spec_path(uri: str, server: ServerProcess) -> str:
    """/v1/Services/MG…/PhoneNumbers/PN…?PageSize=2 -> /v1/Services/{ServiceSid}/PhoneNumbers/{Sid}."""
    path = uri.removeprefix(server.url).split("?")[0]
    path = re.sub(r"/Services/MG[0-9a-f]{32}(?=/)", "/Services/{ServiceSid}", path)
    return re.sub(r"/(MG|PN|AI)[0-9a-f]{32}$", "/{Sid}", path)


def test_twilio_node_messaging_v1_responses_match_the_schema(
    messaging_run: dict[str, Any], server: ServerProcess
) -> None:
    assert messaging_run["messaging_base_url"] == server.url
    v1 = [call for call in messaging_run["calls"] if "/v1/" in call["uri"]]
    assert len(v1) >= 25
    for call in v1:
        assert call["uri"].startswith(f"{server.url}/v1/Services"), call["uri"]
        status, body = call["status"], call["body"]
        if status >= 400:
            assert set(body) == {"code", "message", "more_info", "status"}, body
            assert body["status"] == status
            continue
        validator = response_validator(
            spec_path(call["uri"], server), call["method"].lower(), str(status), MESSAGING_SPEC
        )
        if validator is None:
            assert (status, body) == (204, None), call
        else:
            assert body is not None, call
            assert_valid(validator, body)


def test_twilio_node_service_lifecycle(messaging_run: dict[str, Any], server: ServerProcess) -> None:
    created = messaging_run["created"]
    sid = created["sid"]
    assert sid.startswith("MG") and len(sid) == 34
    assert created["accountSid"].startswith("AC") and created["accountSid"] != server.account_sid
    assert {key: created[key] for key in ("friendlyName", "inboundRequestUrl", "inboundMethod")} == {
        "friendlyName": "node alerts",
        "inboundRequestUrl": "https://app.example/inbound",
        "inboundMethod": "GET",
    }
    assert (created["statusCallback"], created["validityPeriod"]) == ("https://app.example/status", 600)
    assert (created["stickySender"], created["useInboundWebhookOnNumber"], created["areaCodeGeomatch"]) == (
        False,
        True,
        False,
    )
    assert created["url"] == f"{server.url}/v1/Services/{sid}"
    assert messaging_run["fetched"] == created
    updated = messaging_run["updated"]
    assert (updated["friendlyName"], updated["stickySender"], updated["inboundRequestUrl"]) == (
        "node renamed",
        True,
        None,
    )
    assert updated["statusCallback"] == "https://app.example/status", "an update leaves omitted fields alone"
    assert messaging_run["refetched"] == updated

    deleted = messaging_run["deleted"]
    assert (deleted["remove"], deleted["remove_status"]) == (True, 204)
    gone = deleted["fetch_removed"]
    assert (gone["type"], gone["status"], gone["code"]) == ("RestException", 404, 20404)
    made = messaging_run["made"]
    assert sorted(deleted["listed_after"]) == sorted(made[:2])


def test_twilio_node_lists_services_following_next_page_url(
    messaging_run: dict[str, Any], server: ServerProcess
) -> None:
    listing = messaging_run["list"]
    assert sorted(listing["sids"]) == sorted(messaging_run["made"]), "exactly the subaccount's 3 services"
    gets = listing["gets"]
    assert [(get["method"], get["status"]) for get in gets] == [("GET", 200), ("GET", 200)]
    assert gets[0]["uri"] == f"{server.url}/v1/Services" and gets[0]["params"] == {"PageSize": 2}
    first, last = gets[0]["body"]["meta"], gets[1]["body"]["meta"]
    assert gets[1]["uri"] == first["next_page_url"], "the SDK follows meta.next_page_url verbatim"
    assert (len(gets[0]["body"]["services"]), len(gets[1]["body"]["services"])) == (2, 1)
    assert (first["key"], last["next_page_url"]) == ("services", None)
    assert messaging_run["page_sizes"] == [2, 1]


def test_twilio_node_service_phone_numbers(messaging_run: dict[str, Any]) -> None:
    pool = messaging_run["pool"]
    service, (first, second) = messaging_run["created"]["sid"], pool["owned"]
    assert [(n["sid"], n["serviceSid"]) for n in pool["added"]] == [(first, service), (second, service)]
    assert pool["added"][0]["phoneNumber"].startswith("+1415") and pool["added"][0]["countryCode"] == "US"
    assert sorted(pool["listed"]) == sorted([first, second])
    assert pool["fetched"] == pool["added"][0]
    taken = pool["taken"]
    assert (taken["type"], taken["status"], taken["code"]) == ("RestException", 400, 21710)
    assert (pool["remove"], pool["remove_status"]) == (True, 204)
    gone = pool["fetch_removed"]
    assert (gone["status"], gone["code"]) == (404, 20404)
    assert pool["listed_after"] == [second]


def test_twilio_node_service_alpha_senders(messaging_run: dict[str, Any]) -> None:
    alpha = messaging_run["alpha"]
    created = alpha["created"]
    assert created["sid"].startswith("AI") and created["alphaSender"] == "NodeCo"
    assert created["serviceSid"] == messaging_run["created"]["sid"]
    assert alpha["listed"] == [created["sid"]]
    assert alpha["fetched"] == created
    assert (alpha["remove"], alpha["remove_status"]) == (True, 204)
    gone = alpha["fetch_removed"]
    assert (gone["status"], gone["code"]) == (404, 20404)
    assert alpha["listed_after"] == []


def test_twilio_node_another_accounts_service(messaging_run: dict[str, Any]) -> None:
    """The owner cannot see its subaccount's service on the v1 API (404) nor send through it (21701)."""
    fetch, send = messaging_run["foreign"]["fetch"], messaging_run["foreign"]["send"]
    assert (fetch["type"], fetch["status"], fetch["code"]) == ("RestException", 404, 20404)
    assert (send["type"], send["status"], send["code"]) == ("RestException", 400, 21701)
    assert send["moreInfo"] == "https://www.twilio.com/docs/errors/21701"


# npm @signalwire/compatibility-api 3.x, https -----------------------------------------------------------------


def test_compat_is_the_pinned_version_over_https(
    compat_run: dict[str, Any], tls_server: ServerProcess
) -> None:
    assert compat_run["versions"] == {"compat": COMPAT_VERSION}
    assert compat_run["base_url"] == tls_server.url
    assert tls_server.url.startswith("https://")
    # It bundles a fork of twilio-node and reports its own version in the User-Agent.
    assert {call["user_agent"].split(" ")[0] for call in compat_run["calls"]} == {
        f"twilio-node/{COMPAT_VERSION}"
    }


def test_compat_messages(compat_run: dict[str, Any], tls_server: ServerProcess) -> None:
    # remove() is `statusCode === 204` in this library: a 200 would make it false.
    assert_message_lifecycle(compat_run, tls_server, "Hello from signalwire-compat")


def test_compat_list_follows_every_page(compat_run: dict[str, Any], tls_server: ServerProcess) -> None:
    assert_paging(compat_run, tls_server)


def test_compat_connection_close_is_echoed(compat_run: dict[str, Any]) -> None:
    """The library sends `Connection: close` on Node 20's keep-alive agent: unless the response says
    `Connection: close` too, the next request on the silently closed socket fails with `socket hang up`."""
    calls = compat_run["calls"]
    assert len(calls) >= 20, "many sequential requests, each of which had to succeed"
    assert {call["request_connection"] for call in calls} == {"close"}
    assert {call["response_connection"] for call in calls} == {"close"}
    assert all(isinstance(call["status"], int) for call in calls)


def test_compat_unauthorized(compat_run: dict[str, Any]) -> None:
    # Its RestException JSON.parses the body: a non-JSON 401 would surface as a SyntaxError here.
    for call in ("create", "fetch", "list"):
        assert compat_run["wrong_token"][call] == UNAUTHORIZED, call
