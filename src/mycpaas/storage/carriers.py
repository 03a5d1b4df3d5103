"""Carrier connectors (SMSC connections), as rows.

The password column holds the sealed value: this module passes it through as given and never sees the clear
password (the service seals and unseals it). Prefixes are stored comma-separated ("" = every destination).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy import delete as sql_delete
from sqlalchemy import insert as sql_insert
from sqlalchemy import update as sql_update
from sqlalchemy.exc import IntegrityError

from mycpaas.domain.carriers import Coding, Concatenation, Connector
from mycpaas.storage.database import Connection
from mycpaas.storage.tables import carriers


class NameTaken(Exception):
    pass


def _prefixes(value: str) -> tuple[str, ...]:
    return tuple(p for p in value.split(",") if p)


def _connector(row: Row[Any]) -> Connector:
    """The connector with its password still sealed (the service unseals it)."""
    return Connector(
        name=row.name,
        host=row.host,
        port=row.port,
        system_id=row.system_id,
        password=row.password_sealed,
        system_type=row.system_type,
        bind_type=row.bind_type,
        window=row.window,
        max_mps=row.max_mps,
        max_binds=row.max_binds,
        source_ton=row.source_ton,
        source_npi=row.source_npi,
        dest_ton=row.dest_ton,
        dest_npi=row.dest_npi,
        coding=Coding(row.coding),
        concatenation=Concatenation(row.concatenation),
        prefixes=_prefixes(row.prefixes),
        priority=row.priority,
        enabled=bool(row.enabled),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _values(connector: Connector, password_sealed: str) -> dict[str, object]:
    return {
        "host": connector.host,
        "port": connector.port,
        "system_id": connector.system_id,
        "password_sealed": password_sealed,
        "system_type": connector.system_type,
        "bind_type": connector.bind_type,
        "window": connector.window,
        "max_mps": connector.max_mps,
        "max_binds": connector.max_binds,
        "source_ton": connector.source_ton,
        "source_npi": connector.source_npi,
        "dest_ton": connector.dest_ton,
        "dest_npi": connector.dest_npi,
        "coding": connector.coding.value,
        "concatenation": connector.concatenation.value,
        "prefixes": ",".join(connector.prefixes),
        "priority": connector.priority,
        "enabled": connector.enabled,
    }


async def insert(conn: Connection, connector: Connector, password_sealed: str, now: datetime) -> None:
    """Raises NameTaken (the unique index decides, so two concurrent additions cannot both pass)."""
    try:
        await conn.execute(
            sql_insert(carriers).values(
                name=connector.name, created_at=now, updated_at=now, **_values(connector, password_sealed)
            )
        )
    except IntegrityError:
        raise NameTaken from None


async def update(conn: Connection, connector: Connector, password_sealed: str, now: datetime) -> bool:
    """Replace every field of the connector named `connector.name`; False if there is none."""
    result = await conn.execute(
        sql_update(carriers)
        .where(carriers.c.name == connector.name)
        .values(updated_at=now, **_values(connector, password_sealed))
    )
    return bool(result.rowcount)


async def delete(conn: Connection, name: str) -> bool:
    result = await conn.execute(sql_delete(carriers).where(carriers.c.name == name))
    return bool(result.rowcount)


async def is_enabled(conn: Connection, name: str) -> bool:
    """Whether the connector exists and is enabled (read in the caller's transaction)."""
    row = (await conn.execute(select(carriers.c.enabled).where(carriers.c.name == name))).first()
    return bool(row and row.enabled)


async def get(conn: Connection, name: str) -> Connector | None:
    """The connector, its `password` field holding the sealed value."""
    row = (await conn.execute(select(carriers).where(carriers.c.name == name))).first()
    return _connector(row) if row else None


async def list_all(conn: Connection) -> list[Connector]:
    """Every connector by priority then name, each `password` field holding the sealed value."""
    rows = (await conn.execute(select(carriers).order_by(carriers.c.priority, carriers.c.name))).all()
    return [_connector(row) for row in rows]
