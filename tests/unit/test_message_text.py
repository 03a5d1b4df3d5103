"""serializers.message_text: a create's JSON written directly, byte for byte what the dict and the encoder give."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from mycpaas.api.http import JsonResponse, JsonText, encode_json
from mycpaas.api.serializers import message_json, message_text
from mycpaas.domain.messages import Direction, Message, MessageStatus

_text = st.text(st.characters(codec="utf-8") | st.sampled_from('"\\\n\t\x00\x7f\u2028€😀'), max_size=40)
_dates = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1))


@st.composite
def messages(draw: st.DrawFn) -> Message:
    created = draw(_dates)
    return Message(
        sid=draw(st.sampled_from(["SM" + "0" * 32, "MM0123456789abcdef0123456789abcdef"]) | _text),
        account_sid=draw(st.just("AC" + "a" * 32) | _text),
        direction=draw(st.sampled_from(Direction)),
        from_number=draw(st.none() | _text),
        to_number=draw(_text),
        body=draw(_text),
        status=draw(st.sampled_from(MessageStatus)),
        num_segments=draw(st.integers(-1, 10**6)),
        num_media=draw(st.integers(0, 10)),
        encoding="GSM-7",
        error_code=draw(st.none() | st.integers(0, 99999)),
        error_message=draw(st.none() | _text),
        messaging_service_sid=draw(st.none() | _text),
        price=draw(st.none() | _text),
        price_unit=draw(st.none() | _text),
        created_at=created,
        updated_at=draw(st.just(created) | _dates),
        sent_at=draw(st.none() | _dates.map(lambda d: d.replace(tzinfo=UTC))),
    )


@settings(max_examples=400, deadline=None)
@given(messages(), st.sampled_from(["", "/api/laml"]), st.booleans())
def test_the_text_is_the_encoded_dict(message: Message, prefix: str, feedback: bool) -> None:
    text = message_text(message, prefix, feedback)
    assert isinstance(text, JsonText)
    assert text == encode_json(message_json(message, prefix, feedback))
    assert (
        JsonResponse(201, text).encode()
        == JsonResponse(201, message_json(message, prefix, feedback)).encode()
    )


def test_a_create_s_answer() -> None:
    now = datetime(2026, 12, 7, 13, 55, 1)
    message = Message.outbound(
        account_sid="AC" + "1" * 32,
        direction=Direction.OUTBOUND_API,
        from_number="+14155550100",
        to_number="+15551220199",
        body='say "hi" — 😀',
        num_media=0,
        status_callback=None,
        validity_period=None,
        now=now,
    )
    text = message_text(message, "/api/laml", feedback=False)
    assert text == encode_json(message_json(message, "/api/laml", feedback=False))
    assert json.loads(text)["date_updated"] == "Mon, 07 Dec 2026 13:55:01 +0000"
    assert json.loads(text)["subresource_uris"] == {
        "media": f"/api/laml/2010-04-01/Accounts/{message.account_sid}/Messages/{message.sid}/Media.json"
    }
    assert message_text(message, "", feedback=True) == encode_json(message_json(message, "", feedback=True))
    later = message.updated_at + timedelta(seconds=5)
    message.updated_at, message.sent_at = later, later
    assert message_text(message, "") == encode_json(message_json(message, ""))
