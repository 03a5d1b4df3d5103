"""The parts of concatenated inbound messages, held until the last one arrives or until they are too old."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, delete, func, insert, select

from mycpaas.domain.alphabets import Piece
from mycpaas.storage.database import Connection
from mycpaas.storage.tables import inbound_parts


@dataclass(frozen=True, slots=True)
class PartGroup:
    """The parts stored for one concatenated message (one sender, reference and part count)."""

    carrier: str
    source: str
    destination: str
    reference: int
    total: int


def _same(group: PartGroup) -> ColumnElement[bool]:
    return and_(
        inbound_parts.c.carrier == group.carrier,
        inbound_parts.c.source == group.source,
        inbound_parts.c.destination == group.destination,
        inbound_parts.c.reference == group.reference,
        inbound_parts.c.total == group.total,
    )


def _piece(row: object) -> Piece:
    payload = row.payload  # type: ignore[attr-defined]
    if payload is None:
        return str(row.text or "")  # type: ignore[attr-defined]  # stored before 0008: decoded alone
    return (bytes(payload), int(row.data_coding or 0))  # type: ignore[attr-defined]


_COLUMNS = (
    inbound_parts.c.id,
    inbound_parts.c.seqnum,
    inbound_parts.c.text,
    inbound_parts.c.payload,
    inbound_parts.c.data_coding,
)


async def add_inbound_part(
    conn: Connection, group: PartGroup, number: int, payload: bytes, coding: int, now: datetime
) -> list[Piece] | None:
    """Store one part; when every part of its message is here, remove them and return them in order."""
    await conn.execute(
        insert(inbound_parts),
        {
            "carrier": group.carrier,
            "source": group.source,
            "destination": group.destination,
            "reference": group.reference,
            "total": group.total,
            "seqnum": number,
            "text": None,
            "payload": payload,
            "data_coding": coding,
            "received_at": now,
        },
    )
    rows = (
        await conn.execute(
            select(*_COLUMNS).where(_same(group)).order_by(inbound_parts.c.seqnum, inbound_parts.c.id)
        )
    ).all()
    pieces: dict[int, Piece] = {}
    for row in rows:
        pieces[row.seqnum] = _piece(row)  # a redelivered part counts once; the newest wins over a stale one
    if set(pieces) != set(range(1, group.total + 1)):
        return None
    await conn.execute(delete(inbound_parts).where(inbound_parts.c.id.in_([row.id for row in rows])))
    return [pieces[n] for n in range(1, group.total + 1)]


async def stale_groups(conn: Connection, received_before: datetime, limit: int) -> list[PartGroup]:
    """Groups whose first part arrived before `received_before`, oldest first."""
    key = (
        inbound_parts.c.carrier,
        inbound_parts.c.source,
        inbound_parts.c.destination,
        inbound_parts.c.reference,
        inbound_parts.c.total,
    )
    first = func.min(inbound_parts.c.received_at)
    rows = await conn.execute(
        select(*key).group_by(*key).having(first < received_before).order_by(first).limit(limit)
    )
    return [PartGroup(r.carrier, r.source, r.destination, r.reference, r.total) for r in rows]


async def take_group(conn: Connection, group: PartGroup) -> dict[int, Piece] | None:
    """Remove a group's parts and return what they hold by part number (a part stored twice counts once);
    None if another transaction took them first. Taking only some of them (another transaction took the rest
    meanwhile) raises, so that the caller's transaction rolls back rather than commit deleted parts that no
    message holds; the number row's lock makes that unreachable in practice."""
    rows = (
        await conn.execute(
            select(*_COLUMNS).where(_same(group)).order_by(inbound_parts.c.seqnum, inbound_parts.c.id)
        )
    ).all()
    if not rows:
        return None
    deleted = await conn.execute(delete(inbound_parts).where(inbound_parts.c.id.in_([r.id for r in rows])))
    if deleted.rowcount == 0:
        return None  # another process flushed or completed this group meanwhile; its transaction wins
    if deleted.rowcount != len(rows):
        raise RuntimeError("inbound parts were taken by two transactions at once; rolled back")
    return {row.seqnum: _piece(row) for row in rows}
