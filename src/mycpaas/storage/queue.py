"""The durable job queue, a table in the same database as the data it acts on.

A job is enqueued in the caller's transaction, so a message and its delivery job commit together or not at
all. Workers claim jobs with a lease (`locked_until`): a worker killed mid-job leaves a lease that expires,
and the job is claimed again. PostgreSQL workers skip rows another worker holds (FOR UPDATE SKIP LOCKED);
on SQLite the claiming UPDATE runs inside the single-writer transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime

from sqlalchemy import Table, and_, bindparam, delete, insert, or_, select, update

from mycpaas.domain.jobs import Job
from mycpaas.domain.webhooks import WebhookEvent
from mycpaas.storage.database import Connection
from mycpaas.storage.tables import jobs


def job_row(
    kind: str, ref: str, run_at: datetime, payload: str | None = None, origin: str | None = None
) -> tuple[Table, dict[str, object]]:
    """A new job's row, for GroupCommitter.insert (enqueued in the same transaction as its subject)."""
    return jobs, {
        "kind": kind,
        "ref": ref,
        "run_at": run_at,
        "attempts": 0,
        "created_at": run_at,
        "payload": payload,
        "origin": origin,
    }


_INSERT = insert(jobs)  # built once, so SQLAlchemy's statement cache is hit without re-deriving its key


async def enqueue(conn: Connection, rows: Sequence[tuple[Table, dict[str, object]]]) -> None:
    """Insert job rows (from job_row) in the caller's transaction."""
    if rows:
        await conn.execute(_INSERT, [row for _, row in rows])


async def enqueue_events(conn: Connection, events: Iterable[WebhookEvent | None], now: datetime) -> bool:
    """Queue webhook events (None entries are skipped) in the caller's transaction; True if there was any.
    A job's ref is the message SID, which keeps the events of one message in order."""
    rows = [job_row(e.kind.value, e.message_sid, now, e.to_json(), e.origin) for e in events if e is not None]
    await enqueue(conn, rows)
    return bool(rows)


async def claim(
    conn: Connection,
    kinds: Sequence[str],
    now: datetime,
    lease_until: datetime,
    limit: int,
    skip_origins: Sequence[str] = (),
) -> list[Job]:
    """Lease up to `limit` due jobs of the given kinds, oldest first, leaving jobs bound for `skip_origins`
    (a dispatcher's busy or paused destinations) to wait in the queue."""
    conditions = [
        jobs.c.kind.in_(kinds),
        jobs.c.run_at <= now,
        or_(jobs.c.locked_until.is_(None), jobs.c.locked_until < now),
    ]
    if skip_origins:
        conditions.append(or_(jobs.c.origin.is_(None), jobs.c.origin.not_in(list(skip_origins))))
    due = (
        select(jobs.c.id)
        .where(and_(*conditions))
        .order_by(jobs.c.run_at, jobs.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    result = await conn.execute(
        update(jobs)
        .where(jobs.c.id.in_(due.scalar_subquery()))
        .values(locked_until=lease_until, attempts=jobs.c.attempts + 1)
        .returning(jobs.c.id, jobs.c.kind, jobs.c.ref, jobs.c.attempts, jobs.c.payload)
    )
    return [Job(row.id, row.kind, row.ref, row.attempts, row.payload) for row in result]


async def postpone(conn: Connection, job_ids: Sequence[int], run_at: datetime) -> None:
    """Give claimed jobs back without counting the claim as an attempt (they were not worked on)."""
    if job_ids:
        await conn.execute(
            update(jobs)
            .where(jobs.c.id.in_(job_ids))
            .values(run_at=run_at, locked_until=None, attempts=jobs.c.attempts - 1)
        )


async def pending_ids(conn: Connection, kinds: Sequence[str], refs: Sequence[str]) -> dict[str, list[int]]:
    """For each ref, the ids of its jobs of these kinds, oldest first: what must run before a later one."""
    if not refs:
        return {}
    # Selected by ref alone, so the (ref, id) index serves it; the kinds are filtered here.
    rows = await conn.execute(_JOBS_OF_REFS, {"refs": list(refs)})
    found: dict[str, list[int]] = {}
    wanted = set(kinds)
    for row in rows:
        if row.kind in wanted:
            found.setdefault(row.ref, []).append(row.id)
    return {ref: sorted(ids) for ref, ids in found.items()}


_JOBS_OF_REFS = select(jobs.c.ref, jobs.c.id, jobs.c.kind).where(
    jobs.c.ref.in_(bindparam("refs", expanding=True))
)


_FINISH = delete(jobs).where(jobs.c.id == bindparam("job_id"))


async def finish(conn: Connection, job_id: int) -> bool:
    """Delete a done job; False if it was no longer there."""
    return bool((await conn.execute(_FINISH, {"job_id": job_id})).rowcount)


async def retry(conn: Connection, job_id: int, run_at: datetime, error: str) -> None:
    await conn.execute(
        update(jobs).where(jobs.c.id == job_id).values(run_at=run_at, locked_until=None, last_error=error)
    )


async def extend_leases(conn: Connection, job_ids: list[int], lease_until: datetime) -> None:
    """Heartbeat: a job still being worked on keeps its lease, so no other worker claims it."""
    if job_ids:
        # Only jobs still leased: one handed back meanwhile (postponed, retried) must stay claimable.
        await conn.execute(
            update(jobs)
            .where(and_(jobs.c.id.in_(sorted(job_ids)), jobs.c.locked_until.is_not(None)))
            .values(locked_until=lease_until)
        )


async def finish_claimed(conn: Connection, claims: Sequence[tuple[int, int]]) -> set[int]:
    """Delete done jobs, each only if still under the claim that worked on it ((id, attempts) as claimed);
    returns the ids deleted. A job whose lease lapsed and that another worker claimed since is left alone."""
    if not claims:
        return set()
    wanted = dict(claims)
    # Read then delete by primary key: a row-value IN ((id, attempts), ...) makes SQLite scan the table.
    rows = await conn.execute(_CLAIMS_OF, {"ids": list(wanted)})
    ids = sorted(row.id for row in rows if wanted.get(row.id) == row.attempts)
    if ids:
        await conn.execute(delete(jobs).where(jobs.c.id.in_(ids)))
    return set(ids)


_CLAIMS_OF = (
    select(jobs.c.id, jobs.c.attempts)
    .where(jobs.c.id.in_(bindparam("ids", expanding=True)))
    .with_for_update()
)


async def retry_claimed(conn: Connection, job_id: int, claim: int, run_at: datetime, error: str) -> bool:
    """`retry`, only if the job is still under the claim `claim` (its attempts count when claimed)."""
    result = await conn.execute(
        update(jobs)
        .where(and_(jobs.c.id == job_id, jobs.c.attempts == claim))
        .values(run_at=run_at, locked_until=None, last_error=error)
    )
    return bool(result.rowcount)


async def redact_events(conn: Connection, kinds: Sequence[str], ref: str) -> None:
    """Blank the message body in webhook events still queued about `ref`: a redacted text is not sent later."""
    rows = await conn.execute(
        select(jobs.c.id, jobs.c.payload).where(and_(jobs.c.ref == ref, jobs.c.kind.in_(kinds)))
    )
    for row in rows.all():
        event = WebhookEvent.from_json(row.payload or "")
        if event.params.get("Body"):
            redacted = replace(event, params={**event.params, "Body": ""})
            await conn.execute(update(jobs).where(jobs.c.id == row.id).values(payload=redacted.to_json()))


async def delete_for_ref(conn: Connection, kinds: Sequence[str], ref: str) -> None:
    """Drop pending jobs of these kinds about `ref` (e.g. a deleted message's webhooks)."""
    await conn.execute(delete(jobs).where(and_(jobs.c.ref == ref, jobs.c.kind.in_(kinds))))


async def finish_many(conn: Connection, job_ids: list[int]) -> None:
    if job_ids:
        await conn.execute(delete(jobs).where(jobs.c.id.in_(job_ids)))
