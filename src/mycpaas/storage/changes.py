"""The change signal's rows: one version per topic, raised in the transaction of the change it announces."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update

from mycpaas.storage.database import Connection
from mycpaas.storage.tables import change_versions

_VERSIONS = select(change_versions.c.topic, change_versions.c.version)


async def bump(conn: Connection, topic: str, now: datetime) -> None:
    """Raise `topic`'s version in the caller's transaction: other processes see it once that commits."""
    result = await conn.execute(
        update(change_versions)
        .where(change_versions.c.topic == topic)
        .values(version=change_versions.c.version + 1, changed_at=now)
    )
    if result.rowcount == 0:
        # The first change of this topic. Two first changes at once: one insert fails on the primary key and
        # its transaction is retried by the caller like any conflict; topics are created once per database.
        await conn.execute(change_versions.insert().values(topic=topic, version=1, changed_at=now))


async def versions(conn: Connection) -> dict[str, int]:
    """Every topic's version (a topic never changed is absent: version 0)."""
    return {row.topic: row.version for row in await conn.execute(_VERSIONS)}
