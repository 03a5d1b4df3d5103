"""The delivery worker: claims due jobs from the durable queue and hands messages to the carrier.

It runs inside `mycpaas serve`. A job stays in the table until its outcome is committed, under a lease: if the
process dies, the lease runs out and the job is claimed again at the next start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random

from mycpaas.delivery.batching import Batcher
from mycpaas.delivery.carriers.base import Carrier, CarrierRejected, CarrierUnavailable
from mycpaas.delivery.pacing import SenderPacing
from mycpaas.domain.carriage import Outcome, Receipt, Submission, Submitted
from mycpaas.domain.clock import utcnow
from mycpaas.domain.jobs import Job
from mycpaas.domain.messages import Message
from mycpaas.domain.senders import sender_kind
from mycpaas.services import delivery
from mycpaas.services.messaging import SEND_JOB
from mycpaas.services.platform import Platform

log = logging.getLogger("mycpaas.worker")

MAX_BACKOFF_SECONDS = 300.0
IDLE_POLL_SECONDS = 1.0
RECEIPT_SWEEP_SECONDS = 5.0
STOP_GRACE_SECONDS = 10.0


def backoff_seconds(attempt: int) -> float:
    """Exponential backoff with full jitter, capped."""
    return random.uniform(0, min(MAX_BACKOFF_SECONDS, 2.0 ** min(attempt, 16)))


def submission(message: Message) -> Submission:
    remaining = None
    if message.validity_period is not None:
        elapsed = (utcnow() - message.created_at).total_seconds()
        remaining = max(1, int(message.validity_period - elapsed))
    return Submission(message.sid, message.from_number or "", message.to_number, message.body, remaining)


class DeliveryWorker:
    def __init__(self, platform: Platform, carrier: Carrier, concurrency: int = 200) -> None:
        self.platform = platform
        self.carrier = carrier
        self._wake = asyncio.Event()
        self._slots = asyncio.Semaphore(concurrency)
        self._running: dict[asyncio.Task[None], int] = {}
        self._loop_task: asyncio.Task[None] | None = None
        self._heartbeat_task: asyncio.Task[None] | None = None
        self._sweep_task: asyncio.Task[None] | None = None
        settings = platform.settings
        self._senders = SenderPacing(lambda sender: settings.sender_mps(sender_kind(sender)))
        self._waits: dict[str, float] = {}  # seconds an admitted message waits for its sender's slot
        self._receipts: Batcher[Receipt] = Batcher(lambda batch: delivery.apply_receipts(platform, batch))
        self._accepted: Batcher[tuple[Message, Submitted, int]] = Batcher(
            lambda batch: delivery.record_submitted_many(platform, batch)
        )

    def wake(self) -> None:
        self._wake.set()

    async def start(self) -> None:
        await self.carrier.start(self._receipts.add, lambda sms: delivery.record_inbound(self.platform, sms))
        pending = await delivery.awaiting_receipts(self.platform)
        await self.carrier.resume([(submission(m), m.carrier_message_id or "") for m in pending])
        self._loop_task = asyncio.create_task(self._loop())
        self._heartbeat_task = asyncio.create_task(self._heartbeat())
        self._sweep_task = asyncio.create_task(self._sweep_receipts())

    async def stop(self) -> None:
        for background in (self._loop_task, self._heartbeat_task, self._sweep_task):
            if background:
                background.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await background
        # Submissions in flight are let finish (and be recorded) for a while: cancelling one whose
        # submit_sm_resp is on its way would send the message again after the restart.
        if self._running:
            await asyncio.wait(list(self._running), timeout=STOP_GRACE_SECONDS)
        for task in list(self._running):
            task.cancel()
        await asyncio.gather(*self._running, return_exceptions=True)
        await self.carrier.stop()

    async def _loop(self) -> None:
        settings = self.platform.settings
        while True:
            self._wake.clear()
            try:
                jobs = await delivery.claim_jobs(self.platform, settings.worker_batch_size)
            except Exception:
                log.exception("claiming jobs failed", extra={"action": "claim_failed"})
                jobs = []
            for job, message in await self._start(jobs):
                await self._slots.acquire()
                task = asyncio.create_task(self._send(job, message))
                self._running[task] = job.id
                task.add_done_callback(self._done)
            if len(jobs) < settings.worker_batch_size:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), IDLE_POLL_SECONDS)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._running.pop(task, None)
        self._slots.release()

    async def _heartbeat(self) -> None:
        lease = self.platform.settings.worker_lease_seconds
        while True:
            await asyncio.sleep(lease / 3)
            try:
                await delivery.extend_leases(self.platform, list(self._running.values()))
            except Exception:
                log.exception("extending job leases failed", extra={"action": "lease_heartbeat_failed"})

    async def _sweep_receipts(self) -> None:
        """Receipts that came before their part was known are kept; apply them once it is."""
        while True:
            await asyncio.sleep(RECEIPT_SWEEP_SECONDS)
            try:
                applied, waiting = await delivery.retry_pending_receipts(self.platform)
            except Exception:
                log.exception("applying kept receipts failed", extra={"action": "receipt_sweep_failed"})
                continue
            if waiting:
                log.warning(
                    "%d receipts still match no submitted message (%d applied now)",
                    waiting,
                    applied,
                    extra={"action": "receipts_unmatched"},
                )

    async def _start(self, jobs: list[Job]) -> list[tuple[Job, Message]]:
        sends = [job for job in jobs if job.kind == SEND_JOB]
        for job in jobs:
            if job.kind != SEND_JOB:
                log.error("unknown job kind %s", job.kind, extra={"action": "job_unknown"})
        if not sends:
            return []
        try:
            return await delivery.start_sending(self.platform, sends, self._pace)
        except Exception:
            # The jobs keep their leases; when those run out they are claimed again.
            log.exception("starting a batch failed", extra={"action": "batch_start_failed"})
            return []

    def _pace(self, message: Message) -> float:
        admitted, seconds = self._senders.admit(
            message.sid, message.from_number or "", asyncio.get_running_loop().time()
        )
        if admitted:
            if seconds > 0:
                self._waits[message.sid] = seconds
            return 0.0
        return seconds

    async def _retry(self, job: Job, error: str) -> None:
        await delivery.retry_job(self.platform, job, backoff_seconds(job.attempts), error)
        self.wake()

    async def _send(self, job: Job, message: Message) -> None:
        if wait := self._waits.pop(message.sid, 0.0):
            await asyncio.sleep(wait)
        try:
            try:
                submitted = await self.carrier.submit(submission(message))
            except CarrierRejected as rejected:
                log.info("carrier refused %s: %s", message.sid, rejected, extra={"action": "carrier_refused"})
                await delivery.record_failed(
                    self.platform, message, rejected.outcome, job.id, rejected.accepted
                )
                return
            except CarrierUnavailable as unavailable:
                if job.attempts >= self.platform.settings.max_send_attempts:
                    await delivery.record_failed(self.platform, message, Outcome.UNKNOWN, job.id)
                else:
                    await self._retry(job, str(unavailable) or "carrier unavailable")
                return
        except Exception as exc:
            log.exception("job %s failed; will retry", job.id, extra={"action": "job_failed"})
            await self._retry(job, type(exc).__name__)
            return
        await self._record(job, message, submitted)

    async def _record(self, job: Job, message: Message, submitted: Submitted) -> None:
        """The carrier has the message: from here it must never be sent again, so recording is retried
        until it succeeds (the heartbeat keeps the job's lease) instead of putting the job back."""
        delay = 0.1
        while True:
            try:
                await self._accepted.add((message, submitted, job.id))
                return
            except Exception:
                log.exception(
                    "recording a submission failed; retrying", extra={"action": "record_sent_failed"}
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
