"""LaML (TwiML for messaging): the reply a customer's SmsUrl returns, parsed into what the platform will do.

Only `<Message>` and `<Redirect>` exist for messaging. Unknown verbs are skipped with warning 12200, as Twilio
does; anything after a `<Redirect>` is unreachable. The parser never raises anything but `LamlError`, and it
uses defusedxml, so entity expansion and external entities in a hostile reply cannot hurt the platform.
"""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field
from urllib.parse import urljoin

import defusedxml.ElementTree as SafeElementTree
from defusedxml import DefusedXmlException

from mycpaas.domain.urls import url_problem
from mycpaas.errors import ErrorCode

MAX_DOCUMENT_BYTES = 64 * 1024
ACCEPTED_TYPES = ("text/xml", "application/xml", "text/html")
MAX_MEDIA = 10


class LamlError(Exception):
    def __init__(self, code: ErrorCode, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Reply:
    """One `<Message>`: a message to send from the number that received the inbound one."""

    body: str
    media: tuple[str, ...] = ()
    to: str | None = None
    from_: str | None = None
    status_callback: str | None = None  # `action` (Twilio's meaning) or the older `statusCallback`


@dataclass(frozen=True, slots=True)
class Redirect:
    url: str
    method: str = "POST"


@dataclass(frozen=True, slots=True)
class Document:
    replies: tuple[Reply, ...] = ()
    redirect: Redirect | None = None
    warnings: tuple[str, ...] = field(default=())


def parse(content_type: str, body: bytes, base_url: str) -> Document:
    """Parse a 2xx response. `base_url` resolves relative URLs in action, Media and Redirect."""
    if len(body) > MAX_DOCUMENT_BYTES:
        raise LamlError(
            ErrorCode.WEBHOOK_RESPONSE_TOO_LARGE, f"the reply is larger than {MAX_DOCUMENT_BYTES} bytes"
        )
    if not body.strip():
        return Document()  # an empty 200 acknowledges the message and sends nothing
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type not in ACCEPTED_TYPES:
        raise LamlError(
            ErrorCode.LAML_BAD_CONTENT_TYPE,
            f"content type {media_type or '(none)'} is not text/xml or application/xml",
        )
    try:
        root = SafeElementTree.fromstring(body)
    except (ElementTree.ParseError, DefusedXmlException, ValueError, LookupError) as exc:
        # LookupError: the XML declaration names an unknown encoding, e.g. encoding="bogus"
        raise LamlError(ErrorCode.LAML_PARSE_FAILURE, f"the reply is not well-formed XML ({exc})") from None
    if root.tag != "Response":
        raise LamlError(ErrorCode.LAML_PARSE_FAILURE, f"the root element is <{root.tag}>, not <Response>")
    replies: list[Reply] = []
    warnings: list[str] = []
    for verb in root:
        if verb.tag == "Message":
            replies.append(_message(verb, base_url, warnings))
        elif verb.tag == "Redirect":
            url = (verb.text or "").strip()
            if not url:
                raise LamlError(ErrorCode.LAML_PARSE_FAILURE, "<Redirect> has no URL")
            target = _resolve(base_url, url)
            if problem := url_problem(target):
                raise LamlError(ErrorCode.LAML_PARSE_FAILURE, f"<Redirect> URL {problem}")
            return Document(tuple(replies), Redirect(target, _method(verb)), tuple(warnings))
        else:
            warnings.append(f"<{verb.tag}> is not a messaging verb and was ignored")
    return Document(tuple(replies), None, tuple(warnings))


def _message(verb: ElementTree.Element, base_url: str, warnings: list[str]) -> Reply:
    text = (verb.text or "").strip()
    bodies: list[str] = []
    media: list[str] = []
    for noun in verb:
        if noun.tag == "Body":
            bodies.append(noun.text or "")
        elif noun.tag == "Media":
            if (noun.text or "").strip():
                media.append(_resolve(base_url, (noun.text or "").strip()))
        else:
            warnings.append(f"<{noun.tag}> is not allowed in <Message> and was ignored")
    if text and bodies:
        warnings.append("<Message> mixes text with <Body>; the text was ignored")
    body = "".join(bodies) if bodies else text
    if len(media) > MAX_MEDIA:
        warnings.append(f"<Message> has more than {MAX_MEDIA} <Media>; the rest were ignored")
        media = media[:MAX_MEDIA]
    callback = verb.get("action") or verb.get("statusCallback")
    return Reply(
        body=body,
        media=tuple(media),
        to=verb.get("to") or None,
        from_=verb.get("from") or None,
        status_callback=_resolve(base_url, callback) if callback else None,
    )


def _resolve(base_url: str, url: str) -> str:
    try:
        return urljoin(base_url, url)
    except ValueError as exc:  # e.g. "http://[::1" (an unclosed IPv6 literal)
        raise LamlError(ErrorCode.LAML_PARSE_FAILURE, f"{url!r} is not a URL ({exc})") from None


def _method(verb: ElementTree.Element) -> str:
    method = (verb.get("method") or "POST").upper()
    return method if method in ("GET", "POST") else "POST"
