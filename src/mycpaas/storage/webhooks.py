"""The webhook attempt log, as rows; pending webhook events, as jobs of the queue (storage/queue.py) whose
payload is the event."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime
from operator import attrgetter
from typing import Any

from sqlalchemy import and_, delete, func, insert, select
from sqlalchemy.dialects import sqlite

from mycpaas.domain.webhooks import EVENT_KINDS, AttemptOutcome, EventKind, WebhookAttempt, WebhookEvent
from mycpaas.storage import message_counts, queue
from mycpaas.storage.database import Connection, raw_of
from mycpaas.storage.retention import delete_oldest
from mycpaas.storage.sqlite_fast import ts
from mycpaas.storage.tables import webhook_attempts

_FIELDS = tuple(WebhookAttempt.__dataclass_fields__)
# Public, with attempt_from_row, for the other storage modules that read attempts with queries of their own
# (storage/failures.py, the Debugger's): one definition of which columns make a WebhookAttempt, in its order.
ATTEMPT_COLUMNS = tuple(webhook_attempts.c[name] for name in _FIELDS)
_INSERT = insert(webhook_attempts)
# On SQLite, attempts go to the driver as positional rows (the storage/raw_inserts.py pattern): SQLAlchemy's
# executemany cost ~11 us per attempt before sqlite3 saw it, about as much as the INSERT itself (driver-level
# timing, bench/results/webhooks.txt, 2026-12-07). The statement is SQLAlchemy's own, compiled once; every
# column but created_at is stored as given (text, integers, NULL), created_at as SQLAlchemy's DATETIME text.
_SQLITE_INSERT = _INSERT.compile(dialect=sqlite.dialect(), column_keys=list(_FIELDS), for_executemany=True)
if tuple(_SQLITE_INSERT.positiontup or ()) != _FIELDS or _FIELDS[-1] != "created_at":
    raise RuntimeError("webhook_attempts: the INSERT's parameters must be WebhookAttempt's fields, in order")
_ALL_BUT_CREATED = attrgetter(*_FIELDS[:-1])


def attempt_from_row(row: Sequence[Any]) -> WebhookAttempt:
    """The WebhookAttempt of the values of ATTEMPT_COLUMNS, in that order (positional: a caller that selects
    more columns passes this slice of its row)."""
    attempt = WebhookAttempt(*row)
    attempt.kind = EventKind(attempt.kind)
    attempt.outcome = AttemptOutcome(attempt.outcome)
    return attempt


async def insert_attempts(conn: Connection, attempts: Sequence[WebhookAttempt]) -> None:
    if not attempts:
        return
    raw = raw_of(conn)
    if raw is not None:
        await raw.executemany(
            _SQLITE_INSERT.string,
            [(*_ALL_BUT_CREATED(a), ts(a.created_at)) for a in attempts],
        )
    else:
        await conn.execute(
            _INSERT,
            [{name: getattr(attempt, name) for name in _FIELDS} for attempt in attempts],
        )
    await message_counts.add_attempts(conn, [(a.account_sid, a.created_at, str(a.outcome)) for a in attempts])


async def list_for_message(
    conn: Connection, message_sid: str, limit: int, after_id: int | None = None
) -> list[WebhookAttempt]:
    """Oldest first, so the list reads as a timeline; `after_id` continues a page."""
    query = select(*ATTEMPT_COLUMNS).where(webhook_attempts.c.message_sid == message_sid)
    if after_id is not None:
        query = query.where(webhook_attempts.c.id > after_id)
    rows = await conn.execute(query.order_by(webhook_attempts.c.id).limit(limit))
    return [attempt_from_row(row) for row in rows]


async def latest_attempt_id(conn: Connection, message_sid: str) -> int:
    """The id of the message's latest attempt (0: none yet): attempts are only ever added, so it changes
    exactly when one is. One step down ix_webhook_attempts_message_id."""
    latest = await conn.execute(
        select(func.max(webhook_attempts.c.id)).where(webhook_attempts.c.message_sid == message_sid)
    )
    return int(latest.scalar_one() or 0)


async def cursor_id(conn: Connection, message_sid: str, sid: str) -> int | None:
    return (
        await conn.execute(
            select(webhook_attempts.c.id).where(
                and_(webhook_attempts.c.sid == sid, webhook_attempts.c.message_sid == message_sid)
            )
        )
    ).scalar_one_or_none()


async def delete_for_message(conn: Connection, message_sid: str) -> None:
    await conn.execute(delete(webhook_attempts).where(webhook_attempts.c.message_sid == message_sid))


async def prune_attempts(conn: Connection, before: datetime, limit: int) -> int:
    """Remove up to `limit` attempts made before `before`, oldest first, except those of messages that still
    have a webhook event queued (being sent or waiting for a retry): their log is still being written.
    Returns how many were removed."""
    attempts = webhook_attempts.c
    queued = queue.queued_about(attempts.message_sid, EVENT_KINDS)
    return await delete_oldest(conn, attempts.id, attempts.created_at, before, limit, ~queued)


async def queue_events(
    conn: Connection, events: Iterable[WebhookEvent | None], now: datetime
) -> frozenset[str]:
    """Queue webhook events (None entries are skipped) in the caller's transaction; returns the origins they
    are bound for (empty if there was none), to wake the dispatcher with after the commit.
    A job's ref is the message SID, which keeps the events of one message in order."""
    queued = [e for e in events if e is not None]
    await queue.enqueue(
        conn, [queue.job_row(e.kind.value, e.message_sid, now, e.to_json(), e.origin) for e in queued]
    )
    return frozenset(e.origin for e in queued)


async def redact_queued_events(conn: Connection, message_sid: str) -> None:
    """Blank the message body in webhook events still queued about a message: a redacted text is not sent."""
    for job_id, payload in await queue.payloads(conn, EVENT_KINDS, message_sid):
        event = WebhookEvent.from_json(payload or "")
        if event.params.get("Body"):
            await queue.set_payload(
                conn, job_id, replace(event, params={**event.params, "Body": ""}).to_json()
            )


async def drop_queued_events(conn: Connection, message_sid: str) -> None:
    await queue.delete_for_ref(conn, EVENT_KINDS, message_sid)
