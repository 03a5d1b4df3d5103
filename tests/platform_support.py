"""The platform without a server process: `build_platform` on a migrated database of the test's own, for tests
of the services (use cases) at their own depth. Much faster than a server, and as real: the same code, the
same SQL, a real SQLite file or a fresh PostgreSQL database.

    def test_something(platform_settings: Settings) -> None:
        async def scenario(platform: Platform) -> None:
            ...
        run_on_platform(platform_settings, scenario)
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from mycpaas.bootstrap import build_platform
from mycpaas.services.platform import Platform
from mycpaas.settings import Settings
from mycpaas.storage import migrate
from tests.databases import create_postgres_database, drop_postgres_database

T = TypeVar("T")

# The server secret of platforms built here: `build_platform` reads the secret and never creates one (only
# `serve` and `migrate` create <data dir>/secret.key), so Settings made for it must give one.
TEST_SECRET = secrets.token_hex(32)


def migrated_settings(data_dir: Path, database_url: str = "") -> Settings:
    """Settings on `database_url` (default: a SQLite file in `data_dir`), migrated to head."""
    settings = Settings(data_dir=data_dir, database_url=database_url, secret=TEST_SECRET)
    migrate.upgrade(settings.effective_database_url)
    return settings


def run_on_platform(settings: Settings, scenario: Callable[[Platform], Awaitable[T]]) -> T:
    """Build the platform as `serve` does (without the workers), run `scenario`, close everything."""

    async def main() -> T:
        platform = build_platform(settings)
        try:
            return await scenario(platform)
        finally:
            await platform.committer.close()
            await platform.db.dispose()

    return asyncio.run(main())


@pytest.fixture
def sqlite_platform(tmp_path: Path) -> Settings:
    """A migrated SQLite file of this test's own."""
    return migrated_settings(tmp_path)


@pytest.fixture(params=["sqlite", "postgres"])
def platform_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    """A migrated database of this test's own, on SQLite and on PostgreSQL: for rules whose SQL matters."""
    if request.param == "sqlite":
        yield migrated_settings(tmp_path)
        return
    url = create_postgres_database()
    try:
        yield migrated_settings(tmp_path, url)
    finally:
        drop_postgres_database(url)
