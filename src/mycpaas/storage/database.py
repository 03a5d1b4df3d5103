"""The database handle: transactions that behave the same on SQLite and PostgreSQL.

PostgreSQL is reached through asyncpg on an async engine. SQLite is a local file whose statements take
microseconds, so they run inline on the event loop through the stdlib driver: handing each one to a thread
(aiosqlite) costs more in wake-ups than the statement itself, and under load that hand-off dominated.
Connections of both kinds expose the same `await conn.execute(...)` (the `Connection` protocol).

SQLite allows one writer at a time. Within the process, write transactions queue on an asyncio lock and open
with BEGIN IMMEDIATE, so they never hit SQLITE_BUSY on a read-to-write upgrade; reads run beside them under
WAL. Another process (the CLI while `serve` runs) waits on busy_timeout. synchronous=NORMAL in WAL mode keeps
every committed transaction across a process crash (kill -9); only an OS crash or power loss can lose the
last commits.

Every engine hides statement parameters from its exception texts: a failed write must not put a sealed token,
a digest or a message body into a log.

The hot inserts of a create (storage/raw_inserts.py) skip SQLAlchemy: `raw_write()` is a transaction on the
driver's own connection (sqlite3, asyncpg), and `raw_of(conn)` the driver under a SQLAlchemy transaction on
SQLite. On SQLite the writer's connection and the readers' connections stay checked out for the process's life:
taking one from the pool and wrapping it cost ~8% of a create's CPU under load (two reads and a write each;
py-spy, bench/results/http_create.txt, 2026-12-07), and writes are serialised on one connection anyway.

A PostgreSQL that cannot be reached (restarting, failing over, the network down) raises `errors.Unavailable`
from `read()` and `write()`, which the API answers with 503 and Retry-After rather than a 500. The pool
reconnects by itself: a connection found dead invalidates every pooled connection older than it, so after a
restart one request per pool meets a dead connection and is answered 503, and the next ones get new
connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any, Protocol, TypeVar

import asyncpg
from sqlalchemy import Connection as SyncConnection
from sqlalchemy import CursorResult, Engine, create_engine, event, text
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from mycpaas.domain.clock import utcnow
from mycpaas.errors import Unavailable
from mycpaas.storage.checkpoints import WalCheckpointer

# SQLSTATEs that mean "no server to talk to now": class 08 (connection exceptions), and the server shutting
# down (57P01 admin shutdown, 57P02 crash shutdown) or still starting up (57P03 cannot connect now), or with
# every connection slot taken (53300 too many connections: max_connections shared with other clients).
_UNREACHABLE_SQLSTATES = ("08", "57P01", "57P02", "57P03", "53300")


def unreachable(error: BaseException) -> bool:
    """Whether `error` says the database server could not be reached, rather than that a statement failed."""
    if isinstance(error, DBAPIError) and error.connection_invalidated:
        return True
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, OSError):  # refused, reset, timed out
            return True
        if str(getattr(seen, "sqlstate", "") or "").startswith(_UNREACHABLE_SQLSTATES):
            return True
        seen = getattr(seen, "orig", None) or seen.__cause__
    return False


_T = TypeVar("_T")


class Connection(Protocol):
    """What storage functions need of a connection: SQLAlchemy Core statements, buffered results."""

    async def execute(self, statement: Any, parameters: Any = None) -> CursorResult[Any]: ...


class _InlineConnection:
    """A sync SQLite connection behind the async interface; statements run inline on the event loop."""

    __slots__ = ("_conn",)

    def __init__(self, conn: SyncConnection) -> None:
        self._conn = conn

    async def execute(self, statement: Any, parameters: Any = None) -> CursorResult[Any]:
        return self._conn.execute(statement, parameters)


class RawWriter(Protocol):
    """The driver under a transaction: precompiled SQL text (the driver's paramstyle), positional rows."""

    async def executemany(self, sql: str, rows: list[Sequence[Any]]) -> None: ...


class RawStatementFailed(Exception):
    """A statement on the raw driver failed (a constraint, say): the transaction was rolled back. The caller
    runs the same work through SQLAlchemy, whose exceptions the rest of the platform knows."""


class _SqliteRaw:
    __slots__ = ("_conn",)

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    async def executemany(self, sql: str, rows: list[Sequence[Any]]) -> None:
        self._conn.executemany(sql, rows)


class _AsyncpgRaw:
    __slots__ = ("_conn",)

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def executemany(self, sql: str, rows: list[Sequence[Any]]) -> None:
        await self._conn.executemany(sql, rows)


def raw_of(conn: Connection) -> RawWriter | None:
    """The driver under `conn`'s transaction when statements on it are inline (SQLite); None on PostgreSQL,
    whose SQLAlchemy transaction on asyncpg begins lazily, so raw statements could run outside it."""
    if isinstance(conn, _InlineConnection):
        driver = conn._conn.connection.driver_connection
        assert isinstance(driver, sqlite3.Connection)
        return _SqliteRaw(driver)
    return None


def sqlite_driver(conn: Connection) -> sqlite3.Connection | None:
    """The sqlite3 connection under `conn` (in its transaction, if it has one) for the delivery path's
    hand-written statements (storage/sqlite_fast.py); None on PostgreSQL."""
    if isinstance(conn, _InlineConnection):
        driver = conn._conn.connection.driver_connection
        assert isinstance(driver, sqlite3.Connection)
        return driver
    return None


def async_url(url: str) -> str:
    """Map plain `sqlite:///` and `postgresql://` URLs onto the async drivers (used by migrations)."""
    parsed = make_url(url)
    if parsed.drivername in ("sqlite", "sqlite+pysqlite"):
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    elif parsed.drivername in ("postgresql", "postgres", "postgresql+psycopg2", "postgresql+psycopg"):
        parsed = parsed.set(drivername="postgresql+asyncpg")
    return parsed.render_as_string(hide_password=False)


def _sync_sqlite_url(url: str) -> str:
    return make_url(url).set(drivername="sqlite+pysqlite").render_as_string(hide_password=False)


class Database:
    def __init__(self, url: str) -> None:
        self.url = async_url(url)
        self.is_sqlite = self.url.startswith("sqlite")
        self._sqlite: Engine | None = None
        self._sqlite_reader: Engine | None = None
        self._async: AsyncEngine | None = None
        self._async_reader: AsyncEngine | None = None
        self._write_lock = asyncio.Lock()
        self._writer: SyncConnection | None = None
        self._readers: list[SyncConnection] = []
        self._checkpointer: WalCheckpointer | None = None
        self._finishing: set[asyncio.Task[None]] = set()  # checkpoints finishing (_finish_checkpoint)
        if self.is_sqlite:
            sync_url = _sync_sqlite_url(url)
            self._sqlite = create_engine(sync_url, pool_size=2, max_overflow=2, hide_parameters=True)
            _configure_sqlite(self._sqlite)
            # Reads need no BEGIN: each SELECT is atomic on its own under WAL, and skipping the BEGIN/COMMIT
            # round trip is most of the cost of a one-statement read.
            self._sqlite_reader = create_engine(
                sync_url, pool_size=8, max_overflow=8, isolation_level="AUTOCOMMIT", hide_parameters=True
            )
            _configure_sqlite_connection(self._sqlite_reader)
            self._checkpointer = _checkpointer_of(sync_url)
        else:
            # Transactions always end in an explicit COMMIT or ROLLBACK (and reads are autocommit), so the
            # pool's reset-on-return round trip would only repeat what is already done. No overflow: under
            # load an overflow connection is opened and closed per request (a PostgreSQL backend started each
            # time); waiting for a pooled one is far cheaper.
            self._async = create_async_engine(
                self.url, pool_size=5, max_overflow=0, hide_parameters=True, pool_reset_on_return=None
            )
            self._async_reader = create_async_engine(
                self.url,
                pool_size=20,
                max_overflow=0,
                isolation_level="AUTOCOMMIT",
                hide_parameters=True,
                pool_reset_on_return=None,
            )

    @property
    def dialect(self) -> Dialect:
        """The write engine's dialect, to compile statements run on the raw driver."""
        engine = self._sqlite if self._sqlite is not None else self._async
        assert engine is not None
        return engine.dialect

    def _sqlite_writer(self) -> SyncConnection:
        """The one connection SQLite writes go through (callers hold the write lock)."""
        if self._writer is None or self._writer.closed:
            assert self._sqlite is not None
            self._writer = self._sqlite.connect().execution_options(mycpaas_write=True)
        return self._writer

    @asynccontextmanager
    async def raw_write(self) -> AsyncIterator[RawWriter]:
        """A transaction on the driver itself, for precompiled statements (storage/raw_inserts.py). A failed
        statement rolls it back and raises RawStatementFailed; an unreachable PostgreSQL, Unavailable."""
        if self._async is not None:
            try:
                async with self._async.connect() as conn:
                    try:
                        driver = (await conn.get_raw_connection()).driver_connection
                        assert isinstance(driver, asyncpg.Connection)
                        async with driver.transaction():
                            yield _AsyncpgRaw(driver)
                    except _DRIVER_ERRORS as error:
                        if unreachable(error) or not isinstance(error, asyncpg.PostgresError):
                            # The pool never saw the error: drop this connection rather than hand it out again.
                            with contextlib.suppress(Exception):
                                await conn.invalidate()
                        raise
            except _DRIVER_ERRORS as error:
                if unreachable(error):
                    raise Unavailable() from error
                # Anything else (a constraint, a closed connection): the caller runs the work through
                # SQLAlchemy, which answers as it always did (503 for a dead server, its IntegrityError...).
                raise RawStatementFailed() from error
            return
        async with self._write_lock:
            driver = self._sqlite_writer().connection.driver_connection
            assert isinstance(driver, sqlite3.Connection)
            try:
                driver.execute("BEGIN IMMEDIATE")
                yield _SqliteRaw(driver)
                driver.execute("COMMIT")
                self._finish_checkpoint(driver)
            except BaseException as error:
                if driver.in_transaction:
                    driver.execute("ROLLBACK")
                if isinstance(error, sqlite3.Error):
                    raise RawStatementFailed() from error
                raise

    @asynccontextmanager
    async def write(self) -> AsyncIterator[Connection]:
        """A transaction that commits on success; on SQLite it holds the single-writer lock."""
        if self._async is not None:
            try:
                async with self._async.begin() as conn:
                    yield conn
            except (DBAPIError, OSError) as error:
                if unreachable(error):
                    raise Unavailable() from error
                raise
            return
        async with self._write_lock:
            writer = self._sqlite_writer()
            with writer.begin():
                yield _InlineConnection(writer)
            driver = writer.connection.driver_connection
            assert isinstance(driver, sqlite3.Connection)
            self._finish_checkpoint(driver)

    async def write_on_thread(self, work: Callable[[sqlite3.Connection], _T]) -> _T:
        """A SQLite write transaction whose statements run on a worker thread, for bulk work that would hold
        the event loop for tens of milliseconds (the search index's batches, services/message_search.py).
        sqlite3 releases the GIL while a statement steps, so requests are parsed and answered meanwhile;
        other writes wait on the write lock as for any transaction, so keep each call short."""
        assert self._sqlite is not None, "SQLite only"
        async with self._write_lock:
            driver = self._sqlite_writer().connection.driver_connection
            assert isinstance(driver, sqlite3.Connection)
            running = asyncio.ensure_future(asyncio.to_thread(_in_transaction, driver, work))
            try:
                result = await asyncio.shield(running)
            except asyncio.CancelledError:
                # The connection is the writer's: release the lock only once the thread is done with it.
                while not running.done():
                    with contextlib.suppress(asyncio.CancelledError):
                        await asyncio.wait([running])
                raise
            self._finish_checkpoint(driver)
            return result

    def _finish_checkpoint(self, driver: sqlite3.Connection) -> None:
        """After a COMMIT: if the checkpoint thread asks, the last frames of the checkpoint it began, copied
        by that thread while a task holds the write lock, so that the next write starts the log over
        (storage/checkpoints.py). The caller's transaction is answered first; writes wait for the checkpoint,
        the loop does not."""
        if self._checkpointer is not None and self._checkpointer.finish_wanted:
            self._checkpointer.finish_wanted = False
            task = asyncio.get_running_loop().create_task(self._finish_off_loop(self._checkpointer))
            self._finishing.add(task)
            task.add_done_callback(self._finishing.discard)

    async def _finish_off_loop(self, checkpointer: WalCheckpointer) -> None:
        async with self._write_lock:
            # Bounded, so that a stuck disk cannot hold every write for longer than SQLite's busy_timeout would.
            await asyncio.wait([checkpointer.finish()], timeout=_FINISH_TIMEOUT_SECONDS)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[Connection]:
        """Reads run without a transaction: each statement sees a consistent snapshot of its own."""
        if self._async_reader is not None:
            try:
                async with self._async_reader.connect() as conn:
                    yield conn
            except (DBAPIError, OSError) as error:
                if unreachable(error):
                    raise Unavailable() from error
                raise
            return
        assert self._sqlite_reader is not None
        reader = self._readers.pop() if self._readers else self._sqlite_reader.connect()
        try:
            yield _InlineConnection(reader)
        finally:
            # Kept for the next read (autocommit: nothing is held between statements); beyond the pool's
            # size, closed.
            if len(self._readers) < _KEPT_READERS and not reader.invalidated and not reader.closed:
                self._readers.append(reader)
            else:
                reader.close()

    async def server_time(self) -> datetime:
        """The database server's clock (naive UTC); on SQLite the database is this machine, so its clock."""
        if self._async_reader is None:
            return utcnow()
        async with self._async_reader.connect() as conn:
            result = await conn.execute(text("SELECT clock_timestamp() AT TIME ZONE 'UTC'"))
            value: datetime = result.scalar_one()
            return value

    async def dispose(self) -> None:
        for task in list(
            self._finishing
        ):  # a finishing checkpoint not begun yet: the thread's last one does it
            task.cancel()
        if self._finishing:
            await asyncio.gather(*self._finishing, return_exceptions=True)
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        while self._readers:
            self._readers.pop().close()
        if self._async is not None:
            await self._async.dispose()
        if self._async_reader is not None:
            await self._async_reader.dispose()
        if self._sqlite is not None:
            self._sqlite.dispose()
        if self._sqlite_reader is not None:
            self._sqlite_reader.dispose()
        if self._checkpointer is not None:
            self._checkpointer.stop()
            self._checkpointer = None


_KEPT_READERS = 8
_FINISH_TIMEOUT_SECONDS = 5.0


def _checkpointer_of(sync_url: str) -> WalCheckpointer | None:
    """The checkpoint thread of a database file (none for an in-memory database, which has no log)."""
    path = make_url(sync_url).database
    if not path or path == ":memory:" or path.startswith("file:"):
        return None
    checkpointer = WalCheckpointer(path)
    checkpointer.start()
    return checkpointer


def _in_transaction(driver: sqlite3.Connection, work: Callable[[sqlite3.Connection], _T]) -> _T:
    driver.execute("BEGIN IMMEDIATE")
    try:
        result = work(driver)
        driver.execute("COMMIT")
    except BaseException:
        if driver.in_transaction:
            driver.execute("ROLLBACK")
        raise
    return result


_DRIVER_ERRORS = (DBAPIError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError)


def _configure_sqlite(engine: Engine) -> None:
    _configure_sqlite_connection(engine)

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        mode = "IMMEDIATE" if conn.get_execution_options().get("mycpaas_write") else "DEFERRED"
        conn.exec_driver_sql(f"BEGIN {mode}")


def _configure_sqlite_connection(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the driver so that BEGIN is ours to choose.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.execute("PRAGMA foreign_keys=ON")
        # Checkpoints run on a thread of their own (storage/checkpoints.py), never inside a COMMIT on the loop.
        cursor.execute("PRAGMA wal_autocheckpoint=0")
        cursor.close()
