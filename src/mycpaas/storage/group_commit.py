"""Group commit: concurrent small write transactions share one commit.

Each caller hands in a unit of work and is answered only after the transaction holding it has committed, so
"answered" still means "durable". Under load, dozens of message creations cost one BEGIN/COMMIT instead of one
each; when idle, a unit commits alone at once. Plain row inserts (`Inserts`) of one batch are merged into one
executemany per table. The batching, and its failure isolation (a failed batch is retried one transaction per
unit, so one bad unit cannot fail its neighbours), is the platform's one Batcher (mycpaas/batching.py).
With `MYCPAAS_GROUP_COMMIT=0` every unit commits alone (bench/http_create.py measures both).

The hot tables' rows (a new message and its send job) go to the raw driver (storage/raw_inserts.py): a batch of
nothing else is one transaction on the driver alone; beside other units on SQLite, they run on the driver
under the batch's SQLAlchemy transaction. If a raw statement fails, the batch runs again through SQLAlchemy, so
callers see the exceptions they always saw (an IntegrityError), and the Batcher's isolation works unchanged.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import cache
from typing import Any, TypeVar

from sqlalchemy import Insert, Table, insert

from mycpaas.batching import Batcher
from mycpaas.storage import message_counts
from mycpaas.storage.database import Connection, Database, RawStatementFailed, raw_of
from mycpaas.storage.raw_inserts import RawInserts
from mycpaas.storage.tables import messages

T = TypeVar("T")
Work = Callable[[Connection], Awaitable[Any]]

MAX_BATCH = 256


@dataclass(frozen=True, slots=True)
class Inserts:
    """Rows to insert, table by table, as one unit of work."""

    rows: tuple[tuple[Table, dict[str, Any]], ...]

    async def __call__(self, conn: Connection) -> None:
        for table, row in self.rows:
            await conn.execute(insert_into(table), [row])
        await message_counts.add_new(conn, [row for table, row in self.rows if table is messages])


Unit = Work | Inserts


class GroupCommitter:
    def __init__(self, db: Database, max_batch: int = MAX_BATCH) -> None:
        self.db = db
        self._batcher: Batcher[Unit, Any] = Batcher(self._commit, max_batch)
        self._raw = RawInserts(db.dialect)

    async def run(self, work: Callable[[Connection], Awaitable[T]]) -> T:
        return await self._batcher.add(work)  # type: ignore[no-any-return]

    async def insert(self, *rows: tuple[Table, dict[str, Any]]) -> None:
        await self._batcher.add(Inserts(rows))

    async def close(self) -> None:
        await self._batcher.close()

    async def _commit(self, batch: list[Unit]) -> list[Any]:
        rows = [row for unit in batch if isinstance(unit, Inserts) for row in unit.rows]
        if all(isinstance(unit, Inserts) for unit in batch) and all(RawInserts.covers(t) for t, _ in rows):
            try:
                async with self.db.raw_write() as raw:
                    await self._raw.insert(raw, rows)
                return [None] * len(batch)
            except RawStatementFailed:
                return await self._commit_through(batch, rows, raw_hot=False)
        try:
            return await self._commit_through(batch, rows, raw_hot=True)
        except RawStatementFailed:  # raised before any unit ran: they run once, in the retry
            return await self._commit_through(batch, rows, raw_hot=False)

    async def _commit_through(
        self, batch: list[Unit], rows: list[tuple[Table, dict[str, Any]]], raw_hot: bool
    ) -> list[Any]:
        """The batch in a SQLAlchemy transaction; with `raw_hot`, the hot rows on the driver under it (SQLite
        only), before any unit runs."""
        async with self.db.write() as conn:
            raw = raw_of(conn) if raw_hot else None
            if raw is not None:
                try:
                    await self._raw.insert(raw, [row for row in rows if RawInserts.covers(row[0])])
                except sqlite3.Error as error:
                    raise RawStatementFailed() from error
                rows = [row for row in rows if not RawInserts.covers(row[0])]
            await _insert_merged(rows, conn)
            return [None if isinstance(unit, Inserts) else await unit(conn) for unit in batch]


async def _insert_merged(rows: list[tuple[Table, dict[str, Any]]], conn: Connection) -> None:
    by_table: dict[Table, list[dict[str, Any]]] = {}
    for table, row in rows:
        by_table.setdefault(table, []).append(row)
    for table, table_rows in by_table.items():
        await conn.execute(insert_into(table), table_rows)
    await message_counts.add_new(conn, by_table.get(messages, ()))


@cache
def insert_into(table: Table) -> Insert:
    """The INSERT of a table, built once so SQLAlchemy's statement cache is hit."""
    return insert(table)
