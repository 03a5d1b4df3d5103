"""Named values of the platform itself (`platform_state`), and the sealed values a new one is judged against.

A value is set once: two processes setting the same name at once both try the insert, the primary key lets one
win, and each then reads back the value that stands (services/server_secret.py). A turn (`take_turn`) is a row
whose `updated_at` says when some process last took it: a chore that one process of many should do now and
then (services/housekeeping.py).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from mycpaas.storage.database import Connection
from mycpaas.storage.tables import accounts, carriers, platform_state


class AlreadySet(Exception):
    """Another process set the value first."""


async def get(conn: Connection, name: str) -> str | None:
    result = await conn.execute(select(platform_state.c.value).where(platform_state.c.name == name))
    value: str | None = result.scalar_one_or_none()
    return value


async def insert_new(conn: Connection, name: str, value: str, now: datetime) -> None:
    """Raises AlreadySet (which ends the caller's transaction) when the name has a value already."""
    try:
        await conn.execute(insert(platform_state).values(name=name, value=value, updated_at=now))
    except IntegrityError:
        raise AlreadySet from None


async def put(conn: Connection, name: str, value: str, now: datetime) -> None:
    """Set `name` to `value`, in the caller's transaction (for a value one writer at a time keeps)."""
    where = platform_state.c.name == name
    changed = await conn.execute(update(platform_state).where(where).values(value=value, updated_at=now))
    if changed.rowcount == 0:
        await conn.execute(insert(platform_state).values(name=name, value=value, updated_at=now))


async def take_turn(conn: Connection, name: str, holder: str, now: datetime, due_before: datetime) -> bool:
    """Take the turn `name` if nobody took it since `due_before` (the row then says `holder`, `now`). Of
    processes trying at once, one gets it: the conditional UPDATE, or for the first turn the primary key
    (AlreadySet, which ends the caller's transaction)."""
    taken = await conn.execute(
        update(platform_state)
        .where(platform_state.c.name == name, platform_state.c.updated_at <= due_before)
        .values(value=holder, updated_at=now)
    )
    if taken.rowcount:
        return True
    if await get(conn, name) is not None:
        return False
    await insert_new(conn, name, holder, now)
    return True


async def one_sealed_token(conn: Connection) -> tuple[str, str] | None:
    """(account SID, sealed primary Auth Token) of the oldest account, or None when there is no account."""
    result = await conn.execute(
        select(accounts.c.sid, accounts.c.primary_token_sealed)
        .order_by(accounts.c.created_at, accounts.c.sid)
        .limit(1)
    )
    row = result.first()
    return (row.sid, row.primary_token_sealed) if row is not None else None


async def one_sealed_carrier_password(conn: Connection) -> tuple[str, str] | None:
    """(connector name, sealed SMPP password) of one carrier connector, or None when there is none."""
    result = await conn.execute(
        select(carriers.c.name, carriers.c.password_sealed).order_by(carriers.c.id).limit(1)
    )
    row = result.first()
    return (row.name, row.password_sealed) if row is not None else None
