"""The `mycpaas` command, run as a subprocess the way an operator runs it.

The CLI is configured through MYCPAAS_DATA_DIR / MYCPAAS_DATABASE_URL only (every other MYCPAAS_* variable of
the test environment is stripped). `token rotate` is checked against a running server that shares the
database and the data directory (and so the server secret) with the CLI.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import ssl
import stat
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from ipaddress import ip_address
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from mycpaas.storage.migrate import head_revision
from tests.conftest import BACKENDS, dispose_server, make_server, remember_secret
from tests.databases import sqlite_url
from tests.integration.cli_support import call

SID = re.compile(r"Account SID: (AC[0-9a-f]{32})")
TOKEN = re.compile(r"Auth Token:  ([0-9a-f]{32})")


@dataclass
class Cli:
    data_dir: Path
    database_url: str

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MYCPAAS_")}
        env["MYCPAAS_DATA_DIR"] = str(self.data_dir)
        env["MYCPAAS_DATABASE_URL"] = self.database_url
        return env

    def run(self, *args: str, expect: int | None = 0) -> subprocess.CompletedProcess[str]:
        return self.run_all([args], expect=expect)[0]

    def run_all(
        self, commands: list[tuple[str, ...]] | list[list[str]], expect: int | None = 0
    ) -> list[subprocess.CompletedProcess[str]]:
        """Run independent commands side by side (each is a fresh interpreter; serially they add up)."""
        processes = [
            (
                list(args),
                subprocess.Popen(
                    [sys.executable, "-m", "mycpaas", *args],
                    env=self.env(),
                    cwd=self.data_dir,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                ),
            )
            for args in commands
        ]
        results = []
        for args, process in processes:
            try:
                stdout, stderr = process.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.communicate()
                raise
            result = subprocess.CompletedProcess(args, process.returncode, stdout, stderr)
            if expect is not None:
                assert result.returncode == expect, f"{args}: rc={result.returncode}\n{stdout}\n{stderr}"
            assert "Traceback" not in stderr, stderr
            results.append(result)
        return results


@pytest.fixture
def empty_cli(tmp_path: Path) -> Cli:
    """An empty data directory: no database, no secret."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    return Cli(data_dir, sqlite_url(data_dir))


@pytest.fixture
def cli(empty_cli: Cli) -> Cli:
    """A data directory prepared by `mycpaas migrate` (run in this process: the test is not about it)."""
    assert call(["migrate"], empty_cli.env()).returncode == 0
    return empty_cli


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# ---- help ------------------------------------------------------------------------------------------------

COMMANDS = [
    [],
    ["serve"],
    ["migrate"],
    ["accounts"],
    ["accounts", "create"],
    ["accounts", "list"],
    ["accounts", "show"],
    ["token"],
    ["token", "rotate"],
    ["users"],
    ["users", "create"],
    ["users", "list"],
    ["users", "reset-password"],
    ["users", "remove"],
    ["messages"],
    ["messages", "send"],
    ["messages", "list"],
    ["messages", "show"],
    ["numbers"],
    ["numbers", "add"],
    ["numbers", "list"],
    ["numbers", "show"],
    ["numbers", "update"],
    ["numbers", "release"],
    ["status"],
    ["carriers"],
    ["carriers", "add"],
    ["carriers", "list"],
    ["carriers", "show"],
    ["carriers", "update"],
    ["carriers", "remove"],
    ["dev-cert"],
]


@pytest.fixture(scope="module")
def help_runs(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, dict[str, subprocess.CompletedProcess[str]]]:
    """Every --help, run in this process (argparse's output; a process each would cost seconds apiece), but
    the top-level --help and --version as `python -m mycpaas` processes."""
    data_dir = tmp_path_factory.mktemp("help")
    cli = Cli(data_dir, sqlite_url(data_dir))
    spawned = [("--help",), ("--version",)]
    commands = [(*command, "--help") for command in COMMANDS if command] + [(), ("accounts",)]
    results = cli.run_all(spawned, expect=None) + [call(command, cli.env()) for command in commands]
    runs = zip([*spawned, *commands], results, strict=True)
    return data_dir, {" ".join(command): result for command, result in runs}


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "mycpaas")
def test_help(
    help_runs: tuple[Path, dict[str, subprocess.CompletedProcess[str]]], command: list[str]
) -> None:
    result = help_runs[1][" ".join([*command, "--help"])]
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: {' '.join(['mycpaas', *command])} ")
    assert "-h, --help" in result.stdout
    assert result.stderr == ""


def test_help_touches_nothing(help_runs: tuple[Path, dict[str, subprocess.CompletedProcess[str]]]) -> None:
    assert list(help_runs[0].iterdir()) == []


def test_help_lists_every_command(
    help_runs: tuple[Path, dict[str, subprocess.CompletedProcess[str]]],
) -> None:
    runs = help_runs[1]
    for name in (
        "serve",
        "migrate",
        "status",
        "accounts",
        "numbers",
        "messages",
        "token",
        "users",
        "carriers",
        "dev-cert",
    ):
        assert name in runs["--help"].stdout
    for command in [c for c in COMMANDS if len(c) == 2 and c[1] in ("list", "show")] + [["status"]]:
        assert "--json" in runs[" ".join([*command, "--help"])].stdout, command
    for flag in ("--sms-url", "--sms-method", "--sms-fallback-url", "--status-callback", "--voice-url"):
        assert flag in runs["numbers update --help"].stdout and flag in runs["numbers add --help"].stdout
    for action in ("add", "list", "show", "update", "remove"):
        assert action in runs["carriers --help"].stdout
    assert "create" in runs["accounts --help"].stdout and "show" in runs["accounts --help"].stdout
    assert "rotate" in runs["token --help"].stdout
    assert "--show-token" in runs["accounts show --help"].stdout


def test_version_and_missing_command(
    help_runs: tuple[Path, dict[str, subprocess.CompletedProcess[str]]],
) -> None:
    runs = help_runs[1]
    assert runs["--version"].returncode == 0
    assert re.fullmatch(r"mycpaas \d+\.\d+\.\d+\n", runs["--version"].stdout)
    assert runs[""].returncode == 2 and "usage: mycpaas" in runs[""].stderr
    assert runs["accounts"].returncode == 2 and "usage: mycpaas accounts" in runs["accounts"].stderr


# ---- accounts ----------------------------------------------------------------------------------------------


def test_migrate(empty_cli: Cli) -> None:
    first = empty_cli.run("migrate")
    database = (empty_cli.data_dir / "mycpaas.db").resolve()
    assert f"Created the mycpaas database at {database} (schema revision" in first.stdout
    assert f"Created the server secret {(empty_cli.data_dir / 'secret.key').resolve()}" in first.stdout
    assert database.is_file()
    assert mode(empty_cli.data_dir / "secret.key") == 0o600
    again = empty_cli.run("migrate")
    assert (
        again.stdout == f"The database at {database} is at the latest schema (revision {head_revision()}).\n"
    )
    for result in (first, again):  # one line of ours says what was done; Alembic's INFO lines stay out
        assert result.stderr == ""
        assert "alembic" not in result.stdout and "INFO" not in result.stdout


def test_accounts_create_list_show(cli: Cli) -> None:
    created = cli.run("accounts", "create", "--friendly-name", "CLI test")
    sid = SID.search(created.stdout).group(1)  # type: ignore[union-attr]
    token = remember_secret(TOKEN.search(created.stdout).group(1))  # type: ignore[union-attr]
    assert token not in created.stderr  # credentials go to the terminal, never through the logger

    secret_file = cli.data_dir / "secret.key"
    assert secret_file.is_file()
    assert mode(secret_file) == 0o600

    child_run, shown, revealed = cli.run_all(
        [
            ("accounts", "create", "--parent", sid, "--friendly-name", "child"),
            ("accounts", "show", sid),
            ("accounts", "show", sid, "--show-token"),
        ]
    )
    child = SID.search(child_run.stdout).group(1)  # type: ignore[union-attr]
    remember_secret(TOKEN.search(child_run.stdout).group(1))  # type: ignore[union-attr]

    assert sid in shown.stdout and "CLI test" in shown.stdout
    assert "hidden" in shown.stdout
    assert token not in shown.stdout + shown.stderr

    assert f"Auth Token: {token}" in revealed.stdout
    assert token not in revealed.stderr

    listed = cli.run("accounts", "list").stdout
    assert token not in listed
    lines = {line.split()[0]: line for line in listed.splitlines() if line.startswith("AC")}
    assert "CLI test" in lines[sid] and "active" in lines[sid] and "main account" in lines[sid]
    assert f"subaccount of {sid}" in lines[child]


def test_unknown_account_sid(cli: Cli) -> None:
    missing = "AC" + "0" * 32
    # In this process (tests/integration/cli_support.call): the test is about the refusal and its message,
    # not about the process, and three interpreters cost seconds on a busy machine.
    results = [
        call(args, cli.env())
        for args in (
            ["accounts", "show", missing],
            ["token", "rotate", missing],
            ["accounts", "create", "--parent", missing],
        )
    ]
    for result in results:
        assert result.returncode == 2, (result.args, result.stdout, result.stderr)
        assert "Traceback" not in result.stderr, result.stderr
        assert result.stderr == f"mycpaas: no account {missing}\n"


def test_unknown_setting_fails_with_its_name(empty_cli: Cli) -> None:
    cli = empty_cli
    env = cli.env() | {"MYCPAAS_PROT": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "mycpaas", "accounts", "list"],
        env=env,
        cwd=cli.data_dir,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "MYCPAAS_PROT" in result.stderr and "Traceback" not in result.stderr


def test_a_missing_config_file_stops_every_command(empty_cli: Cli) -> None:
    missing = empty_cli.data_dir / "mycpaas.env.typo"
    env = empty_cli.env() | {"MYCPAAS_CONFIG": str(missing)}
    commands = [
        ["serve", "--port", "0"],
        ["migrate"],
        ["accounts", "list"],
        ["carriers", "list"],
        ["token", "rotate", "AC" + "0" * 32],
        ["users", "create", "--password-stdin", "a@example.com"],
        ["dev-cert"],
    ]
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "mycpaas", *command],
            env=env,
            cwd=empty_cli.data_dir,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for command in commands
    ]
    try:
        for command, process in zip(commands, processes, strict=True):
            stdout, stderr = process.communicate(timeout=60)
            assert process.returncode == 2, f"{command}: rc={process.returncode}\n{stdout}\n{stderr}"
            assert f"MYCPAAS_CONFIG names '{missing}', which is not a file" in stderr, (command, stderr)
            assert "Traceback" not in stderr
    finally:
        for process in processes:  # a `serve` that started anyway
            if process.poll() is None:
                process.kill()
                process.communicate()
    assert sorted(p.name for p in empty_cli.data_dir.iterdir()) == [], "nothing may be created"


# ---- token rotate against a running server -----------------------------------------------------------------


def authenticates(base_url: str, path: str, sid: str, token: str) -> bool:
    response = httpx.get(f"{base_url}{path}", auth=(sid, token), timeout=30)
    if response.status_code == 401:
        assert response.json()["code"] == 20003
        return False
    assert response.status_code == 200, response.text
    return True


def refused_soon(base_url: str, path: str, sid: str, token: str, seconds: float = 30.0) -> bool:
    """Whether `token` stops authenticating: the server is another process than the CLI that made the change,
    and its caches follow the change signal within one poll (services/changes.py, 0.25 s), later on a busy
    machine. A token that still works after `seconds` is a failure, not a slow poll."""
    deadline = time.monotonic() + seconds
    while authenticates(base_url, path, sid, token):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


@pytest.mark.parametrize("backend", BACKENDS)
def test_token_rotate_replaces_the_token_of_a_running_server(tmp_path: Path, backend: str) -> None:
    server = make_server(tmp_path / "server", backend)
    try:
        cli = Cli(server.data_dir, server.database_url)
        sid, old = server.account_sid, server.auth_token
        path = f"{server.accounts_path()}/Messages.json"
        assert authenticates(server.url, path, sid, old)

        rotated = cli.run("token", "rotate", sid)
        new = remember_secret(TOKEN.search(rotated.stdout).group(1))  # type: ignore[union-attr]
        assert new != old
        assert new not in rotated.stderr

        assert refused_soon(server.url, path, sid, old)
        assert authenticates(server.url, path, sid, new)
        shown = cli.run("accounts", "show", sid, "--show-token").stdout
        assert f"Auth Token: {new}" in shown
        assert "last rotated: never" not in shown
        server.auth_token = new  # for anything that inspects the server afterwards

        # A closed account is read-only: its token is not rotated, and the refusal says why.
        with server.client() as owner:
            sub = owner.post("/2010-04-01/Accounts.json", data={"FriendlyName": "closed"}).json()
            remember_secret(sub["auth_token"])
            closed = owner.post(f"/2010-04-01/Accounts/{sub['sid']}.json", data={"Status": "closed"})
            assert closed.status_code == 200, closed.text
        refused = cli.run("token", "rotate", sub["sid"], expect=2)
        assert "Account not active" in refused.stderr and "is closed" in refused.stderr
        assert "Traceback" not in refused.stderr and refused.stdout == ""
    finally:
        dispose_server(server)


# ---- dev-cert ----------------------------------------------------------------------------------------------


def load_cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def handshake(cert: Path, key: Path, server_hostname: str) -> None:
    """A TLS handshake with a client that trusts only `cert` and checks the host name."""
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(cert, key)
    client_ctx = ssl.create_default_context(cafile=str(cert))
    left, right = socket.socketpair()
    left.settimeout(10)
    right.settimeout(10)
    with left, right, ThreadPoolExecutor(1) as pool:
        accepted = pool.submit(server_ctx.wrap_socket, left, server_side=True)
        try:
            client = client_ctx.wrap_socket(right, server_hostname=server_hostname)
            client.close()
        finally:
            with contextlib.suppress(ssl.SSLError, OSError):
                accepted.result(timeout=10).close()


@pytest.fixture(scope="module")
def dev_cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    data_dir = tmp_path_factory.mktemp("devcert")
    stdout = Cli(data_dir, sqlite_url(data_dir)).run("dev-cert").stdout
    return data_dir / "tls" / "cert.pem", data_dir / "tls" / "key.pem", stdout


def test_dev_cert_defaults(dev_cert: tuple[Path, Path, str]) -> None:
    cert_path, key_path, stdout = dev_cert
    assert str(cert_path) in stdout and str(key_path) in stdout

    cert = load_cert(cert_path)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in san.get_values_for_type(x509.DNSName)
    assert {ip_address("127.0.0.1"), ip_address("::1")} <= set(san.get_values_for_type(x509.IPAddress))
    assert cert.not_valid_before_utc <= datetime.now(UTC) < cert.not_valid_after_utc

    assert mode(key_path) == 0o600
    key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    spki = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert key.public_key().public_bytes(*spki) == cert.public_key().public_bytes(*spki)


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1"])
def test_dev_cert_is_trusted_for_local_names(dev_cert: tuple[Path, Path, str], host: str) -> None:
    handshake(dev_cert[0], dev_cert[1], host)


def test_dev_cert_is_not_valid_for_other_names(dev_cert: tuple[Path, Path, str]) -> None:
    with pytest.raises(ssl.SSLCertVerificationError):
        handshake(dev_cert[0], dev_cert[1], "example.com")


def test_dev_cert_explicit_paths_in_new_directories(empty_cli: Cli, tmp_path: Path) -> None:
    cert, key = tmp_path / "certs" / "c.pem", tmp_path / "private" / "k.pem"
    empty_cli.run("dev-cert", "--cert", str(cert), "--key", str(key))
    assert load_cert(cert)
    assert mode(key) == 0o600


def test_dev_cert_rewrites_an_existing_key_as_private(empty_cli: Cli) -> None:
    cli = empty_cli
    key = cli.data_dir / "tls" / "key.pem"
    key.parent.mkdir()
    key.write_text("old key\n")
    key.chmod(0o644)
    cli.run("dev-cert")
    assert key.read_text().startswith("-----BEGIN PRIVATE KEY-----")
    assert mode(key) == 0o600
