"""Benchmark: raw requests/s of httpx and aiohttp against the same fast loopback receiver.

    .venv/bin/python bench/http_clients.py

Why the webhook client is aiohttp: a form POST answered 204 by bench/fast_receiver.py (a separate process),
4,000 requests at 1, 4 and 32 concurrent, one client per run, nothing else running. Results are appended to
bench/results/http_clients.txt.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.webhooks import ReceiverProcess  # noqa: E402

BODY = b"MessageSid=SM00000000000000000000000000000000&MessageStatus=sent&To=%2B15551230000"
REQUESTS = 4000


async def timed(concurrency: int, one: Callable[[], Awaitable[None]]) -> float:
    slots = asyncio.Semaphore(concurrency)

    async def task() -> None:
        async with slots:
            await one()

    started = time.perf_counter()
    await asyncio.gather(*(task() for _ in range(REQUESTS)))
    return REQUESTS / (time.perf_counter() - started)


async def with_httpx(url: str, concurrency: int) -> float:
    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=concurrency)) as client:

        async def one() -> None:
            await client.post(url, content=BODY)

        return await timed(concurrency, one)


async def with_aiohttp(url: str, concurrency: int) -> float:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:

        async def one() -> None:
            async with session.post(url, data=BODY) as response:
                await response.read()

        return await timed(concurrency, one)


def main() -> int:
    receiver = ReceiverProcess(Path(tempfile.mkdtemp(prefix="mycpaas-clients-")), "fast", "unused")
    try:
        results = []
        for concurrency in (1, 4, 32):
            for name, run in (("httpx 0.28", with_httpx), ("aiohttp 3.14", with_aiohttp)):
                rate = asyncio.run(run(receiver.url, concurrency))
                results.append(f"{name} c={concurrency}: {rate:.0f} req/s")
                print(results[-1], flush=True)
    finally:
        receiver.stop()
    line = f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, " + "; ".join(results)
    with (ROOT / "bench" / "results" / "http_clients.txt").open("a") as handle:
        handle.write(line + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
