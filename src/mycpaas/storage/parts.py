"""Carrier-side bookkeeping: the id of every submitted part, and receipts that came before their part was known
(the parts of concatenated inbound messages are storage/inbound_parts.py's)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, bindparam, delete, func, insert, select, text, update

from mycpaas.storage.database import Connection, sqlite_driver
from mycpaas.storage.retention import delete_oldest
from mycpaas.storage.sqlite_fast import IN_JSON, json_list, ts
from mycpaas.storage.tables import message_parts, messages, pending_receipts


@dataclass(frozen=True, slots=True)
class SubmittedPart:
    id: int
    message_sid: str
    part: int
    total: int


@dataclass(frozen=True, slots=True)
class PendingReceipt:
    id: int
    carrier: str
    carrier_message_id: str
    alternate_id: str | None
    outcome: str
    attempts: int

    @property
    def ids(self) -> tuple[str, ...]:
        return (self.carrier_message_id, *(self.alternate_id or "").split())


_INSERT_PART = insert(message_parts)
_FIND_PART = (
    select(message_parts.c.id, message_parts.c.message_sid, message_parts.c.part, message_parts.c.total)
    .where(
        and_(
            message_parts.c.carrier == bindparam("carrier"),
            message_parts.c.carrier_message_id.in_(bindparam("ids", expanding=True)),
        )
    )
    .order_by(message_parts.c.id.desc())
    .limit(1)
)


_SQLITE_INSERT_PART = (
    "INSERT INTO message_parts (message_sid, carrier, part, total, carrier_message_id, outcome, created_at) "
    "VALUES (?, ?, ?, ?, ?, NULL, ?)"
)


async def insert_parts(
    conn: Connection, message_sid: str, carrier: str, part_ids: Sequence[str], now: datetime
) -> None:
    await insert_parts_of(conn, [(message_sid, carrier, part_ids)], now)


async def insert_parts_of(
    conn: Connection, submitted: Sequence[tuple[str, str, Sequence[str]]], now: datetime
) -> None:
    """The parts of many messages, each (message sid, carrier, part ids), in one executemany: a statement per
    message was one of the per-message writes left on the send path (bench/results/scale-profile.txt)."""
    driver = sqlite_driver(conn)
    if driver is not None:
        stamp = ts(now)
        driver.executemany(
            _SQLITE_INSERT_PART,
            [
                (message_sid, carrier, number, len(part_ids), part_id, stamp)
                for message_sid, carrier, part_ids in submitted
                for number, part_id in enumerate(part_ids, 1)
            ],
        )
        return
    rows = [
        {
            "message_sid": message_sid,
            "carrier": carrier,
            "part": number,
            "total": len(part_ids),
            "carrier_message_id": part_id,
            "outcome": None,
            "created_at": now,
        }
        for message_sid, carrier, part_ids in submitted
        for number, part_id in enumerate(part_ids, 1)
    ]
    if rows:
        await conn.execute(_INSERT_PART, rows)


_FIND_PARTS = select(
    message_parts.c.id,
    message_parts.c.message_sid,
    message_parts.c.part,
    message_parts.c.total,
    message_parts.c.carrier_message_id,
).where(
    and_(
        message_parts.c.carrier == bindparam("carrier"),
        message_parts.c.carrier_message_id.in_(bindparam("ids", expanding=True)),
    )
)


_SQLITE_FIND_PARTS = (
    "SELECT id, message_sid, part, total, carrier_message_id FROM message_parts "
    f"WHERE carrier = ? AND carrier_message_id IN {IN_JSON}"
)


async def find_parts(conn: Connection, carrier: str, ids: Sequence[str]) -> dict[str, SubmittedPart]:
    """The newest part submitted through `carrier` under each of `ids` that is known, by id."""
    found: dict[str, tuple[int, SubmittedPart]] = {}
    driver = sqlite_driver(conn)
    if driver is not None:
        rows = driver.execute(_SQLITE_FIND_PARTS, (carrier, json_list(dict.fromkeys(ids)))).fetchall()
    else:
        result = await conn.execute(_FIND_PARTS, {"carrier": carrier, "ids": list(dict.fromkeys(ids))})
        rows = [tuple(row) for row in result]
    for part_id, message_sid, number, total, carrier_message_id in rows:
        if carrier_message_id not in found or found[carrier_message_id][0] < part_id:
            found[carrier_message_id] = (part_id, SubmittedPart(part_id, message_sid, number, total))
    return {key: part for key, (_, part) in found.items()}


async def find_part(conn: Connection, carrier: str, ids: Sequence[str]) -> SubmittedPart | None:
    """The newest part submitted through `carrier` under any of `ids` (an SMSC may reuse ids over time)."""
    row = (await conn.execute(_FIND_PART, {"carrier": carrier, "ids": list(ids)})).first()
    return SubmittedPart(row.id, row.message_sid, row.part, row.total) if row else None


_SETTLE_PART = (
    update(message_parts)
    .where(message_parts.c.id == bindparam("part_id"))
    .values(outcome=bindparam("part_outcome"))
)
_PART_OUTCOMES = (
    select(message_parts.c.message_sid, message_parts.c.outcome)
    .where(message_parts.c.message_sid.in_(bindparam("sids", expanding=True)))
    .order_by(message_parts.c.message_sid, message_parts.c.part)
)


async def settle_part(conn: Connection, part_id: int, outcome: str) -> None:
    await settle_parts(conn, [(part_id, outcome)])


async def settle_parts(conn: Connection, outcomes: Sequence[tuple[int, str]]) -> None:
    """Record the outcome of many parts, each (part id, outcome), in one executemany."""
    if not outcomes:
        return
    driver = sqlite_driver(conn)
    if driver is not None:
        driver.executemany("UPDATE message_parts SET outcome = ? WHERE id = ?", [(o, i) for i, o in outcomes])
    else:
        await conn.execute(_SETTLE_PART, [{"part_id": i, "part_outcome": o} for i, o in outcomes])


async def part_outcomes(conn: Connection, message_sid: str) -> list[str | None]:
    return (await parts_outcomes(conn, [message_sid])).get(message_sid, [])


async def parts_outcomes(conn: Connection, message_sids: Sequence[str]) -> dict[str, list[str | None]]:
    """Each message's part outcomes in part order (None: no receipt yet), for many messages in one read."""
    found: dict[str, list[str | None]] = {}
    if not message_sids:
        return found
    driver = sqlite_driver(conn)
    if driver is not None:
        rows = driver.execute(_SQLITE_PART_OUTCOMES, (json_list(dict.fromkeys(message_sids)),)).fetchall()
    else:
        result = await conn.execute(_PART_OUTCOMES, {"sids": list(dict.fromkeys(message_sids))})
        rows = [tuple(row) for row in result]
    for message_sid, outcome in rows:
        found.setdefault(message_sid, []).append(outcome)
    return found


_SQLITE_PART_OUTCOMES = f"SELECT message_sid, outcome FROM message_parts WHERE message_sid IN {IN_JSON} ORDER BY message_sid, part"


async def awaiting_through(conn: Connection, carrier: str) -> tuple[int, datetime | None]:
    """(how many, when the oldest was sent) of the messages still `sent` (awaiting a receipt) that have a part
    submitted through `carrier` (an SMSC account, `Connector.smsc_account`, or the sandbox). Walks the messages awaiting a receipt (a small partial index), not the parts."""
    row = (
        await conn.execute(
            select(
                func.count(func.distinct(messages.c.id)).label("awaiting"),
                func.min(messages.c.sent_at).label("oldest"),
            )
            .select_from(messages.join(message_parts, message_parts.c.message_sid == messages.c.sid))
            # A literal condition, so both databases can use the partial index ix_messages_awaiting_receipt.
            .where(text("messages.status = 'sent'"), message_parts.c.carrier == carrier)
        )
    ).one()
    return int(row.awaiting), row.oldest


_INSERT_PENDING = insert(pending_receipts)


async def keep_pending(
    conn: Connection, receipts: Sequence[tuple[str, Sequence[str], str]], now: datetime
) -> None:
    """Keep receipts, each (carrier, ids, outcome), under the id as reported and its other readings
    (space-separated), in one executemany."""
    if receipts:
        await conn.execute(
            _INSERT_PENDING,
            [
                {
                    "carrier": carrier,
                    "carrier_message_id": ids[0],
                    "alternate_id": " ".join(ids[1:]) or None,
                    "outcome": outcome,
                    "received_at": now,
                    "attempts": 0,
                }
                for carrier, ids, outcome in receipts
            ],
        )


def _pending(row: object) -> PendingReceipt:
    return PendingReceipt(
        row.id,  # type: ignore[attr-defined]
        row.carrier,  # type: ignore[attr-defined]
        row.carrier_message_id,  # type: ignore[attr-defined]
        row.alternate_id,  # type: ignore[attr-defined]
        row.outcome,  # type: ignore[attr-defined]
        row.attempts,  # type: ignore[attr-defined]
    )


# By the id as reported only (ix_pending_receipts_carrier_id). `ids` are every reading of the submitted ids
# (message_id_forms), and a receipt's id in either base is one of them; an OR on the unindexed alternate_id
# scanned the carrier's kept receipts for every message recorded and found nothing more than false candidates
# (a decimal reading equal to another number's hex one), which part_for then had to reject.
_PENDING_FOR = (
    select(pending_receipts)
    .where(
        and_(
            pending_receipts.c.carrier == bindparam("carrier"),
            pending_receipts.c.carrier_message_id.in_(bindparam("ids", expanding=True)),
        )
    )
    .order_by(pending_receipts.c.id)
)


async def pending_for(conn: Connection, carrier: str, ids: Sequence[str]) -> list[PendingReceipt]:
    """Kept receipts reported under any of `ids` through `carrier` (the ids of a whole batch at once)."""
    if not ids:
        return []
    driver = sqlite_driver(conn)
    if driver is not None:
        found = driver.execute(_SQLITE_PENDING_FOR, (carrier, json_list(dict.fromkeys(ids)))).fetchall()
        return [PendingReceipt(*row) for row in found]
    rows = await conn.execute(_PENDING_FOR, {"carrier": carrier, "ids": list(dict.fromkeys(ids))})
    return [_pending(row) for row in rows]


_SQLITE_PENDING_FOR = (
    "SELECT id, carrier, carrier_message_id, alternate_id, outcome, attempts FROM pending_receipts "
    f"WHERE carrier = ? AND carrier_message_id IN {IN_JSON} ORDER BY id"
)


_ANY_PENDING = select(pending_receipts.c.id).limit(1)


async def any_pending(conn: Connection) -> bool:
    """Whether any receipt is kept at all, by any process."""
    driver = sqlite_driver(conn)
    if driver is not None:
        return driver.execute("SELECT 1 FROM pending_receipts LIMIT 1").fetchone() is not None
    return (await conn.execute(_ANY_PENDING)).first() is not None


async def oldest_pending(conn: Connection, limit: int) -> list[PendingReceipt]:
    # Fewest attempts first: receipts that may never match cannot hide newer ones from the sweep.
    rows = await conn.execute(
        select(pending_receipts).order_by(pending_receipts.c.attempts, pending_receipts.c.id).limit(limit)
    )
    return [_pending(row) for row in rows]


async def forget_pending(conn: Connection, ids: Sequence[int]) -> None:
    if ids:
        await conn.execute(delete(pending_receipts).where(pending_receipts.c.id.in_(list(ids))))


async def prune_pending(conn: Connection, before: datetime, limit: int) -> int:
    """Remove up to `limit` kept receipts received before `before`, oldest first (they matched no submitted
    part for that long, and never will). Returns how many were removed."""
    receipts = pending_receipts.c
    return await delete_oldest(conn, receipts.id, receipts.received_at, before, limit)


async def count_attempt(conn: Connection, ids: Sequence[int]) -> None:
    if ids:
        await conn.execute(
            update(pending_receipts)
            .where(pending_receipts.c.id.in_(list(ids)))
            .values(attempts=pending_receipts.c.attempts + 1)
        )
