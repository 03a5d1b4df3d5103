"""The one wrapper around every HTTP request `serve` answers: body deadline, last-resort 500, Connection: close
for an unread body, and the request metrics, with one receive and one send wrapper per request.

These were four nested wrappers (server.BodyTimeout, last_resort.guarded, unread_body.closing_if_unread,
metrics.http_observed), each wrapping receive or send again; with NotifyStarted, six coroutine layers on every
request. Measured around a stub app (bench/results/create-path.txt, 2026-12-07): 22-23 us of CPU per request
then, 11-12 us now, most of it prometheus_client's writes. What each duty is:

- The body deadline: the whole request body must arrive within `body_seconds` of the application first asking
  for it (give or take a tenth of it, at most a second: api/deadlines.py). A client that sends headers and then
  trickles or withholds the body would otherwise hold a connection and a task forever. Past the deadline the
  client gets 408 (in the API's error shape) and the connection is closed. Reads after the last body part
  (waiting for http.disconnect) are not timed.
- An answer given before the request's body was read says `Connection: close`. Refusals (401, 429, 404, 405,
  415, too large; the dashboard's 403 and 413) are answered without reading the body, so that they cost next to
  nothing. granian then drains what already arrived or, for a body still on its way, closes the connection after
  the answer; without this header it closes a connection the client was told to keep alive, and the client's
  next request on it fails ("server disconnected").
- The last line behind every answer: an exception that escapes an app becomes a logged 500. The API and the
  dashboard catch their handlers' errors themselves; this catches what escapes anything else (the ops
  endpoints, the dashboard's routing and static files, the answer for a part this process does not run, or a
  bug in those catchers), so that no exception reaches the HTTP server. The client gets a 500 in the API's
  error shape on API paths and a plain page elsewhere, with a request id that is also in the log; the log line
  carries the id, method and path (never the query string or headers, where secrets may travel). Once the
  response has started nothing can be taken back: the connection is closed without ending the body, so the
  client sees it cut short instead of believing a truncated answer. A BaseException (a cancellation) is not an
  error of the request, and passes on.
- Every answer is counted and timed (mycpaas/metrics.py), labelled by the route template the app put in
  `scope["route"]`.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import mycpaas.metrics as metrics
from mycpaas.api.deadlines import BodyDeadlines
from mycpaas.api.errors import error_response, internal_error
from mycpaas.errors import ApiError, ErrorCode

log = logging.getLogger("mycpaas.http")

Scope = dict[str, Any]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
App = Callable[[Scope, Any, Send], Awaitable[None]]

_PAGE = b"Internal Server Error: the request failed; the error was logged with request id %s.\n"
_CLOSE = (b"connection", b"close")


class BodyTimedOut(BaseException):
    """Raised out of receive() past the body deadline; a BaseException so that no `except Exception` in the
    application turns it into a 500."""


def declares_body(headers: list[tuple[bytes, bytes]]) -> bool:
    for name, value in headers:
        lowered = name.lower()
        if lowered == b"transfer-encoding" or (
            lowered == b"content-length" and value.strip() not in (b"", b"0")
        ):
            return True
    return False


class HttpFront:
    """`app` for http scopes, with the four duties above."""

    def __init__(
        self, app: App, body_seconds: float, is_api_path: Callable[[str], bool], observed: bool = True
    ) -> None:
        self.app = app
        self.body_seconds = body_seconds
        self.is_api_path = is_api_path
        self.observed = observed
        self._deadlines: BodyDeadlines | None = None

    async def __call__(self, scope: Scope, receive: Any, send: Send) -> None:
        started = time.perf_counter()
        loop = asyncio.get_running_loop()
        deadlines = self._deadlines
        if deadlines is None or deadlines.loop is not loop:
            deadlines = self._deadlines = BodyDeadlines(loop, self.body_seconds)
        deadline: float | None = None
        complete = False  # the last body part was read (or the client went away)
        unread = declares_body(scope.get("headers", []))  # `Connection: close` if answered before `complete`
        status = 0  # 0 until the response started

        async def timed_receive() -> dict[str, Any]:
            nonlocal deadline, complete
            if complete:
                message: dict[str, Any] = await receive()
                return message
            if deadline is None:
                deadline = loop.time() + self.body_seconds
            got = await deadlines.wait(receive(), deadline)
            if got is None:
                raise BodyTimedOut
            message = got
            complete = message["type"] != "http.request" or not message.get("more_body", False)
            return message

        async def tracked_send(message: MutableMapping[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                if unread and not complete:
                    headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"connection"]
                    message["headers"] = [*headers, _CLOSE]
            await send(message)

        try:
            await self.app(scope, timed_receive, tracked_send)
        except BodyTimedOut:
            if not status:
                status = await _request_timeout(send, self.body_seconds)
        except Exception:
            request_id = "RQ" + secrets.token_hex(16)
            log.exception(
                "unhandled error in %s %s",
                scope.get("method", "-"),
                scope.get("path", "-"),
                extra={"action": "http_unhandled", "request_id": request_id},
            )
            if not status:
                status = await _internal_error(send, self.is_api_path(scope.get("path", "")), request_id)
        finally:
            if self.observed:
                metrics.observe_http(scope, status or 500, time.perf_counter() - started)


async def _request_timeout(send: Send, seconds: float) -> int:
    response = error_response(ApiError(ErrorCode.REQUEST_TIMEOUT, seconds=f"{seconds:g}"))
    body = response.encode()
    headers = [
        (b"content-type", b"application/json; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
        _CLOSE,
    ]
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
    return response.status


async def _internal_error(send: Send, api: bool, request_id: str) -> int:
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
        _CLOSE,  # whatever state the app left the request in, it ends here
    ]
    await send({"type": "http.response.start", "status": 500, "headers": headers})
    await send({"type": "http.response.body", "body": body})
    return 500
