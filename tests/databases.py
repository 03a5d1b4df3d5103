"""Throwaway databases for the test servers: a SQLite file, or a fresh database on the test PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import secrets
import sqlite3
from pathlib import Path
from typing import Any

import asyncpg

DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"


def postgres_admin_url() -> str:
    return os.environ.get("MYCPAAS_TEST_DATABASE_URL") or DEFAULT_POSTGRES


def _asyncpg_url(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


async def _admin(statement: str) -> None:
    conn = await asyncpg.connect(_asyncpg_url(postgres_admin_url()), timeout=10)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


def create_postgres_database() -> str:
    name = f"mycpaas_test_{secrets.token_hex(6)}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    base = _asyncpg_url(postgres_admin_url())
    return base.rsplit("/", 1)[0] + "/" + name


def drop_postgres_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def sqlite_url(directory: Path) -> str:
    return f"sqlite:///{directory / 'mycpaas.db'}"


def sql(url: str, statement: str) -> list[tuple[Any, ...]]:
    """Run one statement on a test server's database (SQLite file or PostgreSQL) and return its rows."""
    if url.startswith("sqlite"):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
            return list(conn.execute(statement))

    async def run() -> list[tuple[Any, ...]]:
        conn = await asyncpg.connect(_asyncpg_url(url), timeout=10)
        try:
            return [tuple(row) for row in await conn.fetch(statement)]
        finally:
            await conn.close()

    return asyncio.run(run())
