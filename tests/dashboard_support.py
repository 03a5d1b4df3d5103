"""Helpers for dashboard tests: make users through the real CLI, sign in over real HTTP, read form tokens."""

from __future__ import annotations

import re
import subprocess
import sys

import httpx

from tests.conftest import remember_secret
from tests.server import OPEN_CLIENTS, ServerProcess

PASSWORD = "correct horse battery staple"
_CSRF = re.compile(r'name="csrf_token" value="([0-9a-f]{64})"')


def create_user(
    server: ServerProcess, email: str, password: str = PASSWORD, account: str | None = None
) -> None:
    """`mycpaas users create` against the server's database, the password on stdin."""
    remember_secret(password)
    command = [sys.executable, "-m", "mycpaas", "users", "create", email, "--password-stdin"]
    if account:
        command += ["--account", account]
    subprocess.run(
        command,
        input=password + "\n",
        text=True,
        check=True,
        capture_output=True,
        env=server._environment(),
        cwd=server.data_dir,
    )


def csrf_of(html: str) -> str:
    match = _CSRF.search(html)
    assert match, "no CSRF token in the page"
    return match.group(1)


def signed_in(server: ServerProcess, email: str, password: str = PASSWORD) -> httpx.Client:
    """An httpx client holding a dashboard session cookie (it sends Origin like a browser would)."""
    client = httpx.Client(base_url=server.url, verify=False, headers={"Origin": server.url}, timeout=30)
    OPEN_CLIENTS.append(client)  # closed at the end of the test if the caller did not
    page = client.get("/sign-in")
    response = client.post(
        "/sign-in", data={"email": email, "password": password, "next": "/", "csrf_token": csrf_of(page.text)}
    )
    assert response.status_code == 303, response.text
    return client
