"""Messaging Services, their pool numbers, alpha senders and sticky-sender rows, as rows."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Row, delete, insert, select, update

from mycpaas.domain.messaging_services import AlphaSender, MessagingService, PoolNumber, StickySender
from mycpaas.storage.database import Connection
from mycpaas.storage.tables import (
    messaging_service_alpha_senders as alphas,
)
from mycpaas.storage.tables import (
    messaging_service_numbers as links,
)
from mycpaas.storage.tables import (
    messaging_service_sticky_senders as sticky,
)
from mycpaas.storage.tables import (
    messaging_services as services,
)
from mycpaas.storage.tables import (
    phone_numbers,
)

_FIELDS = tuple(MessagingService.__dataclass_fields__)


def _service(row: Row[Any]) -> MessagingService:
    return MessagingService(**{name: getattr(row, name) for name in _FIELDS})


async def insert_service(conn: Connection, service: MessagingService) -> None:
    await conn.execute(insert(services).values(**{name: getattr(service, name) for name in _FIELDS}))


async def get_service(conn: Connection, sid: str, for_update: bool = False) -> MessagingService | None:
    """`for_update` locks the service's row (PostgreSQL) so that adding to a pool cannot race its deletion."""
    query = select(services).where(services.c.sid == sid)
    row = (await conn.execute(query.with_for_update() if for_update else query)).first()
    return _service(row) if row else None


async def list_services(
    conn: Connection, account_sid: str, after_sid: str | None, limit: int
) -> list[MessagingService]:
    query = select(services).where(services.c.account_sid == account_sid)
    if after_sid is not None:
        query = query.where(services.c.sid > after_sid)
    rows = (await conn.execute(query.order_by(services.c.sid).limit(limit))).all()
    return [_service(row) for row in rows]


async def update_service(conn: Connection, sid: str, **values: object) -> None:
    await conn.execute(update(services).where(services.c.sid == sid).values(**values))


async def delete_service(conn: Connection, sid: str) -> None:
    """The service and everything hanging off it (pool links, alpha sender, sticky rows)."""
    await conn.execute(delete(sticky).where(sticky.c.service_sid == sid))
    await conn.execute(delete(links).where(links.c.service_sid == sid))
    await conn.execute(delete(alphas).where(alphas.c.service_sid == sid))
    await conn.execute(delete(services).where(services.c.sid == sid))


# A pool's numbers are its service's account's only: a link whose number moved to another account (which the
# transfer's leave_pool prevents) is never read, so the old account's service can never send from it.
_POOL = (
    select(
        phone_numbers.c.sid,
        phone_numbers.c.account_sid,
        links.c.service_sid,
        phone_numbers.c.phone_number,
        links.c.created_at,
    )
    .join_from(links, phone_numbers, links.c.phone_number_sid == phone_numbers.c.sid)
    .join(
        services,
        (services.c.sid == links.c.service_sid) & (services.c.account_sid == phone_numbers.c.account_sid),
    )
)


def _pool_number(row: Row[Any]) -> PoolNumber:
    return PoolNumber(row.sid, row.account_sid, row.service_sid, row.phone_number, row.created_at)


async def service_of_number(conn: Connection, phone_number_sid: str) -> str | None:
    query = select(links.c.service_sid).where(links.c.phone_number_sid == phone_number_sid)
    return (await conn.execute(query)).scalar_one_or_none()


async def add_number(conn: Connection, service_sid: str, phone_number_sid: str, now: datetime) -> None:
    await conn.execute(
        insert(links).values(phone_number_sid=phone_number_sid, service_sid=service_sid, created_at=now)
    )


async def get_pool_number(conn: Connection, service_sid: str, phone_number_sid: str) -> PoolNumber | None:
    query = _POOL.where(links.c.service_sid == service_sid, links.c.phone_number_sid == phone_number_sid)
    row = (await conn.execute(query)).first()
    return _pool_number(row) if row else None


async def list_pool_numbers(
    conn: Connection, service_sid: str, after_sid: str | None = None, limit: int | None = None
) -> list[PoolNumber]:
    query = _POOL.where(links.c.service_sid == service_sid)
    if after_sid is not None:
        query = query.where(links.c.phone_number_sid > after_sid)
    query = query.order_by(links.c.phone_number_sid)
    if limit is not None:
        query = query.limit(limit)
    return [_pool_number(row) for row in (await conn.execute(query)).all()]


async def remove_number(conn: Connection, phone_number_sid: str) -> None:
    """The number leaves whatever pool it is in, and every sticky assignment to it goes with it."""
    await conn.execute(delete(sticky).where(sticky.c.phone_number_sid == phone_number_sid))
    await conn.execute(delete(links).where(links.c.phone_number_sid == phone_number_sid))


async def numbers_outside_pools(conn: Connection, account_sid: str, limit: int) -> list[tuple[str, str]]:
    """(sid, phone number) of up to `limit` of the account's numbers that are in no pool, in number order."""
    query = (
        select(phone_numbers.c.sid, phone_numbers.c.phone_number)
        .where(
            phone_numbers.c.account_sid == account_sid,
            phone_numbers.c.sid.not_in(select(links.c.phone_number_sid)),
        )
        .order_by(phone_numbers.c.phone_number)
        .limit(limit)
    )
    return [(row.sid, row.phone_number) for row in (await conn.execute(query)).all()]


async def recent_sticky_senders(conn: Connection, service_sid: str, limit: int) -> list[StickySender]:
    """The service's sticky assignments, most recently used first."""
    query = (
        select(
            sticky.c.to_number, sticky.c.phone_number_sid, phone_numbers.c.phone_number, sticky.c.last_used_at
        )
        .join_from(sticky, phone_numbers, sticky.c.phone_number_sid == phone_numbers.c.sid)
        .where(sticky.c.service_sid == service_sid)
        .order_by(sticky.c.last_used_at.desc(), sticky.c.to_number)
        .limit(limit)
    )
    return [
        StickySender(row.to_number, row.phone_number_sid, row.phone_number, row.last_used_at)
        for row in (await conn.execute(query)).all()
    ]


def _alpha(row: Row[Any], account_sid: str) -> AlphaSender:
    return AlphaSender(row.sid, account_sid, row.service_sid, row.alpha_sender, row.created_at)


async def insert_alpha_sender(conn: Connection, alpha: AlphaSender) -> None:
    await conn.execute(
        insert(alphas).values(
            sid=alpha.sid,
            service_sid=alpha.service_sid,
            alpha_sender=alpha.alpha_sender,
            created_at=alpha.created_at,
        )
    )


async def alpha_sender_of(conn: Connection, service: MessagingService) -> AlphaSender | None:
    row = (await conn.execute(select(alphas).where(alphas.c.service_sid == service.sid))).first()
    return _alpha(row, service.account_sid) if row else None


async def delete_alpha_sender(conn: Connection, sid: str) -> None:
    await conn.execute(delete(alphas).where(alphas.c.sid == sid))


async def lock_number_owner(conn: Connection, phone_number_sid: str) -> str | None:
    """The account owning the number, its row locked to the end of the transaction (PostgreSQL; SQLite's writes
    are serialised): adding it to a pool cannot interleave with its release, transfer or another add."""
    query = (
        select(phone_numbers.c.account_sid).where(phone_numbers.c.sid == phone_number_sid).with_for_update()
    )
    return (await conn.execute(query)).scalar_one_or_none()


async def remove_account_numbers(conn: Connection, account_sid: str) -> None:
    """Every number of the account leaves its pool, with its sticky assignments (before the numbers are released)."""
    owned_rows = select(phone_numbers.c.sid).where(phone_numbers.c.account_sid == account_sid)
    await conn.execute(owned_rows.with_for_update())  # as lock_number_owner: an add_number racing this waits
    owned = owned_rows.scalar_subquery()
    await conn.execute(delete(sticky).where(sticky.c.phone_number_sid.in_(owned)))
    await conn.execute(delete(links).where(links.c.phone_number_sid.in_(owned)))


async def sticky_numbers(conn: Connection, service_sid: str, to_numbers: list[str]) -> dict[str, str]:
    """Destination -> the pool number (PN…) that last served it through the service."""
    query = select(sticky.c.to_number, sticky.c.phone_number_sid).where(
        sticky.c.service_sid == service_sid, sticky.c.to_number.in_(to_numbers)
    )
    return {row.to_number: row.phone_number_sid for row in (await conn.execute(query)).all()}


async def set_sticky(
    conn: Connection, service_sid: str, to_number: str, phone_number_sid: str, now: datetime
) -> None:
    """Record which number served `to_number`. The caller holds the service's row lock (`get_service(...,
    for_update=True)`), so no other transaction inserts the same destination between the two statements."""
    changed = await conn.execute(
        update(sticky)
        .where(sticky.c.service_sid == service_sid, sticky.c.to_number == to_number)
        .values(phone_number_sid=phone_number_sid, last_used_at=now)
    )
    if changed.rowcount == 0:
        await conn.execute(
            insert(sticky).values(
                service_sid=service_sid,
                to_number=to_number,
                phone_number_sid=phone_number_sid,
                last_used_at=now,
            )
        )
