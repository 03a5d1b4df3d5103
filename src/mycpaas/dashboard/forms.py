"""Reading form posts: url-encoded bodies, bounded in size, as a plain dict of the last value per name.

Bytes that are not UTF-8 become U+FFFD, so no lone surrogate gets through; U+0000 is refused here (as the API
refuses it), since PostgreSQL cannot store it and every page would otherwise have to expect it.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.requests import Request

MAX_FORM_BYTES = 64 * 1024


class FormTooLarge(Exception):
    pass


class FormInvalid(Exception):
    pass


def has_nul(items: list[tuple[str, str]]) -> bool:
    return any("\x00" in name or "\x00" in value for name, value in items)


async def read_form(request: Request) -> dict[str, str]:
    if request.method != "POST":
        return {}
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise FormTooLarge
    items = parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True)
    if has_nul(items):
        raise FormInvalid
    return dict(items)
