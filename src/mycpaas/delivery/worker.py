"""The delivery worker: the job handler that hands claimed messages to the carrier, and the carrier's
receipts and inbound messages to the use cases that record them.

Claiming, leases, retries and the stop are the job runner's (mycpaas/runner.py); what is the worker's own is
the carrier and batching what the carrier reports (sender pacing is decided when a batch starts sending,
services/delivery.py, on a timeline every delivery process shares).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from datetime import datetime

from mycpaas.batching import Batcher
from mycpaas.delivery.carriers.base import Carrier, CarrierRejected, CarrierUnavailable
from mycpaas.delivery.carriers.routing import CarrierElsewhere
from mycpaas.delivery.carriers.sandbox import SandboxCarrier
from mycpaas.domain.carriage import Outcome, Receipt, Submission, Submitted
from mycpaas.domain.clock import utcnow
from mycpaas.domain.jobs import SEND_MESSAGE, Job
from mycpaas.domain.messages import Message
from mycpaas.runner import JobRunner
from mycpaas.services import delivery, inbound, receipts
from mycpaas.services.platform import Platform

log = logging.getLogger("mycpaas.worker")

MAX_BACKOFF_SECONDS = 300.0
RECEIPT_SWEEP_SECONDS = 5.0
IDLE_SENDER_SWEEPS = 120  # every 10 minutes
STOP_GRACE_SECONDS = 10.0
ELSEWHERE_DELAY_SECONDS = 0.2  # a job handed back for the process that holds its connector's bind


def submission(message: Message) -> Submission:
    remaining = None
    if message.validity_period is not None:
        elapsed = (utcnow() - message.created_at).total_seconds()
        remaining = max(1, int(message.validity_period - elapsed))
    return Submission(message.sid, message.from_number or "", message.to_number, message.body, remaining)


class DeliveryWorker:
    kinds: tuple[str, ...] = (SEND_MESSAGE,)

    def __init__(
        self,
        platform: Platform,
        carrier: Carrier,
        concurrency: int = 200,
        accepting: Callable[[], bool] = lambda: True,
    ) -> None:
        self.platform = platform
        self.carrier = carrier
        settings = platform.settings
        # Submissions in flight are let finish (and be recorded) for a while at stop: cancelling one whose
        # submit_sm_resp is on its way would send the message again after the restart.
        self.runner = JobRunner(
            platform,
            self,
            platform.sends_ready,
            capacity=concurrency,
            batch_size=settings.worker_batch_size,
            grace_seconds=STOP_GRACE_SECONDS,
            backoff_cap_seconds=MAX_BACKOFF_SECONDS,
            accepting=accepting,  # a process holding no carrier bind claims no send job
        )
        self._overtaken = receipts.Overtaken()
        self._receipts: Batcher[Receipt, None] = Batcher(self._apply_receipts)
        self._accepted: Batcher[tuple[Message, Submitted, Job], None] = Batcher(self._record_submitted)
        self._sweep_task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.carrier.start(self._receipts.add, lambda sms: inbound.record_inbound(self.platform, sms))
        # Only the sandbox re-arms receipts (an SMSC redelivers them by itself at the next bind), so only the
        # messages it accepted are handed back: not one an SMSC accepted through a connector removed since,
        # whose sandbox receipt would match no part and be kept as unmatched, anew at every start.
        pending = await delivery.awaiting_receipts(self.platform, SandboxCarrier.name)
        await self.carrier.resume([(submission(m), m.carrier_message_id or "") for m in pending])
        await self.runner.start()
        self._sweep_task = asyncio.create_task(self._sweep_receipts())

    async def stop(self) -> None:
        if self._sweep_task:
            self._sweep_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweep_task
        await self.runner.stop()  # lets submissions finish, then closes this handler

    # ---- the job handler ----------------------------------------------------------------------------

    async def take(self, jobs: list[Job]) -> None:
        ready = await delivery.start_sending(self.platform, jobs)  # sender pacing is decided there
        started = {sending.job.id for sending in ready}
        self.runner.release(*(job for job in jobs if job.id not in started))  # finished or postponed
        for sending in ready:
            self.runner.run(sending.job, self._send(sending.job, sending.message, sending.at))

    def skip_origins(self) -> Sequence[str]:
        return ()

    async def close(self) -> None:
        await self._accepted.close()
        await self._receipts.close()
        await self.carrier.stop()

    # ---- one message ----------------------------------------------------------------------------------

    async def _send(self, job: Job, message: Message, at: datetime | None) -> None:
        if at is not None and (wait := (at - await self.platform.clock.now()).total_seconds()) > 0:
            await asyncio.sleep(wait)  # its sender's slot
        try:
            await self.carrier.submit(
                submission(message), lambda accepted: self._record(job, message, accepted)
            )
        except CarrierRejected as rejected:
            log.info("carrier refused %s: %s", message.sid, rejected, extra={"action": "carrier_refused"})
            await delivery.record_failed(self.platform, message, rejected.outcome, job, rejected.accepted)
            return
        except CarrierElsewhere:
            await self.runner.hand_back([job], ELSEWHERE_DELAY_SECONDS)
        except CarrierUnavailable as unavailable:
            if job.attempts >= self.platform.settings.max_send_attempts:
                await delivery.record_failed(self.platform, message, Outcome.UNKNOWN, job)
            else:
                await self.runner.retry(job, str(unavailable) or "carrier unavailable")

    async def _record(self, job: Job, message: Message, submitted: Submitted) -> None:
        """The carrier has the message (and holds its window slot until this returns): from here it must never
        be sent again, so recording is retried until it succeeds (the heartbeat keeps the job's lease) instead
        of putting the job back."""
        delay = 0.1
        while True:
            try:
                await self._accepted.add((message, submitted, job))
                return
            except Exception:
                log.exception(
                    "recording a submission failed; retrying", extra={"action": "record_sent_failed"}
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    # ---- what the carrier reports ------------------------------------------------------------------------

    async def _record_submitted(self, batch: list[tuple[Message, Submitted, Job]]) -> list[None]:
        await delivery.record_submitted(self.platform, batch, self._overtaken)
        return [None] * len(batch)

    async def _apply_receipts(self, batch: list[Receipt]) -> list[None]:
        await receipts.apply_receipts(self.platform, batch, self._overtaken)
        return [None] * len(batch)

    async def _sweep_receipts(self) -> None:
        """Receipts that came before their part was known are kept; apply them once it is. Now and then,
        senders idle for an hour lose their timelines (a later message starts a new one). Each sweep also
        delivers concatenated inbound messages whose parts stopped coming (`_flush_stale_parts`)."""
        swept = 0
        while True:
            await asyncio.sleep(RECEIPT_SWEEP_SECONDS)
            swept += 1
            if swept % IDLE_SENDER_SWEEPS == 0:
                try:
                    await delivery.forget_idle_senders(self.platform)
                except Exception:
                    log.exception("forgetting idle senders failed", extra={"action": "sender_sweep_failed"})
            await self._flush_stale_parts()
            try:
                applied, waiting = await receipts.retry_pending_receipts(self.platform, self._overtaken)
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

    async def _flush_stale_parts(self) -> None:
        """Deliver concatenated inbound messages whose parts stopped coming: one read when there are none, safe
        in every delivery process at once. Here rather than in housekeeping (which runs once a minute) so that
        the message goes within seconds of its timeout; the fingerprints of the dedupe window are housekeeping's."""
        try:
            await inbound.flush_stale_inbound_parts(
                self.platform, self.platform.settings.inbound_parts_timeout_seconds
            )
        except Exception:
            log.exception("tidying inbound parts failed", extra={"action": "inbound_sweep_failed"})
