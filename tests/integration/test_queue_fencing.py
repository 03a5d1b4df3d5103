"""A worker whose lease ran out must not finish or reschedule a job another worker has claimed since: queue
writes after a webhook attempt are fenced on the claim ((id, attempts) as claimed). Real SQLite and
PostgreSQL databases, through the storage functions the dispatcher's settle uses."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest

from mycpaas.domain.clock import utcnow
from mycpaas.storage import migrate, queue
from mycpaas.storage.database import Database
from tests.conftest import BACKENDS
from tests.databases import create_postgres_database, drop_postgres_database


async def scenario(url: str) -> None:
    db = Database(url)
    try:
        now = utcnow()
        async with db.write() as conn:
            await queue.enqueue(conn, [queue.job_row("webhook.status", "SMfence", now, "{}", "http://a:")])
        async with db.write() as conn:
            [first] = await queue.claim(conn, ["webhook.status"], now, now + timedelta(seconds=1), 10)
        later = now + timedelta(seconds=2)  # the first lease has run out; a second worker claims the job
        async with db.write() as conn:
            [second] = await queue.claim(conn, ["webhook.status"], later, later + timedelta(seconds=15), 10)
        assert (first.id, first.attempts + 1, first.claim + 1) == (second.id, second.attempts, second.claim)
        async with db.write() as conn:
            assert await queue.finish(conn, [first]) == set()
            assert not await queue.retry(conn, first, later, "stale")
            assert await queue.postpone(conn, [first], later) == set()
            assert await queue.extend_leases(conn, [first], later + timedelta(hours=1)) == set()
            assert await queue.pending_ids(conn, ["webhook.status"], ["SMfence"]) == {"SMfence": [first.id]}
            assert await queue.finish(conn, [second]) == {second.id}
            assert await queue.pending_ids(conn, ["webhook.status"], ["SMfence"]) == {}
    finally:
        await db.dispose()


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_lapsed_claim_cannot_finish_or_retry_a_reclaimed_job(backend: str, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fence.db'}" if backend == "sqlite" else create_postgres_database()
    try:
        migrate.upgrade(url)
        asyncio.run(scenario(url))
    finally:
        if backend != "sqlite":
            drop_postgres_database(url)
