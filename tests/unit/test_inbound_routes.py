"""Which URLs an inbound message to a number goes to: the number's own, or its Messaging Service's."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mycpaas.domain.inbound_routes import InboundRoute, inbound_route
from mycpaas.domain.messaging_services import MessagingService, new_service
from mycpaas.domain.numbers import IncomingNumber

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _number(sms_url: str = "https://own.example/sms") -> IncomingNumber:
    return IncomingNumber(
        sid="PN" + "0" * 32,
        account_sid="AC" + "0" * 32,
        phone_number="+14155550100",
        friendly_name="n",
        sms_url=sms_url,
        sms_method="GET",
        sms_fallback_url="https://own.example/fallback",
        sms_fallback_method="POST",
        status_callback="",
        status_callback_method="POST",
        voice_url=None,
        voice_method="POST",
        voice_fallback_url=None,
        voice_fallback_method="POST",
        voice_caller_id_lookup=False,
        created_at=NOW,
        updated_at=NOW,
    )


def _service(**fields: object) -> MessagingService:
    service = new_service("MG" + "0" * 32, "AC" + "0" * 32, "svc", NOW)
    for name, value in fields.items():
        setattr(service, name, value)
    return service


OWN = InboundRoute("https://own.example/sms", "GET", "https://own.example/fallback", "POST")


@pytest.mark.parametrize(
    ("number", "service", "expected"),
    [
        (_number(), None, OWN),
        (_number(""), None, None),
        (
            _number(),
            _service(inbound_request_url="https://svc.example/in", inbound_method="GET", fallback_url=None),
            InboundRoute("https://svc.example/in", "GET", "", "POST"),
        ),
        (
            _number(),
            _service(inbound_request_url="https://svc.example/in", fallback_url="https://svc.example/fb"),
            InboundRoute("https://svc.example/in", "POST", "https://svc.example/fb", "POST"),
        ),
        (
            _number(),
            _service(inbound_request_url="https://svc.example/in", use_inbound_webhook_on_number=True),
            OWN,
        ),
        (
            _number(""),
            _service(inbound_request_url="https://svc.example/in", use_inbound_webhook_on_number=True),
            None,
        ),
        # Twilio: a service without an inbound URL has inbound webhooks disabled, whatever the number says.
        (_number(), _service(), None),
    ],
    ids=[
        "no-service",
        "no-service-no-url",
        "service",
        "service-fallback",
        "on-number",
        "on-number-no-url",
        "disabled",
    ],
)
def test_inbound_route(
    number: IncomingNumber, service: MessagingService | None, expected: InboundRoute | None
) -> None:
    assert inbound_route(number, service) == expected
