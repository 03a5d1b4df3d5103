"""MYCPAAS_METRICS_PORT: a second, minimal HTTP/1.1 listener for the scraper and probes (api/ops.py).

It answers one GET or HEAD per connection (headers only, at most 8 KB read within 10 s) and closes it; anything
else gets a 400. The socket is opened with SO_REUSEPORT, so every process of a server started with several
workers listens on the same metrics port as on the main one (each answers with every process's counts).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger("mycpaas.metrics")

MAX_HEADER_BYTES = 8192
READ_SECONDS = 10.0

App = Callable[[dict[str, Any], Any, Any], Awaitable[None]]


async def listen(app: App, host: str, port: int) -> asyncio.Server:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await _answer(app, reader, writer, host, port)
        except Exception:
            log.debug("metrics listener: connection ended early", exc_info=True)
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    return await asyncio.start_server(handle, host, port, reuse_port=True, limit=MAX_HEADER_BYTES)


async def _answer(
    app: App, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str, port: int
) -> None:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), READ_SECONDS)
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        return
    method, target, _ = parts
    path, _, query = target.partition("?")
    headers = [
        (name.strip().lower().encode("latin-1"), value.strip().encode("latin-1"))
        for name, _, value in (line.partition(":") for line in lines[1:] if line)
    ]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode("latin-1"),
        "query_string": query.encode("latin-1"),
        "headers": headers,
        "client": writer.get_extra_info("peername"),
        "server": (host, port),
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status = message["status"]
            writer.write(f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}\r\n".encode())
            for name, value in message.get("headers", []):
                writer.write(name + b": " + value + b"\r\n")
            writer.write(b"Connection: close\r\n\r\n")
        elif message["type"] == "http.response.body" and method != "HEAD":
            writer.write(message.get("body", b""))
        await writer.drain()

    await app(scope, receive, send)


_REASONS = {
    200: "OK",
    401: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
    503: "Service Unavailable",
}
