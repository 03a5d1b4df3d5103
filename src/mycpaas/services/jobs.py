"""Use cases of the job queue for a runner (mycpaas/runner.py): claim, keep, hand back and retry jobs, each
only under the claim the runner holds. Lease times are on the database's clock (services/clock.py), which
every process sharing the database agrees on. Finishing a job happens in the transaction of its outcome, through
storage/queue.finish, in the use case that records that outcome.

On SQLite these writes join the group commit (storage/group_commit.py) instead of taking the single-writer lock
for a transaction each: under the create load with the worker on, the claim alone was 0.13 transactions per
message (bench/results/delivery_writes.txt). On PostgreSQL they stay short transactions of their own, so that
claimed rows (FOR UPDATE SKIP LOCKED) are not held locked while a batch's other work runs."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import TypeVar

from mycpaas.domain.jobs import Job
from mycpaas.services.platform import Platform
from mycpaas.storage import queue
from mycpaas.storage.database import Connection

T = TypeVar("T")


async def _write(platform: Platform, work: Callable[[Connection], Awaitable[T]]) -> T:
    if platform.db.is_sqlite:
        return await platform.committer.run(work)
    async with platform.db.write() as conn:
        return await work(conn)


async def claim(
    platform: Platform, kinds: Sequence[str], limit: int, skip_origins: Sequence[str] = ()
) -> list[Job]:
    now = await platform.clock.now()
    lease = timedelta(seconds=platform.settings.worker_lease_seconds)
    return await _write(
        platform, lambda conn: queue.claim(conn, kinds, now, now + lease, limit, skip_origins)
    )


async def extend_leases(platform: Platform, held: Sequence[Job]) -> set[int]:
    """Renew the leases of jobs still held; returns the ids still under their claim."""
    if not held:
        return set()  # an idle runner takes no write lock
    until = await platform.clock.now() + timedelta(seconds=platform.settings.worker_lease_seconds)
    return await _write(platform, lambda conn: queue.extend_leases(conn, held, until))


async def hand_back(platform: Platform, jobs: Sequence[Job], run_at: datetime) -> set[int]:
    """Give jobs back unworked (the claim does not count as an attempt); returns the ids given back."""
    if not jobs:
        return set()
    return await _write(platform, lambda conn: queue.postpone(conn, jobs, run_at))


async def retry(platform: Platform, job: Job, run_at: datetime, error: str) -> bool:
    return await _write(platform, lambda conn: queue.retry(conn, job, run_at, error))
