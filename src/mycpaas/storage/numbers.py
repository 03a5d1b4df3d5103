"""Phone numbers owned by accounts, as rows."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row, bindparam, delete, insert, select, update

from mycpaas.domain.numbers import IncomingNumber, NumberOwner
from mycpaas.storage.database import Connection
from mycpaas.storage.tables import phone_numbers

_FIELDS = tuple(IncomingNumber.__dataclass_fields__)


def _number(row: Row[Any]) -> IncomingNumber:
    return IncomingNumber(**{name: getattr(row, name) for name in _FIELDS})


async def insert_number(conn: Connection, number: IncomingNumber) -> None:
    await conn.execute(insert(phone_numbers).values(**{name: getattr(number, name) for name in _FIELDS}))


async def get_number(conn: Connection, sid: str) -> IncomingNumber | None:
    row = (await conn.execute(select(phone_numbers).where(phone_numbers.c.sid == sid))).first()
    return _number(row) if row else None


async def find_by_phone_number(
    conn: Connection, phone_number: str, for_update: bool = False
) -> IncomingNumber | None:
    """`for_update` locks the number's row to the end of the transaction (PostgreSQL; SQLite's writes are
    serialised already): what must not interleave for one number, across processes, waits on it."""
    query = select(phone_numbers).where(phone_numbers.c.phone_number == phone_number)
    row = (await conn.execute(query.with_for_update() if for_update else query)).first()
    return _number(row) if row else None


_OWNER = select(phone_numbers.c.account_sid).where(phone_numbers.c.phone_number == bindparam("number"))


async def owner_of(conn: Connection, phone_number: str) -> str | None:
    return (await conn.execute(_OWNER, {"number": phone_number})).scalar_one_or_none()


_SENDER = select(phone_numbers.c.account_sid, phone_numbers.c.status_callback).where(
    phone_numbers.c.phone_number == bindparam("number")
)


async def number_owner(conn: Connection, phone_number: str) -> NumberOwner | None:
    """What sending from `phone_number` needs of it (two columns, not the row)."""
    row = (await conn.execute(_SENDER, {"number": phone_number})).first()
    return NumberOwner(row.account_sid, row.status_callback) if row else None


async def taken_numbers(conn: Connection, prefix: str) -> set[str]:
    rows = await conn.execute(
        select(phone_numbers.c.phone_number).where(phone_numbers.c.phone_number.startswith(prefix))
    )
    return {row.phone_number for row in rows}


async def list_numbers(
    conn: Connection,
    account_sid: str,
    friendly_name: str | None,
    phone_number_like: str | None,
    after_sid: str | None,
    limit: int,
) -> list[IncomingNumber]:
    query = select(phone_numbers).where(phone_numbers.c.account_sid == account_sid)
    if friendly_name is not None:
        query = query.where(phone_numbers.c.friendly_name == friendly_name)
    if phone_number_like is not None:
        query = query.where(phone_numbers.c.phone_number.like(phone_number_like))
    if after_sid is not None:
        query = query.where(phone_numbers.c.sid > after_sid)
    rows = (await conn.execute(query.order_by(phone_numbers.c.sid).limit(limit))).all()
    return [_number(row) for row in rows]


async def update_number(conn: Connection, sid: str, **values: object) -> None:
    await conn.execute(update(phone_numbers).where(phone_numbers.c.sid == sid).values(**values))


async def delete_number(conn: Connection, sid: str) -> None:
    await conn.execute(delete(phone_numbers).where(phone_numbers.c.sid == sid))
