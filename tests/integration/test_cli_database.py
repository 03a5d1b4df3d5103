"""Only `serve` and `migrate` create or migrate a database; every other command refuses a missing, older or
newer one having created nothing. `serve` creates nothing, and prints no credentials, until it holds its port.

A user once ran `mycpaas accounts list` from another directory: it created and migrated ./data/mycpaas.db and
a new secret.key, printed nothing, and their accounts seemed gone. These tests run the commands as that user
did (subprocesses, configured by environment only), on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import asyncpg
from alembic.script import ScriptDirectory

from mycpaas.storage import migrate
from mycpaas.storage.migrate import SchemaState
from tests.conftest import (
    ALL_SERVERS,
    BANNER_HEADING,
    SETUP_LINK_MARK,
    dispose_server,
    remember_secret,
)
from tests.databases import sqlite_url
from tests.integration.cli_support import call, cli_environment, spawn_all
from tests.server import ServerProcess

SID = "AC" + "0" * 32
HEAD = migrate.head_revision()
PREVIOUS = str(
    ScriptDirectory.from_config(migrate.alembic_config("sqlite://")).get_revision(HEAD).down_revision
)

# Every command that works on the database, with input that would make it write if it got that far.
DATA_COMMANDS: list[tuple[tuple[str, ...], str | None]] = [
    (("accounts", "list"), None),
    (("accounts", "create", "--friendly-name", "should not exist"), None),
    (("accounts", "show", SID), None),
    (("token", "rotate", SID), None),
    (("users", "create", "someone@example.com", "--password-stdin"), "correct horse battery staple\n"),
    (("carriers", "list"), None),
    (
        ("carriers", "add", "c1", "--host", "h", "--port", "2775", "--system-id", "s", "--password-stdin"),
        "pw\n",
    ),
    (("carriers", "update", "c1", "--window", "3"), None),
    (("carriers", "remove", "c1"), None),
]
HINTS = ("--data-dir", "MYCPAAS_DATA_DIR", "--database-url", "MYCPAAS_DATABASE_URL", "`mycpaas migrate`")


def postgres_tables(url: str) -> set[str]:
    async def fetch() -> set[str]:
        conn = await asyncpg.connect(url, timeout=10)
        try:
            rows = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            return {row[0] for row in rows}
        finally:
            await conn.close()

    return asyncio.run(fetch())


def is_alembic_noise(text: str) -> bool:
    return any(mark in text for mark in ("alembic", "Context impl", "Running upgrade", "Will assume"))


def test_every_command_refuses_a_missing_database_and_creates_nothing(
    tmp_path: Path, backend_url: str
) -> None:
    data_dir, cwd = tmp_path / "data", tmp_path / "elsewhere"
    cwd.mkdir()
    results = spawn_all(DATA_COMMANDS, cli_environment(data_dir, backend_url), cwd)
    where = str((data_dir / "mycpaas.db").resolve()) if backend_url.startswith("sqlite") else backend_url
    for result in results:
        assert result.returncode == 1, (result.args, result.stdout, result.stderr)
        assert result.stdout == ""
        assert f"no mycpaas database at {where}." in result.stderr, result.stderr
        for hint in HINTS:
            assert hint in result.stderr, (hint, result.stderr)
        assert "Traceback" not in result.stderr
    assert not data_dir.exists()  # no directory, no database file, no secret.key
    assert list(cwd.iterdir()) == []
    if not backend_url.startswith("sqlite"):
        assert postgres_tables(backend_url) == set()


def test_the_default_data_directory_is_named_and_left_alone(tmp_path: Path) -> None:
    results = spawn_all(
        [(("accounts", "list"), None), (("carriers", "list"), None)], cli_environment(None, None), tmp_path
    )
    for result in results:
        assert result.returncode == 1, result.stderr
        assert f"no mycpaas database at {(tmp_path / 'data' / 'mycpaas.db').resolve()}." in result.stderr
        assert "default: ./data" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_an_older_schema_is_refused_until_migrate(tmp_path: Path, backend_url: str) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    migrate.upgrade(backend_url, PREVIOUS)
    env = cli_environment(data_dir, backend_url)
    refused = spawn_all(DATA_COMMANDS[:1] + DATA_COMMANDS[4:7], env, data_dir)
    for result in refused:
        assert result.returncode == 1, (result.args, result.stdout, result.stderr)
        assert f"has schema revision {PREVIOUS}; this version of mycpaas needs {HEAD}" in result.stderr
        assert "Run `mycpaas migrate`" in result.stderr
    assert migrate.inspect(backend_url).revision == PREVIOUS  # nothing migrated
    assert not (data_dir / "secret.key").exists()

    migrated = spawn_all([(("migrate",), None)], env, data_dir)[0]
    assert migrated.returncode == 0, migrated.stderr
    assert f"from schema revision {PREVIOUS} to {HEAD}, the latest." in migrated.stdout
    assert not is_alembic_noise(migrated.stdout + migrated.stderr), migrated.stderr
    listed = spawn_all(DATA_COMMANDS[:1], env, data_dir)[0]
    assert (listed.returncode, listed.stdout, listed.stderr) == (0, "", "")


def test_a_newer_schema_is_refused_even_by_migrate(tmp_path: Path) -> None:
    env = cli_environment(tmp_path, sqlite_url(tmp_path))
    assert call(["migrate"], env).returncode == 0
    with sqlite3.connect(tmp_path / "mycpaas.db") as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999'")
    for args in (["accounts", "list"], ["migrate"]):
        result = call(args, env)
        assert result.returncode == 1
        assert "has schema revision 9999, which this version of mycpaas does not know" in result.stderr


def test_a_database_without_its_server_secret_is_refused(tmp_path: Path) -> None:
    served, other = tmp_path / "served", tmp_path / "other"
    url = sqlite_url(served)
    assert call(["migrate"], cli_environment(served, url)).returncode == 0
    assert (served / "secret.key").is_file()
    result = call(["accounts", "create"], cli_environment(other, url))
    assert result.returncode == 1
    assert f"no server secret at {(other / 'secret.key').resolve()}" in result.stderr
    assert "--data-dir" in result.stderr
    assert not other.exists()


def test_inspect_reads_without_creating(tmp_path: Path, backend_url: str) -> None:
    assert migrate.inspect(backend_url).state is SchemaState.MISSING
    assert not (tmp_path / "data").exists()
    if backend_url.startswith("sqlite"):
        (tmp_path / "data").mkdir()
    migrate.upgrade(backend_url, PREVIOUS)
    assert migrate.inspect(backend_url).state is SchemaState.BEHIND
    migrate.upgrade(backend_url)
    assert migrate.inspect(backend_url).state is SchemaState.CURRENT


def test_first_start_on_a_busy_port_creates_nothing_then_a_free_port_prints_the_banner(
    tmp_path: Path, backend_url: str
) -> None:
    data_dir = tmp_path / "data"
    server = ServerProcess(data_dir=data_dir, database_url=backend_url)
    ALL_SERVERS.append(server)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "mycpaas", "serve", "--port", str(busy)],
            env=server._environment(),
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert f"cannot listen on 127.0.0.1:{busy}: port {busy} is in use" in result.stderr
    assert "--port or MYCPAAS_PORT" in result.stderr
    for credential in ("Account SID", "Auth Token", SETUP_LINK_MARK):
        assert credential not in output
    assert not data_dir.exists()
    if not backend_url.startswith("sqlite"):
        assert postgres_tables(backend_url) == set()

    try:
        server.start()  # a free port
        remember_secret(server.auth_token)
        log = server.log_text()
        assert BANNER_HEADING in log and server.account_sid in log
        assert SETUP_LINK_MARK in log
        assert "shown here once" not in log
        assert "Created the mycpaas database at" in log
        assert not is_alembic_noise(log), log
    finally:
        dispose_server(server)
