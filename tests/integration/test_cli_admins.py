"""`mycpaas users create --admin` on SQLite and on PostgreSQL: the platform administrator role (who manages
the carrier connectors in the dashboard). The first user is one without asking; later ones only with --admin."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from tests.conftest import BACKENDS, remember_secret
from tests.dashboard_support import PASSWORD
from tests.databases import create_postgres_database, drop_postgres_database, sqlite_url
from tests.integration.cli_support import call, cli_environment


@pytest.fixture(params=BACKENDS)
def env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, str]]:
    """A migrated database with one account, and the environment that points the CLI at it."""
    url = sqlite_url(tmp_path) if request.param == "sqlite" else create_postgres_database()
    environment = cli_environment(tmp_path, url)
    for args in (["migrate"], ["accounts", "create", "--friendly-name", "Owner"]):
        result = call(args, environment)
        assert result.returncode == 0, result.stderr
    remember_secret(PASSWORD)
    yield environment
    if url.startswith("postgresql"):
        drop_postgres_database(url)


def admins(environment: dict[str, str]) -> dict[str, bool]:
    """Each user's email and whether it is an administrator, read straight from the database."""
    query = "SELECT email, is_admin FROM dashboard_users ORDER BY id"
    url = environment["MYCPAAS_DATABASE_URL"]
    if url.startswith("sqlite"):
        with sqlite3.connect(Path(environment["MYCPAAS_DATA_DIR"]) / "mycpaas.db") as conn:
            return {email: bool(admin) for email, admin in conn.execute(query)}

    async def fetch() -> dict[str, bool]:
        conn = await asyncpg.connect(url, timeout=10)
        try:
            return {row["email"]: bool(row["is_admin"]) for row in await conn.fetch(query)}
        finally:
            await conn.close()

    return asyncio.run(fetch())


def create(environment: dict[str, str], email: str, *flags: str) -> str:
    result = call(["users", "create", email, "--password-stdin", *flags], environment, PASSWORD + "\n")
    assert result.returncode == 0, result.stderr
    assert PASSWORD not in result.stdout + result.stderr
    return result.stdout


def test_first_user_and_admin_flag_make_administrators(env: dict[str, str]) -> None:
    assert "Created platform administrator first@example.com" in create(env, "first@example.com")
    assert "Created dashboard user second@example.com" in create(env, "second@example.com")
    assert "Created platform administrator third@example.com" in create(env, "third@example.com", "--admin")
    assert admins(env) == {"first@example.com": True, "second@example.com": False, "third@example.com": True}


def test_admin_flag_is_documented() -> None:
    result = call(["users", "create", "--help"], {})
    assert result.returncode == 0
    assert "--admin" in result.stdout and "carrier" in result.stdout
