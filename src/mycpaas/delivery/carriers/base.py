"""The seam between the platform and a carrier: the Carrier protocol and how a submission can fail.

The value types a carrier is handed and reports back (Submission, Submitted, Receipt, InboundSms, Outcome)
live in domain/carriage.py, so the use cases that record them need nothing from this package.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

from mycpaas.domain.carriage import InboundSms, Outcome, Receipt, Submission, Submitted

__all__ = [
    "Carrier",
    "CarrierDown",
    "CarrierRejected",
    "CarrierUnavailable",
    "InboundSink",
    "ReceiptSink",
    "RecordSink",
]


class CarrierRejected(Exception):
    """The carrier refused the submission for good; retrying will not help."""

    def __init__(self, outcome: Outcome, detail: str = "", accepted: Submitted | None = None) -> None:
        super().__init__(detail or outcome.value)
        self.outcome = outcome
        self.accepted = accepted  # parts of a long message the carrier took before refusing a later one


class CarrierUnavailable(Exception):
    """The carrier could not take the submission now (link down, throttled, queue full); retry later."""


class CarrierDown(CarrierUnavailable):
    """No link to this carrier is up; another route may take the message."""


ReceiptSink = Callable[[Receipt], Awaitable[None]]
InboundSink = Callable[[InboundSms], Awaitable[object]]
# Makes a carrier's acceptance durable (the message `sent`, its parts' ids kept); returns once committed.
RecordSink = Callable[[Submitted], Awaitable[None]]


class Carrier(Protocol):
    name: str

    async def start(self, on_receipt: ReceiptSink, on_inbound: InboundSink) -> None: ...

    async def submit(self, submission: Submission, record: RecordSink) -> None:
        """Hand the message to the carrier and, once it has accepted every part, `record` the acceptance,
        holding the carrier's window slot until that returns: what a crash can leave answered but unrecorded
        (and so send again) is bounded by the window. Raises CarrierRejected or CarrierUnavailable; raises
        CarrierUnavailable only when no part was accepted, so a retry cannot send a part twice."""
        ...

    async def resume(self, pending: list[tuple[Submission, str]]) -> None:
        """Given submissions (with their carrier ids) still awaiting a receipt after a restart, arrange for
        their receipts to arrive. A carrier whose peer redelivers receipts by itself does nothing."""
        ...

    async def stop(self) -> None: ...

    def binds(self) -> dict[str, int]:
        """Binds up in this process per connector (empty: no connectors, e.g. the sandbox), for /readyz."""
        ...
