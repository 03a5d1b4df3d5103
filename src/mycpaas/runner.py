"""The job runner: one way to claim, keep, finish and give back background jobs, for every kind of job.

A runner claims due jobs of its handler's kinds in batches, under a lease, and hands each batch to the
handler. From the claim until the job is released, the runner holds it: a heartbeat renews the lease of
every held job, so no other runner (in this process or another) claims it meanwhile. The handler starts a
job's work through the runner (`run`), keeps it in a line of its own, gives it back (`hand_back`) or
settles it in a transaction of its own under the job's claim and then `release`s it. Work that raises is
retried under the claim with `domain.jobs.backoff_seconds`. At stop, work in flight gets a grace period,
the handler is closed (it flushes what it batched), and every job still held is handed back at once rather
than when its lease runs out.

All writes about a job are fenced on its claim token (storage/queue.py): a runner that lost its claim (its
lease lapsed and another runner claimed the job) cannot finish, retry or postpone it; it may only record
what it had already done outside the queue (a carrier's acceptance), which is safe to repeat.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable, Coroutine, Sequence
from datetime import timedelta
from typing import Any, Protocol

from mycpaas.domain.jobs import Job, backoff_seconds
from mycpaas.services import jobs as job_store
from mycpaas.services.platform import Platform
from mycpaas.services.wakeup import Wakeup

log = logging.getLogger("mycpaas.runner")

IDLE_POLL_SECONDS = 1.0


class JobHandler(Protocol):
    kinds: tuple[str, ...]  # the stable job-kind names this handler is registered under

    async def take(self, jobs: list[Job]) -> None:
        """A claimed batch: start, keep, hand back or settle-and-release each job."""
        ...

    def skip_origins(self) -> Sequence[str]:
        """Origins whose jobs the next claim leaves in the queue (empty when the kind has none)."""
        ...

    async def close(self) -> None:
        """At stop, after the work in flight ended: write what is still batched."""
        ...


class JobRunner:
    def __init__(
        self,
        platform: Platform,
        handler: JobHandler,
        wake: Wakeup,
        *,
        capacity: int,
        batch_size: int,
        grace_seconds: float,
        backoff_cap_seconds: float,
        accepting: Callable[[], bool] = lambda: True,
    ) -> None:
        self.platform = platform
        # Whether to claim at all now (a delivery process holding no carrier bind claims nothing); the handler
        # wakes the runner when it turns true.
        self.accepting = accepting
        self.handler = handler
        self.capacity = capacity  # jobs whose work runs at once; jobs held in a handler's line do not count
        self.batch_size = batch_size
        self.grace_seconds = grace_seconds
        self.backoff_cap_seconds = backoff_cap_seconds
        self._wake = wake
        self._held: dict[int, Job] = {}
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._background: list[asyncio.Task[None]] = []
        self._full = False  # the last claim was skipped for want of room: a job ending wakes the loop
        # The origins skipped by the last claim when it found nothing: while the handler skips the same ones
        # and only work bound for them arrives, another claim would find nothing again (it reads every due row
        # to do so), so the runner waits for room, for other work, or for the poll.
        self._dry: frozenset[str] | None = None

    @property
    def held(self) -> int:
        return len(self._held)

    def wake(self) -> None:
        self._wake.set()

    @property
    def running(self) -> bool:
        """Its claim loop and heartbeat are alive (for /readyz)."""
        return bool(self._background) and not any(task.done() for task in self._background)

    async def start(self) -> None:
        self._background = [asyncio.create_task(self._loop()), asyncio.create_task(self._heartbeat())]

    async def stop(self) -> None:
        for task in self._background:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._tasks:
            await asyncio.wait(list(self._tasks.values()), timeout=self.grace_seconds)
        for task in list(self._tasks.values()):
            task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)
        try:
            await self.handler.close()
        except Exception:
            log.exception("closing a job handler failed", extra={"action": "handler_close_failed"})
        leftovers, self._held = list(self._held.values()), {}
        try:
            await job_store.hand_back(self.platform, leftovers, await self.platform.clock.now())
        except Exception:
            log.exception("handing jobs back at stop failed", extra={"action": "hand_back_failed"})

    # ---- what a handler calls ---------------------------------------------------------------------

    def run(self, job: Job, work: Coroutine[Any, Any, None]) -> bool:
        """Run a held job's work now; the job is released when the work returns, retried if it raises.
        False (and the work is not run) when the job is no longer held here under this claim: the heartbeat
        found it claimed elsewhere, so a handler must not send it from a line it kept."""
        if not self.holds(job) or job.id in self._tasks:
            work.close()
            return False
        self._tasks[job.id] = asyncio.create_task(self._run(job, work))
        return True

    def holds(self, job: Job) -> bool:
        return self._held.get(job.id) == job

    def release(self, *jobs: Job) -> None:
        """The handler ended these jobs itself (finished or handed back under their claims)."""
        for job in jobs:
            if self._held.get(job.id) == job:
                del self._held[job.id]

    async def hand_back(self, jobs: Sequence[Job], delay_seconds: float) -> None:
        """Give held jobs back to the queue, unworked, to run after `delay_seconds`."""
        try:
            await job_store.hand_back(
                self.platform, jobs, await self.platform.clock.now() + timedelta(seconds=delay_seconds)
            )
        finally:
            self.release(*jobs)  # on failure their leases run out; either way they are not ours to keep

    async def retry(self, job: Job, error: str) -> None:
        """The attempt failed: try again after a backoff that grows with the job's attempts."""
        delay = backoff_seconds(job.attempts, random.random(), self.backoff_cap_seconds)
        try:
            await job_store.retry(
                self.platform, job, await self.platform.clock.now() + timedelta(seconds=delay), error
            )
        finally:
            self.release(job)
        self.wake()

    # ---- claiming, running, heartbeat -------------------------------------------------------------------

    async def _loop(self) -> None:
        anything = True
        while True:
            woken_for_anything, woken_origins = self._wake.take()
            free = self.capacity - len(self._tasks)
            wanted = min(self.batch_size, free)
            self._full = wanted <= 0
            if not self.accepting():
                wanted = 0
            skip = self.handler.skip_origins()
            anything = anything or woken_for_anything
            if not anything and self._dry is not None and self._dry == frozenset(skip) >= woken_origins:
                wanted = 0  # woken only for origins the claim would skip again
            claimed: list[Job] = []
            if wanted > 0:
                try:
                    claimed = await job_store.claim(self.platform, self.handler.kinds, wanted, skip)
                except Exception:
                    log.exception("claiming jobs failed", extra={"action": "claim_failed"})
                    self._dry = None
                else:
                    self._dry = frozenset(skip) if skip and not claimed else None
            await self._take(claimed)
            anything = False
            if len(claimed) < max(wanted, 1):
                # Idle or full: claim again when woken (new work, or work here finished) or at the next poll.
                try:
                    await asyncio.wait_for(self._wake.wait(), IDLE_POLL_SECONDS)
                except TimeoutError:
                    anything = True  # jobs come due with time (retries, scheduled sends, paused origins)
            else:
                await asyncio.sleep(0)  # SQLite statements do not yield; let the work run

    async def _take(self, claimed: list[Job]) -> None:
        # A job already held or still running here was claimed again because its lease lapsed (heartbeats
        # failed): it is being worked on under the old claim, whose writes are now fenced off, so the new
        # claim goes back to the queue and the job runs once more later rather than twice at once.
        again = [job for job in claimed if job.id in self._held or job.id in self._tasks]
        fresh = [job for job in claimed if job.id not in self._held and job.id not in self._tasks]
        self._held.update((job.id, job) for job in fresh)
        if again:
            with contextlib.suppress(Exception):
                await job_store.hand_back(
                    self.platform, again, await self.platform.clock.now() + timedelta(seconds=1)
                )
        if not fresh:
            return
        try:
            await self.handler.take(fresh)
        except Exception:
            log.exception("taking a batch of jobs failed", extra={"action": "batch_start_failed"})
            unstarted = [job for job in fresh if job.id in self._held and job.id not in self._tasks]
            with contextlib.suppress(Exception):
                await self.hand_back(unstarted, 1.0)

    async def _run(self, job: Job, work: Coroutine[Any, Any, None]) -> None:
        this = asyncio.current_task()
        try:
            try:
                await work
            except Exception as exc:
                log.exception(
                    "job %s (%s) failed; will retry", job.id, job.kind, extra={"action": "job_failed"}
                )
                with contextlib.suppress(Exception):
                    await self.retry(job, type(exc).__name__)
        finally:
            # Cancelled (a stop): the job stays held and is handed back. Otherwise it is ended.
            if self._tasks.get(job.id) is this:
                del self._tasks[job.id]
        self.release(job)
        if self._full:
            self.wake()  # room for the claim that was skipped (otherwise new work or the poll wakes it)

    async def _heartbeat(self) -> None:
        lease = self.platform.settings.worker_lease_seconds
        while True:
            await asyncio.sleep(lease / 3)
            held = list(self._held.values())
            try:
                kept = await job_store.extend_leases(self.platform, held)
            except Exception:
                log.exception("extending job leases failed", extra={"action": "lease_heartbeat_failed"})
                continue
            for job in held:
                if job.id not in kept and self._held.get(job.id) == job:
                    # Ended meanwhile by its own transaction, or claimed elsewhere after a lapse: not ours.
                    del self._held[job.id]
