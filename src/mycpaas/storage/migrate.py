"""Schema migrations through Alembic, driven from code so that `serve` and the CLI need no alembic.ini.

Every command runs under a cross-process lock (a PostgreSQL advisory lock, or a lock file beside the SQLite
database): processes that start together, such as several servers or the CLI beside `serve` on a fresh
database, would otherwise apply the same revision twice and crash on "table already exists".
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
from collections.abc import Callable, Iterator
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from mycpaas.storage.database import async_url

_MIGRATIONS = Path(__file__).parent / "migrations"
_ADVISORY_LOCK_KEY = 0x6D796370  # "mycp"


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    _locked(url, lambda: command.upgrade(alembic_config(url), revision))


def downgrade(url: str, revision: str) -> None:
    _locked(url, lambda: command.downgrade(alembic_config(url), revision))


def _locked(url: str, action: Callable[[], None]) -> None:
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        asyncio.run(_with_advisory_lock(url, action))
        return
    with _file_lock(parsed.database):
        action()


async def _with_advisory_lock(url: str, action: Callable[[], None]) -> None:
    engine = create_async_engine(async_url(url), poolclass=NullPool)
    try:
        async with engine.connect() as conn:  # the lock is the session's: closing the connection releases it
            await conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": _ADVISORY_LOCK_KEY})
            await conn.commit()
            await asyncio.to_thread(action)  # Alembic's env.py runs its own event loop
    finally:
        await engine.dispose()


@contextlib.contextmanager
def _file_lock(database: str | None) -> Iterator[None]:
    if not database or database == ":memory:" or database.startswith("file:"):
        yield
        return
    fd = os.open(f"{database}-migrate.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
