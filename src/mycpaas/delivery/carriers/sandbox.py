"""The sandbox carrier: an in-process network with realistic delays and no real handsets.

Every submission is accepted after `send_delay` and gets a receipt after `delivery_delay`; the destinations in
OUTCOME_NUMBERS end as undelivered or failed instead. A delivered message is also offered back to the
platform as an inbound message, which the platform keeps when the destination is one of its own numbers: two
accounts can text each other with no carrier at all.
"""

from __future__ import annotations

import asyncio
import logging
import secrets

from mycpaas.delivery.carriers.base import CarrierRejected, InboundSink, ReceiptSink, RecordSink
from mycpaas.domain.carriage import InboundSms, Outcome, Receipt, Submission, Submitted

log = logging.getLogger("mycpaas.carrier.sandbox")

# Destinations that end otherwise than delivered, so a developer can watch every outcome (docs/sandbox.md).
OUTCOME_NUMBERS: dict[str, Outcome] = {
    "+15005550010": Outcome.UNREACHABLE,
    "+15005550011": Outcome.UNKNOWN_SUBSCRIBER,
    "+15005550012": Outcome.LANDLINE,
    "+15005550013": Outcome.FILTERED,
    "+15005550014": Outcome.REJECTED,
}


class SandboxCarrier:
    name = "sandbox"

    def __init__(self, send_delay: float, delivery_delay: float) -> None:
        self.send_delay = send_delay
        self.delivery_delay = delivery_delay
        self._on_receipt: ReceiptSink | None = None
        self._on_inbound: InboundSink | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self, on_receipt: ReceiptSink, on_inbound: InboundSink) -> None:
        self._on_receipt, self._on_inbound = on_receipt, on_inbound

    async def submit(self, submission: Submission, record: RecordSink) -> None:
        await asyncio.sleep(self.send_delay)
        outcome = OUTCOME_NUMBERS.get(submission.destination, Outcome.DELIVERED)
        if outcome is Outcome.REJECTED:
            raise CarrierRejected(outcome)
        carrier_id = secrets.token_hex(8)
        await record(Submitted(self.name, (carrier_id,)))
        self._spawn(self._deliver(submission, carrier_id, outcome))

    async def resume(self, pending: list[tuple[Submission, str]]) -> None:
        for submission, carrier_id in pending:
            outcome = OUTCOME_NUMBERS.get(submission.destination, Outcome.DELIVERED)
            self._spawn(self._deliver(submission, carrier_id, outcome))

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def binds(self) -> dict[str, int]:
        return {}

    def _spawn(self, coro: object) -> None:
        task: asyncio.Task[None] = asyncio.create_task(coro)  # type: ignore[arg-type]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, submission: Submission, carrier_id: str, outcome: Outcome) -> None:
        await asyncio.sleep(self.delivery_delay)
        assert self._on_receipt is not None and self._on_inbound is not None
        try:
            if outcome is Outcome.DELIVERED:
                await self._on_inbound(
                    InboundSms(
                        self.name,
                        f"mo-{carrier_id}",
                        submission.source,
                        submission.destination,
                        submission.text,
                    )
                )
            await self._on_receipt(Receipt(self.name, (carrier_id,), outcome))
        except Exception:
            # The receipt stays pending: resume() re-arms it at the next start.
            log.exception("sandbox receipt could not be recorded", extra={"action": "sandbox_receipt_failed"})
