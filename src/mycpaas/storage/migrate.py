"""Schema migrations through Alembic, driven from code so that `serve` and the CLI need no alembic.ini.

Every command runs under a cross-process lock (a PostgreSQL advisory lock, or a lock file beside the SQLite
database): processes that start together, such as several servers or the CLI beside `serve` on a fresh
database, would otherwise apply the same revision twice and crash on "table already exists".

`inspect` tells whether a database holds the current schema without creating or changing anything: only
`serve` and `migrate` change the schema; every other command refuses a missing or older one.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from mycpaas.storage.database import async_url

_MIGRATIONS = Path(__file__).parent / "migrations"
_ADVISORY_LOCK_KEY = 0x6D796370  # "mycp"
_LOCK_POLL_SECONDS = 0.2


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
    """The lock is asked for again every _LOCK_POLL_SECONDS, each time in a transaction of its own, never waited
    for in one statement: a process waiting inside `SELECT pg_advisory_lock` holds a snapshot, and the holder's
    CREATE INDEX CONCURRENTLY (storage/online_indexes.py) waits for every older snapshot to end, so two
    processes starting together would wait for each other for ever."""
    engine = create_async_engine(async_url(url), poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:  # the lock is the session's: closing the connection releases it
            while not (
                await conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": _ADVISORY_LOCK_KEY})
            ).scalar():
                await asyncio.sleep(_LOCK_POLL_SECONDS)
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


class SchemaState(Enum):
    MISSING = "missing"  # no database there, or no Alembic revision in it: no mycpaas database
    BEHIND = "behind"  # an older revision: `mycpaas migrate` brings it up to date
    CURRENT = "current"
    AHEAD = "ahead"  # a revision this code does not know: written by a newer mycpaas


@dataclass(frozen=True, slots=True)
class Schema:
    state: SchemaState
    revision: str | None  # the database's revision; None when MISSING
    head: str  # the newest revision this code knows


class DatabaseUnreadable(Exception):
    """The database could not be opened or read. The text never holds the URL's password."""


def describe(url: str) -> str:
    """Where a database is, for messages: a SQLite file's absolute path, or the URL without its password."""
    path = sqlite_file(url)
    return str(path) if path is not None else make_url(url).render_as_string(hide_password=True)


def sqlite_file(url: str) -> Path | None:
    """The absolute path of a SQLite database file; None for PostgreSQL, in-memory and `file:` URI databases."""
    parsed = make_url(url)
    database = parsed.database or ""
    if parsed.get_backend_name() != "sqlite" or database in ("", ":memory:") or database.startswith("file:"):
        return None
    return Path(database).resolve()


def head_revision() -> str:
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head() or ""


def inspect(url: str) -> Schema:
    """The database's schema revision against this code's, read without creating or changing anything.

    A SQLite file that does not exist is not created (it is opened read-only when it does); a PostgreSQL
    database without an alembic_version table is MISSING as well.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        revision = asyncio.run(_postgres_revision(url))
    else:
        revision = _sqlite_revision(parsed.database)
    script = ScriptDirectory.from_config(alembic_config(url))
    head = script.get_current_head() or ""
    if revision is None:
        return Schema(SchemaState.MISSING, None, head)
    if revision == head:
        return Schema(SchemaState.CURRENT, revision, head)
    known = {r.revision for r in script.walk_revisions()}
    return Schema(SchemaState.BEHIND if revision in known else SchemaState.AHEAD, revision, head)


def _sqlite_revision(database: str | None) -> str | None:
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    path = Path(database).resolve()
    if not path.is_file():
        return None
    try:
        conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as error:
        raise DatabaseUnreadable(f"cannot open {path}: {error}") from None
    try:
        return _first_revision(conn.execute("SELECT version_num FROM alembic_version").fetchall())
    except sqlite3.OperationalError as error:
        if "no such table" in str(error):
            return None
        raise DatabaseUnreadable(f"cannot read {path}: {error}") from None
    except sqlite3.DatabaseError as error:
        raise DatabaseUnreadable(f"cannot read {path}: {error}") from None
    finally:
        conn.close()


async def _postgres_revision(url: str) -> str | None:
    engine = create_async_engine(async_url(url), poolclass=NullPool, connect_args={"timeout": 15})
    try:
        async with engine.connect() as conn:
            if (await conn.execute(text("SELECT to_regclass('alembic_version')"))).scalar() is None:
                return None
            rows = (await conn.execute(text("SELECT version_num FROM alembic_version"))).all()
            return _first_revision([tuple(row) for row in rows])
    except (OSError, TimeoutError) as error:
        raise DatabaseUnreadable(f"cannot connect: {error}") from None
    except Exception as error:  # the driver's own errors (authentication, unknown database, ...)
        cause = getattr(error, "orig", None) or error
        raise DatabaseUnreadable(f"cannot connect: {cause}") from None
    finally:
        await engine.dispose()


def _first_revision(rows: list[tuple[object, ...]]) -> str | None:
    return str(rows[0][0]) if rows and rows[0][0] else None
