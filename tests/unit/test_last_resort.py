"""api/front.HttpFront's last resort (an escaping exception becomes a logged 500) and its Connection: close (an
answer that leaves the body unread closes the connection), driven with ASGI apps that raise or refuse."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import pytest

from mycpaas.api.app import is_api_path
from mycpaas.api.front import HttpFront
from mycpaas.bootstrap import Application
from mycpaas.settings import Settings

API_PATH = "/api/laml/2010-04-01/Accounts/AC00000000000000000000000000000000/Messages.json"


def scope(path: str, headers: list[tuple[bytes, bytes]] | None = None) -> dict[str, Any]:
    return {
        "type": "http",
        "method": "POST",
        "path": path,
        "query_string": b"Token=s3cr3t-in-query",
        "headers": headers or [],
    }


def drive(app: Any, scope: dict[str, Any], body: list[bytes] | None = None) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []
    parts = list(body or [b""])

    async def receive() -> dict[str, Any]:
        chunk = parts.pop(0) if parts else b""
        return {"type": "http.request", "body": chunk, "more_body": bool(parts)}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return sent


async def raises_at_once(scope: dict[str, Any], receive: Any, send: Any) -> None:
    raise KeyError("no such thing")


async def raises_mid_response(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"partial", "more_body": True})
    raise RuntimeError("failed while streaming")


def headers_of(message: dict[str, Any]) -> dict[bytes, bytes]:
    return dict(message["headers"])


def test_an_api_path_gets_a_500_in_the_api_error_shape_logged_with_its_request_id(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.ERROR, logger="mycpaas.http"):
        sent = drive(HttpFront(raises_at_once, 30, is_api_path), scope(API_PATH))
    assert sent[0]["status"] == 500
    headers = headers_of(sent[0])
    assert headers[b"content-type"].startswith(b"application/json")
    assert json.loads(sent[1]["body"]) == {
        "code": 20500,
        "message": "Internal Server Error",
        "more_info": "https://www.twilio.com/docs/errors/20500",
        "status": 500,
    }
    request_id = headers[b"twilio-request-id"].decode()
    [record] = caplog.records
    assert record.request_id == request_id and record.exc_info is not None  # type: ignore[attr-defined]
    assert API_PATH in record.getMessage() and "s3cr3t" not in caplog.text


def test_other_paths_get_a_plain_500_naming_the_request_id() -> None:
    sent = drive(HttpFront(raises_at_once, 30, is_api_path), scope("/static/app.css"))
    headers = headers_of(sent[0])
    assert sent[0]["status"] == 500 and headers[b"content-type"].startswith(b"text/plain")
    assert headers[b"twilio-request-id"] in sent[1]["body"] and b"KeyError" not in sent[1]["body"]


def test_an_exception_after_the_response_started_only_ends_the_request(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.ERROR, logger="mycpaas.http"):
        sent = drive(HttpFront(raises_mid_response, 30, is_api_path), scope(API_PATH))
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]  # no second start
    assert sent[-1]["more_body"] is True  # the body is left unfinished: the server closes the connection
    assert len(caplog.records) == 1


def test_cancellation_is_not_an_error_of_the_request() -> None:
    async def cancelled(scope: dict[str, Any], receive: Any, send: Any) -> None:
        raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        drive(HttpFront(cancelled, 30, is_api_path), scope(API_PATH))


async def refuses(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 401, "headers": [(b"connection", b"keep-alive")]})
    await send({"type": "http.response.body", "body": b""})


async def reads_then_answers(scope: dict[str, Any], receive: Any, send: Any) -> None:
    while (await receive()).get("more_body"):
        pass
    await refuses(scope, receive, send)


@pytest.mark.parametrize(
    ("app", "headers", "closes"),
    [
        (refuses, [(b"content-length", b"1048576")], True),
        (refuses, [(b"transfer-encoding", b"chunked")], True),
        (refuses, [(b"content-length", b"0")], False),
        (refuses, [], False),
        (reads_then_answers, [(b"content-length", b"8")], False),
    ],
)
def test_an_answer_leaving_a_declared_body_unread_closes_the_connection(
    app: Any, headers: list[tuple[bytes, bytes]], closes: bool
) -> None:
    sent = drive(HttpFront(app, 30, is_api_path), scope(API_PATH, headers), body=[b"a=1&", b"b=2"])
    connection = [v for k, v in sent[0]["headers"] if k == b"connection"]
    assert connection == ([b"close"] if closes else [b"keep-alive"])


class RaisingOps:
    """Stands in for the ops endpoints (api/ops.py): the one part of `serve` without a catcher of its own."""

    paths = frozenset({"/healthz"})

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        raise RuntimeError("ops failed")


def test_the_serve_application_answers_500_for_what_escapes_its_parts(sqlite_platform: Settings) -> None:
    application = Application(sqlite_platform)
    application.ops = RaisingOps()  # type: ignore[assignment]
    try:
        sent = drive(application, {**scope("/healthz"), "method": "GET", "client": ("127.0.0.1", 1)})
    finally:
        asyncio.run(application.platform.db.dispose())
    assert sent[0]["status"] == 500 and headers_of(sent[0])[b"content-type"].startswith(b"text/plain")
