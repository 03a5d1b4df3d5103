"""The one job runner and its queue contract, on real SQLite and PostgreSQL databases.

- Two runners (two Platform objects, as two processes would have) racing on one table never run a job twice
  at once, and every job runs exactly once, with some jobs outliving the lease (the heartbeat keeps them).
- A runner whose lease lapsed, and whose job another runner has claimed since, cannot finish, retry, hand
  back, extend or follow up that job: send jobs and webhook jobs alike. It may still record what a carrier
  accepted (`sent`), which is safe to repeat.
- A stop hands unstarted jobs back at once, without counting the claim as an attempt.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator, Sequence
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from mycpaas.bootstrap import build_platform
from mycpaas.domain.carriage import Outcome, Submitted
from mycpaas.domain.clock import utcnow
from mycpaas.domain.jobs import SEND_MESSAGE, Job
from mycpaas.domain.webhooks import EVENT_KINDS, EventKind, WebhookEvent
from mycpaas.runner import JobRunner
from mycpaas.services import accounts, delivery, jobs, messaging, numbers, webhooks
from mycpaas.services.platform import Platform
from mycpaas.services.wakeup import Wakeup
from mycpaas.settings import Settings
from mycpaas.storage import migrate, queue
from mycpaas.storage.tables import jobs as jobs_table
from tests.conftest import BACKENDS
from tests.databases import create_postgres_database, drop_postgres_database, sqlite_url
from tests.integration.helpers import unique_number
from tests.platform_support import TEST_SECRET

KIND = "test.work"


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        url = sqlite_url(tmp_path)
        migrate.upgrade(url)
        yield url
        return
    url = create_postgres_database()
    try:
        migrate.upgrade(url)
        yield url
    finally:
        drop_postgres_database(url)


def platform_for(url: str, data_dir: Path, lease_seconds: float) -> Platform:
    data_dir.mkdir(parents=True, exist_ok=True)
    return build_platform(
        Settings(
            data_dir=data_dir,
            database_url=url,
            secret=TEST_SECRET,
            worker_lease_seconds=lease_seconds,
            worker_batch_size=7,
        )
    )


async def close(*platforms: Platform) -> None:
    for platform in platforms:
        await platform.committer.close()
        await platform.db.dispose()


async def enqueue(platform: Platform, count: int) -> None:
    now = utcnow()
    async with platform.db.write() as conn:
        await queue.enqueue(conn, [queue.job_row(KIND, f"ref-{n}", now) for n in range(count)])


async def queued(platform: Platform) -> dict[str, list[int]]:
    async with platform.db.read() as conn:
        return await queue.pending_ids(
            conn, [KIND, SEND_MESSAGE, *EVENT_KINDS], [f"ref-{n}" for n in range(200)]
        )


async def wait_for(condition: object, what: str, timeout: float = 60.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await condition():  # type: ignore[operator]
        assert asyncio.get_running_loop().time() < deadline, what
        await asyncio.sleep(0.05)


class Recorder:
    """A handler that works each job for a while (a few of them longer than the lease), notes overlaps, and
    finishes the job under its claim, as a real handler's outcome transaction does."""

    kinds: tuple[str, ...] = (KIND,)

    def __init__(self, name: str, platform: Platform, shared: dict[str, object], slow: set[str]) -> None:
        self.name = name
        self.platform = platform
        self.shared = shared
        self.slow = slow
        self.runner: JobRunner | None = None

    async def take(self, claimed: list[Job]) -> None:
        assert self.runner is not None
        for job in claimed:
            self.runner.run(job, self._work(job))

    def skip_origins(self) -> Sequence[str]:
        return ()

    async def close(self) -> None:
        return None

    async def _work(self, job: Job) -> None:
        active: dict[int, str] = self.shared["active"]  # type: ignore[assignment]
        runs: list[tuple[int, str]] = self.shared["runs"]  # type: ignore[assignment]
        overlaps: list[int] = self.shared["overlaps"]  # type: ignore[assignment]
        if job.id in active:
            overlaps.append(job.id)
        active[job.id] = self.name
        runs.append((job.id, self.name))
        try:
            await asyncio.sleep(2.5 if job.ref in self.slow else random.uniform(0, 0.03))
            async with self.platform.db.write() as conn:
                await queue.finish(conn, [job])
        finally:
            active.pop(job.id, None)


async def race(url: str, data_dir: Path) -> None:
    lease = 1.5  # the heartbeat renews every 0.5 s; the slow jobs take 2.5 s, longer than the lease
    first = platform_for(url, data_dir / "a", lease)
    second = platform_for(url, data_dir / "b", lease)
    shared: dict[str, object] = {"active": {}, "runs": [], "overlaps": []}
    slow = {"ref-3", "ref-17", "ref-40"}
    runners = []
    try:
        await enqueue(first, 60)
        for name, platform in (("a", first), ("b", second)):
            handler = Recorder(name, platform, shared, slow)
            runner = JobRunner(
                platform,
                handler,
                Wakeup(),
                capacity=10,
                batch_size=7,
                grace_seconds=5,
                backoff_cap_seconds=1,
            )
            handler.runner = runner
            runners.append(runner)
        for runner in runners:
            await runner.start()

        async def drained() -> bool:
            return not await queued(first)

        await wait_for(drained, "every job finished")
        runs: list[tuple[int, str]] = shared["runs"]  # type: ignore[assignment]
        ran = [job_id for job_id, _ in runs]
        assert shared["overlaps"] == []
        assert len(ran) == 60 and len(set(ran)) == 60, "every job ran exactly once"
        assert {name for _, name in runs} == {"a", "b"}, "both runners took part"
    finally:
        for runner in runners:
            await runner.stop()
        await close(first, second)


@pytest.mark.postgres
def test_two_runners_never_run_a_job_twice_at_once(database_url: str, tmp_path: Path) -> None:
    asyncio.run(race(database_url, tmp_path))


async def claim_lapsed(stale: Platform, fresh: Platform, kinds: Sequence[str]) -> tuple[Job, Job]:
    """Claim the jobs of these kinds on `stale`, let the lease lapse, and claim them again on `fresh`; returns
    the first job as each claimed it."""
    old = (await jobs.claim(stale, kinds, 10))[0]
    taken: list[Job] = []

    async def claimed_again() -> bool:
        taken.extend(await jobs.claim(fresh, kinds, 10))
        return any(job.id == old.id for job in taken)

    await wait_for(claimed_again, "the lapsed job is claimed by the second runner")
    [new] = [job for job in taken if job.id == old.id]
    assert (new.id, new.claim) == (old.id, old.claim + 1)
    return old, new


async def lapsed(url: str, data_dir: Path) -> None:
    stale = platform_for(url, data_dir / "stale", lease_seconds=0.3)
    fresh = platform_for(url, data_dir / "fresh", lease_seconds=60)
    try:
        owner = (await accounts.create_account(stale, "fencing")).account
        number = await numbers.create_number(stale, owner, {"PhoneNumber": unique_number()})
        message = await messaging.send_message(
            stale,
            owner,
            messaging.SendRequest(
                to="+15551250000",
                from_=number.phone_number,
                messaging_service_sid=None,
                body="fenced",
                status_callback="https://app.example/status",
            ),
        )
        old, new = await claim_lapsed(stale, fresh, [SEND_MESSAGE])
        [sending] = [s.message for s in await delivery.start_sending(fresh, [new]) if s.job.id == new.id]

        # The stale runner may not start the job, nor fail the message (the other runner is sending it) ...
        assert await delivery.start_sending(stale, [old]) == []
        await delivery.record_failed(stale, sending, Outcome.UNREACHABLE, old)
        current = await messaging.get_message(stale, owner, message.sid)
        assert current is not None and current.status.value == "sending"
        # ... but if its carrier had accepted the message, recording that is allowed (and repeatable);
        # finishing the job is not.
        await delivery.record_submitted(stale, [(sending, Submitted("smsc", ("id-1",)), old)])
        current = await messaging.get_message(stale, owner, message.sid)
        assert current is not None and current.status.value == "sent"
        async with stale.db.read() as conn:
            assert new.id in (await queue.pending_ids(conn, [SEND_MESSAGE], [message.sid]))[message.sid]
        assert not await jobs.retry(stale, old, utcnow(), "stale")
        assert await jobs.hand_back(stale, [old], utcnow()) == set()
        assert await jobs.extend_leases(stale, [old]) == set()
        async with stale.db.read() as conn:
            [row] = (await conn.execute(select(jobs_table).where(jobs_table.c.id == new.id))).all()
        assert (row.claim, row.attempts, row.locked_until is not None) == (new.claim, new.attempts, True)
        # The holder of the claim finishes it.
        await delivery.record_submitted(fresh, [(sending, Submitted("smsc", ("id-1",)), new)])
        async with stale.db.read() as conn:
            assert await queue.pending_ids(conn, [SEND_MESSAGE], [message.sid]) == {}

        # A webhook job: the stale runner's outcome neither finishes it nor queues its follow-up.
        event = WebhookEvent.from_json((await webhook_payload(stale, message.sid)) or "")
        assert event.kind is EventKind.STATUS_CALLBACK
        old_hook, new_hook = await claim_lapsed(stale, fresh, EVENT_KINDS)
        follow_up = WebhookEvent.from_json(old_hook.payload or "")
        settlement = webhooks.Settlement(old_hook, follow_up=follow_up)
        await webhooks.settle(stale, [settlement])
        async with stale.db.read() as conn:
            left = (await queue.pending_ids(conn, EVENT_KINDS, [message.sid]))[message.sid]
        assert new_hook.id in left, "the stale outcome did not finish the job"
        assert len(left) == 2, "and queued no follow-up (the sending and sent callbacks, nothing else)"
        with pytest.raises(webhooks.JobTakenOver):
            await webhooks.settle_with_replies(stale, webhooks.Settlement(old_hook), follow_up, [])
        await webhooks.settle(fresh, [webhooks.Settlement(new_hook)])
        async with stale.db.read() as conn:
            left = (await queue.pending_ids(conn, EVENT_KINDS, [message.sid]))[message.sid]
        assert new_hook.id not in left
    finally:
        await close(stale, fresh)


async def webhook_payload(platform: Platform, sid: str) -> str | None:
    async with platform.db.read() as conn:
        found = await queue.payloads(conn, EVENT_KINDS, sid)
    return found[0][1] if found else None


@pytest.mark.postgres
def test_a_runner_that_lost_its_claim_cannot_end_the_job(database_url: str, tmp_path: Path) -> None:
    asyncio.run(lapsed(database_url, tmp_path))


class Keeper:
    """A handler that keeps every job in a line of its own and starts none (a dispatcher's full origin)."""

    kinds: tuple[str, ...] = (KIND,)

    def __init__(self) -> None:
        self.kept: list[Job] = []

    async def take(self, claimed: list[Job]) -> None:
        self.kept += claimed

    def skip_origins(self) -> Sequence[str]:
        return ()

    async def close(self) -> None:
        return None


async def stop_hands_back(url: str, data_dir: Path) -> None:
    platform = platform_for(url, data_dir, lease_seconds=600)
    handler = Keeper()
    runner = JobRunner(
        platform, handler, Wakeup(), capacity=10, batch_size=5, grace_seconds=1, backoff_cap_seconds=1
    )
    try:
        await enqueue(platform, 12)
        await runner.start()

        async def all_kept() -> bool:
            return len(handler.kept) == 12

        await wait_for(all_kept, "the runner claimed every job")
        assert runner.held == 12
        await runner.stop()
        assert runner.held == 0
        # Claimable at once (no lease to wait out), and the claim was not counted as an attempt.
        # On the database's clock, as the runner handed them back: this machine's clock may be behind the
        # measured offset (15 ms under load), which made the jobs look due only after the claim.
        now = await platform.clock.now()
        async with platform.db.write() as conn:
            again = await queue.claim(conn, [KIND], now, now + timedelta(seconds=5), 100)
        assert len(again) == 12
        assert {job.attempts for job in again} == {1}
        assert all(job.claim == 2 for job in again)
    finally:
        await close(platform)


@pytest.mark.postgres
def test_a_stop_hands_unstarted_jobs_back(database_url: str, tmp_path: Path) -> None:
    asyncio.run(stop_hands_back(database_url, tmp_path))


class Skipper(Keeper):
    """A handler whose line for one origin is full: the claims leave that origin's jobs in the queue."""

    def __init__(self, skipped: str) -> None:
        super().__init__()
        self.skipped = skipped

    def skip_origins(self) -> Sequence[str]:
        return (self.skipped,)


async def wakes_for_skipped_origins(url: str, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    full, other = "https://full.example", "https://other.example"
    platform = platform_for(url, data_dir, lease_seconds=600)
    claims: list[Sequence[str]] = []
    real_claim = jobs.claim

    async def counted_claim(
        platform: Platform, kinds: Sequence[str], limit: int, skip: Sequence[str] = ()
    ) -> list[Job]:
        claims.append(skip)
        return await real_claim(platform, kinds, limit, skip)

    monkeypatch.setattr(jobs, "claim", counted_claim)
    handler, wake = Skipper(full), Wakeup()
    runner = JobRunner(
        platform, handler, wake, capacity=10, batch_size=5, grace_seconds=1, backoff_cap_seconds=1
    )

    async def enqueue_for(origin: str, count: int) -> None:
        now = await platform.clock.now()
        rows = [queue.job_row(KIND, f"{origin}-{n}", now, None, origin) for n in range(count)]
        async with platform.db.write() as conn:
            await queue.enqueue(conn, rows)

    async def taken() -> bool:  # the runner has read the wake-up, and has claimed or decided not to
        return not wake.is_set()

    try:
        await enqueue_for(full, 3)
        await runner.start()

        async def claimed_once() -> bool:
            return len(claims) >= 1

        await wait_for(claimed_once, "the first claim")
        await wait_for(taken, "the runner waiting")
        before = len(claims)
        for _ in range(5):  # work for the full origin only: a claim would read it all to find none
            await enqueue_for(full, 2)
            wake.set([full])
            await wait_for(taken, "the wake-up read")
        assert len(claims) == before and handler.kept == []

        await enqueue_for(other, 2)
        wake.set([full, other])  # work bound elsewhere too: claimed at once

        async def other_kept() -> bool:
            return len(handler.kept) == 2

        await wait_for(other_kept, "the other origin's jobs claimed")
        assert {job.ref.rpartition("-")[0] for job in handler.kept} == {other}
        assert len(claims) > before
        after = len(claims)
        wake.set()  # a reason other than new work (room freed): always a claim
        await wait_for(taken, "the wake-up read")

        async def claimed_again() -> bool:
            return len(claims) > after

        await wait_for(claimed_again, "a claim after a wake-up for anything")
    finally:
        await runner.stop()
        await close(platform)


@pytest.mark.postgres
def test_wake_ups_for_skipped_origins_only_do_not_claim(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    asyncio.run(wakes_for_skipped_origins(database_url, tmp_path, monkeypatch))
