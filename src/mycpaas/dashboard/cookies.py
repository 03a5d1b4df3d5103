"""The session cookie and the CSRF tokens that go with it.

The cookie carries a random session identifier (HttpOnly, SameSite=Lax, Secure and `__Host-` prefixed over
https). Forms carry a CSRF token derived from that identifier with the server key, so it needs no storage and
dies with the session. Before sign-in, a separate random cookie plays the session's part (double submit), so
the sign-in and set-up forms cannot be posted from another site either.
"""

from __future__ import annotations

import hmac
import secrets

from starlette.requests import Request
from starlette.responses import Response

from mycpaas.domain.credentials import SecretBox

SESSION = "mycpaas_session"
ANONYMOUS = "mycpaas_pre_session"


def is_secure(request: Request) -> bool:
    return request.url.scheme == "https"


def cookie_name(request: Request, base: str) -> str:
    # Browsers only accept a __Host- cookie that is Secure, host-only and on Path=/: it cannot be planted
    # by a sibling subdomain or over plain http.
    return f"__Host-{base}" if is_secure(request) else base


def read(request: Request, base: str) -> str:
    return request.cookies.get(cookie_name(request, base), "")


def write(response: Response, request: Request, base: str, value: str, max_age: int | None) -> None:
    response.set_cookie(
        cookie_name(request, base),
        value,
        max_age=max_age,
        path="/",
        secure=is_secure(request),
        httponly=True,
        samesite="lax",
    )


def clear(response: Response, request: Request, base: str) -> None:
    response.delete_cookie(
        cookie_name(request, base), path="/", secure=is_secure(request), httponly=True, samesite="lax"
    )


def new_anonymous_id() -> str:
    return secrets.token_urlsafe(24)


def csrf_token(box: SecretBox, cookie_value: str) -> str:
    return box.digest("csrf:" + cookie_value)


def csrf_matches(box: SecretBox, cookie_value: str, presented: str) -> bool:
    # Bytes: compare_digest raises on non-ASCII str, and a form field can hold anything.
    expected = csrf_token(box, cookie_value).encode()
    return bool(cookie_value) and hmac.compare_digest(expected, presented.encode("utf-8", "replace"))
