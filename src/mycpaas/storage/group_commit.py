"""Group commit: concurrent small write transactions share one commit.

Each caller hands in a unit of work and is answered only after the transaction holding it has committed, so
"answered" still means "durable". Under load, dozens of message creations cost one BEGIN/COMMIT instead of one
each; when idle, a unit commits alone at once. Plain row inserts (`Inserts`) of one batch are merged into one
executemany per table. The batching, and its failure isolation (a failed batch is retried one transaction per
unit, so one bad unit cannot fail its neighbours), is the platform's one Batcher (mycpaas/batching.py).
With `MYCPAAS_GROUP_COMMIT=0` every unit commits alone (bench/http_create.py measures both).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import cache
from typing import Any, TypeVar

from sqlalchemy import Insert, Table, insert

from mycpaas.batching import Batcher
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
            await conn.execute(insert_into(table), [row])


Unit = Work | Inserts


class GroupCommitter:
    def __init__(self, db: Database, max_batch: int = MAX_BATCH) -> None:
        self.db = db
        self._batcher: Batcher[Unit, Any] = Batcher(self._commit, max_batch)

    async def run(self, work: Callable[[Connection], Awaitable[T]]) -> T:
        return await self._batcher.add(work)  # type: ignore[no-any-return]

    async def insert(self, *rows: tuple[Table, dict[str, Any]]) -> None:
        await self._batcher.add(Inserts(rows))

    async def close(self) -> None:
        await self._batcher.close()

    async def _commit(self, batch: list[Unit]) -> list[Any]:
        async with self.db.write() as conn:
            await _insert_merged([unit for unit in batch if isinstance(unit, Inserts)], conn)
            return [None if isinstance(unit, Inserts) else await unit(conn) for unit in batch]


async def _insert_merged(units: list[Inserts], conn: Connection) -> None:
    by_table: dict[Table, list[dict[str, Any]]] = {}
    for unit in units:
        for table, row in unit.rows:
            by_table.setdefault(table, []).append(row)
    for table, rows in by_table.items():
        await conn.execute(insert_into(table), rows)


@cache
def insert_into(table: Table) -> Insert:
    """The INSERT of a table, built once so SQLAlchemy's statement cache is hit."""
    return insert(table)
