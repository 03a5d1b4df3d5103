"""The Debugger's reads: an account's failed messages and failed webhook attempts, newest first.

Both walk a partial index that holds failures only (ix_messages_account_failed, ix_webhook_attempts_account_failed),
so a page reads failures however many delivered rows the tables hold; the index also holds the columns the
filters test, so a failure that does not match is passed over without reading its row. The index's condition is written out as
literal SQL in each query: SQLite uses a partial index only when the query's WHERE implies the index's, which
it cannot prove through bound parameters.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, and_, func, or_, select, text, union_all

from mycpaas.domain.failures import FAILED_OUTCOMES, FAILED_STATUSES, FailureFilter
from mycpaas.domain.messages import Message
from mycpaas.domain.webhooks import WebhookAttempt
from mycpaas.storage.database import Connection
from mycpaas.storage.messages import MESSAGE_COLUMNS, message_from_row
from mycpaas.storage.tables import messages, webhook_attempts
from mycpaas.storage.webhooks import ATTEMPT_COLUMNS, attempt_from_row


def _in(column: str, values: tuple[str, ...]) -> Any:
    return text(f"{column} IN ({', '.join(repr(str(v)) for v in values)})")


_FAILED_MESSAGE = _in("messages.status", tuple(s.value for s in FAILED_STATUSES))
_FAILED_ATTEMPT = _in("webhook_attempts.outcome", tuple(o.value for o in FAILED_OUTCOMES))


def _narrowed(query: Select[Any], where: FailureFilter, error_code: Any, at: Any) -> Select[Any]:
    if where.error_code is not None:
        query = query.where(error_code == where.error_code)
    if where.since is not None:
        query = query.where(at >= where.since)
    if where.until is not None:
        query = query.where(at < where.until)
    return query


async def failed_messages(
    conn: Connection, account_sid: str, where: FailureFilter, limit: int, before_id: int | None = None
) -> list[Message]:
    """Newest first; times are those of the failure (the message's last update)."""
    query = select(*MESSAGE_COLUMNS).where(and_(messages.c.account_sid == account_sid, _FAILED_MESSAGE))
    query = _narrowed(query, where, messages.c.error_code, messages.c.updated_at)
    if where.number is not None:
        query = query.where(or_(messages.c.to_number == where.number, messages.c.from_number == where.number))
    if before_id is not None:
        query = query.where(messages.c.id < before_id)
    rows = await conn.execute(query.order_by(messages.c.id.desc()).limit(limit))
    return [message_from_row(row) for row in rows]


async def failed_attempts(
    conn: Connection, account_sid: str, where: FailureFilter, limit: int, before_id: int | None = None
) -> list[tuple[WebhookAttempt, str | None, str | None]]:
    """Newest first, each with its message's To and From (None once the message is gone)."""
    attempts = webhook_attempts.c
    query: Select[Any] = (
        select(*ATTEMPT_COLUMNS, messages.c.to_number, messages.c.from_number)
        .select_from(webhook_attempts.outerjoin(messages, messages.c.sid == attempts.message_sid))
        .where(and_(attempts.account_sid == account_sid, _FAILED_ATTEMPT))
    )
    query = _narrowed(query, where, attempts.error_code, attempts.created_at)
    if where.number is not None:
        query = query.where(await _of_number(conn, account_sid, where.number))
    if before_id is not None:
        query = query.where(attempts.id < before_id)
    rows = await conn.execute(query.order_by(attempts.id.desc()).limit(limit))
    width = len(ATTEMPT_COLUMNS)
    return [(attempt_from_row(row[:width]), row[width], row[width + 1]) for row in rows]


FEW_MESSAGES = 5000


async def _of_number(conn: Connection, account_sid: str, number: str) -> Any:
    """Attempts of the messages to or from `number`, said in the way that reads least. Most numbers are on few
    messages: their sids come from ix_messages_account_to_id / _from_id and the failures are looked up by them.
    A number on many (the account's own sender) has failures all along the partial index: walking it in order
    and testing each failure's message finds a page soon. Which is which is counted, up to FEW_MESSAGES + 1
    entries of each index: 1M messages, 20,000 failed attempts, SQLite: either case a few ms; the one way alone
    took 0.2 s (a number on rare messages, walking) or 2 s (the sender of all, through its sids)."""
    sids = [
        select(messages.c.sid).where(and_(messages.c.account_sid == account_sid, column == number))
        for column in (messages.c.to_number, messages.c.from_number)
    ]
    counted = 0
    for query in sids:
        bounded = select(func.count()).select_from(query.limit(FEW_MESSAGES + 1).subquery())
        counted += (await conn.execute(bounded)).scalar_one()
    if counted <= FEW_MESSAGES:
        return webhook_attempts.c.message_sid.in_(union_all(*sids))
    return or_(messages.c.to_number == number, messages.c.from_number == number)


async def attempt_of_account(
    conn: Connection, account_sid: str, sid: str
) -> tuple[int, WebhookAttempt] | None:
    """One attempt of the account, with its id (the list's cursor); None if it is another account's."""
    attempts = webhook_attempts.c
    row = (
        await conn.execute(
            select(attempts.id, *ATTEMPT_COLUMNS).where(
                and_(attempts.sid == sid, attempts.account_sid == account_sid)
            )
        )
    ).first()
    return (row[0], attempt_from_row(row[1:])) if row is not None else None
