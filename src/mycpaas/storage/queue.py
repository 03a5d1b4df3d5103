"""The durable job queue, a table in the same database as the data it acts on.

A job is enqueued in the caller's transaction, so a message and its delivery job commit together or not at
all. Runners claim jobs with a lease (`locked_until`): a runner killed mid-job leaves a lease that expires,
and the job is claimed again. PostgreSQL runners skip rows another runner holds (FOR UPDATE SKIP LOCKED);
on SQLite the claiming UPDATE runs inside the single-writer transaction.

Every claim raises the job's `claim` token. A runner whose lease lapsed may find the job claimed by another
since: finishing, retrying, postponing and extending all act only where the token is still the one claimed,
so the stale runner cannot end or reschedule the newer claim's work. The queue knows nothing of what a job
carries: its kind, its subject (`ref`) and an opaque payload.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import lru_cache

from sqlalchemy import (
    ColumnElement,
    Integer,
    Table,
    Update,
    and_,
    bindparam,
    delete,
    exists,
    insert,
    or_,
    select,
    update,
)

from mycpaas.domain.jobs import Job
from mycpaas.storage.database import Connection, sqlite_driver
from mycpaas.storage.sqlite_fast import IN_JSON, json_list, ts
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
    if not rows:
        return
    driver = sqlite_driver(conn)
    if driver is None:
        await conn.execute(_INSERT, [row for _, row in rows])
        return
    driver.executemany(
        _SQLITE_INSERT,
        [
            (
                r["kind"],
                r["ref"],
                ts(r["run_at"]),
                r["attempts"],
                ts(r["created_at"]),
                r["payload"],
                r["origin"],
            )
            for _, r in rows
        ],
    )


_SQLITE_INSERT = (
    "INSERT INTO jobs (kind, ref, run_at, attempts, created_at, payload, origin) VALUES (?, ?, ?, ?, ?, ?, ?)"
)


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
    parameters: dict[str, object] = {
        "kinds": list(kinds),
        "now": now,
        "lease_until": lease_until,
        "limit": limit,
    }
    driver = sqlite_driver(conn)
    if driver is not None:
        stamp = ts(now)
        values: tuple[object, ...] = (ts(lease_until), *kinds, stamp, stamp)
        if skip_origins:
            values += (json_list(skip_origins),)
        statement = _sqlite_claim(len(kinds), bool(skip_origins))
        rows = driver.execute(statement, (*values, limit)).fetchall()
        return sorted((Job(*row) for row in rows), key=lambda job: job.id)
    if skip_origins:
        parameters["skip"] = list(skip_origins)
    result = await conn.execute(_claim_statement(bool(skip_origins)), parameters)
    return sorted(
        (Job(row.id, row.kind, row.ref, row.attempts, row.claim, row.payload) for row in result),
        key=lambda job: job.id,
    )


@lru_cache(maxsize=2)
def _claim_statement(skipping: bool) -> Update:
    """The claim, built once (with or without origins to skip): every runner polls with it, and building it
    and deriving its cache key each time cost more than it takes SQLite to run it."""
    conditions = [
        jobs.c.kind.in_(bindparam("kinds", expanding=True)),
        jobs.c.run_at <= bindparam("now"),
        or_(jobs.c.locked_until.is_(None), jobs.c.locked_until < bindparam("now")),
    ]
    if skipping:
        conditions.append(
            or_(jobs.c.origin.is_(None), jobs.c.origin.not_in(bindparam("skip", expanding=True)))
        )
    due = (
        select(jobs.c.id)
        .where(and_(*conditions))
        .order_by(jobs.c.run_at, jobs.c.id)
        .limit(bindparam("limit", type_=Integer))
        .with_for_update(skip_locked=True)
    )
    return (
        update(jobs)
        .where(jobs.c.id.in_(due.scalar_subquery()))
        .values(locked_until=bindparam("lease_until"), attempts=jobs.c.attempts + 1, claim=jobs.c.claim + 1)
        .returning(jobs.c.id, jobs.c.kind, jobs.c.ref, jobs.c.attempts, jobs.c.claim, jobs.c.payload)
    )


@lru_cache(maxsize=8)
def _sqlite_claim(kinds: int, skipping: bool) -> str:
    """The kinds as one placeholder each, not a JSON list: with one kind (the delivery worker's) SQLite then
    reads the (kind, run_at) index in order and stops at the limit; `kind IN (SELECT value FROM json_each(?))`
    made it read every due job of the kind and sort them (EXPLAIN QUERY PLAN: USE TEMP B-TREE FOR ORDER BY)."""
    skip = f" AND (origin IS NULL OR origin NOT IN {IN_JSON})" if skipping else ""
    places = ", ".join("?" * kinds)
    return (
        "UPDATE jobs SET locked_until = ?, attempts = attempts + 1, claim = claim + 1 WHERE id IN "
        f"(SELECT id FROM jobs WHERE kind IN ({places}) AND run_at <= ? AND (locked_until IS NULL OR "
        f"locked_until < ?){skip} ORDER BY run_at, id LIMIT ?) RETURNING id, kind, ref, attempts, claim, payload"
    )


_CLAIMS_OF = (
    select(jobs.c.id, jobs.c.claim, jobs.c.locked_until)
    .where(jobs.c.id.in_(bindparam("ids", expanding=True)))
    .with_for_update()
)


_SQLITE_CLAIMS_OF = f"SELECT id, claim, locked_until FROM jobs WHERE id IN {IN_JSON}"


async def owned(conn: Connection, claimed: Sequence[Job], leased: bool = False) -> list[int]:
    """The ids of `claimed` still under the claim held (locked, so the answer holds to the commit); with
    `leased`, only those not handed back already (a second hand-back must not lower `attempts` again)."""
    if not claimed:
        return []
    wanted = {job.id: job.claim for job in claimed}
    driver = sqlite_driver(conn)
    if driver is not None:
        found = driver.execute(_SQLITE_CLAIMS_OF, (json_list(wanted),)).fetchall()
        return sorted(
            id_
            for id_, claim_, locked_until in found
            if wanted.get(id_) == claim_ and not (leased and locked_until is None)
        )
    # Read then act by primary key: a row-value IN ((id, claim), ...) makes SQLite scan the table.
    rows = await conn.execute(_CLAIMS_OF, {"ids": sorted(wanted)})
    return sorted(
        row.id
        for row in rows
        if wanted.get(row.id) == row.claim and not (leased and row.locked_until is None)
    )


async def finish(conn: Connection, claimed: Sequence[Job]) -> set[int]:
    """Delete done jobs, each only if still under its claim; returns the ids deleted."""
    # Two statements on SQLite too: one DELETE ... RETURNING that checks the claims itself (a row-value IN,
    # a join, or a JSON object of claims) cost 15-22 us a job at the driver against 12-15 for this read and
    # delete (100-job batches; h15-wq, 2026-12-07).
    ids = await owned(conn, claimed)
    if ids:
        driver = sqlite_driver(conn)
        if driver is not None:
            driver.execute(_SQLITE_DELETE_IDS, (json_list(ids),))
        else:
            await conn.execute(_DELETE_IDS, {"ids": ids})
    return set(ids)


_SQLITE_DELETE_IDS = f"DELETE FROM jobs WHERE id IN {IN_JSON}"
_DELETE_IDS = delete(jobs).where(jobs.c.id.in_(bindparam("ids", expanding=True)))


async def retry(conn: Connection, job: Job, run_at: datetime, error: str) -> bool:
    """Let the job be claimed again at `run_at` (this attempt counted), if still under its claim."""
    if not await owned(conn, [job], leased=True):
        return False
    await conn.execute(
        update(jobs).where(jobs.c.id == job.id).values(run_at=run_at, locked_until=None, last_error=error)
    )
    return True


async def postpone(conn: Connection, claimed: Sequence[Job], run_at: datetime) -> set[int]:
    """Give claimed jobs back, to run at `run_at`, without counting the claim as an attempt (they were not
    worked on); only those still under their claim and not given back already. Returns the ids given back."""
    ids = await owned(conn, claimed, leased=True)
    if ids:
        await conn.execute(
            update(jobs)
            .where(jobs.c.id.in_(ids))
            .values(run_at=run_at, locked_until=None, attempts=jobs.c.attempts - 1)
        )
    return set(ids)


async def postpone_each(conn: Connection, claimed: Sequence[tuple[Job, datetime, str | None]]) -> set[int]:
    """postpone, each job to its own time and with a new payload, in one statement for the batch."""
    ids = set(await owned(conn, [job for job, _, _ in claimed], leased=True))
    rows = [
        {"b_id": job.id, "b_run_at": run_at, "b_payload": payload}
        for job, run_at, payload in claimed
        if job.id in ids
    ]
    if rows:
        await conn.execute(_POSTPONE_EACH, rows)
    return ids


_POSTPONE_EACH = (
    update(jobs)
    .where(jobs.c.id == bindparam("b_id"))
    .values(
        run_at=bindparam("b_run_at"),
        payload=bindparam("b_payload"),
        locked_until=None,
        attempts=jobs.c.attempts - 1,
    )
)


async def extend_leases(conn: Connection, claimed: Sequence[Job], lease_until: datetime) -> set[int]:
    """Heartbeat: jobs still being worked on keep their leases, so no other runner claims them. Returns the
    ids still held; a job claimed elsewhere since, or already handed back, is not revived."""
    ids = await owned(conn, claimed, leased=True)
    if ids:
        driver = sqlite_driver(conn)
        if driver is not None:
            driver.execute(_SQLITE_EXTEND, (ts(lease_until), json_list(ids)))
        else:
            await conn.execute(_EXTEND, {"ids": ids, "lease_until": lease_until})
    return set(ids)


_SQLITE_EXTEND = f"UPDATE jobs SET locked_until = ? WHERE id IN {IN_JSON}"
_EXTEND = (
    update(jobs)
    .where(jobs.c.id.in_(bindparam("ids", expanding=True)))
    .values(locked_until=bindparam("lease_until"))
)


async def pending_ids(conn: Connection, kinds: Sequence[str], refs: Sequence[str]) -> dict[str, list[int]]:
    """For each ref, the ids of its jobs of these kinds, oldest first: what must run before a later one."""
    if not refs:
        return {}
    found: dict[str, list[int]] = {}
    driver = sqlite_driver(conn)
    if driver is not None:
        # On the driver: through SQLAlchemy this was 8.5-10% of the webhook drain's event loop (py-spy of
        # bench/webhooks_inproc.py, h15-wq, 2026-12-07), half of it building a Row for each queued job.
        for ref, id_ in driver.execute(_SQLITE_JOBS_OF_REFS, (json_list(refs), json_list(kinds))):
            found.setdefault(ref, []).append(id_)
        return found
    # Selected by ref alone, so the (ref, id) index serves it; the kinds are filtered here.
    rows = await conn.execute(_JOBS_OF_REFS, {"refs": list(refs)})
    wanted = set(kinds)
    for row in rows:
        if row.kind in wanted:
            found.setdefault(row.ref, []).append(row.id)
    return {ref: sorted(ids) for ref, ids in found.items()}


_JOBS_OF_REFS = select(jobs.c.ref, jobs.c.id, jobs.c.kind).where(
    jobs.c.ref.in_(bindparam("refs", expanding=True))
)
# `+kind`: a plain `kind IN` makes SQLite search the (kind, run_at) index, i.e. every queued job of the kind
# (EXPLAIN QUERY PLAN); this way the (ref, id) index is searched, and yields each ref's ids in order.
_SQLITE_JOBS_OF_REFS = (
    f"SELECT ref, id FROM jobs WHERE ref IN {IN_JSON} AND +kind IN {IN_JSON} ORDER BY ref, id"
)


async def payloads(conn: Connection, kinds: Sequence[str], ref: str) -> list[tuple[int, str | None]]:
    """(id, payload) of the queued jobs of these kinds about `ref`."""
    rows = await conn.execute(
        select(jobs.c.id, jobs.c.payload).where(and_(jobs.c.ref == ref, jobs.c.kind.in_(kinds)))
    )
    return [(row.id, row.payload) for row in rows]


async def set_payload(conn: Connection, job_id: int, payload: str) -> None:
    await conn.execute(update(jobs).where(jobs.c.id == job_id).values(payload=payload))


async def delete_for_ref(conn: Connection, kinds: Sequence[str], ref: str) -> None:
    """Drop pending jobs of these kinds about `ref` (e.g. a deleted message's webhooks)."""
    await conn.execute(delete(jobs).where(and_(jobs.c.ref == ref, jobs.c.kind.in_(kinds))))


def queued_about(ref: ColumnElement[str], kinds: Sequence[str]) -> ColumnElement[bool]:
    """A condition for another table's query: a job of these kinds is queued about `ref` (due, leased or
    waiting to be retried). The (ref, id) index serves it."""
    return exists().where(and_(jobs.c.ref == ref, jobs.c.kind.in_(kinds)))
