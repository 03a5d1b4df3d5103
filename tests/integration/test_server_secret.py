"""One server secret for every process of a database: each way in (MYCPAAS_SECRET, MYCPAAS_SECRET_FILE, the data
directory's secret.key) works, and a process whose secret is not the database's, or is malformed, is refused with
a message that names where the secret came from and never shows it (services/server_secret.py).

The commands run in this process (tests/integration/cli_support.py), `serve` as a real process; on SQLite and
PostgreSQL.
"""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path

from mycpaas.services.server_secret import SecretRefused, establish
from mycpaas.settings import Settings
from mycpaas.storage import migrate
from tests.conftest import remember_secret
from tests.databases import create_postgres_database, drop_postgres_database, sql
from tests.integration.cli_support import call, cli_environment, spawn_all

MISMATCH = "is not the one of the database"


def env(data_dir: Path, url: str, **settings: str) -> dict[str, str]:
    return {**cli_environment(data_dir, url), **{f"MYCPAAS_{k.upper()}": v for k, v in settings.items()}}


def refused(args: list[str], environment: dict[str, str], says: str, names: str, value: str) -> str:
    result = call(args, environment)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert says in result.stderr and names in result.stderr, result.stderr
    assert value not in output and value.lower() not in output.lower()
    assert "Traceback" not in output
    return result.stderr


def test_every_way_in_works_and_a_wrong_secret_is_refused_by_every_process(
    tmp_path: Path, backend_url: str
) -> None:
    data = tmp_path / "data"
    secret, wrong = secrets.token_hex(32), secrets.token_hex(32)

    # MYCPAAS_SECRET: no file is made; the database gets its sealed check value.
    first = call(["migrate"], env(data, backend_url, secret=secret))
    assert first.returncode == 0, first.stderr
    assert "server secret" not in first.stdout and not (data / "secret.key").exists()
    [(check,)] = sql(backend_url, "SELECT value FROM platform_state WHERE name = 'secret_check'")
    assert secret not in check
    created = call(["accounts", "create", "--friendly-name", "sealed"], env(data, backend_url, secret=secret))
    assert created.returncode == 0, created.stderr
    remember_secret(created.stdout.split("Auth Token:")[1].split()[0])
    sid = created.stdout.split("Account SID:")[1].split()[0]

    # The same secret from a file (MYCPAAS_SECRET_FILE; a trailing newline is fine), and as <data dir>/secret.key.
    mounted = tmp_path / "mounted" / "secret"
    mounted.parent.mkdir()
    mounted.write_text(secret + "\n")
    (data / "secret.key").write_text(secret)
    for environment in (env(data, backend_url, secret_file=str(mounted)), env(data, backend_url)):
        listed = call(["accounts", "list"], environment)
        assert listed.returncode == 0 and sid in listed.stdout, listed.stderr

    # Another secret, by each way in: refused by the commands and by `serve`, naming where it came from.
    wrong_file = tmp_path / "wrong"
    wrong_file.write_text(wrong)
    ways = [
        (env(data, backend_url, secret=wrong), "MYCPAAS_SECRET"),
        (
            env(data, backend_url, secret_file=str(wrong_file)),
            f"{wrong_file.resolve()} (MYCPAAS_SECRET_FILE)",
        ),
    ]
    for environment, names in ways:
        for args in (["accounts", "list"], ["migrate"]):
            refused(args, environment, MISMATCH, names, wrong)
    (data / "secret.key").write_text(wrong)
    refused(
        ["token", "rotate", sid],
        env(data, backend_url),
        MISMATCH,
        str((data / "secret.key").resolve()),
        wrong,
    )
    [served] = spawn_all([(["serve", "--port", "0"], None)], env(data, backend_url, secret=wrong), tmp_path)
    assert served.returncode == 1, served.stdout + served.stderr
    assert MISMATCH in served.stderr and "MYCPAAS_SECRET" in served.stderr
    assert wrong not in served.stdout + served.stderr and "listening on" not in served.stdout

    # Malformed: refused without showing the value; both ways at once: refused.
    not_hex = "zz" + secret[2:]
    refused(
        ["accounts", "list"],
        env(data, backend_url, secret=not_hex),
        "is not 64 hexadecimal",
        "MYCPAAS_SECRET",
        not_hex,
    )
    wrong_file.write_text(secret[:40])
    refused(
        ["migrate"],
        env(data, backend_url, secret_file=str(wrong_file)),
        "is not 64 hexadecimal",
        str(wrong_file.resolve()),
        secret[:40],
    )
    both = env(data, backend_url, secret=secret, secret_file=str(mounted))
    refused(["accounts", "list"], both, "both MYCPAAS_SECRET and MYCPAAS_SECRET_FILE", "one way only", secret)


def test_a_database_from_before_the_check_value_gets_it_only_from_its_own_secret(
    tmp_path: Path, backend_url: str
) -> None:
    data = tmp_path / "data"
    secret, wrong = secrets.token_hex(32), secrets.token_hex(32)
    assert call(["migrate"], env(data, backend_url, secret=secret)).returncode == 0
    created = call(["accounts", "create"], env(data, backend_url, secret=secret))
    remember_secret(created.stdout.split("Auth Token:")[1].split()[0])
    sql(backend_url, "DELETE FROM platform_state WHERE name = 'secret_check'")  # as before the upgrade

    refused(
        ["accounts", "list"],
        env(data, backend_url, secret=wrong),
        "cannot unseal the tokens",
        "MYCPAAS_SECRET",
        wrong,
    )
    assert sql(backend_url, "SELECT name FROM platform_state") == []
    assert call(["accounts", "list"], env(data, backend_url, secret=secret)).returncode == 0
    assert sql(backend_url, "SELECT name FROM platform_state") == [("secret_check",)]


def test_a_first_start_beside_sealed_data_creates_no_secret(tmp_path: Path, backend_url: str) -> None:
    served, other = tmp_path / "data", tmp_path / "other"
    first = call(["migrate"], env(served, backend_url))
    assert first.returncode == 0 and "Created the server secret" in first.stdout
    result = call(["migrate"], env(other, backend_url))
    assert result.returncode == 1
    assert f"no server secret at {(other / 'secret.key').resolve()}" in result.stderr
    assert "was set up with a server secret already" in result.stderr
    assert not (other / "secret.key").exists()


def test_two_first_starts_at_once_agree_on_one_secret(tmp_path: Path) -> None:
    """Two first starts racing on an empty PostgreSQL database (each with its own connections, as two processes
    have): with one secret both go on; each with a secret.key of its own, one goes on and the other is refused,
    whichever wrote its check value second."""
    url = create_postgres_database()
    try:
        migrate.upgrade(url)
        shared = secrets.token_hex(32)
        together = [
            Settings(data_dir=tmp_path / name, database_url=url, secret=shared) for name in ("a", "b")
        ]
        assert race(together) == [None, None]
        sql(url, "DELETE FROM platform_state")
        apart = [Settings(data_dir=tmp_path / name, database_url=url) for name in ("c", "d")]
        outcomes = race(apart)
        assert sum(isinstance(o, Path) for o in outcomes) == 1, outcomes
        [loser] = [o for o in outcomes if isinstance(o, SecretRefused)]
        assert "MYCPAAS_SECRET" in str(loser), loser
    finally:
        drop_postgres_database(url)


def race(settings: list[Settings]) -> list[object]:
    """`establish` for each at once: the file it created (None: none), or the exception it raised."""

    async def run() -> list[object]:
        return list(await asyncio.gather(*(establish(s) for s in settings), return_exceptions=True))

    return asyncio.run(run())
