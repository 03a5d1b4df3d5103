"""Webhook events: self-contained queue payloads carrying Twilio's exact parameter names."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from mycpaas.domain.messages import Direction, Message, MessageStatus
from mycpaas.domain.webhooks import (
    API_VERSION,
    EventKind,
    WebhookEvent,
    incoming_message_event,
    status_callback_event,
)

ACCOUNT = "AC" + "a" * 32
SID = "SM" + "b" * 32
NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def message(**changes: object) -> Message:
    base = Message(
        sid=SID,
        account_sid=ACCOUNT,
        direction=Direction.OUTBOUND_API,
        from_number="+14155550100",
        to_number="+33612345678",
        body="héllo 😀",
        status=MessageStatus.SENT,
        num_segments=1,
        num_media=0,
        encoding="UCS-2",
        error_code=None,
        error_message=None,
        status_callback="https://customer.example/status#rc=1",
        validity_period=None,
        messaging_service_sid=None,
        price=None,
        price_unit=None,
        carrier_message_id=None,
        created_at=NOW,
        updated_at=NOW,
        sent_at=None,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def inbound() -> WebhookEvent:
    received = message(
        direction=Direction.INBOUND, from_number="+33612345678", to_number="+14155550100", num_media=2
    )
    return incoming_message_event(
        received, "https://customer.example/sms", "GET", "https://customer.example/fallback", "POST"
    )


def test_json_round_trip() -> None:
    """The event is stored as a queue payload; it must come back equal, kind as an enum, unicode intact."""
    event = inbound()
    restored = WebhookEvent.from_json(event.to_json())
    assert restored == event
    assert restored.kind is EventKind.INCOMING_MESSAGE


def test_for_fallback_adds_error_and_keeps_token() -> None:
    """The fallback request is the same event (same idempotency token) plus ErrorCode and ErrorUrl."""
    event = inbound()
    fallback = event.for_fallback(11200, "https://customer.example/sms")
    assert fallback.kind is EventKind.INCOMING_FALLBACK
    assert fallback.token == event.token
    assert (fallback.url, fallback.method) == ("https://customer.example/fallback", "POST")
    assert fallback.params == {
        **event.params,
        "ErrorCode": "11200",
        "ErrorUrl": "https://customer.example/sms",
    }
    assert "ErrorCode" not in event.params  # the original is not mutated


def test_no_status_callback_no_event() -> None:
    """Messages without a StatusCallback owe nothing."""
    assert status_callback_event(message(status_callback=None), MessageStatus.SENT) is None
    assert status_callback_event(message(status_callback=""), MessageStatus.SENT) is None


def test_status_callback_parameters() -> None:
    """Twilio's status-callback names; the URL keeps its #fragment for the dispatcher to read."""
    event = status_callback_event(message(), MessageStatus.DELIVERED)
    assert event is not None
    assert (event.kind, event.url, event.method) == (
        EventKind.STATUS_CALLBACK,
        "https://customer.example/status#rc=1",
        "POST",
    )
    assert event.message_status == "delivered"
    assert event.params == {
        "ApiVersion": API_VERSION,
        "AccountSid": ACCOUNT,
        "MessageSid": SID,
        "SmsSid": SID,
        "MessageStatus": "delivered",
        "SmsStatus": "delivered",
        "From": "+14155550100",
        "To": "+33612345678",
    }


def test_status_callback_error_code_and_service_only_when_set() -> None:
    """ErrorCode (and MessagingServiceSid) appear only when the message has them."""
    failed = message(error_code=30003, messaging_service_sid="MG" + "c" * 32)
    event = status_callback_event(failed, MessageStatus.UNDELIVERED)
    assert event is not None
    assert event.params["ErrorCode"] == "30003"
    assert event.params["MessagingServiceSid"] == "MG" + "c" * 32


def test_each_status_callback_has_its_own_token() -> None:
    """Two status changes are two events: distinct idempotency tokens."""
    first = status_callback_event(message(), MessageStatus.SENT)
    second = status_callback_event(message(), MessageStatus.SENT)
    assert first is not None and second is not None and first.token != second.token


def test_incoming_message_parameters() -> None:
    """Inbound parameters use Twilio's names; geography it cannot know is present but empty."""
    event = inbound()
    assert (event.kind, event.url, event.method) == (
        EventKind.INCOMING_MESSAGE,
        "https://customer.example/sms",
        "GET",
    )
    assert (event.fallback_url, event.fallback_method) == ("https://customer.example/fallback", "POST")
    params = event.params
    assert params["SmsStatus"] == "received"
    assert params["MessageSid"] == params["SmsSid"] == params["SmsMessageSid"] == SID
    assert (params["From"], params["To"], params["Body"]) == ("+33612345678", "+14155550100", "héllo 😀")
    assert (params["NumMedia"], params["NumSegments"]) == ("2", "1")
    assert (params["ToCountry"], params["FromCountry"]) == ("US", "FR")
    for name in ("FromCity", "FromState", "FromZip", "ToCity", "ToState", "ToZip"):
        assert params[name] == ""


def test_incoming_from_short_code_has_no_country() -> None:
    """A short-code or alphanumeric sender has no E.164 country."""
    received = message(direction=Direction.INBOUND, from_number="MyBrand", to_number="+14155550100")
    event = incoming_message_event(received, "https://c.example/sms", "POST", "", "POST")
    assert event.params["FromCountry"] == ""
    assert event.params["From"] == "MyBrand"
