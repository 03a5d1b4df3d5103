"""An answer given before the request's body was read says `Connection: close`.

Refusals (401, 429, 404, 405, 415, too large; the dashboard's 403 and 413) are answered without reading the
body, so that they cost next to nothing. granian then drains what already arrived or, for a body still on its
way, closes the connection after the answer; without this header it closes a connection the client was told
to keep alive, and the client's next request on it fails ("server disconnected"). One wrapper, around every
part the server runs, so that no refusal anywhere can forget it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = dict[str, Any]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
App = Callable[[Scope, Any, Send], Awaitable[None]]


def declares_body(headers: list[tuple[bytes, bytes]]) -> bool:
    for name, value in headers:
        lowered = name.lower()
        if lowered == b"transfer-encoding" or (
            lowered == b"content-length" and value.strip() not in (b"", b"0")
        ):
            return True
    return False


def closing_if_unread(app: App) -> App:
    async def wrapped(scope: Scope, receive: Any, send: Send) -> None:
        if not declares_body(scope.get("headers", [])):
            await app(scope, receive, send)
            return
        complete = False

        async def tracked_receive() -> dict[str, Any]:
            nonlocal complete
            message: dict[str, Any] = await receive()
            if message["type"] != "http.request" or not message.get("more_body", False):
                complete = True
            return message

        async def closing_send(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start" and not complete:
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"connection"]
                message["headers"] = [*headers, (b"connection", b"close")]
            await send(message)

        await app(scope, tracked_receive, closing_send)

    return wrapped
