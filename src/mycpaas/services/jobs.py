"""Use cases of the job queue for a runner (mycpaas/runner.py): claim, keep, hand back and retry jobs, each
only under the claim the runner holds. Lease times are on the database's clock (services/clock.py), which
every process sharing the database agrees on. Finishing a job happens in the transaction of its outcome, through
storage/queue.finish, in the use case that records that outcome."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from mycpaas.domain.jobs import Job
from mycpaas.services.platform import Platform
from mycpaas.storage import queue


async def claim(
    platform: Platform, kinds: Sequence[str], limit: int, skip_origins: Sequence[str] = ()
) -> list[Job]:
    now = await platform.clock.now()
    lease = timedelta(seconds=platform.settings.worker_lease_seconds)
    return await platform.committer.run(
        lambda conn: queue.claim(conn, kinds, now, now + lease, limit, skip_origins)
    )


async def extend_leases(platform: Platform, held: Sequence[Job]) -> set[int]:
    """Renew the leases of jobs still held; returns the ids still under their claim."""
    if not held:
        return set()  # an idle runner takes no write lock
    until = await platform.clock.now() + timedelta(seconds=platform.settings.worker_lease_seconds)
    return await platform.committer.run(lambda conn: queue.extend_leases(conn, held, until))


async def hand_back(platform: Platform, jobs: Sequence[Job], run_at: datetime) -> set[int]:
    """Give jobs back unworked (the claim does not count as an attempt); returns the ids given back."""
    if not jobs:
        return set()
    return await platform.committer.run(lambda conn: queue.postpone(conn, jobs, run_at))


async def retry(platform: Platform, job: Job, run_at: datetime, error: str) -> bool:
    return await platform.committer.run(lambda conn: queue.retry(conn, job, run_at, error))
