"""Reading form posts: url-encoded bodies, bounded in size and field count, as a plain dict of the last value
per name. A declared Content-Length past the limit is refused before reading, and the fields are counted from
the `&`s before the form is split (parse_qsl's max_num_fields), so an oversized form costs next to nothing.
Pages behind sign-in read their form only once the session was found (dashboard/app.py).

Bytes that are not UTF-8 become U+FFFD, so no lone surrogate gets through; U+0000 is refused here (as the API
refuses it), in a form, the query string or the path, since PostgreSQL cannot store or compare it and every page
would otherwise have to expect it.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.requests import Request

MAX_FORM_BYTES = 64 * 1024
MAX_FORM_FIELDS = 100  # the largest form has about a dozen


class FormTooLarge(Exception):
    pass


class FormInvalid(Exception):
    """The form cannot be used; the message says why, for the error page."""


NUL_REFUSED = "The form or address contained a NUL character."


def _has_nul(items: list[tuple[str, str]]) -> bool:
    return any("\x00" in name or "\x00" in value for name, value in items)


def check_query(request: Request) -> None:
    """The address's query string, bounded like a form before Starlette parses it; no NUL in it nor in the
    path's parameters (`/numbers/%00` reached PostgreSQL with it, which refuses the string: a 500)."""
    if request.scope.get("query_string", b"").count(b"&") >= MAX_FORM_FIELDS:
        raise FormInvalid(f"The address had more than {MAX_FORM_FIELDS} parameters.")
    if _has_nul(request.query_params.multi_items()) or _has_nul(
        [(name, str(value)) for name, value in request.path_params.items()]
    ):
        raise FormInvalid(NUL_REFUSED)


async def read_form(request: Request) -> dict[str, str]:
    if request.method != "POST":
        return {}
    length = request.headers.get("content-length", "").strip()
    if length.isdigit() and (len(length) > 12 or int(length) > MAX_FORM_BYTES):
        raise FormTooLarge
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise FormTooLarge
    text = body.decode("utf-8", errors="replace")
    try:
        items = parse_qsl(text, keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS) if text else []
    except ValueError:
        raise FormInvalid(f"The form had more than {MAX_FORM_FIELDS} fields.") from None
    if _has_nul(items):
        raise FormInvalid(NUL_REFUSED)
    return dict(items)
