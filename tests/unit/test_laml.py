"""LaML replies to an inbound message: what gets sent, what is ignored, and what is an error."""

from __future__ import annotations

import pytest

from mycpaas.errors import ErrorCode
from mycpaas.webhooks.laml import MAX_DOCUMENT_BYTES, Document, LamlError, Redirect, Reply, parse

BASE = "https://customer.example/hooks/sms.php?x=1"
XML = "text/xml"


def laml(body: str, content_type: str = XML) -> Document:
    return parse(content_type, body.encode("utf-8"), BASE)


def error_code(body: bytes | str, content_type: str = XML) -> ErrorCode:
    data = body.encode("utf-8") if isinstance(body, str) else body
    with pytest.raises(LamlError) as raised:
        parse(content_type, data, BASE)
    return raised.value.code


@pytest.mark.parametrize(
    "body", ["", "  \r\n\t", "<Response/>", '<?xml version="1.0"?>\n<Response>\n</Response>']
)
def test_nothing_to_send(body: str) -> None:
    """An empty 200 or an empty <Response> acknowledges the message and sends nothing."""
    assert laml(body) == Document()


def test_plain_message() -> None:
    """The simplest reply: text directly inside <Message>, surrounding whitespace trimmed."""
    assert laml("<Response><Message>\n  Thanks!  \n</Message></Response>").replies == (Reply("Thanks!"),)


def test_message_with_attributes_bodies_and_media() -> None:
    """Nested <Body>s concatenate; to/from/action pass through; relative URLs resolve against the request."""
    document = laml(
        '<Response><Message to="+14155550100" from="+14155550199" action="/status" method="GET">'
        "<Body>Hello, </Body><Body>world</Body>"
        "<Media>cat.jpg</Media><Media>https://cdn.example/dog.png</Media><Media>  </Media>"
        "</Message></Response>"
    )
    assert document.replies == (
        Reply(
            body="Hello, world",
            media=("https://customer.example/hooks/cat.jpg", "https://cdn.example/dog.png"),
            to="+14155550100",
            from_="+14155550199",
            status_callback="https://customer.example/status",
        ),
    )
    assert document.warnings == ()


def test_status_callback_attribute_without_action() -> None:
    """The older statusCallback attribute is honoured when there is no action."""
    document = laml('<Response><Message statusCallback="cb">hi</Message></Response>')
    assert document.replies[0].status_callback == "https://customer.example/hooks/cb"
    both = laml('<Response><Message action="/a" statusCallback="/b">hi</Message></Response>')
    assert both.replies[0].status_callback == "https://customer.example/a"


def test_at_most_ten_media() -> None:
    """Twilio sends at most 10 media per message; the rest are dropped with a warning."""
    media = "".join(f"<Media>/m{i}.png</Media>" for i in range(12))
    document = laml(f"<Response><Message>{media}</Message></Response>")
    assert document.replies[0].media == tuple(f"https://customer.example/m{i}.png" for i in range(10))
    assert len(document.warnings) == 1


def test_text_mixed_with_body_is_ignored_with_warning() -> None:
    """When <Body> is present, loose text is not part of the message (warning 12200)."""
    document = laml("<Response><Message>loose<Body>kept</Body></Message></Response>")
    assert document.replies == (Reply("kept"),)
    assert len(document.warnings) == 1


def test_unknown_verbs_and_nouns_are_skipped_with_warnings() -> None:
    """Voice verbs and unknown nouns do not fail the reply; Twilio warns and carries on."""
    document = laml("<Response><Say>hi</Say><Message>one<Foo/></Message><Message>two</Message></Response>")
    assert [reply.body for reply in document.replies] == ["one", "two"]
    assert len(document.warnings) == 2
    assert "Say" in document.warnings[0] and "Foo" in document.warnings[1]


def test_redirect_keeps_earlier_replies_and_ignores_later_verbs() -> None:
    """Replies before <Redirect> are sent; everything after it is unreachable."""
    document = laml(
        "<Response><Message>before</Message><Redirect> next.xml </Redirect>"
        "<Message>after</Message><Redirect>/other</Redirect></Response>"
    )
    assert document.replies == (Reply("before"),)
    assert document.redirect == Redirect("https://customer.example/hooks/next.xml", "POST")


@pytest.mark.parametrize(("method", "expected"), [("get", "GET"), ("POST", "POST"), ("PUT", "POST")])
def test_redirect_method(method: str, expected: str) -> None:
    """method is case-insensitive; anything but GET/POST falls back to POST."""
    document = laml(
        f'<Response><Redirect method="{method}">https://elsewhere.example/x</Redirect></Response>'
    )
    assert document.redirect == Redirect("https://elsewhere.example/x", expected)


@pytest.mark.parametrize(
    "content_type",
    ["text/xml", "application/xml", "text/xml; charset=utf-8", "TEXT/XML;Charset=UTF-8", " text/html "],
)
def test_accepted_content_types(content_type: str) -> None:
    """Parameters (charset) and case do not matter."""
    assert laml("<Response><Message>hi</Message></Response>", content_type).replies == (Reply("hi"),)


@pytest.mark.parametrize("content_type", ["application/json", "text/plain", "", "text/xmlx"])
def test_bad_content_type_is_12300(content_type: str) -> None:
    """A body that is not XML by its declared type is Twilio's 12300."""
    assert error_code("<Response/>", content_type) is ErrorCode.LAML_BAD_CONTENT_TYPE


@pytest.mark.parametrize(
    "body",
    [
        "<Response><Message>unclosed</Response>",
        "not xml at all",
        '{"message": "hi"}',
        "<Reply><Message>hi</Message></Reply>",
        '<Response xmlns="urn:x"><Message>hi</Message></Response>',
        "<Response/>trailing",
        "<Response><Redirect/></Response>",
        "<Response><Redirect>   </Redirect></Response>",
        '<?xml version="1.0" encoding="bogus"?><Response/>',
        "<Response><Redirect>http://[::1</Redirect></Response>",
        '<Response><Message action="http://[x">hi</Message></Response>',
        "<Response><Message><Media>https://[bad</Media></Message></Response>",
    ],
)
def test_parse_failures_are_12100(body: str) -> None:
    """Malformed XML, a wrong root, an empty or invalid URL: all Twilio's 12100, never another exception."""
    assert error_code(body) is ErrorCode.LAML_PARSE_FAILURE


BILLION_LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + "".join(f'<!ENTITY lol{i} "{("&lol%s;" % (i - 1 or "")) * 10}">' for i in range(1, 10))
    + "]><Response><Message>&lol9;</Message></Response>"
)
HOSTILE = [
    BILLION_LAUGHS,
    '<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><Response><Message>&e;</Message></Response>',
    '<!DOCTYPE x [<!ENTITY % p SYSTEM "http://127.0.0.1:9/x">%p;]><Response/>',
    '<!DOCTYPE x [<!ENTITY e "harmless">]><Response><Message>&e;</Message></Response>',
]


@pytest.mark.parametrize("body", HOSTILE)
def test_entities_are_refused_not_expanded(body: str) -> None:
    """Any entity declaration is refused (12100) before expansion, so no file or memory is touched."""
    assert error_code(body) is ErrorCode.LAML_PARSE_FAILURE


def test_size_limit_is_11750() -> None:
    """64 KiB is accepted; one byte more is Twilio's 11750, checked before parsing or content type."""
    shell = b"<Response><Message></Message></Response>"
    exact = shell.replace(b"</Message>", b"x" * (MAX_DOCUMENT_BYTES - len(shell)) + b"</Message>")
    assert len(exact) == MAX_DOCUMENT_BYTES == 64 * 1024
    assert len(parse(XML, exact, BASE).replies[0].body) == MAX_DOCUMENT_BYTES - len(shell)
    assert error_code(exact + b" ") is ErrorCode.WEBHOOK_RESPONSE_TOO_LARGE
    assert error_code(exact + b" ", "application/json") is ErrorCode.WEBHOOK_RESPONSE_TOO_LARGE


def test_error_codes_are_twilios() -> None:
    """The numbers customers look up in Twilio's error dictionary."""
    codes = [
        ErrorCode.LAML_PARSE_FAILURE,
        ErrorCode.LAML_BAD_CONTENT_TYPE,
        ErrorCode.WEBHOOK_RESPONSE_TOO_LARGE,
    ]
    assert [int(code) for code in codes] == [12100, 12300, 11750]
