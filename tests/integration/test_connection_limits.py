"""The HTTP server's connection limits: idle and silent connections are closed, connections are capped per process.

Real `mycpaas serve` processes on loopback ports: one process over https on SQLite (mycpaas serves TLS itself, so
it may face the internet), and `--workers 2` on PostgreSQL. An attacker holding connections open must not deny
service for longer than the header timeout; the cap (MYCPAAS_HTTP_MAX_CONNECTIONS) is per process, and a
connection beyond it waits in the kernel's listen queue until one ends.
"""

from __future__ import annotations

import base64
import contextlib
import select
import socket
import ssl
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from mycpaas.cli import build_parser
from mycpaas.cli.common import Refusal
from mycpaas.cli.serve import serve_settings
from tests.conftest import dispose_server, make_server
from tests.server import ServerProcess

CAP = 2  # MYCPAAS_HTTP_MAX_CONNECTIONS in these tests
HEADER_TIMEOUT = 2.0
HEALTH = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"


def wait_for(condition: Callable[[], bool], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)
    raise AssertionError(f"not reached within {seconds} s: {condition}")


def listen_queue(port: int) -> int:
    """Connections the kernel holds for the listening socket on `port` that no process accepted yet."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[3] == "0A" and int(fields[1].split(":")[1], 16) == port:  # 0A: LISTEN
            return int(fields[4].split(":")[1], 16)  # rx_queue of a listening socket: its accept queue
    raise AssertionError(f"nothing listens on {port}")


class Connector:
    """Raw connections to `server`, over TLS when it serves https (certificate not checked: a dev cert)."""

    def __init__(self, server: ServerProcess) -> None:
        self.server = server
        self.opened: list[socket.socket] = []  # closed by close_all(), also when a test fails half-way
        self.tls: ssl.SSLContext | None = None
        if server.tls:
            self.tls = ssl.create_default_context()
            self.tls.check_hostname = False
            self.tls.verify_mode = ssl.CERT_NONE
            self.tls.set_alpn_protocols(["h2", "http/1.1"])

    def tcp(self) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.server.port), timeout=30)
        self.opened.append(sock)
        return sock

    def open(self) -> socket.socket:
        sock = self.tcp()
        return self.wrap(sock) if self.tls else sock

    def wrap(self, sock: socket.socket) -> socket.socket:
        assert self.tls
        wrapped = self.tls.wrap_socket(sock)
        self.opened.append(wrapped)
        return wrapped

    def close_all(self) -> None:
        for sock in self.opened:
            sock.close()


def read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (a socket timeout if it does not)."""
    answer = b""
    with contextlib.suppress(ConnectionResetError):
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


def read_response(sock: socket.socket) -> bytes:
    """One whole response head (and the small body of /healthz, which is sent with it)."""
    answer = b""
    while b"\r\n\r\n" not in answer:
        chunk = sock.recv(65536)
        assert chunk, f"closed after {answer!r}"
        answer += chunk
    return answer


@pytest.fixture(
    params=[
        pytest.param(("sqlite", []), id="one-process-https"),
        pytest.param(("postgres", ["--workers", "2"]), id="workers-2"),
    ]
)
def limited_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ServerProcess]:
    backend, args = request.param
    server = make_server(
        tmp_path,
        backend,
        args=args,
        tls=backend == "sqlite",
        env={
            "MYCPAAS_HTTP_MAX_CONNECTIONS": str(CAP),
            "MYCPAAS_HTTP_HEADER_TIMEOUT_SECONDS": str(HEADER_TIMEOUT),
            "MYCPAAS_HTTP_BODY_TIMEOUT_SECONDS": "60",
        },
    )
    yield server
    dispose_server(server)


@pytest.fixture
def connect(limited_server: ServerProcess) -> Iterator[Connector]:
    connector = Connector(limited_server)
    yield connector
    connector.close_all()  # a failed test's sockets would be reported as unclosed in whichever test runs next


def test_idle_connections_are_closed_and_the_cap_only_delays_others(
    limited_server: ServerProcess, connect: Connector
) -> None:
    server = limited_server
    slots = CAP * (2 if "--workers" in server.args else 1)

    # Both idle kinds are opened first and read last: an idle keep-alive connection, and one that never sends a
    # byte (granian's HTTP/2 detection used to wait for one forever).
    keep_alive = connect.open()
    keep_alive.sendall(HEALTH)
    assert read_response(keep_alive).startswith(b"HTTP/1.1 200 ")
    silent = connect.tcp()  # the test's end reads it

    # HTTP/1.1 only: over TLS no h2 is offered, and an HTTP/2 preface on plain TCP is not served as HTTP/2.
    if connect.tls:
        with connect.open() as sock:
            assert isinstance(sock, ssl.SSLSocket) and sock.selected_alpn_protocol() == "http/1.1"
    else:
        with connect.tcp() as sock:
            sock.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
            answer = read_until_closed(sock)
            assert answer == b"" or answer.startswith(b"HTTP/1.1 4"), answer[:80]

    # 10,000 tiny headers fit the header bytes (64 KiB by default) but not hyper's 100 headers: 431.
    with connect.open() as sock:
        with contextlib.suppress(OSError):
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"a:b\r\n" * 10_000 + b"\r\n")
        assert read_until_closed(sock).startswith(b"HTTP/1.1 431 ")

    # The cap: requests whose bodies are withheld hold every connection of every process (for the body
    # timeout) ... Each sends its headers as soon as it is accepted: one accepted early that waited for the
    # others to be accepted (the last waits for keep_alive's header timeout) would reach the same 2 s header
    # timeout and be closed, leaving its slot free (CI, under load).
    auth = base64.b64encode(f"{server.account_sid}:{server.auth_token}".encode())
    withheld = []
    for _ in range(slots):
        sock = connect.open()
        sock.sendall(
            f"POST {server.accounts_path()}/Messages.json HTTP/1.1\r\nHost: x\r\n".encode()
            + b"Authorization: Basic " + auth + b"\r\n"
            + b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nTo="
        )  # fmt: skip
        withheld.append(sock)
    wait_for(lambda: listen_queue(server.port) == 0)  # every process accepted its share
    # ... so one more connection is not accepted: it waits in the kernel's listen queue ...
    honest = connect.tcp()
    wait_for(lambda: listen_queue(server.port) == 1)
    # ... until a connection ends; then it is served.
    withheld.pop().close()
    honest = connect.wrap(honest) if connect.tls else honest
    honest.sendall(HEALTH)
    assert read_response(honest).startswith(b"HTTP/1.1 200 ")
    honest.close()
    for sock in withheld:
        sock.close()

    # An attacker holding every connection with headers that never end holds them for the header timeout
    # only: an honest client waiting behind is served once they are closed.
    slow = []
    for _ in range(slots):  # each starts its headers once accepted, as the withheld ones above
        sock = connect.open()
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        slow.append(sock)
    wait_for(lambda: listen_queue(server.port) == 0)
    honest = connect.open()
    honest.sendall(HEALTH)
    assert read_response(honest).startswith(b"HTTP/1.1 200 ")
    honest.close()
    # Served after the server closed an attacker's connection, not beside them: one is closed already.
    closed, _, _ = select.select(slow, [], [], 0)
    assert closed
    for sock in slow:
        assert read_until_closed(sock) == b""
        sock.close()

    assert read_until_closed(keep_alive) == b""
    keep_alive.close()
    if not connect.tls:  # over TLS, granian closes a connection without a handshake after 10 s (fixed)
        assert read_until_closed(silent) == b""
    silent.close()


@pytest.mark.parametrize("value", ["0", "-5"])
def test_the_connection_cap_must_be_positive(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MYCPAAS_HTTP_MAX_CONNECTIONS", value)
    with pytest.raises(Refusal, match="MYCPAAS_HTTP_MAX_CONNECTIONS must be 1 or more"):
        serve_settings(build_parser().parse_args(["serve"]))
