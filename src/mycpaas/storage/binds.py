"""SMPP bind leases, as rows: one per bind a connector allows (`carrier_binds`: carrier, slot 0..max_binds-1).

A delivery process holds a slot under a lease (`holder`, `locked_until`) and opens its SMPP session only while
it does, so never more sessions are open than the connector allows. Every acquisition raises the slot's `claim`
token; renewing, reporting and releasing act only where holder and claim are still the ones acquired, so a
process whose lease lapsed and was taken over cannot extend or free the new holder's slot.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from mycpaas.storage.database import Connection
from mycpaas.storage.tables import carrier_binds as binds


@dataclass(frozen=True, slots=True)
class Lease:
    carrier: str
    slot: int
    holder: str
    claim: int


@dataclass(frozen=True, slots=True)
class Held:
    """A live lease, as the other processes see it."""

    carrier: str
    slot: int
    holder: str
    bound: bool


@dataclass(frozen=True, slots=True)
class BindState:
    """One slot as the operator sees it: whether a live lease holds it and the session is up, the window in
    use at its last renewal, and its latest bind failure (kept after the slot is released)."""

    carrier: str
    slot: int
    held: bool
    bound: bool
    window_in_use: int
    last_error: str | None
    last_error_at: datetime | None


async def ensure_slots(conn: Connection, carrier: str, count: int) -> None:
    """Create the rows of slots 0..count-1 that do not exist yet. Two processes creating one at once: one
    insert fails on the primary key, and that process tries again at its next round."""
    existing = set((await conn.execute(select(binds.c.slot).where(binds.c.carrier == carrier))).scalars())
    missing = [{"carrier": carrier, "slot": slot} for slot in range(count) if slot not in existing]
    if missing:
        try:
            await conn.execute(binds.insert(), missing)
        except IntegrityError:
            raise SlotRace from None


class SlotRace(Exception):
    """Another process created the same slot row at the same moment."""


async def acquire(
    conn: Connection, carrier: str, count: int, holder: str, now: datetime, until: datetime
) -> Lease | datetime | None:
    """Take the lowest free slot below `count` (never held, released, or its lease lapsed), raising its claim.
    Otherwise the earliest time a held slot's lease lapses (when to try again), or None if there is none."""
    free = (
        select(binds.c.slot)
        .where(
            binds.c.carrier == carrier,
            binds.c.slot < count,
            or_(binds.c.holder.is_(None), binds.c.locked_until.is_(None), binds.c.locked_until < now),
        )
        .order_by(binds.c.slot)
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    slot = (await conn.execute(free)).scalar()
    if slot is None:
        return (
            await conn.execute(
                select(func.min(binds.c.locked_until)).where(binds.c.carrier == carrier, binds.c.slot < count)
            )
        ).scalar()
    claim = (
        await conn.execute(
            update(binds)
            .where(binds.c.carrier == carrier, binds.c.slot == slot)
            .values(holder=holder, claim=binds.c.claim + 1, locked_until=until, bound=False)
            .returning(binds.c.claim)
        )
    ).scalar_one()
    return Lease(carrier, slot, holder, claim)


def _fenced(lease: Lease) -> ColumnElement[bool]:
    return and_(
        binds.c.carrier == lease.carrier,
        binds.c.slot == lease.slot,
        binds.c.holder == lease.holder,
        binds.c.claim == lease.claim,
    )


async def renew(
    conn: Connection,
    lease: Lease,
    until: datetime,
    bound: bool,
    error: str | None,
    now: datetime,
    window_in_use: int = 0,
) -> bool:
    """Extend the lease and report the bind's state (`error`: a new failure to record, if any; the window in
    use); False when the slot is no longer this lease's (taken over after a lapse, or released)."""
    values: dict[str, object] = {"locked_until": until, "bound": bound, "window_in_use": window_in_use}
    if error is not None:
        values.update(last_error=error[:500], last_error_at=now)
    result = await conn.execute(update(binds).where(_fenced(lease)).values(**values))
    return bool(result.rowcount)


async def release(conn: Connection, lease: Lease) -> None:
    """Free the slot at once (the session is closed), if it is still this lease's."""
    await conn.execute(
        update(binds)
        .where(_fenced(lease))
        .values(holder=None, locked_until=None, bound=False, window_in_use=0)
    )


async def release_all(conn: Connection) -> None:
    """Free every slot (only where no other process can hold one: services/binds.forget_dead_holders)."""
    await conn.execute(
        update(binds)
        .where(binds.c.holder.is_not(None))
        .values(holder=None, locked_until=None, bound=False, window_in_use=0)
    )


async def live(conn: Connection, now: datetime) -> list[Held]:
    """Every slot held under a lease that has not lapsed."""
    rows = await conn.execute(
        select(binds.c.carrier, binds.c.slot, binds.c.holder, binds.c.bound).where(
            binds.c.holder.is_not(None), binds.c.locked_until >= now
        )
    )
    return [Held(row.carrier, row.slot, row.holder, bool(row.bound)) for row in rows]


async def states(conn: Connection, now: datetime) -> list[BindState]:
    """Every slot of every connector, by connector and slot (a handful of rows per connector)."""
    held = and_(binds.c.holder.is_not(None), binds.c.locked_until >= now)
    rows = await conn.execute(
        select(
            binds.c.carrier,
            binds.c.slot,
            held.label("held"),
            binds.c.bound,
            binds.c.window_in_use,
            binds.c.last_error,
            binds.c.last_error_at,
        ).order_by(binds.c.carrier, binds.c.slot)
    )
    return [
        BindState(
            row.carrier,
            row.slot,
            bool(row.held),
            bool(row.held) and bool(row.bound),
            int(row.window_in_use) if row.held else 0,
            row.last_error,
            row.last_error_at,
        )
        for row in rows
    ]


async def forget(conn: Connection, carrier: str) -> None:
    """Remove every slot of a connector (it is being removed). A process still holding one finds its lease gone
    at its next renewal and closes the session; the fence holds if the name is added again, since holder ids are
    never reused."""
    await conn.execute(delete(binds).where(binds.c.carrier == carrier))
