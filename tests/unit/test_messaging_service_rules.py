"""The pure rules of domain/messaging_services.py: Twilio's settings parameters and the alpha-sender rule."""

from __future__ import annotations

import pytest

from mycpaas.domain.messaging_services import alpha_sender_problem, parse_settings
from mycpaas.errors import ErrorCode, InvalidRequest


@pytest.mark.parametrize("value", ["Acme", "A", "Acme & Co+1", "my_shop-2", "12345678 A"])
def test_alpha_senders_twilio_takes(value: str) -> None:
    assert alpha_sender_problem(value) is None


@pytest.mark.parametrize("value", ["", "123456", "12 34", "+-_&", "Twelve chars", "Acme!", "Acmé", "Ac\nme"])
def test_alpha_senders_twilio_refuses(value: str) -> None:
    assert alpha_sender_problem(value) is not None


def test_settings_are_parsed_from_twilios_parameter_names() -> None:
    parsed = parse_settings(
        {
            "StickySender": "False",
            "InboundMethod": "get",
            "InboundRequestUrl": " https://app.example/in ",
            "FallbackUrl": "",
            "ValidityPeriod": "1",
            "Usecase": "POLL",
            "FriendlyName": "not a setting",
        }
    )
    assert parsed == {
        "sticky_sender": False,
        "inbound_method": "GET",
        "inbound_request_url": "https://app.example/in",
        "fallback_url": None,
        "validity_period": 1,
        "usecase": "poll",
    }


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"AreaCodeGeomatch": "1"}, ErrorCode.INVALID_PARAMETER),
        ({"FallbackMethod": "DELETE"}, ErrorCode.INVALID_PARAMETER),
        ({"StatusCallback": "http://127.1/status"}, ErrorCode.INVALID_URL),
        ({"ValidityPeriod": "0"}, ErrorCode.VALIDITY_PERIOD_INVALID),
        ({"ValidityPeriod": "9" * 400}, ErrorCode.VALIDITY_PERIOD_INVALID),
        ({"ScanMessageContent": ""}, ErrorCode.INVALID_PARAMETER),
    ],
)
def test_bad_settings_name_their_parameter(params: dict[str, str], code: ErrorCode) -> None:
    with pytest.raises(InvalidRequest) as refused:
        parse_settings(params)
    assert refused.value.code is code
    if code is not ErrorCode.VALIDITY_PERIOD_INVALID:
        assert next(iter(params)) in refused.value.message
