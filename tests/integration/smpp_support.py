"""A real `mycpaas serve` delivering over SMPP to the node SMSC simulator(s), configured with the CLI's
commands as an operator would (`mycpaas migrate`, `mycpaas carriers add`, run in this process by
`setup_cli`, then serve)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from twilio.rest import Client

from tests.conftest import ALL_SERVERS, dispose_server, remember_secret
from tests.databases import create_postgres_database, drop_postgres_database, sqlite_url
from tests.integration.cli_support import call
from tests.integration.helpers import unique_number
from tests.server import ServerProcess
from tests.smsc_support import Smsc

FINAL = {"delivered", "undelivered", "failed"}
SMSC_PASSWORD = "secret"


def cli(server: ServerProcess, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mycpaas", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=server._environment(),
        cwd=server.data_dir,
        check=False,
    )


def setup_cli(
    server: ServerProcess, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """An operator's command (`migrate`, `carriers add`, `carriers update`, ...) as `main([...])` in this
    process, with the server's environment: the same code `mycpaas` runs, without the interpreter start (1-2.5 s
    each on a busy 2-core machine; an SMPP test ran two to six of them before its server started). For tests
    whose subject is what the servers do with the change; tests about the command itself (test_cli*.py) and
    tests that call `cli()` run it as a process."""
    return call(args, server._environment(), stdin)


def add_carrier(server: ServerProcess, name: str, smsc: Smsc, *options: str) -> None:
    result = setup_cli(
        server,
        "carriers",
        "add",
        name,
        "--host",
        smsc.host,
        "--port",
        str(smsc.port),
        "--system-id",
        "test",
        "--password-stdin",
        *options,
        stdin=remember_secret(SMSC_PASSWORD) + "\n",
    )
    assert result.returncode == 0, result.stderr


@contextmanager
def smpp_server(
    tmp: Path,
    backend: str,
    carriers: list[tuple[str, Smsc, tuple[str, ...]]],
    binds: int | None = None,
    **env: str,
) -> Iterator[ServerProcess]:
    """A server whose carriers are the given simulators (name, simulator, extra `carriers add` options),
    yielded once `binds` of them (default: all) are bound."""
    url = sqlite_url(tmp) if backend == "sqlite" else create_postgres_database()
    server = ServerProcess(
        data_dir=tmp,
        database_url=url,
        env={"MYCPAAS_SMPP_ENQUIRE_LINK_SECONDS": "5", "MYCPAAS_SMPP_RESPONSE_TIMEOUT_SECONDS": "10", **env},
    )
    server.data_dir.mkdir(parents=True, exist_ok=True)
    migrated = setup_cli(server, "migrate")
    assert migrated.returncode == 0, migrated.stderr
    for name, smsc, options in carriers:
        add_carrier(server, name, smsc, *options)
    ALL_SERVERS.append(server)
    server.start()
    remember_secret(server.auth_token)
    try:
        wanted = len(carriers) if binds is None else binds
        wait_until(lambda: server.log_text().count("bound as") >= wanted, what="SMPP binds")
        yield server
    finally:
        dispose_server(server)


@contextmanager
def smpp_cluster(
    tmp: Path, carriers: list[tuple[str, Smsc, tuple[str, ...]]], processes: int = 2, **env: str
) -> Iterator[list[ServerProcess]]:
    """`processes` server processes (each with the API and a delivery worker) on one fresh PostgreSQL
    database and one server secret, with the given carriers added before the first starts."""
    url = create_postgres_database()
    servers = [
        ServerProcess(
            data_dir=tmp / f"server-{n}",
            database_url=url,
            env={
                "MYCPAAS_SMPP_ENQUIRE_LINK_SECONDS": "5",
                "MYCPAAS_SMPP_RESPONSE_TIMEOUT_SECONDS": "10",
                **env,
            },
        )
        for n in range(processes)
    ]
    first = servers[0]
    first.data_dir.mkdir(parents=True, exist_ok=True)
    migrated = setup_cli(first, "migrate")
    assert migrated.returncode == 0, migrated.stderr
    for name, smsc, options in carriers:
        add_carrier(first, name, smsc, *options)
    ALL_SERVERS.extend(servers)
    try:
        first.start()
        remember_secret(first.auth_token)
        for other in servers[1:]:
            other.data_dir.mkdir(parents=True, exist_ok=True)
            shutil.copy(first.data_dir / "secret.key", other.data_dir / "secret.key")
            other.account_sid, other.auth_token = first.account_sid, first.auth_token
            other.start()
        yield servers
    finally:
        for server in servers:
            server.stop()
        drop_postgres_database(url)


def wait_until(check: Callable[[], Any], timeout: float = 20.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def own_number(server: ServerProcess, client: httpx.Client, **options: str) -> str:
    number = unique_number()
    response = client.post(
        f"{server.accounts_path()}/IncomingPhoneNumbers.json", data={"PhoneNumber": number, **options}
    )
    assert response.status_code == 201, response.text
    return number


def message(server: ServerProcess, client: httpx.Client, sid: str) -> dict[str, Any]:
    response = client.get(f"{server.accounts_path()}/Messages/{sid}.json")
    assert response.status_code == 200, response.text
    return dict(response.json())


def wait_final(
    server: ServerProcess, client: httpx.Client, sids: list[str], timeout: float = 30.0
) -> list[dict[str, Any]]:
    """Every message in a final status (delivered, undelivered, failed), in the order of `sids`."""
    found: dict[str, dict[str, Any]] = {}

    def check() -> bool:
        for sid in sids:
            if sid not in found:
                current = message(server, client, sid)
                if current["status"] in FINAL:
                    found[sid] = current
        return len(found) == len(sids)

    wait_until(check, timeout, f"{len(sids) - len(found)} messages to reach a final status")
    return [found[sid] for sid in sids]


def sdk(server: ServerProcess) -> Client:
    """The official twilio client pointed at `server`, on SignalWire's path as an existing app would use."""
    client = Client(server.account_sid, server.auth_token)
    client.api.base_url = server.url
    client.api.v2010.version = "api/laml/2010-04-01"
    return client


def sender_of(server: ServerProcess) -> str:
    """A number the server's owner account owns, to send from."""
    with server.client() as client:
        return own_number(server, client)
