"""Rate-limited senders' timelines (`sender_slots`), read and written inside the transaction that starts a
batch of sends, so every delivery process takes its slots from one timeline per sender.

A batch's senders are created if new (a first message of two processes at once must not make two rows),
then locked in sender order (two processes locking several senders cannot deadlock), then written back:
three statements per batch, whatever its size. Unlimited senders never reach this module.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime

from sqlalchemy import and_, bindparam, delete, or_, select, text, update

from mycpaas.domain.senders import Timeline
from mycpaas.storage.database import Connection
from mycpaas.storage.tables import sender_slots

_EPOCH = datetime(1970, 1, 1)
_CREATE = text("INSERT INTO sender_slots (sender, next_at) VALUES (:sender, :next_at) ON CONFLICT DO NOTHING")
_LOCK = (
    select(sender_slots.c.sender, sender_slots.c.next_at, sender_slots.c.last_at)
    .where(sender_slots.c.sender.in_(bindparam("senders", expanding=True)))
    .order_by(sender_slots.c.sender)
    .with_for_update()
)
_SAVE = (
    update(sender_slots)
    .where(sender_slots.c.sender == bindparam("b_sender"))
    .values(next_at=bindparam("b_next_at"), last_at=bindparam("b_last_at"))
)


async def lock(conn: Connection, senders: Collection[str]) -> dict[str, Timeline]:
    """The senders' timelines, locked until the transaction ends."""
    if not senders:
        return {}
    ordered = sorted(senders)
    await conn.execute(_CREATE, [{"sender": sender, "next_at": _EPOCH} for sender in ordered])
    rows = await conn.execute(_LOCK, {"senders": ordered})
    return {row.sender: Timeline(row.next_at, row.last_at) for row in rows}


async def save(conn: Connection, lines: Mapping[str, Timeline]) -> None:
    if lines:
        await conn.execute(
            _SAVE,
            [
                {"b_sender": sender, "b_next_at": line.next_at or _EPOCH, "b_last_at": line.last_at}
                for sender, line in sorted(lines.items())
            ],
        )


async def forget_idle(conn: Connection, before: datetime) -> None:
    await conn.execute(
        delete(sender_slots).where(
            and_(
                sender_slots.c.next_at < before,
                or_(sender_slots.c.last_at.is_(None), sender_slots.c.last_at < before),
            )
        )
    )
