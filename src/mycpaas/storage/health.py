"""What /metrics and /readyz read from the database: the queue's depth, the SMPP binds up, the schema revision.

Each is one statement, run at scrape (or probe) time, so the answer is the same whichever process gives it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import DateTime, and_, case, func, or_, select, text

from mycpaas.storage.database import Connection
from mycpaas.storage.tables import carrier_binds, jobs


@dataclass(frozen=True, slots=True)
class QueueDepth:
    kind: str
    jobs: int  # every job of the kind in the queue: due, leased or scheduled for later
    oldest_due: datetime | None  # run_at of the oldest job due and not leased (waiting for a runner)


async def queue_depth(conn: Connection, now: datetime) -> list[QueueDepth]:
    waiting = and_(jobs.c.run_at <= now, or_(jobs.c.locked_until.is_(None), jobs.c.locked_until < now))
    oldest = func.min(case((waiting, jobs.c.run_at)), type_=DateTime).label("oldest")
    rows = await conn.execute(select(jobs.c.kind, func.count().label("n"), oldest).group_by(jobs.c.kind))
    return [QueueDepth(row.kind, int(row.n), row.oldest) for row in rows]


async def binds_up(conn: Connection) -> dict[str, int] | None:
    """Binds up per connector, by the lease rows; None when there are no rows (binds not leased here)."""
    up = func.sum(case((carrier_binds.c.bound, 1), else_=0)).label("up")
    rows = (await conn.execute(select(carrier_binds.c.carrier, up).group_by(carrier_binds.c.carrier))).all()
    if not rows:
        return None
    return {row.carrier: int(row.up or 0) for row in rows}


async def schema_revision(conn: Connection) -> str | None:
    revision = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar()
    return str(revision) if revision else None
