"""No Auth Token or key secret ever reaches the server's log ("never share it in logs or error messages").

A server of its own goes through everything that handles secrets; afterwards its log must not contain any
secret it handed out or was shown, as sent or Base64-encoded. The one exception is the credential banner that
`mycpaas serve` prints to the terminal on purpose at the very first start (tests/conftest.py excludes exactly
those lines of the first run's log, and the session-end hook there repeats this scan for every server).
"""

from __future__ import annotations

import base64
import secrets
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import dispose_server, find_leaks, make_server, remember_secret
from tests.integration.auth_support import (
    TO,
    Creds,
    basic,
    new_key,
    new_subaccount,
    own_number,
    random_token,
    raw_client,
    send_message,
)
from tests.server import ServerProcess, free_port


def exercise(server: ServerProcess) -> list[str]:
    """Every path that handles a secret; returns every secret seen or presented."""
    seen = [server.auth_token]

    def keep(secret: str) -> str:
        seen.append(remember_secret(secret))
        return secret

    def refused(creds: Creds, path: str) -> None:
        with server.client(creds.username, creds.password) as client:
            assert client.get(path).status_code in (401, 429)

    owner = server.client()
    with owner:
        sub = new_subaccount(server, owner, "log test sub")
        keep(sub.password)
        for account in owner.get("/2010-04-01/Accounts.json").json()["accounts"]:
            keep(account["auth_token"])
        keep(owner.get(f"{server.accounts_path(sub.username)}.json").json()["auth_token"])
        _, number = own_number(server, owner, server.account_sid)
        send_message(server, owner, server.account_sid, number, "sent with the owner's token")
        key = new_key(server, owner, server.account_sid, "log test key")
        keep(key.password)

    sub_messages = f"{server.accounts_path(sub.username)}/Messages.json"
    with server.client(sub.username, sub.password) as client:
        _, sub_number = own_number(server, client, sub.username)
        send_message(server, client, sub.username, sub_number, "sent with the subaccount's token")
        secondary = keep(client.post("/v1/AuthTokens/Secondary").json()["secondary_auth_token"])
    with server.client(sub.username, secondary) as client:
        assert client.get(sub_messages).status_code == 200
        promoted = keep(client.post("/v1/AuthTokens/Promote").json()["auth_token"])
        keep(client.post("/v1/AuthTokens/Secondary").json()["secondary_auth_token"])
        assert client.delete("/v1/AuthTokens/Secondary").status_code == 204

    # Failed authentication of every kind, with real, rotated, padded and made-up secrets.
    messages = f"{server.accounts_path()}/Messages.json"
    refused(Creds(sub.username, sub.password), sub_messages)  # rotated
    refused(Creds(sub.username, promoted + "\n"), sub_messages)  # whitespace
    refused(Creds(sub.username, " " + promoted + " "), sub_messages)
    refused(Creds(server.account_sid, server.auth_token + "\r\n"), messages)
    refused(Creds(server.account_sid, keep(random_token())), messages)  # wrong
    refused(Creds(sub.username, server.auth_token), messages)  # right token, wrong account
    refused(Creds(server.auth_token, server.account_sid), messages)  # swapped
    refused(Creds("AC" + secrets.token_hex(16), server.auth_token), messages)
    refused(Creds(server.account_sid, keep("PT" + secrets.token_hex(24))), messages)
    refused(Creds(key.username, keep(secrets.token_urlsafe(24))), messages)

    # curl-like mistakes that put the token in a header in clear or half-encoded.
    pair = f"{server.account_sid}:{server.auth_token}"
    for header in (
        pair,
        f"Basic {pair}",
        f"Bearer {server.auth_token}",
        f"Basic {base64.b64encode(pair.replace(':', '').encode()).decode()}",
        f"-u {pair}",
    ):
        with raw_client(server, header) as client:
            assert client.get(messages).status_code == 401
    with httpx.Client(base_url=server.url, timeout=30) as client:
        response = client.get(
            messages, headers={"Authorization": basic(*pair.split(":")), "X-Curl": f"-u {pair}"}
        )
        assert response.status_code == 200

    # API keys: use, revoke, use again.
    with server.client(key.username, key.password) as client:
        assert (
            client.post(messages, data={"To": TO, "From": number, "Body": "sent with a key"}).status_code
            == 201
        )
    with server.client() as client:
        assert client.delete(f"{server.accounts_path()}/Keys/{key.username}.json").status_code == 204
    refused(key, messages)

    # The promoted token keeps working, and the parent still reads the subaccount.
    with server.client(sub.username, promoted) as client:
        assert client.get(sub_messages).status_code == 200
    return seen


@pytest.mark.parametrize("log_level", ["info", "trace"])
def test_no_secret_reaches_the_log(tmp_path: Path, log_level: str) -> None:
    server = make_server(
        tmp_path,
        "sqlite",
        env={"MYCPAAS_LOG_LEVEL": log_level, "MYCPAAS_AUTH_MAX_FAILURES": "4"},
    )
    try:
        seen = exercise(server)
    finally:
        dispose_server(server)
    log = server.log_text()
    access = [line for line in log.splitlines() if "mycpaas.access" in line]
    assert any(" 401 " in line for line in access) and any(" 429 " in line for line in access), (
        "the access log did not record the requests"
    )
    leaks = find_leaks(server, seen)
    assert not leaks, "\n".join(leaks)


def test_leak_scan_excludes_only_the_first_start_banner(tmp_path: Path) -> None:
    """The scan itself: the first run's banner is not a leak, the same lines anywhere else are."""
    token = secrets.token_hex(16)
    sid = "AC" + secrets.token_hex(16)
    banner = (
        "Created the owner account of this mycpaas server:\n"
        f"  Account SID: {sid}\n"
        f"  Auth Token:  {token}\n"
        "  Keep the Auth Token secret; it is shown here once. Rotate it with `mycpaas token rotate`.\n"
        f"  Try it: curl -X POST http://127.0.0.1:1/x -u {sid}:{token}\n"
    )
    fake = ServerProcess(data_dir=tmp_path, database_url="sqlite://")
    (tmp_path / "server-1.log").write_text("INFO starting\n" + banner + "INFO ready\n")
    assert find_leaks(fake, [token]) == []

    (tmp_path / "server-1.log").write_text(banner + f"INFO request with {token}\n")
    assert len(find_leaks(fake, [token])) == 1
    (tmp_path / "server-1.log").write_text(
        banner + f"INFO header {base64.b64encode(f'{sid}:{token}'.encode()).decode()}\n"
    )
    assert len(find_leaks(fake, [token])) == 1

    (tmp_path / "server-1.log").write_text(banner)
    (tmp_path / "server-2.log").write_text(banner)
    assert len(find_leaks(fake, [token])) == 2  # a banner on a later start is a leak


def test_leak_scan_finds_short_passwords_as_whole_tokens_only(tmp_path: Path) -> None:
    """SMPP passwords are at most 8 characters: the scan looks for them as values, quoted, in a URL, as the
    hex of a PDU, or (not plain words) as any whole token; never inside longer tokens or ordinary prose."""
    fake = ServerProcess(data_dir=tmp_path, database_url="sqlite://")
    log = tmp_path / "server-1.log"
    quiet = (
        "  Keep the Auth Token secret; it is shown here once.\n"
        "ERROR the password of carrier connector 'a' cannot be unsealed with this server's secret; re-enter\n"
        "INFO secrets and secretive things; token Pw7x!q2Z9 and aPw7x!q2Z are other tokens\n"
    )
    log.write_text(quiet)
    assert find_leaks(fake, ["secret", "Pw7x!q2Z"]) == []
    for leaked in (
        "DEBUG bind_transceiver system_id=test password=secret\n",
        "DEBUG bind password: 'secret'\n",
        "WARNING connect smpp://test:secret@127.0.0.1:2775 failed\n",
        f"TRACE pdu 0000002f00000009 {b'test'.hex()}00{b'secret'.hex()}0000\n",
    ):
        log.write_text(quiet + leaked)
        assert len(find_leaks(fake, ["secret"])) == 1, leaked
    log.write_text(quiet + "DEBUG bound with Pw7x!q2Z\n")
    assert len(find_leaks(fake, ["secret", "Pw7x!q2Z"])) == 1


def test_a_connector_password_never_reaches_the_log(tmp_path: Path) -> None:
    """A connector whose SMSC refuses connections: the link retries and logs why, never the password."""
    server = make_server(tmp_path, "sqlite", env={"MYCPAAS_LOG_LEVEL": "trace"})
    password = remember_secret("Pw7x!q2Z")
    try:
        added = subprocess.run(
            [sys.executable, "-m", "mycpaas", "carriers", "add", "nowhere", "--host", "127.0.0.1"]
            + ["--port", str(free_port()), "--system-id", "test", "--password-stdin"],
            input=password + "\n",
            capture_output=True,
            text=True,
            env=server._environment(),
            cwd=server.data_dir,
            timeout=60,
            check=False,
        )
        assert added.returncode == 0, added.stderr
        assert password not in added.stdout + added.stderr
        server.stop()
        server.start()
        deadline = time.monotonic() + 60
        while server.log_text().count("bind failed") < 2:
            assert time.monotonic() < deadline, server.log_text()[-2000:]
            time.sleep(0.2)
    finally:
        dispose_server(server)
    leaks = find_leaks(server, [password])
    assert not leaks, "\n".join(leaks)
