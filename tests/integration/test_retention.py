"""Housekeeping on SQLite and PostgreSQL: webhook attempts and unmatched receipts past their retention are
removed, in batches, by the one process that takes the turn, and never an attempt of a message whose webhook is
still queued; and a running `mycpaas serve` does it by itself, counted in /metrics and logged once per sweep.

Old rows are written through the storage layer with old timestamps (the retentions are whole days)."""

from __future__ import annotations

import asyncio
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import TypeVar

from sqlalchemy import func, select

from mycpaas.bootstrap import build_platform
from mycpaas.domain.clock import utcnow
from mycpaas.domain.webhooks import AttemptOutcome, EventKind, WebhookAttempt
from mycpaas.services import housekeeping
from mycpaas.services.platform import Platform
from mycpaas.settings import Settings
from mycpaas.storage import inbound_seen, parts, queue
from mycpaas.storage import platform_state as state
from mycpaas.storage import webhooks as webhook_store
from mycpaas.storage.database import Connection, Database
from mycpaas.storage.tables import pending_receipts, webhook_attempts
from tests.conftest import ALL_SERVERS, remember_secret
from tests.platform_support import migrated_settings, run_on_platform
from tests.server import ServerProcess

T = TypeVar("T")


def attempt(message_sid: str, created_at: datetime) -> WebhookAttempt:
    return WebhookAttempt(
        sid="NO" + secrets.token_hex(16),
        account_sid="AC" + "0" * 32,
        message_sid=message_sid,
        kind=EventKind.STATUS_CALLBACK,
        idempotency_token=secrets.token_hex(8),
        message_status="sent",
        request_method="POST",
        request_url="https://app.example/status",
        attempt=1,
        outcome=AttemptOutcome.RETRYING,
        response_status=500,
        duration_ms=12,
        error_code=11200,
        error_message="the receiver answered HTTP 500",
        response_excerpt=None,
        redelivery_of=None,
        created_at=created_at,
    )


async def seed(conn: Connection, now: datetime) -> None:
    """Past retention: 5 attempts of SMold, 2 of SMheld (whose status webhook is still queued for a retry in an
    hour), 3 unmatched receipts and 3 inbound fingerprints; within it: 1 attempt of SMnew, 1 receipt and 1
    fingerprint."""
    old, recent = now - timedelta(days=31), now - timedelta(days=29)
    await webhook_store.insert_attempts(
        conn,
        [attempt("SMold", old - timedelta(minutes=n)) for n in range(5)]
        + [attempt("SMheld", old), attempt("SMheld", old)]
        + [attempt("SMnew", recent)],
    )
    await queue.enqueue(
        conn, [queue.job_row(EventKind.STATUS_CALLBACK.value, "SMheld", now + timedelta(hours=1), "{}")]
    )
    for received, ids in ((now - timedelta(days=8), ["A1", "B2", "C3"]), (now - timedelta(days=6), ["D4"])):
        await parts.keep_pending(conn, [("uk-a", (i,), "delivered") for i in ids], received)
    for n, seen in enumerate([now - timedelta(minutes=10 + n) for n in range(3)] + [now]):
        await inbound_seen.claim(conn, f"fingerprint-{n}", seen, seen)


async def remaining(db: Database) -> tuple[list[str], int]:
    """(message SIDs of the attempts left, sorted; unmatched receipts left)."""
    async with db.read() as conn:
        sids = sorted((await conn.execute(select(webhook_attempts.c.message_sid))).scalars())
        receipts = (await conn.execute(select(func.count()).select_from(pending_receipts))).scalar_one()
    return sids, int(receipts)


def on_database(url: str, work: Callable[[Database], Awaitable[T]]) -> T:
    async def main() -> T:
        db = Database(url)
        try:
            return await work(db)
        finally:
            await db.dispose()

    return asyncio.run(main())


async def seed_now(db: Database) -> None:
    async with db.write() as conn:
        await seed(conn, utcnow())


def test_sweep_removes_what_is_past_retention_in_batches(platform_settings: Settings) -> None:
    async def scenario(platform: Platform) -> None:
        async with platform.db.write() as conn:
            await seed(conn, utcnow())
        # Batches of 2: several per task, the tasks taking turns.
        assert await housekeeping.sweep(platform, batch=2) == {
            "webhook_attempts": 5,
            "unmatched_receipts": 3,
            "inbound_fingerprints": 3,
        }
        assert await remaining(platform.db) == (["SMheld", "SMheld", "SMnew"], 1)
        assert await housekeeping.sweep(platform) == {
            "webhook_attempts": 0,
            "unmatched_receipts": 0,
            "inbound_fingerprints": 0,
        }
        # Once the queued webhook is gone (delivered or given up), its message's old attempts go too.
        async with platform.db.write() as conn:
            await queue.delete_for_ref(conn, [EventKind.STATUS_CALLBACK.value], "SMheld")
        assert await housekeeping.sweep(platform) == {
            "webhook_attempts": 2,
            "unmatched_receipts": 0,
            "inbound_fingerprints": 0,
        }
        assert await remaining(platform.db) == (["SMnew"], 1)

    run_on_platform(platform_settings, scenario)


def test_one_process_of_several_takes_the_turn(platform_settings: Settings) -> None:
    async def scenario(first: Platform) -> None:
        others = [build_platform(platform_settings) for _ in range(3)]
        try:
            everyone = [first, *others]
            # The very first turn, asked for by four processes at once (the row does not exist yet).
            taken = await asyncio.gather(
                *(housekeeping.take_turn(p, f"p{i}") for i, p in enumerate(everyone))
            )
            assert sorted(taken) == [False, False, False, True]
            # Not due again within the interval; once the last turn is older than that, due for one of them.
            assert not any([await housekeeping.take_turn(p, "again") for p in everyone])
            now = await first.clock.now()
            async with first.db.write() as conn:
                await state.take_turn(conn, housekeeping.TURN, "long ago", now - timedelta(minutes=2), now)
            taken = await asyncio.gather(
                *(housekeeping.take_turn(p, f"q{i}") for i, p in enumerate(everyone))
            )
            assert sum(taken) == 1
        finally:
            for platform in others:
                await platform.db.dispose()

    run_on_platform(platform_settings, scenario)


def removed_counts(server: ServerProcess) -> dict[str, str]:
    with server.client() as client:
        exposition = client.get("/metrics").text
    return dict(re.findall(r'mycpaas_housekeeping_removed_total\{task="(\w+)"\} (\S+)', exposition))


def test_running_server_sweeps_counts_and_logs(backend_url: str, tmp_path: Path) -> None:
    """`mycpaas serve` (all roles) sweeps soon after it starts: the seeded old rows go, the others stay; the
    rows are counted in /metrics and each task that removed some logs one line."""
    (tmp_path / "data").mkdir()
    url = migrated_settings(tmp_path / "data", backend_url).effective_database_url
    on_database(url, seed_now)
    server = ServerProcess(data_dir=tmp_path / "data", database_url=backend_url)
    ALL_SERVERS.append(server)  # its log is searched for secrets at the end of the run (tests/conftest.py)
    remember_secret(server.start().auth_token)
    try:
        deadline = time.monotonic() + 30
        while (left := on_database(url, remaining)) != (["SMheld", "SMheld", "SMnew"], 1):
            assert time.monotonic() < deadline, f"not swept: {left}"
            time.sleep(0.2)
        # The sweep counts its rows once it has ended, a moment after the last delete.
        expected = {"webhook_attempts": "5.0", "unmatched_receipts": "3.0", "inbound_fingerprints": "3.0"}
        while (counted := removed_counts(server)) != expected:
            assert time.monotonic() < deadline, f"not counted: {counted}"
            time.sleep(0.2)
    finally:
        server.stop()
    log = server.log_text()
    assert log.count("housekeeping removed 3 unmatched delivery receipts older than 7 days") == 1, log
    assert log.count("housekeeping removed 5 webhook attempts older than 30 days") == 1, log
