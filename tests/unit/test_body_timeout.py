"""api/front.HttpFront's body deadline: the body has a deadline; what an application reads after the body does not."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from mycpaas import metrics
from mycpaas.api.app import is_api_path
from mycpaas.api.deadlines import BodyDeadlines
from mycpaas.api.front import HttpFront

SCOPE = {"type": "http", "method": "POST", "path": "/", "headers": []}


async def reading_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Reads the whole body, then waits for the client to go away, then answers with what it saw."""
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    after = await receive()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body + b"|" + after["type"].encode()})


def run(receive_messages: list[tuple[float, dict[str, Any]]], seconds: float) -> list[dict[str, Any]]:
    """Drive HttpFront(reading_app): each message arrives after its delay; then nothing arrives (an hour)."""
    sent: list[dict[str, Any]] = []
    queue = list(receive_messages)

    async def receive() -> dict[str, Any]:
        delay, message = queue.pop(0) if queue else (3600.0, {})
        await asyncio.sleep(delay)
        return message

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(HttpFront(reading_app, seconds, is_api_path)(SCOPE, receive, send))
    return sent


def test_a_body_that_does_not_arrive_gets_408_in_the_api_error_shape() -> None:
    sent = run([(0, {"type": "http.request", "body": b"To=1", "more_body": True})], seconds=0.05)
    assert sent[0]["status"] == 408
    assert (b"connection", b"close") in sent[0]["headers"]
    assert json.loads(sent[1]["body"]) == {
        "code": 20408,
        "message": "Request Timeout: the request body did not arrive within 0.05 s",
        "more_info": "https://www.twilio.com/docs/errors/20408",
        "status": 408,
    }


def test_reads_after_the_body_are_not_timed() -> None:
    sent = run(
        [
            (0, {"type": "http.request", "body": b"To=1", "more_body": False}),
            (0.2, {"type": "http.disconnect"}),  # later than the body deadline
        ],
        seconds=0.05,
    )
    assert sent[0]["status"] == 200
    assert sent[1]["body"] == b"To=1|http.disconnect"


def test_a_body_timeout_is_counted_as_a_408() -> None:
    before = metrics.exposition().decode()
    run([(0, {"type": "http.request", "body": b"To=1", "more_body": True})], seconds=0.05)
    after = metrics.exposition().decode()

    def timeouts(text: str) -> float:
        return sum(
            s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
            if s.name == "mycpaas_http_requests_total" and s.labels["status"] == "408"
        )

    assert timeouts(after) == timeouts(before) + 1


def test_a_trickled_body_is_held_to_the_first_read_s_deadline() -> None:
    # Each part comes well within the deadline, but together they take longer than it.
    parts = [(0.02, {"type": "http.request", "body": b"a", "more_body": True}) for _ in range(10)]
    sent = run(parts, seconds=0.1)
    assert sent[0]["status"] == 408


def test_work_between_reads_is_never_cancelled_by_the_deadline() -> None:
    """The deadline cancels a read in progress only: an app busy elsewhere past it is left alone (and a read
    that finds its part already there is not timed out, as with asyncio.timeout_at)."""
    finished: list[str] = []

    async def slow_between_reads(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()
        await asyncio.sleep(0.3)  # past the deadline, outside any read
        finished.append("slept")
        await receive()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"a", "more_body": True}

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(HttpFront(slow_between_reads, 0.05, is_api_path)(SCOPE, receive, send))
    assert finished == ["slept"] and sent[0]["status"] == 200


def test_a_cancellation_from_elsewhere_is_not_a_body_timeout() -> None:
    async def main() -> None:
        async def never() -> dict[str, Any]:
            await asyncio.Event().wait()
            return {}

        async def send(message: dict[str, Any]) -> None:
            raise AssertionError(f"nothing is answered to a cancelled request: {message}")

        task = asyncio.create_task(HttpFront(reading_app, 30, is_api_path)(SCOPE, never, send))
        await asyncio.sleep(0.01)
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            return
        raise AssertionError("the cancellation was swallowed")

    asyncio.run(main())


def test_a_cancellation_from_elsewhere_in_the_deadline_s_turn_is_not_swallowed() -> None:
    """A cancellation that lands in the same turn as the deadline's (shutdown, an outer timeout) still cancels
    the request, as it did under asyncio.timeout_at; the read is not turned into a body timeout."""

    async def main() -> None:
        loop = asyncio.get_running_loop()
        deadlines = BodyDeadlines(loop, 0.05)
        task = asyncio.create_task(deadlines.wait(asyncio.Event().wait(), loop.time() + 0.05))
        await asyncio.sleep(0)
        check = deadlines._check

        def check_then_cancel() -> None:
            check()
            if task in deadlines.expired:
                task.cancel()

        assert deadlines.timer is not None
        deadlines.timer.cancel()
        deadlines._check = check_then_cancel  # type: ignore[method-assign]
        deadlines.timer = loop.call_at(loop.time() + deadlines.tick, check_then_cancel)
        try:
            await task
        except asyncio.CancelledError:
            assert task.cancelling() == 1  # ours was withdrawn, the other stands
            return
        raise AssertionError("the cancellation from elsewhere was swallowed")

    asyncio.run(main())
