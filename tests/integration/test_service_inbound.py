"""Inbound messages to a number in a Messaging Service's pool: the service's InboundRequestUrl (with its method
and MessagingServiceSid added, signed as ever) unless UseInboundWebhookOnNumber, its FallbackUrl when that
fails, and LaML replies from the same number carrying the service's sid."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.integration.helpers import send, unique_number
from tests.integration.test_inbound_webhooks import INBOUND_PARAMS, laml
from tests.integration.webhook_support import unique_path, wait_attempts
from tests.receiver import Answer, Receiver, is_valid
from tests.server import ServerProcess


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    instance = Receiver()
    yield instance
    instance.close()


def _number(server: ServerProcess, client: httpx.Client, **extra: str) -> dict[str, Any]:
    response = client.post(
        f"{server.accounts_path()}/IncomingPhoneNumbers.json", data={"PhoneNumber": unique_number(), **extra}
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def _service_with(client: httpx.Client, number_sid: str, **settings: str) -> str:
    created = client.post("/v1/Services", data={"FriendlyName": "inbound", **settings})
    assert created.status_code == 201, created.text
    sid = str(created.json()["sid"])
    added = client.post(f"/v1/Services/{sid}/PhoneNumbers", data={"PhoneNumberSid": number_sid})
    assert added.status_code == 201, added.text
    return sid


def test_the_services_url_answers_with_its_method_and_a_laml_reply_comes_from_the_pool_number(
    server: ServerProcess, receiver: Receiver
) -> None:
    client = server.client()
    service_path, number_path, reply_path = unique_path("svc"), unique_path("own"), unique_path("reply")
    status_path = unique_path("svc-status")
    sender = _number(server, client, SmsUrl=receiver.script(reply_path, laml("")))["phone_number"]
    pooled = _number(server, client, SmsUrl=receiver.script(number_path, laml("")))
    service_sid = _service_with(
        client,
        pooled["sid"],
        InboundRequestUrl=receiver.script(
            service_path + "?app=svc", laml("<Message>the service says hi</Message>")
        ),
        InboundMethod="GET",
        StatusCallback=receiver.url(status_path),
    )

    send(server, client, To=pooled["phone_number"], From=sender, Body="to the pool")

    got = receiver.wait_for(lambda found: len(found) >= 1, path=service_path)[0]
    assert got.method == "GET" and got.params["app"] == "svc"
    assert set(got.params) - {"app"} == INBOUND_PARAMS | {"MessagingServiceSid"}
    assert got.params["MessagingServiceSid"] == service_sid
    assert (got.params["From"], got.params["To"], got.params["Body"]) == (
        sender,
        pooled["phone_number"],
        "to the pool",
    )
    assert is_valid(server.auth_token, got, receiver.url(got.path))
    inbound = client.get(f"{server.accounts_path()}/Messages/{got.params['MessageSid']}.json").json()
    assert inbound["messaging_service_sid"] == service_sid and inbound["direction"] == "inbound"

    reply = receiver.wait_for(lambda found: len(found) >= 1, path=reply_path)[0]
    assert reply.params["Body"] == "the service says hi"
    assert (reply.params["From"], reply.params["To"]) == (pooled["phone_number"], sender)
    assert "MessagingServiceSid" not in reply.params  # the sender's number is in no service
    # The sender's app got the reply as its own inbound message; the reply itself is the pool number's.
    listed = client.get(
        f"{server.accounts_path()}/Messages.json", params={"From": pooled["phone_number"], "To": sender}
    ).json()["messages"]
    by_direction = {m["direction"]: m for m in listed}
    assert set(by_direction) == {"outbound-reply", "inbound"}
    assert by_direction["outbound-reply"]["messaging_service_sid"] == service_sid
    assert by_direction["inbound"]["messaging_service_sid"] is None
    # The reply named no status callback: the service's applies, with the service's sid in it.
    callbacks = receiver.wait_for(lambda found: len(found) >= 3, path=status_path)
    assert {r.params["MessageSid"] for r in callbacks} == {by_direction["outbound-reply"]["sid"]}
    assert {r.params["MessagingServiceSid"] for r in callbacks} == {service_sid}
    assert all(is_valid(server.auth_token, r, receiver.url(status_path)) for r in callbacks)
    assert receiver.received(number_path) == []  # the number's own SmsUrl was not the one called


def test_use_inbound_webhook_on_number_sends_to_the_numbers_url_with_the_service_sid(
    server: ServerProcess, receiver: Receiver
) -> None:
    client = server.client()
    service_path, number_path = unique_path("svc"), unique_path("own")
    sender = _number(server, client)["phone_number"]
    pooled = _number(server, client, SmsUrl=receiver.script(number_path, laml("")))
    service_sid = _service_with(
        client,
        pooled["sid"],
        InboundRequestUrl=receiver.script(service_path, laml("")),
        UseInboundWebhookOnNumber="true",
    )

    send(server, client, To=pooled["phone_number"], From=sender, Body="to the number")

    got = receiver.wait_for(lambda found: len(found) >= 1, path=number_path)[0]
    assert got.method == "POST" and got.params["MessagingServiceSid"] == service_sid
    assert got.params["Body"] == "to the number"
    assert is_valid(server.auth_token, got, receiver.url(number_path))
    log = wait_attempts(server, client, got.params["MessageSid"], 1)
    assert [(x["event"], x["outcome"]) for x in log] == [("inbound", "delivered")]
    assert receiver.received(service_path) == []


def test_a_failing_service_url_goes_to_the_services_fallback(
    server: ServerProcess, receiver: Receiver
) -> None:
    client = server.client()
    primary, fallback, number_fallback = unique_path("svc"), unique_path("svc-fb"), unique_path("own-fb")
    sender = _number(server, client)["phone_number"]
    pooled = _number(server, client, SmsFallbackUrl=receiver.script(number_fallback, laml("")))
    primary_url = receiver.script(primary, Answer(503, "broken"))
    fallback_url = receiver.script(fallback, laml(""))
    service_sid = _service_with(
        client, pooled["sid"], InboundRequestUrl=primary_url, FallbackUrl=fallback_url, FallbackMethod="POST"
    )

    send(server, client, To=pooled["phone_number"], From=sender, Body="anyone?")

    got = receiver.wait_for(lambda found: len(found) >= 1, path=fallback)[0]
    assert got.params["ErrorCode"] == "11200" and got.params["ErrorUrl"] == primary_url
    assert got.params["MessagingServiceSid"] == service_sid
    assert is_valid(server.auth_token, got, fallback_url)
    log = wait_attempts(server, client, got.params["MessageSid"], 3)
    assert [(x["event"], x["outcome"]) for x in log] == [
        ("inbound", "retrying"),
        ("inbound", "failed"),
        ("fallback", "delivered"),
    ]
    assert receiver.received(number_fallback) == []
