"""Messaging Services through the official twilio-python client's messaging domain, pointed at a real server
(`client.messaging.base_url`, docs/clients.md), on SQLite and PostgreSQL; raw bodies validated against Twilio's
Messaging v1 OpenAPI schemas (tests/data/twilio-oai/twilio_messaging_v1.json)."""

from __future__ import annotations

import secrets
from typing import Any

import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from tests.clients.conftest import unique_number
from tests.conftest import remember_secret
from tests.schemas import assert_valid, list_validator, resource_validator
from tests.server import ServerProcess

SPEC = "twilio_messaging_v1.json"
SERVICE = resource_validator("messaging.v1.service", SPEC)
SERVICE_LIST = list_validator("/v1/Services", SPEC)
POOL_NUMBER = resource_validator("messaging.v1.service.phone_number", SPEC)
POOL_NUMBER_LIST = list_validator("/v1/Services/{ServiceSid}/PhoneNumbers", SPEC)
ALPHA_SENDER = resource_validator("messaging.v1.service.alpha_sender", SPEC)
ALPHA_SENDER_LIST = list_validator("/v1/Services/{ServiceSid}/AlphaSenders", SPEC)


@pytest.fixture(autouse=True)
def _no_edge_or_region(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TWILIO_EDGE", raising=False)
    monkeypatch.delenv("TWILIO_REGION", raising=False)


def sdk(server: ServerProcess, username: str | None = None, password: str | None = None, **kw: Any) -> Client:
    client = Client(username or server.account_sid, password or server.auth_token, **kw)
    client.api.base_url = server.url
    client.messaging.base_url = server.url
    return client


def raw(server: ServerProcess, path: str, username: str | None = None, password: str | None = None) -> Any:
    with server.client(username, password) as http:
        response = http.get(path)
    assert response.status_code == 200, response.text
    return response.json()


def rest_error(call: Any) -> tuple[int, int]:
    with pytest.raises(TwilioRestException) as error:
        call()
    return error.value.status, error.value.code


def own_number_sid(client: Client) -> str:
    return str(client.incoming_phone_numbers.create(phone_number=unique_number()).sid)


def test_service_lifecycle(server: ServerProcess) -> None:
    client = sdk(server)
    services = client.messaging.v1.services
    created = services.create(
        friendly_name="Alerts",
        inbound_request_url="https://app.example/inbound",
        inbound_method="GET",
        fallback_url="https://app.example/fallback",
        status_callback="https://app.example/status",
        sticky_sender=False,
        mms_converter=False,
        smart_encoding=False,
        scan_message_content="disable",
        fallback_to_long_code=True,
        area_code_geomatch=False,
        validity_period=600,
        synchronous_validation=True,
        usecase="marketing",
        use_inbound_webhook_on_number=True,
    )
    assert created.sid.startswith("MG") and len(created.sid) == 34
    assert created.account_sid == server.account_sid
    assert (created.friendly_name, created.inbound_request_url, created.inbound_method) == (
        "Alerts",
        "https://app.example/inbound",
        "GET",
    )
    assert (created.fallback_url, created.fallback_method, created.status_callback) == (
        "https://app.example/fallback",
        "POST",
        "https://app.example/status",
    )
    assert (created.sticky_sender, created.mms_converter, created.smart_encoding) == (False, False, False)
    assert (created.fallback_to_long_code, created.area_code_geomatch, created.synchronous_validation) == (
        True,
        False,
        True,
    )
    assert (created.scan_message_content, created.validity_period, created.usecase) == (
        "disable",
        600,
        "marketing",
    )
    assert created.use_inbound_webhook_on_number is True
    assert created.url == f"{server.url}/v1/Services/{created.sid}"
    assert created.links["phone_numbers"] == f"{created.url}/PhoneNumbers"
    assert_valid(SERVICE, raw(server, f"/v1/Services/{created.sid}"))

    defaults = services.create(friendly_name="Defaults")
    assert (defaults.sticky_sender, defaults.area_code_geomatch, defaults.smart_encoding) == (
        True,
        True,
        True,
    )
    assert (defaults.validity_period, defaults.inbound_request_url, defaults.usecase) == (
        36000,
        None,
        "undeclared",
    )

    updated = client.messaging.v1.services(created.sid).update(
        friendly_name="Renamed", sticky_sender=True, inbound_request_url="", validity_period=36000
    )
    assert (updated.friendly_name, updated.sticky_sender, updated.inbound_request_url) == (
        "Renamed",
        True,
        None,
    )
    assert updated.status_callback == "https://app.example/status"  # untouched by an update that omits it
    fetched = client.messaging.v1.services(created.sid).fetch()
    assert (fetched.friendly_name, fetched.validity_period) == ("Renamed", 36000)

    # Paged like the v1 APIs: the SDK follows meta.next_page_url to the end.
    listed = [s.sid for s in services.list(page_size=1)]
    assert {created.sid, defaults.sid} <= set(listed) and len(listed) == len(set(listed))
    first = raw(server, "/v1/Services?PageSize=1")
    assert_valid(SERVICE_LIST, first)
    assert first["meta"]["key"] == "services" and first["meta"]["next_page_url"]

    assert client.messaging.v1.services(defaults.sid).delete() is True
    assert rest_error(client.messaging.v1.services(defaults.sid).fetch) == (404, 20404)
    assert defaults.sid not in [s.sid for s in services.list()]


def test_pool_numbers(server: ServerProcess) -> None:
    client = sdk(server)
    service = client.messaging.v1.services.create(friendly_name="Pool")
    other = client.messaging.v1.services.create(friendly_name="Other pool")
    pool = client.messaging.v1.services(service.sid).phone_numbers
    first, second = own_number_sid(client), own_number_sid(client)

    added = pool.create(phone_number_sid=first)
    assert (added.sid, added.service_sid, added.account_sid) == (first, service.sid, server.account_sid)
    assert added.phone_number.startswith("+1415") and added.country_code == "US"
    assert_valid(POOL_NUMBER, raw(server, f"/v1/Services/{service.sid}/PhoneNumbers/{first}"))
    pool.create(phone_number_sid=second)
    assert sorted(n.sid for n in pool.list(page_size=1)) == sorted([first, second])
    assert_valid(POOL_NUMBER_LIST, raw(server, f"/v1/Services/{service.sid}/PhoneNumbers"))
    assert pool(first).fetch().phone_number == added.phone_number

    # A number belongs to at most one service; unknown and malformed sids are 21421.
    assert rest_error(
        lambda: client.messaging.v1.services(other.sid).phone_numbers.create(phone_number_sid=first)
    ) == (
        400,
        21710,
    )
    assert rest_error(lambda: pool.create(phone_number_sid=first)) == (400, 21710)
    assert rest_error(lambda: pool.create(phone_number_sid="PN" + secrets.token_hex(16))) == (400, 21421)
    assert rest_error(lambda: pool.create(phone_number_sid="not-a-sid")) == (400, 21421)

    # Removed from the pool, it may join another; released, it leaves its pool.
    assert pool(first).delete() is True
    assert rest_error(pool(first).fetch) == (404, 20404)
    assert (
        client.messaging.v1.services(other.sid).phone_numbers.create(phone_number_sid=first).service_sid
        == other.sid
    )
    assert client.incoming_phone_numbers(second).delete() is True
    assert [n.sid for n in pool.list()] == []

    # Deleting a service frees its numbers.
    assert client.messaging.v1.services(other.sid).delete() is True
    assert pool.create(phone_number_sid=first).service_sid == service.sid


def test_alpha_senders(server: ServerProcess) -> None:
    client = sdk(server)
    service = client.messaging.v1.services.create(friendly_name="Alpha")
    alphas = client.messaging.v1.services(service.sid).alpha_senders
    for bad in ("12345", "Twelve chars", "Bad*char", "+-_&"):
        assert rest_error(lambda bad=bad: alphas.create(alpha_sender=bad)) == (400, 20422), bad
    added = alphas.create(alpha_sender="Acme & Co")
    assert added.sid.startswith("AI") and (added.alpha_sender, added.service_sid) == (
        "Acme & Co",
        service.sid,
    )
    assert_valid(ALPHA_SENDER, raw(server, f"/v1/Services/{service.sid}/AlphaSenders/{added.sid}"))
    assert_valid(ALPHA_SENDER_LIST, raw(server, f"/v1/Services/{service.sid}/AlphaSenders"))
    assert [a.sid for a in alphas.list()] == [added.sid]
    assert rest_error(lambda: alphas.create(alpha_sender="Second")) == (400, 20422)  # one per service
    assert alphas(added.sid).fetch().alpha_sender == "Acme & Co"
    assert alphas(added.sid).delete() is True
    assert rest_error(alphas(added.sid).fetch) == (404, 20404)
    assert alphas.create(alpha_sender="Second").alpha_sender == "Second"


def test_services_are_scoped_to_the_credentials_account(server: ServerProcess) -> None:
    parent = sdk(server)
    sub = parent.api.accounts.create(friendly_name=f"mg-scope-{secrets.token_hex(4)}")
    sub_client = sdk(server, sub.sid, remember_secret(sub.auth_token))
    mine = parent.messaging.v1.services.create(friendly_name="Parent's")
    theirs = sub_client.messaging.v1.services.create(friendly_name="Sub's")
    assert theirs.account_sid == sub.sid

    assert mine.sid not in [s.sid for s in sub_client.messaging.v1.services.list()]
    assert theirs.sid not in [s.sid for s in parent.messaging.v1.services.list()]
    for call in (
        sub_client.messaging.v1.services(mine.sid).fetch,
        lambda: sub_client.messaging.v1.services(mine.sid).update(friendly_name="taken"),
        sub_client.messaging.v1.services(mine.sid).delete,
        parent.messaging.v1.services(theirs.sid).fetch,
    ):
        assert rest_error(call) == (404, 20404)
    with server.client(sub.sid, sub.auth_token) as http:
        listed = http.get(f"/v1/Services/{mine.sid}/PhoneNumbers")
    assert (listed.status_code, listed.json()["code"]) == (404, 20404)
    # Another account's number (the parent's, here) cannot join the subaccount's pool.
    parent_number = own_number_sid(parent)
    sub_pool = sub_client.messaging.v1.services(theirs.sid).phone_numbers
    assert rest_error(lambda: sub_pool.create(phone_number_sid=parent_number)) == (400, 21421)

    # An API key of the account sees the account's services.
    key = parent.new_keys.create(friendly_name="mg-key")
    keyed = sdk(server, key.sid, remember_secret(key.secret), account_sid=server.account_sid)
    assert keyed.messaging.v1.services(mine.sid).fetch().friendly_name == "Parent's"


@pytest.mark.parametrize(
    ("form", "code"),
    [
        ({}, 20001),
        ({"FriendlyName": ""}, 20002),
        ({"FriendlyName": "x", "StickySender": "yes"}, 20422),
        ({"FriendlyName": "x", "InboundMethod": "PUT"}, 20422),
        ({"FriendlyName": "x", "InboundRequestUrl": "ftp://app.example/in"}, 21502),
        ({"FriendlyName": "x", "StatusCallback": "https://bad_host.example/s"}, 21502),
        ({"FriendlyName": "x", "ValidityPeriod": "36001"}, 21624),
        ({"FriendlyName": "x", "ValidityPeriod": "ten"}, 21624),
        ({"FriendlyName": "x", "Usecase": "spam"}, 20422),
        ({"FriendlyName": "x", "ScanMessageContent": "maybe"}, 20422),
    ],
)
def test_bad_service_settings(server: ServerProcess, form: dict[str, str], code: int) -> None:
    with server.client() as http:
        response = http.post("/v1/Services", data=form)
    assert (response.status_code, response.json()["code"]) == (400, code), response.text
    assert set(response.json()) == {"code", "message", "more_info", "status"}


def test_unknown_services_and_sub_resources_are_404(server: ServerProcess) -> None:
    with server.client() as http:
        service = http.post("/v1/Services", data={"FriendlyName": "404s"}).json()["sid"]
        paths = [
            f"/v1/Services/MG{secrets.token_hex(16)}",
            f"/v1/Services/MG{secrets.token_hex(16)}/PhoneNumbers",
            f"/v1/Services/{service}/PhoneNumbers/PN{secrets.token_hex(16)}",
            f"/v1/Services/{service}/AlphaSenders/AI{secrets.token_hex(16)}",
            *(f"/v1/Services/{service}/{sub}" for sub in ("ShortCodes", "ChannelSenders", "Messages")),
            f"/v1/Services/{service}/DestinationAlphaSenders",
            f"/v1/Services/{service}/Compliance/Usa2p",
        ]
        for path in paths:
            response = http.get(path)
            assert (response.status_code, response.json()["code"]) == (404, 20404), path
        assert http.get("/v1/Services?PageToken=bogus").json()["code"] == 21481
        laml = http.get(f"/api/laml/v1/Services/{service}").json()  # SignalWire's prefix is served too
        assert laml["url"] == f"{server.url}/api/laml/v1/Services/{service}"
        assert http.put(f"/v1/Services/{service}").json()["code"] == 20004
