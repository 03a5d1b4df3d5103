"""Recording and reading the audit log. Entries are written in the transaction of the change they record."""

from __future__ import annotations

from datetime import datetime

from mycpaas.domain.audit import Actor, AuditAction, AuditEntry
from mycpaas.services.platform import Platform
from mycpaas.storage import audit as store
from mycpaas.storage.database import Connection


async def record(
    conn: Connection, account_sid: str, action: AuditAction, actor: Actor, now: datetime, target: str = ""
) -> None:
    await store.insert_entry(conn, AuditEntry(account_sid, action, actor.name, actor.address, target, now))


async def recent(platform: Platform, account_sid: str, limit: int = 50) -> list[AuditEntry]:
    async with platform.db.read() as conn:
        return await store.list_entries(conn, account_sid, limit)
