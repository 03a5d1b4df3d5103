"""Messages, as rows: insert, fetch, keyset-paged lists and forward-only status changes."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any, NamedTuple

from sqlalchemy import (
    ColumnElement,
    Row,
    Table,
    Update,
    and_,
    bindparam,
    delete,
    exists,
    func,
    select,
    text,
    update,
)

from mycpaas.domain.jobs import SEND_MESSAGE
from mycpaas.domain.messages import Direction, Message, MessageFilter, MessageStatus
from mycpaas.domain.status_times import TIMED_STATUSES, time_column
from mycpaas.storage import message_counts, message_log, queue
from mycpaas.storage.database import Connection, sqlite_driver
from mycpaas.storage.group_commit import insert_into as _insert_into
from mycpaas.storage.sqlite_fast import IN_JSON, from_ts, json_list, ts
from mycpaas.storage.tables import jobs, message_parts, messages

# The columns a Message is read from and written to, named: a field that is not a column (or a column that is
# not a field) fails here at import, not as a shifted value in a running server.
_FIELDS = tuple(Message.__dataclass_fields__)
# Public, with message_from_row, for the other storage modules that read messages with queries of their own
# (storage/failures.py, the Debugger's): one definition of which columns make a Message and how.
MESSAGE_COLUMNS = tuple(messages.c[name] for name in _FIELDS)


def message_from_row(row: Row[Any]) -> Message:
    """The Message of a row selected with MESSAGE_COLUMNS (by name: the row may hold more columns)."""
    values = row._mapping
    fields = {name: values[name] for name in _FIELDS}
    fields["status"] = MessageStatus(fields["status"])
    fields["direction"] = Direction(fields["direction"])
    return Message(**fields)


_STATUSES = {status.value: status for status in MessageStatus}
_DIRECTIONS = {direction.value: direction for direction in Direction}
_STATUS_AT = _FIELDS.index("status")
_DIRECTION_AT = _FIELDS.index("direction")
_DATETIMES_AT = tuple(_FIELDS.index(name) for name in ("created_at", "updated_at", "sent_at"))
_SQLITE_COLUMNS = ", ".join(_FIELDS)


def _sqlite_message(row: Sequence[Any]) -> Message:
    """A message from a row of `_SQLITE_COLUMNS` read on the sqlite3 driver (storage/sqlite_fast.py)."""
    values = list(row)
    values[_STATUS_AT] = _STATUSES[values[_STATUS_AT]]
    values[_DIRECTION_AT] = _DIRECTIONS[values[_DIRECTION_AT]]
    for position in _DATETIMES_AT:
        values[position] = from_ts(values[position])
    return Message(**dict(zip(_FIELDS, values, strict=True)))


def _values(message: Message) -> dict[str, object]:
    values = {name: getattr(message, name) for name in _FIELDS}
    values["status"] = message.status.value
    values["direction"] = message.direction.value
    return values


def new_message_rows(
    message: Message, send_at: datetime | None = None
) -> tuple[tuple[Table, dict[str, object]], ...]:
    """What storing a new message writes: its row and, for one to send, its send job, to commit together
    (a scheduled message's job runs at its `send_at`). The one definition behind both ways of writing it:
    GroupCommitter.insert (merged with other messages' rows into one executemany per table) and insert_new
    inside a transaction of its own."""
    rows: tuple[tuple[Table, dict[str, object]], ...] = ((messages, _values(message)),)
    if message.status in (MessageStatus.QUEUED, MessageStatus.ACCEPTED):
        rows += (queue.job_row(SEND_MESSAGE, message.sid, message.created_at),)
    elif message.status is MessageStatus.SCHEDULED and send_at is not None:
        rows += (queue.job_row(SEND_MESSAGE, message.sid, send_at),)
    return rows


async def insert_new(conn: Connection, new: Sequence[Message]) -> None:
    """Store new messages (and the send jobs of those to send) in the caller's transaction."""
    for message in new:
        for table, row in new_message_rows(message):
            await conn.execute(_insert_into(table), row)
    await message_counts.add_new(conn, [_values(message) for message in new])


_BY_SID = select(*MESSAGE_COLUMNS).where(messages.c.sid == bindparam("sid"))


async def get_message(conn: Connection, sid: str) -> Message | None:
    row = (await conn.execute(_BY_SID, {"sid": sid})).first()
    return message_from_row(row) if row else None


_BY_SIDS = select(*MESSAGE_COLUMNS).where(messages.c.sid.in_(bindparam("sids", expanding=True)))
_MARK_SENDING = (
    update(messages)
    .where(
        and_(
            messages.c.sid.in_(bindparam("sids", expanding=True)),
            messages.c.status == MessageStatus.QUEUED.value,
        )
    )
    .values(status=MessageStatus.SENDING.value, updated_at=bindparam("now"), sending_at=bindparam("now"))
)


_SQLITE_BY_SIDS = f"SELECT {_SQLITE_COLUMNS} FROM messages WHERE sid IN {IN_JSON}"
_SQLITE_MARK_SENDING = (
    "UPDATE messages SET status = 'sending', updated_at = ?, sending_at = ? "
    f"WHERE sid IN {IN_JSON} AND status = 'queued'"
)


async def get_many(conn: Connection, sids: list[str]) -> list[Message]:
    driver = sqlite_driver(conn)
    if driver is not None:
        return [_sqlite_message(row) for row in driver.execute(_SQLITE_BY_SIDS, (json_list(sids),))]
    return [message_from_row(row) for row in await conn.execute(_BY_SIDS, {"sids": sids})]


async def mark_sending(conn: Connection, sids: list[str], now: datetime) -> None:
    """queued -> sending for a whole batch in one statement; messages already past queued are left alone."""
    if not sids:
        return
    driver = sqlite_driver(conn)
    if driver is not None:
        stamp = ts(now)
        driver.execute(_SQLITE_MARK_SENDING, (stamp, stamp, json_list(sids)))
    else:
        await conn.execute(_MARK_SENDING, {"sids": sids, "now": now})


async def get_by_carrier_id(conn: Connection, carrier_message_id: str) -> Message | None:
    row = (
        await conn.execute(
            select(*MESSAGE_COLUMNS).where(messages.c.carrier_message_id == carrier_message_id)
        )
    ).first()
    return message_from_row(row) if row else None


# Built once: building and compiling it per call (its cache key included) was most of the count's cost at a
# normal backlog, where the index walk itself is short.
_QUEUED_FROM = select(func.count()).select_from(
    select(messages.c.id)
    .where(and_(messages.c.from_number == bindparam("from_number"), text("messages.status = 'queued'")))
    .limit(bindparam("limit"))
    .subquery()
)


async def count_queued_from(conn: Connection, from_number: str, limit: int) -> int:
    """Messages of `from_number` still queued, counted up to `limit` (ix_messages_queued_from keeps it small)."""
    result = await conn.execute(_QUEUED_FROM, {"from_number": from_number, "limit": limit})
    return int(result.scalar_one())


async def sender_loads(conn: Connection, account_sid: str, senders: list[str]) -> dict[str, tuple[int, int]]:
    """For each of the account's `senders`: (its queued messages, the id of its latest message; 0: none).
    Both are index lookups (ix_messages_queued_from, ix_messages_account_from_id)."""
    loads = {sender: (0, 0) for sender in senders}
    queued = (
        select(messages.c.from_number, func.count().label("n"))
        .where(messages.c.from_number.in_(senders), text("messages.status = 'queued'"))
        .group_by(messages.c.from_number)
    )
    for row in (await conn.execute(queued)).all():
        loads[row.from_number] = (int(row.n), 0)
    latest = (
        select(messages.c.from_number, func.max(messages.c.id).label("n"))
        .where(messages.c.account_sid == account_sid, messages.c.from_number.in_(senders))
        .group_by(messages.c.from_number)
    )
    for row in (await conn.execute(latest)).all():
        loads[row.from_number] = (loads[row.from_number][0], int(row.n or 0))
    return loads


async def list_awaiting_receipt(conn: Connection, through: str) -> list[Message]:
    """Messages the carrier `through` accepted (`sent`, a part submitted through it) with no final status yet."""
    # A literal condition, so both databases can use the partial index ix_messages_awaiting_receipt; the parts
    # are looked up by message (ix_message_parts_message_sid).
    rows = await conn.execute(
        select(*MESSAGE_COLUMNS)
        .where(
            text("messages.status = 'sent'"),
            exists().where(message_parts.c.message_sid == messages.c.sid, message_parts.c.carrier == through),
        )
        .order_by(messages.c.id)
    )
    return [message_from_row(row) for row in rows if row.carrier_message_id]


async def cursor_id(conn: Connection, account_sid: str, sid: str) -> int | None:
    return (
        await conn.execute(
            select(messages.c.id).where(and_(messages.c.sid == sid, messages.c.account_sid == account_sid))
        )
    ).scalar_one_or_none()


async def list_page(
    conn: Connection,
    account_sid: str,
    where: MessageFilter,
    limit: int,
    before_id: int | None = None,
    after_id: int | None = None,
) -> list[Message]:
    """Newest first. `before_id` walks to older messages, `after_id` back to newer ones (PB tokens). Words and
    creation dates go through storage/message_log.py, so that they stay fast on a large log."""
    if where.matches_nothing():
        return []
    c = messages.c
    conditions: list[ColumnElement[bool]] = [c.account_sid == account_sid]
    if where.sid is not None:
        conditions.append(c.sid == where.sid)
    if where.to_number is not None:
        conditions.append(c.to_number == where.to_number)
    if where.from_number is not None:
        conditions.append(c.from_number == where.from_number)
    if where.sent_at_or_after is not None:
        conditions.append(c.sent_at >= where.sent_at_or_after)
    if where.sent_before is not None:
        conditions.append(c.sent_at < where.sent_before)
    if where.status is not None:
        conditions.append(message_log.status_is(where.status.value))
    if where.direction is not None:
        conditions.append(message_log.direction_is(where.direction.value))
    if where.created_at_or_after is not None:
        conditions.append(c.created_at >= where.created_at_or_after)
    if where.created_before is not None:
        conditions.append(c.created_at < where.created_before)
    low = high = None
    if where.created_at_or_after is not None or where.created_before is not None:
        low, high = await message_log.id_range(conn, where.created_at_or_after, where.created_before)
    window = message_log.Window(limit, low, high, before_id, after_id)
    status = where.status.value if where.status is not None else None
    rows = await message_log.read_page(conn, MESSAGE_COLUMNS, conditions, where.words, window, status)
    ordered = reversed(rows) if after_id is not None else rows
    return [message_from_row(row) for row in ordered]


async def send_time(conn: Connection, sid: str) -> datetime | None:
    """When a message's send job is due (a scheduled message's SendAt); None if it has none."""
    return (
        await conn.execute(
            select(func.min(jobs.c.run_at)).where(and_(jobs.c.ref == sid, jobs.c.kind == SEND_MESSAGE))
        )
    ).scalar_one_or_none()


async def scheduled_of_service(conn: Connection, service_sid: str) -> list[Message]:
    """The service's messages still `scheduled`, found through their send jobs (the queue is small, the
    messages table is not, and it has no index on the service)."""
    return await _scheduled(conn, messages.c.messaging_service_sid == service_sid)


async def scheduled_of_account(conn: Connection, account_sid: str) -> list[Message]:
    """The account's messages still `scheduled` (through their send jobs, as `scheduled_of_service`)."""
    return await _scheduled(conn, messages.c.account_sid == account_sid)


async def _scheduled(conn: Connection, whose: ColumnElement[bool]) -> list[Message]:
    rows = await conn.execute(
        select(*MESSAGE_COLUMNS)
        .join(jobs, and_(jobs.c.ref == messages.c.sid, jobs.c.kind == SEND_MESSAGE))
        .where(and_(whose, messages.c.status == MessageStatus.SCHEDULED.value))
        .order_by(messages.c.id)
    )
    return [message_from_row(row) for row in rows]


_TIME_COLUMNS = {status: time_column(status) for status in TIMED_STATUSES}


def _with_time(status: MessageStatus, now: datetime, values: dict[str, object]) -> dict[str, object]:
    """The change's columns with the time of the status it moves to (its `<status>_at`), set by the same UPDATE:
    the timeline keeps every status a message passed without a row or a statement per transition."""
    column = _TIME_COLUMNS.get(status)
    if column is None or column in values:
        return values
    return {**values, column: now}


_TIMES = select(*(messages.c[column] for column in _TIME_COLUMNS.values())).where(
    messages.c.sid == bindparam("sid")
)


async def status_times(conn: Connection, sid: str) -> dict[MessageStatus, datetime]:
    """When the message reached each status in TIMED_STATUSES it passed (an indexed read by sid)."""
    row = (await conn.execute(_TIMES, {"sid": sid})).first()
    if row is None:
        return {}
    return {status: at for status, at in zip(_TIME_COLUMNS, row, strict=True) if at is not None}


async def advance_status(
    conn: Connection,
    sid: str,
    new_status: MessageStatus,
    allowed_from: Iterable[MessageStatus],
    now: datetime,
    **values: object,
) -> bool:
    """Move a message to `new_status` only from an allowed predecessor; False if it had moved on."""
    values = _with_time(new_status, now, values)
    statement = _advance_statement(tuple(sorted(values)))
    result = await conn.execute(
        statement,
        {
            "m_sid": sid,
            "m_allowed": [s.value for s in allowed_from],
            "status": new_status.value,
            "updated_at": now,
            **values,
        },
    )
    return result.rowcount == 1


@lru_cache(maxsize=64)
def _advance_statement(columns: tuple[str, ...]) -> Update:
    """One prepared UPDATE per set of changed columns, so SQLAlchemy's statement cache is hit."""
    return (
        update(messages)
        .where(
            and_(
                messages.c.sid == bindparam("m_sid"),
                messages.c.status.in_(bindparam("m_allowed", expanding=True)),
            )
        )
        .values({name: bindparam(name) for name in ("status", "updated_at", *columns)})
    )


async def advance_returning(
    conn: Connection,
    sid: str,
    new_status: MessageStatus,
    allowed_from: Iterable[MessageStatus],
    now: datetime,
    **values: object,
) -> Message | None:
    """advance_status that returns the changed message (None if it had moved on), in one statement."""
    values = _with_time(new_status, now, values)
    result = await conn.execute(
        _returning_statement(tuple(sorted(values))),
        {
            "m_sid": sid,
            "m_allowed": [s.value for s in allowed_from],
            "status": new_status.value,
            "updated_at": now,
            **values,
        },
    )
    row = result.first()
    return message_from_row(row) if row else None


class StatusChanged(NamedTuple):
    """A message whose status a batch changed: what its status callback needs (domain.webhooks.CallbackSubject),
    returned by the UPDATE instead of the whole row (RETURNING every column, the body the largest, and a
    Message built of each was a third of the UPDATE's cost: bench/results/delivery_writes.txt)."""

    sid: str
    account_sid: str
    from_number: str | None
    to_number: str
    error_code: int | None
    messaging_service_sid: str | None
    status_callback: str | None


_CHANGED = StatusChanged._fields
_CHANGED_SQL = ", ".join(f"messages.{name}" for name in _CHANGED)


async def advance_many(
    conn: Connection,
    sids: list[str],
    new_status: MessageStatus,
    allowed_from: Iterable[MessageStatus],
    now: datetime,
    **values: object,
) -> list[StatusChanged]:
    """The same change for many messages in one statement; returns those that changed, with only what their
    callbacks need."""
    if not sids:
        return []
    values = _with_time(new_status, now, values)
    driver = sqlite_driver(conn)
    if driver is not None:
        parameters = [
            new_status.value,
            ts(now),
            *(ts(v) if isinstance(v, datetime) else v for _, v in sorted(values.items())),
            json_list(sids),
            json_list(s.value for s in allowed_from),
        ]
        statement = _sqlite_changed_statement(tuple(sorted(values)))
        return [StatusChanged(*row) for row in driver.execute(statement, parameters)]
    result = await conn.execute(
        _changed_statement(tuple(sorted(values))),
        {
            "m_sids": sids,
            "m_allowed": [s.value for s in allowed_from],
            "status": new_status.value,
            "updated_at": now,
            **values,
        },
    )
    return [StatusChanged._make(row) for row in result]


async def record_sent(
    conn: Connection,
    carrier_ids: dict[str, str],
    allowed_from: Iterable[MessageStatus],
    now: datetime,
) -> list[StatusChanged]:
    """sending -> sent with `sent_at` and each message's carrier_message_id (sid -> id), for a batch; returns the
    messages that changed. A message past `allowed_from` (a submission recorded twice) still gets its carrier id.
    One UPDATE ... FROM for the whole batch, json_each on SQLite, unnest on PostgreSQL (an UPDATE of the carrier
    id per message, then the status change, rewrote every row twice; and on PostgreSQL every UPDATE statement runs
    the overview counts' trigger once)."""
    if not carrier_ids:
        return []
    driver = sqlite_driver(conn)
    if driver is None:
        if not _on_postgres(conn):  # SQLite with its driver path off (tests/integration/test_sqlite_fast.py)
            await set_carrier_ids(conn, list(carrier_ids.items()))
            return await advance_many(
                conn, list(carrier_ids), MessageStatus.SENT, allowed_from, now, sent_at=now
            )
        result = await conn.execute(
            _PG_RECORD_SENT,
            {
                "now": now,
                "sids": list(carrier_ids),
                "cids": list(carrier_ids.values()),
                "allowed": [s.value for s in allowed_from],
            },
        )
        changed = [StatusChanged._make(row) for row in result]
    else:
        stamp = ts(now)
        rows = driver.execute(
            _SQLITE_RECORD_SENT,
            (
                stamp,
                stamp,
                json.dumps(carrier_ids, separators=(",", ":")),
                json_list(s.value for s in allowed_from),
            ),
        ).fetchall()
        changed = [StatusChanged(*row) for row in rows]
    if len(changed) < len(carrier_ids):
        done = {row.sid for row in changed}
        await set_carrier_ids(conn, [(sid, cid) for sid, cid in carrier_ids.items() if sid not in done])
    return changed


def _on_postgres(conn: Connection) -> bool:
    dialect = getattr(conn, "dialect", None)  # an AsyncConnection's; SQLite's inline connection has none
    return dialect is not None and dialect.name == "postgresql"


_PG_RECORD_SENT = text(
    "UPDATE messages SET status = 'sent', updated_at = :now, sent_at = :now, carrier_message_id = v.cid "
    "FROM unnest(CAST(:sids AS VARCHAR[]), CAST(:cids AS VARCHAR[])) AS v(sid, cid) "
    "WHERE messages.sid = v.sid AND messages.status = ANY(CAST(:allowed AS VARCHAR[])) "
    f"RETURNING {_CHANGED_SQL}"
)

_SQLITE_RECORD_SENT = (
    "UPDATE messages SET status = 'sent', updated_at = ?, sent_at = ?, carrier_message_id = j.value "
    f"FROM json_each(?) AS j WHERE messages.sid = j.key AND messages.status IN {IN_JSON} "
    f"RETURNING {_CHANGED_SQL}"
)


@lru_cache(maxsize=64)
def _sqlite_changed_statement(columns: tuple[str, ...]) -> str:
    assignments = ", ".join(f"{name} = ?" for name in ("status", "updated_at", *columns))
    return (
        f"UPDATE messages SET {assignments} WHERE sid IN {IN_JSON} AND status IN {IN_JSON} "
        f"RETURNING {_CHANGED_SQL}"
    )


@lru_cache(maxsize=64)
def _changed_statement(columns: tuple[str, ...]) -> Update:
    return (
        update(messages)
        .where(
            and_(
                messages.c.sid.in_(bindparam("m_sids", expanding=True)),
                messages.c.status.in_(bindparam("m_allowed", expanding=True)),
            )
        )
        .values({name: bindparam(name) for name in ("status", "updated_at", *columns)})
        .returning(*(messages.c[name] for name in _CHANGED))
    )


_SET_CARRIER_ID = (
    update(messages)
    .where(messages.c.sid == bindparam("m_sid"))
    .values(carrier_message_id=bindparam("m_carrier_id"))
)
# On PostgreSQL one statement for the whole batch (the pairs as two arrays): every UPDATE of messages runs the
# overview counts' statement trigger once (migration 0016), ~33 us of the backend's CPU per statement, which an
# executemany paid per message (bench numbers in the commit and docs/dashboard.md, Overview).
_SET_CARRIER_IDS = text(
    "UPDATE messages SET carrier_message_id = v.cid "
    "FROM unnest(CAST(:sids AS VARCHAR[]), CAST(:cids AS VARCHAR[])) AS v(sid, cid) WHERE messages.sid = v.sid"
)


async def set_carrier_ids(conn: Connection, ids: list[tuple[str, str]]) -> None:
    """(sid, carrier message id) pairs, in one statement (SQLite: one executemany)."""
    if not ids:
        return
    driver = sqlite_driver(conn)
    if driver is not None:
        driver.executemany(
            "UPDATE messages SET carrier_message_id = ? WHERE sid = ?", [(c, s) for s, c in ids]
        )
        return
    if _on_postgres(conn):
        await conn.execute(_SET_CARRIER_IDS, {"sids": [s for s, _ in ids], "cids": [c for _, c in ids]})
    else:  # SQLite with its driver path switched off (tests/integration/test_sqlite_fast.py)
        await conn.execute(_SET_CARRIER_ID, [{"m_sid": sid, "m_carrier_id": cid} for sid, cid in ids])


@lru_cache(maxsize=64)
def _returning_statement(columns: tuple[str, ...]) -> Update:
    return _advance_statement(columns).returning(*MESSAGE_COLUMNS)


async def update_message(conn: Connection, sid: str, now: datetime, **values: object) -> None:
    await conn.execute(update(messages).where(messages.c.sid == sid).values(updated_at=now, **values))


async def delete_message(conn: Connection, sid: str) -> None:
    await conn.execute(delete(messages).where(messages.c.sid == sid))
