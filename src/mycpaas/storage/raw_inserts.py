"""The hot inserts (a new message's row and its send job) on the raw driver, beside SQLAlchemy.

Profiled under the create load (bench/results/http_create.txt, 2026-12-07, issue 15): SQLAlchemy spent
~30 us per statement before the driver saw it (execution context, cache key, bind processing, the
connection's bookkeeping), as much as the insert itself. These rows are the same every time (one column list
per table), so their INSERT is compiled once by SQLAlchemy, against the engine's own dialect, and run as one
executemany on the driver: sqlite3 (qmark) or asyncpg (a statement prepared once per connection by asyncpg's
own cache). Values go through the column types' own bind processors, so a row is stored exactly as
SQLAlchemy stores it (on SQLite a DateTime is the text 'YYYY-MM-DD HH:MM:SS.ffffff';
tests/integration/test_raw_inserts.py compares rows written both ways). Every other table keeps SQLAlchemy.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, insert
from sqlalchemy.engine import Dialect

from mycpaas.storage.database import RawWriter
from mycpaas.storage.tables import jobs, messages

# Only what every create writes; other tables' inserts are rare enough that SQLAlchemy's cost does not show.
HOT_TABLES: frozenset[str] = frozenset({messages.name, jobs.name})


@dataclass(frozen=True, slots=True)
class _Plan:
    """One table's INSERT for one column list: its SQL text and, in parameter order, each value's converter."""

    sql: str
    keys: tuple[str, ...]
    processors: tuple[Callable[[Any], Any] | None, ...]

    def parameters(self, row: Mapping[str, Any]) -> tuple[Any, ...]:
        return tuple(
            row[key] if process is None else process(row[key])
            for key, process in zip(self.keys, self.processors, strict=True)
        )


class RawInserts:
    """Compiled INSERTs of the hot tables for one dialect, built on first use of each column list."""

    def __init__(self, dialect: Dialect) -> None:
        self._dialect = dialect
        self._plans: dict[tuple[str, tuple[str, ...]], _Plan] = {}

    @staticmethod
    def covers(table: Table) -> bool:
        return table.name in HOT_TABLES

    async def insert(self, raw: RawWriter, rows: Iterable[tuple[Table, dict[str, Any]]]) -> None:
        """Insert rows of the hot tables: one executemany per table and column list, in first-seen order."""
        grouped: dict[tuple[str, tuple[str, ...]], tuple[Table, list[dict[str, Any]]]] = {}
        for table, row in rows:
            grouped.setdefault((table.name, tuple(row)), (table, []))[1].append(row)
        for (_, keys), (table, group) in grouped.items():
            plan = self._plan(table, keys)
            await raw.executemany(plan.sql, [plan.parameters(row) for row in group])

    def _plan(self, table: Table, keys: tuple[str, ...]) -> _Plan:
        plan = self._plans.get((table.name, keys))
        if plan is None:
            compiled = insert(table).compile(
                dialect=self._dialect, column_keys=list(keys), for_executemany=True
            )
            order = tuple(compiled.positiontup or ())
            # A column with a Python-side default the row does not name would add a parameter the row lacks.
            if set(order) != set(keys):
                raise ValueError(f"{table.name}: the row's columns {keys} are not the INSERT's {order}")
            processors = tuple(
                table.c[key].type.dialect_impl(self._dialect).bind_processor(self._dialect) for key in order
            )
            plan = self._plans[(table.name, keys)] = _Plan(compiled.string, order, processors)
        return plan
