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

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from operator import itemgetter
from typing import Any

from sqlalchemy import DateTime, Table, insert
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import Dialect

from mycpaas.storage import message_counts
from mycpaas.storage.database import RawWriter
from mycpaas.storage.tables import jobs, messages

# Only what every create writes; other tables' inserts are rare enough that SQLAlchemy's cost does not show.
HOT_TABLES: frozenset[str] = frozenset({messages.name, jobs.name})


@dataclass(frozen=True, slots=True)
class _Plan:
    """One table's INSERT for one column list: its SQL text, the row's values in parameter order, and the
    converters of those that need one (by position)."""

    sql: str
    values: Callable[[Mapping[str, Any]], Any]
    converters: tuple[tuple[int, Callable[[Any], Any]], ...]

    def parameters(self, row: Mapping[str, Any]) -> Sequence[Any]:
        values = self.values(row)
        if not self.converters:
            return values  # type: ignore[no-any-return]
        converted = list(values)
        for position, convert in self.converters:
            converted[position] = convert(converted[position])
        return converted


def _sqlite_datetime(value: Any) -> Any:
    """SQLAlchemy's SQLite DATETIME text ('%Y-%m-%d %H:%M:%S.%f', always 6 digits), by datetime's own C
    formatter: SQLAlchemy's processor (a dict and a %-format per value) was a fifth of a batch's cost here
    (cProfile of 4,000 creates, 2026-12-07). Anything but a naive datetime goes to SQLAlchemy's processor.
    A create writes one moment four times (the message's created and updated, its job's run_at and
    created_at): the last one formatted is kept (2.2% of the loop's time went here, py-spy 2026-12-07)."""
    global _last_datetime
    if type(value) is datetime and value.tzinfo is None:
        last = _last_datetime
        if last[0] is value:
            return last[1]
        text = value.isoformat(" ", "microseconds")
        _last_datetime = (value, text)
        return text
    return _SQLALCHEMY_SQLITE_DATETIME(value)


_last_datetime: tuple[datetime | None, str] = (None, "")

_SQLALCHEMY_SQLITE_DATETIME: Callable[[Any], Any] = (
    DateTime().dialect_impl(sqlite.dialect()).bind_processor(sqlite.dialect())  # type: ignore[assignment]
)


class RawInserts:
    """Compiled INSERTs of the hot tables for one dialect, built on first use of each column list."""

    def __init__(self, dialect: Dialect) -> None:
        self._dialect = dialect
        self._plans: dict[tuple[str, tuple[str, ...]], _Plan] = {}
        self._count_sql = message_counts.raw_upsert(dialect)

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
            if table is messages:
                await self._count(raw, group)

    async def _count(self, raw: RawWriter, rows: list[dict[str, Any]]) -> None:
        """The new messages' counts for the overview (storage/message_counts.py): one upsert per batch."""
        deltas = message_counts.count_new(rows)
        if self._dialect.name == "sqlite":
            await raw.executemany(self._count_sql, message_counts.sqlite_rows(deltas))
        else:
            await raw.executemany(self._count_sql, list[Sequence[Any]](deltas))

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
            converters = tuple(
                (position, convert)
                for position, convert in enumerate(self._converter(table, key) for key in order)
                if convert is not None
            )
            values = itemgetter(*order) if len(order) > 1 else (lambda row: (row[order[0]],))
            plan = self._plans[(table.name, keys)] = _Plan(compiled.string, values, converters)
        return plan

    def _converter(self, table: Table, key: str) -> Callable[[Any], Any] | None:
        column_type = table.c[key].type
        if self._dialect.name == "sqlite" and isinstance(column_type, DateTime):
            return _sqlite_datetime
        return column_type.dialect_impl(self._dialect).bind_processor(self._dialect)
