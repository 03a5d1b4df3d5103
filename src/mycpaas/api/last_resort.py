"""The last line behind every HTTP answer: an exception that escapes an app becomes a logged 500.

The API and the dashboard catch their handlers' errors themselves; this catches what escapes anything else
(the ops endpoints, the dashboard's routing and static files, the answer for a part this process does not
run, or a bug in those catchers), so that no exception reaches the HTTP server. The client gets a 500 in the
API's error shape on API paths and a plain page elsewhere, with a request id that is also in the log; the
log line carries the id, method and path (never the query string or headers, where secrets may travel). Once
the response has started nothing can be taken back: the connection is closed without ending the body, so the
client sees it cut short instead of believing a truncated answer.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from mycpaas.api.errors import internal_error

log = logging.getLogger("mycpaas.http")

Scope = dict[str, Any]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
App = Callable[[Scope, Any, Send], Awaitable[None]]

_PAGE = b"Internal Server Error: the request failed; the error was logged with request id %s.\n"


def guarded(app: App, is_api_path: Callable[[str], bool]) -> App:
    """`app` for http scopes, answering 500 for any Exception it lets escape (a BaseException such as a
    cancellation or server.BodyTimedOut is not an error of the request, and passes on)."""

    async def guarded_app(scope: Scope, receive: Any, send: Send) -> None:
        started = False

        async def tracked_send(message: MutableMapping[str, Any]) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await app(scope, receive, tracked_send)
        except Exception:
            request_id = "RQ" + secrets.token_hex(16)
            log.exception(
                "unhandled error in %s %s",
                scope.get("method", "-"),
                scope.get("path", "-"),
                extra={"action": "http_unhandled", "request_id": request_id},
            )
            if not started:
                await _answer(send, is_api_path(scope.get("path", "")), request_id)

    return guarded_app


async def _answer(send: Send, api: bool, request_id: str) -> None:
    if api:
        content_type = b"application/json; charset=utf-8"
        body = internal_error().encode()
    else:
        content_type = b"text/plain; charset=utf-8"
        body = _PAGE % request_id.encode()
    headers = [
        (b"content-type", content_type),
        (b"content-length", str(len(body)).encode()),
        (b"twilio-request-id", request_id.encode()),
        (b"x-content-type-options", b"nosniff"),
        (b"connection", b"close"),  # whatever state the app left the request in, it ends here
    ]
    await send({"type": "http.response.start", "status": 500, "headers": headers})
    await send({"type": "http.response.body", "body": body})
