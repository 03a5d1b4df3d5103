"""The overview's pre-aggregated counts: messages by account, hour of creation, status and error code, and
webhook attempts by account, hour and outcome (tables.message_counts, tables.webhook_counts).

Why counts and not a query over messages: the overview shows 30 days, and a GROUP BY over millions of rows per
page view does not stay fast. What keeps them true: a new message is counted by whoever inserts it, grouped by
key so that a batch costs one upsert (`count_new`, for the group committer's raw and SQLAlchemy paths and
`messages.insert_new`); a status change moves the count from the old key to the new one in a trigger of the
database (migration 0016), which alone sees both the old and the new status of every path that writes one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from operator import itemgetter
from typing import Any, NamedTuple

from sqlalchemy import Insert, and_, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect

from mycpaas.storage.database import Connection, sqlite_driver
from mycpaas.storage.sqlite_fast import ts
from mycpaas.storage.tables import message_counts, webhook_counts

_COLUMNS = ("account_sid", "hour", "status", "error_code", "messages", "segments")
Delta = tuple[str, datetime, str, int, int, int]


def hour_of(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


_NEW_ROW = itemgetter("account_sid", "status", "error_code", "num_segments", "created_at")
_HOUR = timedelta(hours=1)


def count_new(rows: Iterable[Mapping[str, Any]]) -> list[Delta]:
    """New messages' rows (storage/messages.new_message_rows) as one delta per key. A batch's messages were
    created within moments of each other, so the hour is computed again only when a row falls outside the last
    one (datetime.replace per row was most of this loop's cost)."""
    grouped: dict[tuple[str, datetime, str, int], list[int]] = {}
    hour = end = datetime.min
    for account, status, code, segments, created in map(_NEW_ROW, rows):
        if not hour <= created < end:
            hour = hour_of(created)
            end = hour + _HOUR
        key = (account, hour, status, code or 0)
        total = grouped.get(key)
        if total is None:
            grouped[key] = [1, segments]
        else:
            total[0] += 1
            total[1] += segments
    return [(*key, n, segments) for key, (n, segments) in grouped.items()]


def _upsert(dialect_insert: Any, table: Any, counters: Sequence[str]) -> Insert:
    statement = dialect_insert(table)
    return statement.on_conflict_do_update(  # type: ignore[no-any-return]
        index_elements=[c.name for c in table.primary_key.columns],
        set_={name: table.c[name] + statement.excluded[name] for name in counters},
    )


_UPSERTS = {
    "sqlite": _upsert(sqlite.insert, message_counts, ("messages", "segments")),
    "postgresql": _upsert(postgresql.insert, message_counts, ("messages", "segments")),
}
_WEBHOOK_UPSERTS = {
    "sqlite": _upsert(sqlite.insert, webhook_counts, ("attempts",)),
    "postgresql": _upsert(postgresql.insert, webhook_counts, ("attempts",)),
}


def raw_upsert(dialect: Dialect) -> str:
    """The message counts' upsert as the driver's SQL text, parameters in `Delta`'s order (raw_inserts.py)."""
    compiled = _UPSERTS[dialect.name].compile(
        dialect=dialect, column_keys=list(_COLUMNS), for_executemany=True
    )
    if tuple(compiled.positiontup or ()) != _COLUMNS:
        raise RuntimeError("message_counts: the upsert's parameters are not in Delta's order")
    return compiled.string


_SQLITE_UPSERT = raw_upsert(sqlite.dialect())


def sqlite_rows(deltas: list[Delta]) -> list[Sequence[Any]]:
    """Deltas as the sqlite3 driver takes them: the hour as SQLAlchemy's DateTime text."""
    return [(a, ts(h), s, e, n, g) for a, h, s, e, n, g in deltas]


async def add_new(conn: Connection, rows: Iterable[Mapping[str, Any]]) -> None:
    """Count new messages in the caller's transaction: one upsert (an executemany of one row per key)."""
    deltas = count_new(rows)
    if not deltas:
        return
    driver = sqlite_driver(conn)
    if driver is not None:
        driver.executemany(_SQLITE_UPSERT, sqlite_rows(deltas))
    else:
        await conn.execute(
            _UPSERTS["postgresql"], [dict(zip(_COLUMNS, delta, strict=True)) for delta in deltas]
        )


async def add_attempts(conn: Connection, attempts: Iterable[tuple[str, datetime, str]]) -> None:
    """Count webhook attempts, given as (account_sid, created_at, outcome), in one upsert."""
    grouped: dict[tuple[str, datetime, str], int] = {}
    for account_sid, created_at, outcome in attempts:
        key = (account_sid, hour_of(created_at), outcome)
        grouped[key] = grouped.get(key, 0) + 1
    if grouped:
        await conn.execute(
            _WEBHOOK_UPSERTS["postgresql" if sqlite_driver(conn) is None else "sqlite"],
            [{"account_sid": a, "hour": h, "outcome": o, "attempts": n} for (a, h, o), n in grouped.items()],
        )


class MessageCount(NamedTuple):
    hour: datetime
    status: str
    error_code: int
    messages: int
    segments: int


async def message_hours(conn: Connection, account_sid: str, since: datetime) -> list[MessageCount]:
    """The account's counts from the hour of `since` on (a range of its primary key)."""
    counts = message_counts.c
    rows = await conn.execute(
        select(counts.hour, counts.status, counts.error_code, counts.messages, counts.segments)
        .where(and_(counts.account_sid == account_sid, counts.hour >= hour_of(since), counts.messages != 0))
        .order_by(counts.hour)
    )
    return [MessageCount._make(row) for row in rows]


async def webhook_hours(conn: Connection, account_sid: str, since: datetime) -> dict[str, int]:
    """The account's webhook attempts since the hour of `since`, by outcome."""
    counts = webhook_counts.c
    rows = await conn.execute(
        select(counts.outcome, func.sum(counts.attempts).label("attempts"))
        .where(and_(counts.account_sid == account_sid, counts.hour >= hour_of(since)))
        .group_by(counts.outcome)
    )
    return {str(row.outcome): int(row.attempts) for row in rows}
