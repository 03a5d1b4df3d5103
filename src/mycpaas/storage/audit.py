"""The audit log, as rows."""

from __future__ import annotations

from sqlalchemy import insert, select

from mycpaas.domain.audit import AuditAction, AuditEntry
from mycpaas.storage.database import Connection
from mycpaas.storage.tables import audit_log


async def insert_entry(conn: Connection, entry: AuditEntry) -> None:
    await conn.execute(
        insert(audit_log).values(
            account_sid=entry.account_sid,
            action=entry.action.value,
            actor=entry.actor[:300],
            address=entry.address[:64],
            target=entry.target[:64],
            created_at=entry.created_at,
        )
    )


async def list_entries(conn: Connection, account_sid: str, limit: int) -> list[AuditEntry]:
    rows = (
        await conn.execute(
            select(audit_log)
            .where(audit_log.c.account_sid == account_sid)
            .order_by(audit_log.c.id.desc())
            .limit(limit)
        )
    ).all()
    return [
        AuditEntry(
            account_sid=row.account_sid,
            action=AuditAction(row.action),
            actor=row.actor,
            address=row.address,
            target=row.target,
            created_at=row.created_at,
        )
        for row in rows
    ]
