"""The durable job queue, a table in the same database as the data it acts on.

A job is enqueued in the caller's transaction, so a message and its delivery job commit together or not at
all. Workers claim jobs with a lease (`locked_until`): a worker killed mid-job leaves a lease that expires,
and the job is claimed again. PostgreSQL workers skip rows another worker holds (FOR UPDATE SKIP LOCKED);
on SQLite the claiming UPDATE runs inside the single-writer transaction.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Table, and_, delete, or_, select, update

from mycpaas.domain.jobs import Job
from mycpaas.storage.database import Connection
from mycpaas.storage.tables import jobs


def job_row(kind: str, ref: str, run_at: datetime) -> tuple[Table, dict[str, object]]:
    """A new job's row, for GroupCommitter.insert (enqueued in the same transaction as its subject)."""
    return jobs, {"kind": kind, "ref": ref, "run_at": run_at, "attempts": 0, "created_at": run_at}


async def claim(conn: Connection, now: datetime, lease_until: datetime, limit: int) -> list[Job]:
    due = (
        select(jobs.c.id)
        .where(and_(jobs.c.run_at <= now, or_(jobs.c.locked_until.is_(None), jobs.c.locked_until < now)))
        .order_by(jobs.c.run_at, jobs.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    result = await conn.execute(
        update(jobs)
        .where(jobs.c.id.in_(due.scalar_subquery()))
        .values(locked_until=lease_until, attempts=jobs.c.attempts + 1)
        .returning(jobs.c.id, jobs.c.kind, jobs.c.ref, jobs.c.attempts)
    )
    return [Job(row.id, row.kind, row.ref, row.attempts) for row in result]


async def finish(conn: Connection, job_id: int) -> None:
    await conn.execute(delete(jobs).where(jobs.c.id == job_id))


async def retry(conn: Connection, job_id: int, run_at: datetime, error: str) -> None:
    await conn.execute(
        update(jobs).where(jobs.c.id == job_id).values(run_at=run_at, locked_until=None, last_error=error)
    )


async def extend_leases(conn: Connection, job_ids: list[int], lease_until: datetime) -> None:
    """Heartbeat: a job still being worked on keeps its lease, so no other worker claims it."""
    if job_ids:
        await conn.execute(update(jobs).where(jobs.c.id.in_(job_ids)).values(locked_until=lease_until))


async def finish_many(conn: Connection, job_ids: list[int]) -> None:
    if job_ids:
        await conn.execute(delete(jobs).where(jobs.c.id.in_(job_ids)))
