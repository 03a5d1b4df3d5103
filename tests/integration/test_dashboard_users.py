"""Dashboard users from the terminal (`mycpaas users create`) and the first-start set-up link."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import httpx

from tests.conftest import dispose_server, make_server, remember_secret
from tests.dashboard_support import PASSWORD, csrf_of, signed_in
from tests.integration.cli_support import call
from tests.server import ServerProcess

LINK = re.compile(r"^  (http://127\.0\.0\.1:\d+/setup)#code=([A-Za-z0-9_-]+)$", re.M)


def users_create(
    server: ServerProcess, *args: str, password: str = PASSWORD
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mycpaas", "users", "create", *args, "--password-stdin"],
        input=password + "\n",
        text=True,
        capture_output=True,
        env=server._environment(),
        cwd=server.data_dir,
        timeout=60,
    )


def users_create_refused(
    server: ServerProcess, *args: str, password: str = PASSWORD
) -> subprocess.CompletedProcess[str]:
    """`users create` in this process (tests/integration/cli_support.call), for refusals: they are about the
    check and its message, not about the process, and an interpreter costs seconds on a busy machine."""
    return call(["users", "create", *args, "--password-stdin"], server._environment(), password + "\n")


def setup_codes(server: ServerProcess) -> list[str]:
    return [match.group(2) for match in LINK.finditer(server.log_text())]


def post_setup(server: ServerProcess, code: str, email: str) -> httpx.Response:
    with httpx.Client(base_url=server.url, headers={"Origin": server.url}) as client:
        form = csrf_of(client.get("/setup").text)
        return client.post(
            "/setup",
            data={
                "code": code,
                "email": email,
                "password": PASSWORD,
                "password_again": PASSWORD,
                "csrf_token": form,
            },
        )


def test_users_create_from_the_terminal(tmp_path: Path) -> None:
    server = make_server(tmp_path, "sqlite")
    try:
        remember_secret(PASSWORD)
        created = users_create(server, "Owner@Example.com")
        assert created.returncode == 0, created.stderr
        assert f"of account {server.account_sid}" in created.stdout
        assert PASSWORD not in created.stdout + created.stderr
        # Stored lower-case: signing in with any case of the address works.
        client = signed_in(server, "OWNER@example.COM")
        assert "owner@example.com" in client.get("/").text
        history = client.get("/credentials").text
        assert "The mycpaas command line created the dashboard user owner@example.com" in history

        again = users_create_refused(server, "owner@example.com")
        assert again.returncode == 2 and "exists" in again.stderr and "Traceback" not in again.stderr
        short = users_create_refused(server, "short@example.com", password="too short")
        assert short.returncode == 2 and "at least 12 characters" in short.stderr
        bad = users_create_refused(server, "not-an-address")
        assert bad.returncode == 2 and "valid email" in bad.stderr
        unknown = users_create_refused(server, "x@example.com", "--account", "AC" + "0" * 32)
        assert unknown.returncode == 2 and "no account" in unknown.stderr

        sub = httpx.post(
            f"{server.url}/2010-04-01/Accounts.json",
            auth=(server.account_sid, server.auth_token),
            data={"FriendlyName": "Sub"},
        ).json()
        remember_secret(sub["auth_token"])
        refused = users_create_refused(server, "sub@example.com", "--account", sub["sid"])
        assert refused.returncode == 2 and "main account" in refused.stderr
    finally:
        dispose_server(server)


def test_set_up_link_works_once_and_only_the_newest(tmp_path: Path) -> None:
    server = make_server(tmp_path, "sqlite")
    try:
        [first] = setup_codes(server)
        remember_secret(first)
        server.stop()
        server.start()
        first_again, second = setup_codes(server)
        assert first_again == first and second != first
        remember_secret(second)

        stale = post_setup(server, first, "first@example.com")
        assert stale.status_code == 401 and "not valid" in stale.text
        assert first not in stale.text and PASSWORD not in stale.text

        made = post_setup(server, second, "first@example.com")
        assert made.status_code == 303 and made.headers["location"] == "/"
        assert post_setup(server, second, "second@example.com").status_code == 401
        # The first user is the platform administrator: the carrier pages are theirs.
        assert signed_in(server, "first@example.com").get("/carriers").status_code == 200

        # Once a user exists, no link is printed at start.
        server.stop()
        server.start()
        assert len(setup_codes(server)) == 2
    finally:
        dispose_server(server)
