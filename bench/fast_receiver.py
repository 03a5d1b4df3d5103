"""A minimal keep-alive HTTP receiver for the webhook benchmark: answers every request 204 at once.

    python bench/fast_receiver.py PORT AUTH_TOKEN COUNT_FILE [--hang]

It counts requests and distinct idempotency tokens and checks one signature in 50 with twilio-python's
RequestValidator (URL http://127.0.0.1:PORT/cb), writing "requests tokens checked bad" to COUNT_FILE every
0.2 s. With --hang it accepts connections and never answers (a dead customer endpoint).
"""

from __future__ import annotations

import asyncio
import os
import sys
from urllib.parse import parse_qsl

from twilio.request_validator import RequestValidator


class Counter:
    def __init__(self, token: str) -> None:
        self.requests = 0
        self.tokens: set[str] = set()
        self.checked = 0
        self.bad = 0
        self.validator = RequestValidator(token)


class Receiver(asyncio.Protocol):
    def __init__(self, counter: Counter, url: str, hang: bool) -> None:
        self.counter, self.url, self.hang = counter, url, hang
        self.buffer = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self.hang:
            return
        self.buffer += data
        while True:
            head_end = self.buffer.find(b"\r\n\r\n")
            if head_end < 0:
                return
            head = self.buffer[:head_end].decode("latin-1")
            headers = {}
            for line in head.split("\r\n")[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            length = int(headers.get("content-length", "0"))
            if len(self.buffer) < head_end + 4 + length:
                return
            body = self.buffer[head_end + 4 : head_end + 4 + length]
            self.buffer = self.buffer[head_end + 4 + length :]
            counter = self.counter
            counter.requests += 1
            counter.tokens.add(headers.get("i-twilio-idempotency-token", ""))
            if counter.requests % 50 == 1:
                params = dict(parse_qsl(body.decode(), keep_blank_values=True))
                counter.checked += 1
                if not counter.validator.validate(self.url, params, headers.get("x-twilio-signature", "")):
                    counter.bad += 1
            self.transport.write(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")  # type: ignore[attr-defined]


async def main() -> None:
    port, token, count_file = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    hang = "--hang" in sys.argv
    counter = Counter(token)
    loop = asyncio.get_running_loop()
    url = f"http://127.0.0.1:{port}/cb"
    await loop.create_server(lambda: Receiver(counter, url, hang), "127.0.0.1", port, backlog=4096)
    while True:
        # Written aside and renamed: a reader never sees the file empty (a count of 0 in mid-run).
        with open(count_file + ".tmp", "w") as handle:
            handle.write(f"{counter.requests} {len(counter.tokens)} {counter.checked} {counter.bad}\n")
        os.replace(count_file + ".tmp", count_file)
        await asyncio.sleep(0.2)


if __name__ == "__main__":
    asyncio.run(main())
