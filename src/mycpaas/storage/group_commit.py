"""Group commit: concurrent small write transactions share one commit.

Each caller hands in a unit of work and is answered only after the transaction holding it has committed, so
"answered" still means "durable". Under load, dozens of message creations cost one BEGIN/COMMIT instead of one
each; when idle, a unit commits alone at once. Plain row inserts (`Inserts`) of one batch are merged into one
executemany per table. If a batch fails, its units are retried one transaction each so that one bad unit
cannot fail its neighbours.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import cache
from typing import Any, TypeVar

from sqlalchemy import Insert, Table, insert

from mycpaas.storage.database import Connection, Database

T = TypeVar("T")
Work = Callable[[Connection], Awaitable[Any]]

MAX_BATCH = 256


@dataclass(frozen=True, slots=True)
class Inserts:
    """Rows to insert, table by table, as one unit of work."""

    rows: tuple[tuple[Table, dict[str, Any]], ...]

    async def __call__(self, conn: Connection) -> None:
        for table, row in self.rows:
            await conn.execute(_insert_into(table), [row])


Unit = Work | Inserts


class GroupCommitter:
    def __init__(self, db: Database, max_batch: int = MAX_BATCH) -> None:
        self.db = db
        self.max_batch = max_batch
        self._pending: list[tuple[Unit, asyncio.Future[Any]]] = []
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def run(self, work: Callable[[Connection], Awaitable[T]]) -> T:
        return await self._submit(work)  # type: ignore[no-any-return]

    async def insert(self, *rows: tuple[Table, dict[str, Any]]) -> None:
        await self._submit(Inserts(rows))

    async def _submit(self, unit: Unit) -> Any:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._loop())
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending.append((unit, future))
        self._wakeup.set()
        return await future

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _loop(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            batch, self._pending = self._pending[: self.max_batch], self._pending[self.max_batch :]
            if self._pending:
                self._wakeup.set()
            if batch:
                await self._commit(batch)

    async def _commit(self, batch: list[tuple[Unit, asyncio.Future[Any]]]) -> None:
        try:
            async with self.db.write() as conn:
                await _insert_merged([unit for unit, _ in batch if isinstance(unit, Inserts)], conn)
                results = [None if isinstance(unit, Inserts) else await unit(conn) for unit, _ in batch]
        except Exception:
            for unit, future in batch:
                await self._commit_alone(unit, future)
            return
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)

    async def _commit_alone(self, unit: Unit, future: asyncio.Future[Any]) -> None:
        try:
            async with self.db.write() as conn:
                result = await unit(conn)
        except Exception as exc:
            if not future.done():
                future.set_exception(exc)
            return
        if not future.done():
            future.set_result(result)


async def _insert_merged(units: list[Inserts], conn: Connection) -> None:
    by_table: dict[Table, list[dict[str, Any]]] = {}
    for unit in units:
        for table, row in unit.rows:
            by_table.setdefault(table, []).append(row)
    for table, rows in by_table.items():
        await conn.execute(_insert_into(table), rows)


@cache
def _insert_into(table: Table) -> Insert:
    return insert(table)
