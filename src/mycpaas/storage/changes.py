"""The change signal's rows: one version per topic, raised in the transaction of the change it announces."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, String, bindparam, select, text

from mycpaas.storage.database import Connection
from mycpaas.storage.tables import change_versions

_VERSIONS = select(change_versions.c.topic, change_versions.c.version)


# One statement, the same on SQLite (3.24+) and PostgreSQL: the first change of a topic inserts its row, and two
# first changes at once cannot both insert (the second waits for the first, then raises its version): an update
# followed by an insert would fail one of them on the primary key.
_BUMP = text(
    "INSERT INTO change_versions (topic, version, changed_at) VALUES (:topic, 1, :now) "
    "ON CONFLICT (topic) DO UPDATE SET version = change_versions.version + 1, changed_at = excluded.changed_at"
).bindparams(bindparam("topic", type_=String()), bindparam("now", type_=DateTime()))


async def bump(conn: Connection, topic: str, now: datetime) -> None:
    """Raise `topic`'s version in the caller's transaction: other processes see it once that commits."""
    await conn.execute(_BUMP, {"topic": topic, "now": now})


async def versions(conn: Connection) -> dict[str, int]:
    """Every topic's version (a topic never changed is absent: version 0)."""
    return {row.topic: row.version for row in await conn.execute(_VERSIONS)}
