"""`mycpaas messages`, `numbers`, `users list|reset-password|remove` and `status`, run as `python -m mycpaas`
processes beside a running server on SQLite and on PostgreSQL: their --json is the API's view of the same
objects, their changes are the running server's, and bad input is a one-line error with exit code 2.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from mycpaas.storage.migrate import describe, head_revision
from tests.conftest import BACKENDS, dispose_server, make_server, remember_secret
from tests.dashboard_support import PASSWORD, create_user, csrf_of, signed_in
from tests.databases import sqlite_url
from tests.integration.cli_support import call, cli_environment, spawn_all
from tests.integration.helpers import unique_number
from tests.integration.smpp_support import smpp_server, wait_until
from tests.server import FAST_SANDBOX, ServerProcess, free_port
from tests.smsc_support import Smsc

FINAL = {"delivered", "undelivered", "failed"}


def run_all(
    server: ServerProcess,
    commands: list[tuple[tuple[str, ...], str | None]],
    expect: int | None = 0,
    spawn: bool = True,
) -> list[subprocess.CompletedProcess[str]]:
    """Commands on the server's database and data directory: `python -m mycpaas` processes side by side, or
    with spawn=False in this process (for refusals: about arguments and messages, and a process costs seconds
    on a busy machine)."""
    env = server._environment()
    if spawn:
        results = spawn_all(commands, env, server.data_dir)
    else:
        results = [call(args, env, stdin) for args, stdin in commands]
    for result in results:
        assert "Traceback" not in result.stderr, result.stderr
        if expect is not None:
            assert result.returncode == expect, f"{result.args}: {result.stdout}\n{result.stderr}"
    return results


def run(server: ServerProcess, *args: str, stdin: str | None = None, expect: int | None = 0) -> Any:
    """One command; its stdout parsed as JSON when --json was given."""
    result = run_all(server, [(args, stdin)], expect)[0]
    return json.loads(result.stdout) if "--json" in args and result.returncode == 0 else result


def refused(result: subprocess.CompletedProcess[str], *words: str) -> None:
    """A usage or input error: exit code 2, one line on stderr that says what, nothing on stdout."""
    assert result.returncode == 2, (result.args, result.stdout, result.stderr)
    assert result.stdout == ""
    assert result.stderr.startswith("mycpaas: ") and result.stderr.count("\n") == 1, result.stderr
    for word in words:
        assert word in result.stderr


@pytest.fixture(scope="module", params=BACKENDS)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """One server per backend for the module's console tests: they add and remove what they look at (unique
    numbers and destinations, the one dashboard user they remove again) and none restarts it."""
    instance = make_server(tmp_path_factory.mktemp(f"console-{request.param}"), request.param)
    yield instance
    dispose_server(instance)


def api(server: ServerProcess, path: str, **params: str) -> Any:
    with server.client() as client:
        response = client.get(f"{server.accounts_path()}/{path}", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def test_numbers_add_list_show_update_release_match_the_api(server: ServerProcess) -> None:
    phone = unique_number()
    added = run(
        server,
        "numbers",
        "add",
        phone,
        "--sms-url",
        "https://example.com/sms",
        "--sms-method",
        "get",
        "--status-callback",
        "https://example.com/status",
        "--friendly-name",
        "Front desk",
        "--json",
    )
    sid = added["sid"]
    assert added == api(server, f"IncomingPhoneNumbers/{sid}.json")
    assert (added["sms_url"], added["sms_method"], added["friendly_name"]) == (
        "https://example.com/sms",
        "GET",
        "Front desk",
    )

    # By phone number or by SID; an empty URL clears a setting; unchanged settings stay.
    updated = run(
        server,
        "numbers",
        "update",
        phone,
        "--sms-fallback-url",
        "https://example.com/fb",
        "--sms-url",
        "",
        "--json",
    )
    fetched = api(server, f"IncomingPhoneNumbers/{sid}.json")
    assert updated == fetched
    assert (fetched["sms_url"], fetched["sms_fallback_url"], fetched["sms_method"]) == (
        "",
        "https://example.com/fb",
        "GET",
    )
    shown, listed, text = run_all(
        server,
        [
            (("numbers", "show", sid, "--json"), None),
            (("numbers", "list", "--phone-number", phone[-7:], "--json"), None),
            (("numbers", "show", phone), None),
        ],
    )
    assert json.loads(shown.stdout) == fetched
    listing = json.loads(listed.stdout)
    assert (
        listing["incoming_phone_numbers"]
        == api(server, "IncomingPhoneNumbers.json", PhoneNumber=phone[-7:])["incoming_phone_numbers"]
    )
    assert listing["next_page_token"] is None
    assert phone in text.stdout and "https://example.com/fb" in text.stdout

    bad_url, bad_method, unknown, nothing, taken, bad_account = run_all(
        server,
        [
            (("numbers", "add", unique_number(), "--sms-url", "ftp://example.com/"), None),
            (("numbers", "update", sid, "--sms-method", "PUT"), None),
            (("numbers", "show", "+15550000000"), None),
            (("numbers", "update", sid), None),
            (("numbers", "add", phone), None),
            (("numbers", "list", "--account", "AC" + "0" * 32), None),
        ],
        expect=None,
        spawn=False,
    )
    refused(bad_url, "Invalid SmsUrl", "21502")
    refused(bad_method, "SmsMethod must be GET or POST")
    refused(unknown, "has no number +15550000000")
    refused(nothing, "nothing to change")
    refused(taken, "is not available", "21422")
    refused(bad_account, "no account AC000")

    released = run(server, "numbers", "release", sid)
    assert f"Released {phone}" in released.stdout
    with server.client() as client:
        assert client.get(f"{server.accounts_path()}/IncomingPhoneNumbers/{sid}.json").status_code == 404


def test_messages_send_list_show_match_the_api(server: ServerProcess) -> None:
    to = unique_number()
    sent = [
        json.loads(r.stdout)
        for r in run_all(
            server,
            [
                (
                    (
                        "messages",
                        "send",
                        "--to",
                        to,
                        "--from",
                        "+15005550006",
                        "--body",
                        f"hello {n}",
                        "--json",
                    ),
                    None,
                )
                for n in range(2)
            ]
            + [
                (
                    ("messages", "send", "--to", to, "--from", "+15005550006", "--body", "-", "--json"),
                    "from stdin\n",
                )
            ],
        )
    ]
    assert [m["status"] for m in sent] == ["queued"] * 3
    assert sent[2]["body"] == "from stdin"
    sids = {m["sid"] for m in sent}

    def final() -> list[dict[str, Any]] | None:
        found = api(server, "Messages.json", To=to)["messages"]
        return found if len(found) == 3 and all(m["status"] in FINAL for m in found) else None

    by_api = wait_until(final, 30, "the messages to be delivered by the sandbox carrier")
    assert {m["sid"] for m in by_api} == sids

    first = sent[0]["sid"]
    shown, listed, page1, text = run_all(
        server,
        [
            (("messages", "show", first, "--json"), None),
            (("messages", "list", "--to", to, "--json"), None),
            (("messages", "list", "--to", to, "--page-size", "2", "--json"), None),
            (("messages", "list", "--to", to, "--status", "delivered"), None),
        ],
    )
    assert json.loads(shown.stdout) == api(server, f"Messages/{first}.json")
    assert json.loads(listed.stdout) == {"messages": by_api, "next_page_token": None}
    page = json.loads(page1.stdout)
    assert page["messages"] == by_api[:2] and page["next_page_token"] == f"PA{by_api[1]['sid']}"
    page2 = run(
        server,
        "messages",
        "list",
        "--to",
        to,
        "--page-size",
        "2",
        "--page-token",
        page["next_page_token"],
        "--json",
    )
    assert page2 == {"messages": by_api[2:], "next_page_token": None}
    assert all(sid in text.stdout for sid in sids) and text.stdout.count("\n") == 3

    bad_to, no_from, bad_status, bad_date, unknown, bad_token, bad_size = run_all(
        server,
        [
            (("messages", "send", "--to", "123", "--from", "+15005550006", "--body", "x"), None),
            (("messages", "send", "--to", to, "--body", "x"), None),
            (("messages", "list", "--status", "bogus"), None),
            (("messages", "list", "--date-sent", "yesterday"), None),
            (("messages", "show", "SM" + "0" * 32), None),
            (("messages", "list", "--page-token", "PAnothing"), None),
            (("messages", "list", "--page-size", "0"), None),
        ],
        expect=None,
        spawn=False,
    )
    refused(bad_to, "not a valid phone number", "21211")
    refused(no_from, "21603")
    refused(bad_status, "Status must be one of")
    refused(bad_date, "DateSent")
    refused(unknown, "no message SM000")
    refused(bad_token, "Invalid PageToken", "21481")
    refused(bad_size, "--page-size")
    missing = run_all(server, [(("messages", "send", "--from", "+15005550006"), None)], None, spawn=False)[0]
    assert missing.returncode == 2 and "--to" in missing.stderr  # argparse's usage error


def test_lists_and_shows_print_json(server: ServerProcess) -> None:
    """--json on the commands that existed before: accounts and carriers; never a secret unless asked for."""
    accounts, account, with_token, carriers = run_all(
        server,
        [
            (("accounts", "list", "--json"), None),
            (("accounts", "show", server.account_sid, "--json"), None),
            (("accounts", "show", server.account_sid, "--show-token", "--json"), None),
            (("carriers", "list", "--json"), None),
        ],
    )
    with server.client() as client:
        by_api = client.get(f"{server.accounts_path()}.json").json()
    by_api.pop("auth_token")
    assert json.loads(accounts.stdout)["accounts"] == [by_api]
    assert json.loads(account.stdout) == by_api
    assert server.auth_token not in accounts.stdout + account.stdout
    assert json.loads(with_token.stdout)["auth_token"] == server.auth_token
    assert json.loads(carriers.stdout) == {"carriers": []}


# What an account may write through the API and a terminal would obey if printed as is: ESC sequences (clear the
# screen, set the title, colour), CR and BEL, a C1 control, and a right-to-left override.
TERMINAL_TRICKS = "hi\x1b[2J\x1b]0;owned\x07\rX\u202eevil\x9b1m"
ESCAPED = "hi\\x1b[2J\\x1b]0;owned\\x07\\rX\\u202eevil\\x9b1m"


def test_text_output_shows_control_characters_escaped_and_json_keeps_them(server: ServerProcess) -> None:
    """A message body (an inbound one is anyone's), a number's friendly name and URL, an account's friendly name:
    the text output shows their control characters as escapes, never writes them to the operator's terminal;
    --json holds the text as it is (JSON escapes them itself)."""
    number = unique_number()
    with server.client() as client:
        base = server.accounts_path()
        sent = client.post(
            f"{base}/Messages.json",
            data={"To": unique_number(), "From": "+15005550006", "Body": TERMINAL_TRICKS},
        )
        assert sent.status_code == 201, sent.text
        added = client.post(
            f"{base}/IncomingPhoneNumbers.json",
            data={
                "PhoneNumber": number,
                "FriendlyName": TERMINAL_TRICKS,
                "SmsUrl": f"https://e.com/{TERMINAL_TRICKS}",
            },
        )
        assert added.status_code == 201, added.text
        renamed = client.post(f"{base}.json", data={"FriendlyName": TERMINAL_TRICKS})
        assert renamed.status_code == 200, renamed.text
    sid = sent.json()["sid"]
    texts = run_all(
        server,
        [
            (("messages", "show", sid), None),
            (("messages", "list", "--page-size", "1"), None),
            (("numbers", "list"), None),
            (("numbers", "show", number), None),
            (("accounts", "list"), None),
            (("accounts", "show", server.account_sid), None),
        ],
        spawn=False,
    )
    for result in texts:
        printed = result.stdout
        assert not any(c in printed for c in "\x1b\x07\r\x9b\u202e"), (result.args, printed)
        assert ESCAPED in printed, (result.args, printed)
    shown, listed = run_all(
        server,
        [(("messages", "show", sid, "--json"), None), (("numbers", "show", number, "--json"), None)],
        spawn=False,
    )
    assert json.loads(shown.stdout)["body"] == TERMINAL_TRICKS
    assert json.loads(listed.stdout)["friendly_name"] == TERMINAL_TRICKS


def test_text_no_database_can_store_is_refused_before_the_write(server: ServerProcess) -> None:
    """A NUL in a body read from stdin (PostgreSQL refuses it: a traceback), an argument that was not UTF-8 on
    the command line (Python hands its bytes over as lone surrogates): each a one-line refusal with exit code 2;
    an address with a control character or a bidi override is not an address. Nothing is written."""
    to = unique_number()
    nul, not_utf8, escape, override = run_all(
        server,
        [
            (("messages", "send", "--to", to, "--from", "+15005550006", "--body", "-"), "a\x00b\n"),
            (("messages", "send", "--to", to, "--from", "+15005550006", "--body", "caf\udce9"), None),
            (("users", "create", "esc\x1b[2J@example.com", "--password-stdin"), PASSWORD + "\n"),
            (("users", "create", "evil\u202e@example.com", "--password-stdin"), PASSWORD + "\n"),
        ],
        expect=None,
        spawn=False,
    )
    refused(nul, "NUL", "20422")
    refused(not_utf8, "not UTF-8", "caf\\udce9")
    for bad_address in (escape, override):
        refused(bad_address, "Enter a valid email address.", "(error 20422)")  # the address is not echoed
        assert bad_address.stderr == "mycpaas: Enter a valid email address. (error 20422)\n"
    assert api(server, "Messages.json", To=to)["messages"] == []
    assert run(server, "users", "list", "--json") == {"users": []}


def test_users_list_reset_password_and_remove(server: ServerProcess) -> None:
    create_user(server, "ops@example.com")
    listed = run(server, "users", "list", "--json")
    assert listed == {
        "users": [
            {
                "email": "ops@example.com",
                "account_sid": server.account_sid,
                "role": "admin",  # the first user
                "date_created": listed["users"][0]["date_created"],
                "last_sign_in": None,
            }
        ]
    }
    session = signed_in(server, "ops@example.com")
    assert session.get("/").status_code == 200
    assert run(server, "users", "list", "--json")["users"][0]["last_sign_in"] is not None

    new_password = remember_secret("a brand new passphrase")
    short, unknown, unknown_remove = run_all(
        server,
        [
            (("users", "reset-password", "ops@example.com", "--password-stdin"), "too short\n"),
            (("users", "reset-password", "nobody@example.com", "--password-stdin"), new_password + "\n"),
            (("users", "remove", "nobody@example.com"), None),
        ],
        expect=None,
        spawn=False,
    )
    refused(short, "at least 12 characters")
    refused(unknown, "no dashboard user has the email nobody@example.com")
    refused(unknown_remove, "nobody@example.com")

    reset = run(
        server, "users", "reset-password", "OPS@example.com", "--password-stdin", stdin=new_password + "\n"
    )
    assert "sessions have ended" in reset.stdout and new_password not in reset.stdout + reset.stderr
    # The open session ended; the old password no longer signs in, the new one does.
    assert session.get("/", follow_redirects=False).status_code == 303
    with httpx.Client(base_url=server.url, headers={"Origin": server.url}) as browser:
        page = browser.get("/sign-in")
        old = browser.post(
            "/sign-in",
            data={
                "email": "ops@example.com",
                "password": PASSWORD,
                "next": "/",
                "csrf_token": csrf_of(page.text),
            },
        )
        assert old.status_code != 303
    assert signed_in(server, "ops@example.com", new_password).get("/").status_code == 200
    history = signed_in(server, "ops@example.com", new_password).get("/credentials").text
    assert "user.password_reset" in history

    removed = run(server, "users", "remove", "ops@example.com")
    assert "Removed dashboard user ops@example.com" in removed.stdout
    assert "set-up link again" in removed.stdout
    assert run(server, "users", "list", "--json") == {"users": []}


@pytest.mark.parametrize("backend", BACKENDS)
def test_status_shows_the_binds_of_a_running_server(tmp_path: Path, backend: str) -> None:
    with (
        Smsc(tmp_path / "smsc", DLR_DELAY_MS=0) as smsc,
        smpp_server(tmp_path / "server", backend, [("sim", smsc, ())]) as server,
    ):

        def bound() -> dict[str, Any] | None:
            found: dict[str, Any] = run(server, "status", "--json")
            return found if found["carriers"][0]["binds_up"] == 1 else None

        status = wait_until(bound, 30, "`mycpaas status` to show the bind")
        assert status["carriers"] == [
            {
                "name": "sim",
                "address": f"{smsc.host}:{smsc.port}",
                "enabled": True,
                "max_binds": 1,
                "binds_held": 1,
                "binds_up": 1,
            }
        ]
        assert status["database"] == describe(server.database_url)
        assert status["schema"] == {"revision": head_revision(), "head": head_revision(), "state": "current"}
        kinds = {q["kind"]: q for q in status["queue"]}
        assert {"message.send", "webhook.status", "webhook.inbound"} <= set(kinds)
        assert status["webhook_backlog"]["jobs"] == sum(
            q["jobs"] for kind, q in kinds.items() if kind.startswith("webhook.")
        )
        text = run(server, "status")
        assert "sim" in text.stdout and "binds up" in text.stdout and "webhooks:" in text.stdout


def test_status_of_a_database_without_the_schema(tmp_path: Path) -> None:
    server = ServerProcess(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'none.db'}")
    result = run(server, "status", expect=1)
    assert "schema:" in result.stdout and "missing" in result.stdout
    assert not (tmp_path / "none.db").exists()


def serve_once(directory: Path, environment: str, run_number: int) -> str:
    """`mycpaas serve` as an operator starts it (no --access-log), one API request, then stopped: its output."""
    env = (
        cli_environment(directory, sqlite_url(directory))
        | FAST_SANDBOX
        | {"MYCPAAS_ENVIRONMENT": environment}
    )
    port = free_port()
    log = directory / f"serve-{run_number}.log"
    with log.open("wb") as handle:
        process = subprocess.Popen(
            [sys.executable, "-m", "mycpaas", "serve", "--port", str(port)],
            stdout=handle,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=directory,
        )
    try:
        wait_until(lambda: "Dashboard: " in log.read_text() or process.poll() is not None, 60, "the banner")
        assert f"Dashboard: http://127.0.0.1:{port}/\n" in log.read_text(), log.read_text()
        assert httpx.get(f"http://127.0.0.1:{port}/2010-04-01/Accounts.json").status_code == 401
        if environment == "development":
            wait_until(
                lambda: '"GET /2010-04-01/Accounts.json" 401' in log.read_text(), 30, "the access line"
            )
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)
    return log.read_text()  # stopped: every line it would write is in the file


def test_serve_prints_the_dashboard_url_on_every_start_and_logs_access_in_development(tmp_path: Path) -> None:
    """In development (the default) every request is logged, in production none is; every start, not the
    first only, prints where the dashboard is."""
    first = serve_once(tmp_path, "development", 0)
    assert "Account SID" in first
    again = serve_once(tmp_path, "production", 1)
    assert "Account SID" not in again and "Dashboard: " in again
    assert "/2010-04-01/Accounts.json" not in again
