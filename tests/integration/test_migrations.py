"""The Alembic revisions build exactly the schema of storage/tables.py, on SQLite and on PostgreSQL.

Alembic's autogenerate comparison is the judge: an empty diff after `upgrade head` means the migrations
and the tables agree on tables, columns, types, nullability, indexes, unique and foreign-key constraints.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from mycpaas.storage import migrate
from mycpaas.storage.database import async_url
from mycpaas.storage.tables import metadata
from tests.databases import create_postgres_database, drop_postgres_database

COMPARE_OPTIONS = {"compare_type": True, "compare_server_default": True}
TABLES = set(metadata.tables)
HEAD = ScriptDirectory.from_config(migrate.alembic_config("sqlite://")).get_current_head()


def _compare(connection: Connection) -> tuple[list[Any], set[str], str | None]:
    context = MigrationContext.configure(connection, opts=COMPARE_OPTIONS)
    diff = compare_metadata(context, metadata)
    return diff, set(inspect(connection).get_table_names()), context.get_current_revision()


def schema_state(url: str) -> tuple[list[Any], set[str], str | None]:
    """(autogenerate diff against tables.metadata, table names, alembic revision) of the database at `url`."""
    if url.startswith("sqlite"):
        engine = create_engine(url)  # the stdlib sqlite3 driver, synchronous
        try:
            with engine.connect() as connection:
                return _compare(connection)
        finally:
            engine.dispose()

    async def run() -> tuple[list[Any], set[str], str | None]:
        # No synchronous PostgreSQL driver is installed: compare through asyncpg with run_sync.
        engine = create_async_engine(async_url(url))
        try:
            async with engine.connect() as connection:
                return await connection.run_sync(_compare)
        finally:
            await engine.dispose()

    return asyncio.run(run())


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'migrations.db'}"
        return
    url = create_postgres_database()
    try:
        yield url
    finally:
        drop_postgres_database(url)


def test_migrations_build_the_schema_of_tables_py(database_url: str) -> None:
    # The comparison sees a missing schema (proves it can fail) ...
    diff, tables, revision = schema_state(database_url)
    assert revision is None
    assert {d[1].name for d in diff if d[0] == "add_table"} == TABLES

    # ... and sees none after the migrations ran.
    migrate.upgrade(database_url)
    diff, tables, revision = schema_state(database_url)
    assert diff == []
    assert tables == TABLES | {"alembic_version"}
    assert revision == HEAD


def test_downgrade_to_base_then_upgrade_again(database_url: str) -> None:
    migrate.upgrade(database_url)
    migrate.downgrade(database_url, "base")
    diff, tables, revision = schema_state(database_url)
    assert tables <= {"alembic_version"}
    assert revision is None
    assert {d[1].name for d in diff if d[0] == "add_table"} == TABLES

    migrate.upgrade(database_url)
    diff, tables, revision = schema_state(database_url)
    assert diff == []
    assert tables == TABLES | {"alembic_version"}
    assert revision == HEAD


def test_upgrade_is_idempotent(database_url: str) -> None:
    migrate.upgrade(database_url)
    migrate.upgrade(database_url)  # what every `mycpaas serve` start does
    diff, _, revision = schema_state(database_url)
    assert diff == [] and revision == HEAD


def test_processes_migrating_at_once_do_not_collide(database_url: str) -> None:
    # Several servers (or the CLI beside `serve`) starting on a fresh database all run `upgrade head`.
    code = "import sys; from mycpaas.storage import migrate; migrate.upgrade(sys.argv[1])"
    processes = [
        subprocess.Popen([sys.executable, "-c", code, database_url], stderr=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    errors = [process.communicate(timeout=60)[1] for process in processes]
    assert [process.returncode for process in processes] == [0] * 4, "\n".join(errors)
    diff, _, revision = schema_state(database_url)
    assert diff == [] and revision == HEAD
