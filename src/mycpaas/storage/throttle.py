"""Failure counts shared by every process (`throttle_failures`): one row per scope, key and time bucket.

Processes add their failures in batches and read back the totals of the keys they added to; buckets older
than a throttle's window are deleted. Rows are written in (key, bucket) order, so two processes adding to
the same keys lock them in one order and cannot deadlock.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from sqlalchemy import and_, bindparam, delete, select, text

from mycpaas.storage.database import Connection
from mycpaas.storage.tables import throttle_failures

# The same statement on SQLite (3.24+) and PostgreSQL; executed once per batch with every row's parameters.
_ADD = text(
    "INSERT INTO throttle_failures (scope, key, bucket, failures) VALUES (:scope, :key, :bucket, :n) "
    "ON CONFLICT (scope, key, bucket) DO UPDATE SET failures = throttle_failures.failures + excluded.failures"
)

_TOTALS = select(throttle_failures.c.key, throttle_failures.c.bucket, throttle_failures.c.failures).where(
    and_(
        throttle_failures.c.scope == bindparam("scope"),
        throttle_failures.c.key.in_(bindparam("keys", expanding=True)),
        throttle_failures.c.bucket >= bindparam("since"),
    )
)


async def add_failures(conn: Connection, scope: str, deltas: Mapping[tuple[str, int], int]) -> None:
    """Add (or, for a withdrawn attempt, subtract) failures per (key, bucket)."""
    rows = [
        {"scope": scope, "key": key, "bucket": bucket, "n": n}
        for (key, bucket), n in sorted(deltas.items())
        if n
    ]
    if rows:
        await conn.execute(_ADD, rows)


async def totals(
    conn: Connection, scope: str, keys: Collection[str], since: int
) -> dict[str, dict[int, int]]:
    """Every process's failures of these keys, by bucket, from bucket `since` on."""
    found: dict[str, dict[int, int]] = {key: {} for key in keys}
    if keys:
        rows = await conn.execute(_TOTALS, {"scope": scope, "keys": sorted(keys), "since": since})
        for row in rows:
            found[row.key][row.bucket] = row.failures
    return found


async def prune(conn: Connection, scope: str, before: int) -> None:
    """Forget buckets that have left the window."""
    await conn.execute(
        delete(throttle_failures).where(
            and_(throttle_failures.c.scope == scope, throttle_failures.c.bucket < before)
        )
    )
