"""A real HTTP receiver on a loopback port for webhook tests: it records every request and answers as told.

Each path has a script of answers used in turn (the last one repeats): a status, a content type, a body, a
delay before answering, or `close` to drop the connection without a response. Requests are validated by the
tests with the official `twilio.request_validator.RequestValidator`, as a customer application would.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

from twilio.request_validator import RequestValidator


@dataclass(frozen=True)
class Answer:
    status: int = 200
    body: str = ""
    content_type: str = "text/xml"
    delay: float = 0.0
    close: bool = False  # drop the connection instead of answering
    headers: tuple[tuple[str, str], ...] = ()


LAML_EMPTY = Answer(200, "<Response/>")


@dataclass
class Received:
    method: str
    path: str  # with the query string
    headers: dict[str, str]
    params: dict[str, str]  # POST form (GET: the query string)
    at: float = field(default_factory=time.monotonic)

    @property
    def signature(self) -> str:
        return self.headers.get("x-twilio-signature", "")

    @property
    def token(self) -> str:
        return self.headers.get("i-twilio-idempotency-token", "")


class Receiver:
    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.scripts: dict[str, list[Answer]] = {}
        self._lock = threading.Lock()
        self._condition = threading.Condition(self._lock)
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                owner._handle(self, dict(parse_qsl(urlsplit(self.path).query, keep_blank_values=True)))

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length)
                if len(raw) < length:
                    return  # the sender died mid-request: no application would see this request
                owner._handle(self, dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True)))

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        # A sender killed mid-request (the crash tests do that) resets connections; that is not an error here.
        self._server.handle_error = lambda request, client_address: None  # type: ignore[method-assign]
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def script(self, path: str, *answers: Answer) -> str:
        """Answer requests to `path` with `answers` in turn; returns the path's URL."""
        with self._lock:
            self.scripts[urlsplit(path).path] = list(answers)
        return self.url(path)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handle(self, handler: BaseHTTPRequestHandler, params: dict[str, str]) -> None:
        received = Received(
            handler.command, handler.path, {k.lower(): v for k, v in handler.headers.items()}, params
        )
        with self._lock:
            script = self.scripts.get(urlsplit(handler.path).path) or [LAML_EMPTY]
            answer = script.pop(0) if len(script) > 1 else script[0]
            self.requests.append(received)
            self._condition.notify_all()
        if answer.delay:
            time.sleep(answer.delay)
        if answer.close:
            handler.close_connection = True
            with contextlib.suppress(OSError):
                handler.connection.shutdown(socket.SHUT_RDWR)
            return
        payload = answer.body.encode("utf-8")
        try:
            handler.send_response(answer.status)
            handler.send_header("Content-Type", answer.content_type)
            handler.send_header("Content-Length", str(len(payload)))
            for name, value in answer.headers:
                handler.send_header(name, value)
            handler.end_headers()
            handler.wfile.write(payload)
        except OSError:
            pass

    # ---- what arrived ------------------------------------------------------------------------------

    def received(self, path: str | None = None) -> list[Received]:
        with self._lock:
            return [r for r in self.requests if path is None or urlsplit(r.path).path == path]

    def wait_for(
        self, predicate: Callable[[list[Received]], bool], timeout: float = 20.0, path: str | None = None
    ) -> list[Received]:
        deadline = time.monotonic() + timeout
        with self._condition:
            while True:
                found = [r for r in self.requests if path is None or urlsplit(r.path).path == path]
                if predicate(found):
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(
                        f"timed out waiting for webhooks; got {[(r.method, r.path) for r in found]}"
                    )
                self._condition.wait(remaining)


def is_valid(auth_token: str, received: Received, url: str) -> bool:
    """What a customer's application does: validate with twilio-python's RequestValidator."""
    validator = RequestValidator(auth_token)
    if received.method == "GET":
        return validator.validate(url, {}, received.signature)
    return validator.validate(url, received.params, received.signature)
