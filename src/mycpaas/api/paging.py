"""Page parameters and the list envelope Twilio's SDKs parse.

The envelope has exactly one records key besides the meta keys (twilio-python rejects any other key), and
`next_page_uri` is null on the last page (the SDKs stop only on a falsy value). Page URIs are relative and
carry every filter, so an SDK can GET them verbatim.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from mycpaas.api.http import MultiDict
from mycpaas.errors import ErrorCode, InvalidRequest

DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE = 50, 1000


@dataclass(slots=True)
class PageParams:
    page_size: int
    page: int
    page_token: str | None


_INTEGER = re.compile(r"-?[0-9]{1,18}")
MAX_PAGE = 1 << 31  # far past any list's end; keeps page arithmetic and page URIs small


def _int(query: MultiDict, name: str, default: int, low: int, high: int) -> int:
    """The parameter as an integer in [low, high]; any other text (hundreds of digits too) is a 400."""
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    text = raw.strip()
    if not _INTEGER.fullmatch(text):
        raise InvalidRequest(ErrorCode.INVALID_PARAMETER, reason=f"{name} must be an integer")
    value = int(text)
    if not low <= value <= high:
        raise InvalidRequest(ErrorCode.INVALID_PARAMETER, reason=f"{name} must be between {low} and {high}")
    return value


def page_params(query: MultiDict) -> PageParams:
    page_size = _int(query, "PageSize", DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE)
    page = _int(query, "Page", 0, 0, MAX_PAGE)
    return PageParams(page_size, page, query.get("PageToken") or None)


def envelope(
    key: str,
    records: list[dict[str, Any]],
    list_uri: str,
    filters: list[tuple[str, str]],
    params: PageParams,
    next_token: str | None,
    previous_token: str | None,
) -> dict[str, Any]:
    def uri(page: int, token: str | None = None) -> str:
        query = [*filters, ("PageSize", str(params.page_size)), ("Page", str(page))]
        if token:
            query.append(("PageToken", token))
        return f"{list_uri}?{urlencode(query, quote_via=quote, safe='')}"

    start = params.page * params.page_size
    return {
        "first_page_uri": uri(0),
        "end": start + len(records) - 1 if records else 0,
        "previous_page_uri": uri(params.page - 1, previous_token)
        if previous_token and params.page > 0
        else None,
        key: records,
        "uri": uri(params.page, params.page_token),
        "page_size": params.page_size,
        "start": start,
        "next_page_uri": uri(params.page + 1, next_token) if next_token else None,
        "page": params.page,
    }


def keyset_after(params: PageParams) -> str | None:
    """The sid a keyset page starts after: page tokens are `PA` + the last sid of the page before."""
    if not params.page_token:
        return None
    if not params.page_token.startswith("PA"):
        raise InvalidRequest(ErrorCode.INVALID_PAGE_TOKEN)
    return params.page_token[2:]


def v1_envelope(
    key: str, records: list[dict[str, Any]], list_url: str, params: PageParams, next_token: str | None
) -> dict[str, Any]:
    """The list shape of Twilio's v1 APIs (Messaging, Accounts): the records and a `meta` object whose
    `next_page_url` (absolute, null on the last page) the SDKs follow verbatim."""

    def url(page: int, token: str | None = None) -> str:
        query = [("PageSize", str(params.page_size)), ("Page", str(page))]
        if token:
            query.append(("PageToken", token))
        return f"{list_url}?{urlencode(query, quote_via=quote, safe='')}"

    return {
        key: records,
        "meta": {
            "page": params.page,
            "page_size": params.page_size,
            "first_page_url": url(0),
            "previous_page_url": None,
            "url": url(params.page, params.page_token),
            "next_page_url": url(params.page + 1, next_token) if next_token else None,
            "key": key,
        },
    }
