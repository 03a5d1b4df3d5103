"""The message log's filters that a plain column comparison would make slow on a large log: words (a trigram
index on each database) and creation dates (turned into a range of ids).

Words. PostgreSQL: one GIN index with pg_trgm's operator class over To, From and body
(`ix_messages_search`), used by ILIKE '%word%'; it holds each row's current values, so a redacted body's old
words are not found. SQLite: `messages_search`, a contentless FTS5 table with the trigram tokenizer over the
same columns, filled off the hot path in batches (`index_batch`, run by services/message_search.py) up to
the id in platform_state's `message_search` row; triggers (migration 0017) re-index an indexed row whose
To, From or body changes (redaction) and remove a deleted one. A page of results is the FTS5 matches
(driven by the FTS5 table in descending rowid order, so a word found in many messages costs one page of them,
not all of them) merged with the not yet indexed newest rows, matched by LIKE (a short walk by id).

Dates. The log is walked newest first by id, and ids grow with creation time, so a date range is a range of
ids: the first id created at or after a moment is found by a binary search over the primary key (about 20
lookups by id, in one statement), and the walk starts and stops there instead of reading every newer message
to reach an old day. An index on created_at alone did not do this: the query still orders by id, so the
database either walks the id index filtering dates (every newer row read) or reads the whole date range
through the date index and sorts it (every row in the range read, a whole month when the range is open-ended).
This adds nothing to the hot path (no index, no trigger). Ids follow creation time only as closely as a
message is committed after its `created_at` was taken (within a second); the search allows ID_SLACK for it,
and the exact date condition stays in the query, so the slack only widens the walk, never the result.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    DateTime,
    Row,
    Select,
    bindparam,
    column,
    literal,
    or_,
    select,
    table,
    text,
)

from mycpaas.storage import platform_state, sqlite_fast
from mycpaas.storage.database import Connection, sqlite_driver
from mycpaas.storage.tables import messages

# The search index's objects, which SQLAlchemy's metadata cannot describe (an FTS5 virtual table and its
# shadow tables; a GIN index with an operator class): created by migration 0017, left out of tables.py and of
# the comparison of the two (tests/integration/test_migrations.py).
SQLITE_TABLES = frozenset(
    {
        "messages_search",
        "messages_search_data",
        "messages_search_idx",
        "messages_search_docsize",
        "messages_search_config",
    }
)
POSTGRES_INDEX = "ix_messages_search"
ID_SLACK = timedelta(minutes=10)

RARE_STATUSES = frozenset({"failed", "undelivered", "canceled"})  # each with a partial index (tables.py)
INDEXED_THROUGH = "message_search"  # the platform_state row: the highest id indexed (SQLite)
_fts = table("messages_search", column("rowid"))
_FTS_ROWID = _fts.c.rowid
_KEY = "log_key"


def status_is(status: str) -> ColumnElement[bool]:
    """The status condition; a rare status written into the statement, so that both databases choose its
    partial index (SQLite proves a partial index's condition from literals only; PostgreSQL's generic plan of
    a prepared statement would not either)."""
    if status in RARE_STATUSES:
        return messages.c.status == literal(status, literal_execute=True)
    return messages.c.status == status


def _fts_phrase(word: str) -> str:
    return '"' + word.replace('"', '""') + '"'


def _like(word: str) -> str:
    return "%" + word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _contains(words: tuple[str, ...]) -> list[ColumnElement[bool]]:
    """Each word in the To, From or body (ILIKE on PostgreSQL; LIKE, ASCII case-insensitive, on SQLite)."""
    return [
        or_(
            *(
                c.ilike(_like(word), escape="\\")
                for c in (messages.c.to_number, messages.c.from_number, messages.c.body)
            )
        )
        for word in words
    ]


@dataclass(frozen=True, slots=True)
class Window:
    """Which part of the log a page reads: ids from `low` and below `high` (dates), before or after a cursor."""

    limit: int
    low: int | None = None
    high: int | None = None
    before: int | None = None
    after: int | None = None


def _walk(query: Select[Any], key: ColumnElement[Any], window: Window) -> Select[Any]:
    query = query.add_columns(key.label(_KEY))
    for bound in (
        key >= window.low if window.low is not None else None,
        key < window.high if window.high is not None else None,
        key < window.before if window.before is not None else None,
        key > window.after if window.after is not None else None,
    ):
        if bound is not None:
            query = query.where(bound)
    order = key.asc() if window.after is not None else key.desc()
    return query.order_by(order).limit(window.limit)


async def read_page(
    conn: Connection,
    columns: Sequence[Any],
    conditions: Sequence[ColumnElement[bool]],
    words: tuple[str, ...],
    window: Window,
) -> list[Row[Any]]:
    """Up to `window.limit` rows matching `conditions` and every word, newest first (oldest first when
    walking back to newer ones, `after`)."""
    base = select(*columns).where(*conditions)
    if not words or sqlite_driver(conn) is None:
        query = base.where(*_contains(words)) if words else base
        return list((await conn.execute(_walk(query, messages.c.id, window))).all())
    through = await indexed_through(conn)
    match = " ".join(_fts_phrase(word) for word in words)
    indexed = (
        base.select_from(_fts.join(messages, messages.c.id == _FTS_ROWID))
        .where(text("messages_search MATCH :search_words").bindparams(search_words=match))
        .where(through >= _FTS_ROWID)
    )
    tail = base.where(messages.c.id > through, *_contains(words))
    rows = [
        *(await conn.execute(_walk(indexed, _FTS_ROWID, window))).all(),
        *(await conn.execute(_walk(tail, messages.c.id, window))).all(),
    ]
    rows.sort(key=lambda row: int(row._mapping[_KEY]), reverse=window.after is None)
    return rows[: window.limit]


async def indexed_through(conn: Connection) -> int:
    return int(await platform_state.get(conn, INDEXED_THROUGH) or 0)


def index_batch(driver: sqlite3.Connection, limit: int, now: datetime) -> int:
    """Index up to `limit` messages not yet in `messages_search`, oldest first, in the caller's transaction
    on SQLite's own driver (run on a worker thread: Database.write_on_thread); how many were indexed."""
    found = driver.execute(_INDEXED_THROUGH_SQL, (INDEXED_THROUGH,)).fetchone()
    through = int(found[0]) if found is not None else 0
    # The count comes from the SELECT: sqlite3's rowcount of an INSERT into a virtual table is not the rows'.
    count, last = driver.execute(_PENDING_SQL, (through, limit)).fetchone()
    if not count:
        return 0
    driver.execute(_INDEX_SQL, (through, last))
    driver.execute(_PUT_SQL, (INDEXED_THROUGH, str(last), sqlite_fast.ts(now)))
    return int(count)


_INDEXED_THROUGH_SQL = "SELECT CAST(value AS INTEGER) FROM platform_state WHERE name = ?"
_PENDING_SQL = "SELECT count(*), max(id) FROM (SELECT id FROM messages WHERE id > ? ORDER BY id LIMIT ?)"
_INDEX_SQL = (
    "INSERT INTO messages_search (rowid, to_number, from_number, body)"
    " SELECT id, to_number, from_number, body FROM messages WHERE id > ? AND id <= ?"
)
_PUT_SQL = (
    "INSERT INTO platform_state (name, value, updated_at) VALUES (?, ?, ?)"
    " ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at"
)


# The binary search in one statement (one round trip, not twenty): each step reads the creation time of the
# first row at or after the middle id, by the primary key. Portable SQL: recursive CTE, scalar subqueries.
_FIRST_CREATED = text(
    """
WITH RECURSIVE search(low, high) AS (
    SELECT (SELECT min(id) FROM messages), (SELECT max(id) FROM messages) + 1
    UNION ALL
    SELECT
        CASE WHEN (SELECT created_at FROM messages WHERE id >= (low + high) / 2 ORDER BY id LIMIT 1) >= :moment
            THEN low ELSE (low + high) / 2 + 1 END,
        CASE WHEN (SELECT created_at FROM messages WHERE id >= (low + high) / 2 ORDER BY id LIMIT 1) >= :moment
            THEN (low + high) / 2 ELSE high END
    FROM search WHERE low < high
)
SELECT low, (SELECT max(id) FROM messages) FROM search WHERE low >= high
"""
).bindparams(bindparam("moment", type_=DateTime()))


async def first_id_created(conn: Connection, moment: datetime) -> int | None:
    """The first id whose row (or the first row after it) was created at or after `moment`, by a binary
    search over the primary key; None when no row was."""
    found: Any = (await conn.execute(_FIRST_CREATED, {"moment": moment})).first()
    if found is None or found[0] is None or int(found[0]) > int(found[1]):
        return None
    return int(found[0])


async def id_range(
    conn: Connection, created_at_or_after: datetime | None, created_before: datetime | None
) -> tuple[int | None, int | None]:
    """(lowest id, id past the highest) that can hold messages created in the range; None: unbounded."""
    low = high = None
    if created_at_or_after is not None and created_at_or_after - datetime.min > ID_SLACK:
        low = await first_id_created(conn, created_at_or_after - ID_SLACK)
        if low is None:
            return (1, 1)  # nothing created since: an empty range
    if created_before is not None and datetime.max - created_before > ID_SLACK:
        high = await first_id_created(conn, created_before + ID_SLACK)
    return low, high
