"""The total timeout of a webhook request (webhooks/client.py's one timer for all requests in flight): a
receiver that keeps trickling bytes (so no read timeout fires) is cut off at the total timeout, requests with
other timeouts keep theirs, a request that ends in time is left alone, and a cancellation from elsewhere (a
stop) is still a cancellation, not a timeout."""

from __future__ import annotations

import asyncio
import time

import pytest

from mycpaas.domain.connection_policy import READ, ConnectionPolicy
from mycpaas.errors import ErrorCode
from mycpaas.webhooks.client import WebhookClient


async def _receiver(trickle: bool) -> asyncio.Server:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        try:
            if not trickle:
                writer.write(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                await writer.drain()
                return
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100000\r\n\r\n")
            for _ in range(200):
                writer.write(b"x")
                await writer.drain()
                await asyncio.sleep(0.02)
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    return await asyncio.start_server(answer, "127.0.0.1", 0)


def _policy(total: float) -> ConnectionPolicy:
    return ConnectionPolicy(connect_timeout=5.0, read_timeout=5.0, total_timeout=total, retries=0)


def test_the_total_timeout_cuts_off_a_trickling_receiver_and_leaves_others_alone() -> None:
    async def run() -> None:
        slow, fast = await _receiver(True), await _receiver(False)
        slow_url = f"http://127.0.0.1:{slow.sockets[0].getsockname()[1]}/cb"
        fast_url = f"http://127.0.0.1:{fast.sockets[0].getsockname()[1]}/cb"
        client = WebhookClient(refuse_private=False)
        try:
            started = time.monotonic()
            short, long, quick = await asyncio.gather(
                client.send("POST", slow_url, {"A": "1"}, "token", "t1", _policy(0.3)),
                client.send("POST", slow_url, {"A": "2"}, "token", "t2", _policy(0.8)),
                client.send("POST", fast_url, {"A": "3"}, "token", "t3", _policy(0.2)),
            )
            elapsed = time.monotonic() - started
            assert quick.ok and quick.error is None
            for result, total in ((short, 0.3), (long, 0.8)):
                assert result.error is ErrorCode.WEBHOOK_HTTP_FAILURE
                assert result.failure == READ
                assert result.detail == f"no complete response within {total:g} s"
            assert 250 <= short.duration_ms < 700
            assert 750 <= long.duration_ms < 1500
            assert elapsed < 2.0
            # The task is not left cancelling: a later request in it runs normally.
            again = await client.send("POST", fast_url, {"A": "4"}, "token", "t4", _policy(0.2))
            assert again.ok
            assert asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]
        finally:
            await client.close()
            slow.close()
            fast.close()

    asyncio.run(run())


def test_a_cancellation_from_elsewhere_is_not_taken_for_a_timeout() -> None:
    async def run() -> None:
        slow = await _receiver(True)
        url = f"http://127.0.0.1:{slow.sockets[0].getsockname()[1]}/cb"
        client = WebhookClient(refuse_private=False)
        try:
            task = asyncio.create_task(client.send("POST", url, {}, "token", "t", _policy(5.0)))
            await asyncio.sleep(0.2)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        finally:
            await client.close()
            slow.close()

    asyncio.run(run())
