"""Refusals cost next to nothing: no body is read before the caller is authenticated and the request routed.

A raw-socket client declares a 1 MB body (Content-Length) and sends none of it. Before this was fixed the
server read the body first and so waited for it; here the body timeout is an hour, so a server that reads
first never answers within the test's deadline, and one that refuses first answers at once with the refusal.
Each test connects from its own loopback address (127.0.0.x), since the failed-auth throttle counts per
address. One SQLite server serves the module: nothing here depends on the database. (Form and JSON bodies of
authenticated requests: tests/integration/test_messages_api.py.)
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import dispose_server, make_server
from tests.integration.auth_support import basic, random_account_sid, random_token
from tests.server import ServerProcess

MAX_FAILURES = 2
ONE_MB = 1 << 20
DEADLINE = 60.0  # seconds for an answer; a server waiting for the body would take an hour


@pytest.fixture(scope="module")
def preauth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    instance = make_server(
        tmp_path_factory.mktemp("preauth"),
        "sqlite",
        env={
            "MYCPAAS_AUTH_MAX_FAILURES": str(MAX_FAILURES),
            "MYCPAAS_HTTP_BODY_TIMEOUT_SECONDS": "3600",
        },
    )
    yield instance
    dispose_server(instance)


_addresses = iter(range(2, 250))


def own_address() -> str:
    """A loopback address no other test here used: the throttle counts each separately."""
    return f"127.0.0.{next(_addresses)}"


def connect(server: ServerProcess, address: str) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=DEADLINE, source_address=(address, 0))
    return sock


def request_head(method: str, path: str, headers: dict[str, str]) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """One response (with a Content-Length) off the socket; raises TimeoutError past the deadline."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed before a response: {data!r}"
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in header_lines)}
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        chunk = sock.recv(65536)
        assert chunk, "connection closed inside a response body"
        rest += chunk
    return int(status_line.split()[1]), headers, rest[:length]


def error_of(body: bytes) -> dict[str, object]:
    error = json.loads(body)
    assert {"code", "message", "more_info", "status"} <= set(error), error
    return error


def declare_and_withhold(
    server: ServerProcess, address: str, method: str, path: str, **headers: str
) -> tuple[int, dict[str, object]]:
    """Send headers declaring a 1 MB form body (unless given otherwise), none of the body, and read the answer."""
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Content-Length": str(ONE_MB), **headers}
    with connect(server, address) as sock:
        sock.sendall(request_head(method, path, headers))
        status, _, body = read_response(sock)
    return status, error_of(body)


def test_refusals_before_the_body_is_read(preauth: ServerProcess) -> None:
    messages = f"{preauth.accounts_path()}/Messages.json"
    good = basic(preauth.account_sid, preauth.auth_token)
    cases: list[tuple[str, str, dict[str, str], int, int]] = [
        ("POST", messages, {}, 401, 20003),  # no credentials at all
        ("POST", messages, {"Authorization": basic(random_account_sid(), random_token())}, 401, 20003),
        ("POST", f"{preauth.accounts_path()}/Nothing.json", {"Authorization": good}, 404, 20404),
        ("PUT", messages, {"Authorization": good}, 405, 20004),
        ("POST", messages, {"Authorization": good, "Content-Type": "application/xml"}, 415, 20415),
        ("POST", messages, {"Authorization": good, "Content-Length": str(ONE_MB + 1)}, 400, 20422),
    ]
    for method, path, headers, status, code in cases:
        got, error = declare_and_withhold(preauth, own_address(), method, path, **headers)
        assert (got, error["code"]) == (status, code), (method, path, headers, error)


def test_throttled_client_is_refused_before_its_body_is_read(preauth: ServerProcess) -> None:
    address = own_address()
    messages = f"{preauth.accounts_path()}/Messages.json"
    for _ in range(MAX_FAILURES):
        bad = basic(random_account_sid(), random_token())
        assert declare_and_withhold(preauth, address, "POST", messages, Authorization=bad)[0] == 401
    bad = basic(random_account_sid(), random_token())
    status, error = declare_and_withhold(preauth, address, "POST", messages, Authorization=bad)
    assert (status, error["code"]) == (429, 20429), error
    assert "MYCPAAS_AUTH_MAX_FAILURES" in str(error["detail"])


def send_ignoring_reset(sock: socket.socket, data: bytes) -> threading.Thread:
    """Send in the background: the server may answer and close before taking all of it."""

    def run() -> None:
        with contextlib.suppress(OSError):  # refused early: the server closed with the rest unread
            sock.sendall(data)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize("size", [100, ONE_MB], ids=["small", "1mb"])
def test_keep_alive_client_with_a_refused_body_gets_its_answer_and_a_sane_connection(
    preauth: ServerProcess, size: int
) -> None:
    """The 401 arrives while the body is (maybe) still being sent, and keeps its word on the connection: with
    `Connection: close` the server closes it; without, the next request on it is served. The left-over body is
    never read as the next request, nor does the connection hang (a server that closed a connection it had
    not announced closing made httpx's next request fail with "server disconnected")."""
    messages = f"{preauth.accounts_path()}/Messages.json"
    bad = basic(random_account_sid(), random_token())
    head = request_head(
        "POST",
        messages,
        {
            "Authorization": bad,
            "Content-Type": "application/x-www-form-urlencoded",
            "Content-Length": str(size),
        },
    )
    with connect(preauth, own_address()) as sock:
        sender = send_ignoring_reset(sock, head + b"a" * size)
        status, headers, body = read_response(sock)
        assert (status, error_of(body)["code"]) == (401, 20003)
        sender.join(DEADLINE)
        assert not sender.is_alive(), "the server neither read the body nor closed the connection"
        if headers.get("connection", "").lower() == "close":
            assert closed_by_server(sock)
            return
        follow_up = request_head(
            "GET", messages, {"Authorization": basic(preauth.account_sid, preauth.auth_token)}
        )
        sock.sendall(follow_up)
        status, _, body = read_response(sock)
        assert status == 200, body
        assert "messages" in json.loads(body)


def closed_by_server(sock: socket.socket) -> bool:
    """True once the server closed the connection (EOF or reset); False if data came instead."""
    try:
        return sock.recv(65536) == b""
    except ConnectionResetError:
        return True


def test_parameter_count_is_bounded(preauth: ServerProcess) -> None:
    client = preauth.client()
    messages = f"{preauth.accounts_path()}/Messages.json"
    at_limit = {f"p{i}": "" for i in range(1000)}
    assert client.get(messages, params=at_limit).status_code == 200
    over: list[httpx.Response] = [
        client.get(messages, params={**at_limit, "one": "more"}),
        client.post(
            messages, content="a=&" * 300_000, headers={"Content-Type": "application/x-www-form-urlencoded"}
        ),
        client.post(
            messages, params={f"q{i}": "" for i in range(600)}, data={f"f{i}": "" for i in range(401)}
        ),
        client.post(messages, json={"MediaUrl": ["https://example.com/a.png"] * 1001}),
    ]
    for response in over:
        assert response.status_code == 400, response.text
        error = error_of(response.content)
        assert error["code"] == 20422 and "more than 1000 parameters" in str(error["message"])


def test_dashboard_refuses_before_reading_a_form(preauth: ServerProcess) -> None:
    """A page behind sign-in answers a POST without a session at once; the sign-in form, which must read its
    body, refuses a declared size past its limit before reading, and too many fields after."""
    withheld = {"Content-Type": "application/x-www-form-urlencoded", "Content-Length": str(ONE_MB)}
    for path, status in (("/keys", 403), ("/sign-in", 413)):
        with connect(preauth, own_address()) as sock:
            sock.sendall(request_head("POST", path, withheld))
            got, _, page = read_response(sock)
        assert got == status, (path, page[:200])
    with httpx.Client(base_url=preauth.url, timeout=DEADLINE) as browser:
        many = browser.post("/sign-in", data={f"f{i}": "" for i in range(101)})
    assert many.status_code == 400 and "more than 100 fields" in many.text
