"""`mycpaas serve` as processes: one per SQLite file, N on one port on PostgreSQL, the server's limits, roles.

Real server processes on loopback ports (tests/server.py), a real SQLite file and a fresh PostgreSQL database.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from mycpaas.cli import build_parser
from mycpaas.cli.serve import serve_settings
from tests.conftest import dispose_server, make_server
from tests.integration.auth_support import basic
from tests.server import ServerProcess, free_port


def run_mycpaas(server: ServerProcess, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mycpaas", *args],
        capture_output=True,
        text=True,
        env=server._environment(),
        cwd=server.data_dir,
        timeout=60,
    )


def children(pid: int) -> set[int]:
    """The live processes whose parent is `pid`, read from /proc."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.add(int(stat.parent.name))
    return found


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # connections in TIME_WAIT do not count
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def wait_for(condition: object, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError(f"not reached within {seconds} s: {condition}")


def test_one_sqlite_database_has_one_server_process(tmp_path: Path) -> None:
    server = make_server(tmp_path, "sqlite")
    try:
        second = run_mycpaas(server, "serve", "--port", str(free_port()))
        assert second.returncode == 1, second.stderr
        assert "another `mycpaas serve` is running on the SQLite database" in second.stderr
        assert "PostgreSQL" in second.stderr
        assert "listening on" not in second.stdout

        workers = run_mycpaas(server, "serve", "--port", str(free_port()), "--workers", "2")
        assert workers.returncode == 2, workers.stderr
        assert "2 worker processes on SQLite" in workers.stderr and "PostgreSQL" in workers.stderr

        # The other commands do not take the lock: they work beside the running server.
        listed = run_mycpaas(server, "accounts", "list")
        assert listed.returncode == 0, listed.stderr
        assert server.account_sid in listed.stdout
        assert server.client().get(server.accounts_path() + ".json").status_code == 200
    finally:
        dispose_server(server)


def test_workers_share_one_port_and_die_with_their_parent(tmp_path: Path) -> None:
    server = make_server(tmp_path, "postgres", args=["--workers", "2"])
    try:
        log = server.log_text()
        assert log.count(" listening on http") == 1 and "(2 processes)" in log
        assert log.count("Account SID:") == 1  # migrations and first start ran once, in the parent
        workers = children(server.pid)
        assert len(workers) == 2

        # Both processes answer on the one port: the access log names the process of each request.
        answered: set[int] = set()

        def both_answered() -> bool:
            with httpx.Client(base_url=server.url, auth=(server.account_sid, server.auth_token)) as client:
                assert client.get(server.accounts_path() + ".json").status_code == 200
            answered.update(int(p) for p in re.findall(r"\[(\d+)\] mycpaas\.access", server.log_text()))
            return answered == workers

        wait_for(both_answered)

        # The port is held for as long as the server runs: a second server is refused, as before.
        second = run_mycpaas(server, "serve", "--port", str(server.port), "--workers", "2")
        assert second.returncode == 1 and f"port {server.port} is in use" in second.stderr

        server.kill()  # kill -9 of the parent: the kernel tells the workers (PR_SET_PDEATHSIG)
        wait_for(lambda: not any(alive(pid) for pid in workers))
        wait_for(lambda: port_is_free(server.port))
    finally:
        dispose_server(server)


def test_header_and_body_limits(tmp_path: Path) -> None:
    server = make_server(
        tmp_path,
        "sqlite",
        env={
            "MYCPAAS_HTTP_HEADER_TIMEOUT_SECONDS": "0.5",
            "MYCPAAS_HTTP_BODY_TIMEOUT_SECONDS": "0.5",
            "MYCPAAS_HTTP_MAX_HEADER_BYTES": "16384",
        },
    )

    def exchange(data: bytes) -> bytes:
        """What the server answers to `data` until it closes the connection (if it does not: a timeout)."""
        with socket.create_connection(("127.0.0.1", server.port), timeout=15) as sock:
            with contextlib.suppress(OSError):  # it may stop reading once it refused
                sock.sendall(data)
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
            return answer

    try:
        too_big = b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n"
        assert exchange(too_big).startswith(b"HTTP/1.1 431 ")

        too_many = (
            b"GET / HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(200)) + b"\r\n"
        )
        assert exchange(too_many).startswith(b"HTTP/1.1 431 ")

        # Headers never finished: the connection is closed once the header timeout passed.
        assert exchange(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ") == b""

        # A body never finished: 408 in the API's error shape, and the connection is closed. (Authenticated:
        # without credentials the 401 comes before the body is read, tests/integration/test_preauth.py.)
        path = server.accounts_path() + "/Messages.json"
        auth = basic(server.account_sid, server.auth_token)
        head = (
            f"POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n"
        )
        answer = exchange(head.encode() + b"Content-Length: 100\r\n\r\nTo=%2B1555")
        status, _, body = answer.partition(b"\r\n\r\n")
        assert status.startswith(b"HTTP/1.1 408 ")
        assert json.loads(body)["code"] == 20408

        # The server is unharmed; and it believes no X-Forwarded-* itself (MYCPAAS_TRUSTED_PROXIES decides).
        forwarded = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"}
        response = server.client().get(server.accounts_path() + ".json", headers=forwarded)
        assert response.status_code == 200
        request_id = response.headers["twilio-request-id"]
        wait_for(lambda: request_id in server.log_text())
        [line] = [line for line in server.log_text().splitlines() if request_id in line]
        assert "mycpaas.access 127.0.0.1 " in line and "203.0.113.9" not in line
    finally:
        dispose_server(server)


def test_role_flags_turn_parts_off(tmp_path: Path) -> None:
    server = make_server(tmp_path, "sqlite", args=["--no-api", "--no-dashboard"])
    try:
        client = server.client()
        for path in (server.accounts_path() + ".json", "/", "/sign-in"):
            response = client.get(path)
            assert response.status_code == 404
            assert response.json()["code"] == 20404
    finally:
        dispose_server(server)


@pytest.mark.parametrize("name", ["api", "dashboard", "delivery_worker", "webhook_dispatcher"])
def test_role_flags_set_the_switches(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MYCPAAS_WORKERS", "3")
    monkeypatch.setenv("MYCPAAS_DATABASE_URL", "postgresql://nowhere/db")
    flag = "--" + name.replace("_", "-")
    parse = build_parser().parse_args
    assert getattr(serve_settings(parse(["serve"])), name) is True  # unset: the setting's value
    assert getattr(serve_settings(parse(["serve", "--no-" + flag[2:]])), name) is False
    monkeypatch.setenv("MYCPAAS_" + name.upper(), "false")
    assert getattr(serve_settings(parse(["serve"])), name) is False
    assert getattr(serve_settings(parse(["serve", flag])), name) is True
    assert serve_settings(parse(["serve"])).workers == 3
    assert serve_settings(parse(["serve", "--workers", "2"])).workers == 2
