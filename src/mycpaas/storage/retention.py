"""Removing rows past their retention, a batch at a time: what every housekeeping task's storage does
(services/housekeeping.py)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, ColumnElement, delete, select

from mycpaas.storage.database import Connection


async def delete_oldest(
    conn: Connection,
    key: Column[object],
    age: Column[object],
    before: datetime,
    limit: int,
    *keep_unless: ColumnElement[bool],
) -> int:
    """Delete up to `limit` rows of `key`'s table whose `age` is before `before` (and that meet every
    `keep_unless` condition), oldest first, through the index on `age`; returns how many.

    The age is checked again on the rows deleted: on PostgreSQL a row changed between the subquery's snapshot
    and the delete (a fingerprint renewed by a claim) is re-checked against the outer condition only."""
    oldest = select(key).where(age < before, *keep_unless).order_by(age).limit(limit)
    result = await conn.execute(delete(key.table).where(key.in_(oldest.scalar_subquery()), age < before))
    return int(result.rowcount or 0)
