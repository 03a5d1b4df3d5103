"""The message log's filters that a plain column comparison would make slow on a large log: words (a trigram
index on each database) and creation dates (turned into a range of ids).

Words. PostgreSQL: one GIN index with pg_trgm's operator class over To, From and body joined by newlines
(`ix_messages_search`, SEARCH_TEXT, migration 0018), used by ILIKE '%word%', every word in one index scan; it
holds each row's current values, so a redacted body's old words are not found. The planner cannot tell how
often words occur together, so a search first tests the newest rows one by one (WALK_PER_ROW for each row
asked for) and asks the index only for the rest of the window when that leaves the page short
(`_postgres_words`). SQLite: `messages_search`, a contentless FTS5 table with the trigram tokenizer over the
same columns, filled off the hot path in batches (`index_batch`, run by services/message_search.py) up to the
id in platform_state's `message_search` row; triggers (migration 0017) re-index an indexed row whose To, From
or body changes (redaction) and remove a deleted one. A page of results is the FTS5 matches (FTS5 intersects
the words, driven in descending rowid order between one lower and one upper rowid bound, so a word found in
many messages costs one page of them, not all of them, and a date range seeks to its ids) merged with the not
yet indexed newest rows, matched by LIKE (a short walk by id).

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
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    DateTime,
    Row,
    Select,
    and_,
    bindparam,
    column,
    literal,
    literal_column,
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

RARE_STATUSES = frozenset({"failed", "undelivered", "canceled"})  # each in a partial index (tables.py)
# Statuses a message passes in flight that have a partial index of their own (ix_messages_queued_from,
# ix_messages_awaiting_receipt): on a quiet platform none is in flight, an empty partial index has no
# statistics, and SQLite walked the whole log by account rather than choose one (0.4 s at 1M messages). The
# log filtered by one of them says on SQLite `id IN (the ids with that status)` besides (implied by the status
# condition: the same rows), which SQLite reads from the partial index, newest first: under a millisecond.
# PostgreSQL chooses them by itself.
IN_FLIGHT_INDEXED = frozenset({"queued", "sent"})
FAILED_STATUSES = frozenset({"failed", "undelivered"})  # ix_messages_account_failed's (domain/failures.py)
_FAILED = text("messages.status IN ('failed', 'undelivered')")
# ix_messages_account_in_flight's statuses (0019), which a message only passes: its condition is written into
# the statement, as for failed, so that SQLite can use it.
PASSING_STATUSES = frozenset({"accepted", "scheduled", "sending", "receiving"})
_PASSING = text("messages.status IN ('accepted', 'scheduled', 'sending', 'receiving')")
_LITERAL_STATUSES = RARE_STATUSES | IN_FLIGHT_INDEXED | PASSING_STATUSES
# The directions with a partial index each (0019; outbound-api, most messages, has none).
INDEXED_DIRECTIONS = frozenset({"inbound", "outbound-reply"})
# PostgreSQL's word index (ix_messages_search, migration 0018) is over this one text, written out as SQL (no
# bound parameter in it), so that the planner recognises the index's expression in the query.
SEARCH_TEXT: ColumnElement[str] = literal_column(
    "(coalesce(messages.to_number, '') || chr(10) || coalesce(messages.from_number, '') || chr(10)"
    " || messages.body)"
)
# PostgreSQL: how many of the newest rows a word search tests one by one before it asks the index instead: 40
# for each row asked for (a page of 50: 2,000 rows, a few ms; an export's batch of 250: 10,000), so that the
# index is asked only for words in fewer than one message of 40 there, which it finds in fewer rows than a walk
# would read; at least WALK_FIRST.
WALK_FIRST = 2000
WALK_PER_ROW = 40
INDEXED_THROUGH = "message_search"  # the platform_state row: the highest id indexed (SQLite)
_fts = table("messages_search", column("rowid"))
_FTS_ROWID = _fts.c.rowid
_KEY = "log_key"


def status_is(status: str) -> ColumnElement[bool]:
    """The status condition; a rare status written into the statement, so that both databases choose its
    partial index (SQLite proves a partial index's condition from literals only; PostgreSQL's generic plan of
    a prepared statement would not either). Failed and undelivered also say the condition of the Debugger's
    index (ix_messages_account_failed), which holds both: SQLite uses a partial index only when the query
    has its condition's terms as written (it does not infer `status IN (...)` from `status = ...`)."""
    if status in FAILED_STATUSES:
        return and_(_FAILED, messages.c.status == literal(status, literal_execute=True))
    if status in PASSING_STATUSES:
        return and_(_PASSING, messages.c.status == literal(status, literal_execute=True))
    if status in _LITERAL_STATUSES:
        return messages.c.status == literal(status, literal_execute=True)
    return messages.c.status == status


def direction_is(direction: str) -> ColumnElement[bool]:
    """The direction condition; one with a partial index of its own written as a literal (see status_is)."""
    if direction in INDEXED_DIRECTIONS:
        return messages.c.direction == literal(direction, literal_execute=True)
    return messages.c.direction == direction


def _fts_phrase(word: str) -> str:
    return '"' + word.replace('"', '""') + '"'


def _like(word: str) -> str:
    return "%" + word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _contains(words: tuple[str, ...], source: Any = messages.c) -> list[ColumnElement[bool]]:
    """Each word in the To, From or body (ILIKE on PostgreSQL; LIKE, ASCII case-insensitive, on SQLite), of
    `source`: the messages table's columns or a subquery's."""
    return [
        or_(*(c.ilike(_like(word), escape="\\") for c in (source.to_number, source.from_number, source.body)))
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


def _bounds(key: ColumnElement[Any], window: Window) -> list[ColumnElement[bool]]:
    """The window's conditions on `key` (those it has)."""
    bounds = (
        key >= window.low if window.low is not None else None,
        key < window.high if window.high is not None else None,
        key < window.before if window.before is not None else None,
        key > window.after if window.after is not None else None,
    )
    return [bound for bound in bounds if bound is not None]


def _walk(query: Select[Any], key: ColumnElement[Any], window: Window) -> Select[Any]:
    query = query.add_columns(key.label(_KEY)).where(*_bounds(key, window))
    order = key.asc() if window.after is not None else key.desc()
    return query.order_by(order).limit(window.limit)


async def read_page(
    conn: Connection,
    columns: Sequence[Any],
    conditions: Sequence[ColumnElement[bool]],
    words: tuple[str, ...],
    window: Window,
    status: str | None = None,
) -> list[Row[Any]]:
    """Up to `window.limit` rows matching `conditions` and every word, newest first (oldest first when
    walking back to newer ones, `after`); `status`, the status in `conditions` (status_is), if any."""
    base = select(*columns).where(*conditions)
    if not words:
        if status in IN_FLIGHT_INDEXED and sqlite_driver(conn) is not None:
            flight = messages.alias("in_flight")
            ids = select(flight.c.id).where(flight.c.status == literal(status, literal_execute=True))
            base = base.where(messages.c.id.in_(ids))
        return list((await conn.execute(_walk(base, messages.c.id, window))).all())
    if sqlite_driver(conn) is None:
        return await _postgres_words(conn, columns, conditions, words, window)
    through = await indexed_through(conn)
    match = " ".join(_fts_phrase(word) for word in words)
    # One lower and one upper rowid bound, each the tightest: FTS5 takes one of each from the statement (given
    # two upper bounds, `through` and a date range's, it seeked by one and filtered by the other, reading every
    # match newer than an old day), and seeks its doclists to them.
    upper = min(b for b in (through + 1, window.high, window.before) if b is not None)
    lower = max(
        b for b in (window.low, None if window.after is None else window.after + 1, 1) if b is not None
    )
    indexed = (
        base.select_from(_fts.join(messages, messages.c.id == _FTS_ROWID))
        .where(text("messages_search MATCH :search_words").bindparams(search_words=match))
        .where(_fts.c.rowid < upper, _fts.c.rowid >= lower)
        .add_columns(_FTS_ROWID.label(_KEY))
        .order_by(_FTS_ROWID.asc() if window.after is not None else _FTS_ROWID.desc())
        .limit(window.limit)
    )
    tail = base.where(messages.c.id > through, *_contains(words))
    rows = [
        *(await conn.execute(indexed)).all(),
        *(await conn.execute(_walk(tail, messages.c.id, window))).all(),
    ]
    rows.sort(key=lambda row: int(row._mapping[_KEY]), reverse=window.after is None)
    return rows[: window.limit]


async def _postgres_words(
    conn: Connection,
    columns: Sequence[Any],
    conditions: Sequence[ColumnElement[bool]],
    words: tuple[str, ...],
    window: Window,
) -> list[Row[Any]]:
    """Words on PostgreSQL, in two steps, because the planner cannot tell how often words occur together: it
    multiplies their frequencies, so two common words that never meet look common together and it walked the
    whole log by id testing each row (4 s at 1M rows), while using the index for words that are common
    together would read and sort a quarter of the log. First the newest rows of the window (`walk`) are
    tested one by one (a subquery with its own LIMIT: read in id order whatever the planner thinks of the
    words), which fills a page of common words; only if that leaves the page short does the rest of the window
    go through the index (ordered by `id + 0`, so not walked by id): then the words are rare past that point,
    and the index finds the few rows that hold them all in one scan (migration 0018)."""
    ascending = window.after is not None
    key = messages.c.id
    walk = max(WALK_FIRST, WALK_PER_ROW * window.limit)
    edge_query = _walk(select(key).where(*conditions), key, replace(window, limit=1)).offset(walk - 1)
    edge = (await conn.execute(edge_query)).scalar()
    recent = _walk(select(messages).where(*conditions), key, replace(window, limit=walk)).subquery()
    first = (
        select(*(recent.c[column.name] for column in columns), recent.c[_KEY])
        .where(*_contains(words, recent.c))
        .order_by(recent.c[_KEY].asc() if ascending else recent.c[_KEY].desc())
        .limit(window.limit)
    )
    rows = list((await conn.execute(first)).all())
    if edge is None or len(rows) >= window.limit:
        return rows  # the window holds no more than `walk` rows, or the page is full
    rest = (
        select(*columns, key.label(_KEY))
        .where(*conditions, *(SEARCH_TEXT.ilike(_like(word), escape="\\") for word in words))
        .where(*_contains(words), *_bounds(key, window), key > edge if ascending else key < edge)
    )
    order = (key + 0).asc() if ascending else (key + 0).desc()
    rows.extend((await conn.execute(rest.order_by(order).limit(window.limit - len(rows)))).all())
    return rows


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
