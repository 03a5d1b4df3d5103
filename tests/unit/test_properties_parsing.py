"""Properties of the parsers that read what clients and customers' servers send: LaML replies, form and query
strings, and DateSent filters. Each gives a result or its module's own error for any input, never another
exception (which the API or the webhook dispatcher would turn into a 500 or a lost reply)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from urllib.parse import urlencode
from xml.sax.saxutils import escape, quoteattr

from hypothesis import example, given
from hypothesis import strategies as st

from mycpaas.api.body import MAX_PARAMETERS, parse_body, parse_query
from mycpaas.api.forms import message_filter
from mycpaas.api.http import MultiDict
from mycpaas.domain.clock import rfc2822
from mycpaas.errors import InvalidRequest
from mycpaas.webhooks.laml import Document, LamlError, parse

# Text XML 1.0 can carry: no lone surrogates, no C0 controls but tab, newline and carriage return.
xml_char = st.characters(exclude_categories=("Cs",)).filter(lambda c: c in "\t\n\r" or ord(c) >= 0x20)
xml_text = st.text(xml_char, max_size=30)
url_text = st.one_of(
    xml_text,
    st.sampled_from(
        ["/next", "https://example.com/a?b=1#c", "http://[::1", "//evil", "http://10.0.0.1/", "?q"]
    ),
)
TAGS = ["Message", "Redirect", "Body", "Media", "Response", "Gather", "Say", "Hangup"]
ATTRIBUTES = ["to", "from", "action", "statusCallback", "method"]


@st.composite
def elements(draw: st.DrawFn, depth: int = 0) -> str:
    tag = draw(st.sampled_from(TAGS))
    attributes = draw(st.dictionaries(st.sampled_from(ATTRIBUTES), url_text, max_size=3))
    attrs = "".join(f" {name}={quoteattr(value)}" for name, value in attributes.items())
    children = draw(st.lists(elements(depth + 1), max_size=3)) if depth < 2 else []
    return f"<{tag}{attrs}>{escape(draw(url_text))}{''.join(children)}</{tag}>"


@st.composite
def laml_documents(draw: st.DrawFn) -> bytes:
    """Mostly well-formed replies of messaging verbs, some cut short or with a declaration of any encoding."""
    verbs = "".join(draw(st.lists(elements(1), max_size=5)))
    root = draw(st.sampled_from(["Response", "Response", "Response", "Messages", "response"]))
    declaration = draw(
        st.sampled_from(["", '<?xml version="1.0"?>', '<?xml version="1.0" encoding="bogus"?>'])
        | st.builds('<?xml version="1.0" encoding="{}"?>'.format, st.sampled_from(["utf-16", "latin-1", "x"]))
    )
    text = f"{declaration}<{root}>{verbs}</{root}>".encode()
    if draw(st.integers(0, 4)) == 0:
        text = text[: draw(st.integers(0, len(text)))]
    return text


content_types = st.sampled_from(["text/xml", "application/xml; charset=utf-8", "TEXT/HTML", "", "text/plain"])
base_urls = st.sampled_from(["https://customer.example/sms", "http://127.0.0.1:9/x?y#z", "http://[::1", ""])


@given(content_types, st.one_of(laml_documents(), st.binary(max_size=300)), base_urls)
@example("text/xml", b'<?xml version="1.0" encoding="bogus"?><Response/>', "https://a.example/")
@example("text/xml", b"<Response><Redirect>http://[::1</Redirect></Response>", "https://a.example/")
@example("text/xml", b'<!DOCTYPE r [<!ENTITY a "aaaa">]><Response>&a;</Response>', "https://a.example/")
def test_laml_of_any_bytes_gives_a_document_or_laml_error(content_type: str, body: bytes, base: str) -> None:
    try:
        document = parse(content_type, body, base)
    except LamlError as error:
        assert error.detail
        return
    assert isinstance(document, Document)
    assert all(isinstance(reply.body, str) for reply in document.replies)
    assert document.redirect is None or document.redirect.method in ("GET", "POST")


# Form and query strings: what urlencode writes, api/body.py reads back, in order and with repeats.
FORM = {"content-type": "application/x-www-form-urlencoded"}
form_text = st.text(st.characters(exclude_categories=("Cs",)), max_size=20)


@given(st.lists(st.tuples(form_text, form_text), max_size=8))
def test_form_round_trip(pairs: list[tuple[str, str]]) -> None:
    form = parse_body(FORM, urlencode(pairs).encode(), MAX_PARAMETERS)
    assert form.items() == pairs
    for key, _ in pairs:
        assert form.getlist(key) == [v for k, v in pairs if k == key]
        assert form[key] == form.getlist(key)[0]


@given(st.one_of(st.text(), st.text("%=&+;0123456789abcdefABCDEFxX\x00é")))
@example("%ff%fe=%c3")
@example("a=%ED%A0%80")  # a UTF-8-encoded lone surrogate: replaced, never passed on
def test_any_query_string_parses(raw: str) -> None:
    form = parse_query(raw.encode())
    for key, value in form.items():
        assert form.getlist(key) and isinstance(value, str)


DATE_NAMES = ["DateSent", "DateSent>", "DateSent<"]
date_like = st.one_of(
    st.text(max_size=40),
    st.text("0123456789-:/TZ+. ", max_size=30),
    st.from_regex(r"\A\d{4}-\d{2}-\d{2}\Z"),
    st.from_regex(r"\A\d{2}/\d{2}/\d{4} \d{2}:\d{2}:\d{2}( [A-Z]{3})?\Z"),
    st.from_regex(r"\A\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}([+-]\d{2}:\d{2}|Z)?\Z"),
    st.builds(
        lambda d, zone: d.replace(tzinfo=zone).isoformat(),
        st.datetimes(),
        st.sampled_from([UTC, timezone(timedelta(hours=23, minutes=59)), timezone(-timedelta(hours=23))]),
    ),
)


@given(st.dictionaries(st.sampled_from([*DATE_NAMES, "To", "From"]), date_like, max_size=4))
@example({"DateSent": "9999-12-31T23:59:59-23:00"})
@example({"DateSent<": "0001-01-01T00:00:00+23:00"})
@example({"DateSent": "Fri, 31 Dec 9999 23:59:59 -2359"})
@example({"DateSent>": "02/30/2026 00:00:00 PST"})
def test_message_filter_of_any_values_gives_a_filter_or_a_400(values: dict[str, str]) -> None:
    try:
        where, echoed = message_filter(MultiDict(list(values.items())))
    except InvalidRequest as error:
        assert error.status == 400
        return
    assert {name for name, _ in echoed} <= set(values)
    if where.sent_at_or_after and where.sent_before:
        assert where.sent_at_or_after.tzinfo is None and where.sent_before.tzinfo is None


@given(st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(9999, 12, 30)))
def test_date_filters_read_back_the_dates_the_api_writes(moment: datetime) -> None:
    moment = moment.replace(microsecond=0)
    where, _ = message_filter(MultiDict([("DateSent>", rfc2822(moment)), ("DateSent<", moment.isoformat())]))
    assert where.sent_at_or_after == moment
    assert where.sent_before == moment + timedelta(microseconds=1)
    day, _ = message_filter(MultiDict([("DateSent", moment.date().isoformat())]))
    start = datetime.combine(moment.date(), datetime.min.time())
    assert (day.sent_at_or_after, day.sent_before) == (start, start + timedelta(days=1))
