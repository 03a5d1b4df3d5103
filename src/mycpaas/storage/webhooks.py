"""The webhook attempt log, as rows. Pending webhook events themselves live in the job queue."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, delete, insert, select

from mycpaas.domain.webhooks import AttemptOutcome, EventKind, WebhookAttempt
from mycpaas.storage.database import Connection
from mycpaas.storage.tables import webhook_attempts

_FIELDS = tuple(WebhookAttempt.__dataclass_fields__)
_COLUMNS = [webhook_attempts.c[name] for name in _FIELDS]
_INSERT = insert(webhook_attempts)


def _attempt(row: Sequence[Any]) -> WebhookAttempt:
    attempt = WebhookAttempt(*row)
    attempt.kind = EventKind(attempt.kind)
    attempt.outcome = AttemptOutcome(attempt.outcome)
    return attempt


async def insert_attempts(conn: Connection, attempts: Sequence[WebhookAttempt]) -> None:
    if attempts:
        await conn.execute(
            _INSERT,
            [{name: getattr(attempt, name) for name in _FIELDS} for attempt in attempts],
        )


async def list_for_message(
    conn: Connection, message_sid: str, limit: int, after_id: int | None = None
) -> list[WebhookAttempt]:
    """Oldest first, so the list reads as a timeline; `after_id` continues a page."""
    query = select(*_COLUMNS).where(webhook_attempts.c.message_sid == message_sid)
    if after_id is not None:
        query = query.where(webhook_attempts.c.id > after_id)
    rows = await conn.execute(query.order_by(webhook_attempts.c.id).limit(limit))
    return [_attempt(row) for row in rows]


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
