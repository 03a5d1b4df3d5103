"""The seam between the platform and a carrier: small value types in, receipts and inbound messages out.

A carrier knows nothing of HTTP, SQL, accounts or Twilio codes. It reports outcomes as `Outcome` values;
the delivery layer maps them to Twilio's 300xx codes in one table (delivery/outcomes.py).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


class Outcome(StrEnum):
    DELIVERED = "delivered"
    UNREACHABLE = "unreachable"
    UNKNOWN_SUBSCRIBER = "unknown_subscriber"
    LANDLINE = "landline"
    FILTERED = "filtered"
    REJECTED = "rejected"
    EXPIRED = "expired"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Submission:
    reference: str  # the platform's id for the message; echoed back on receipts
    source: str
    destination: str
    text: str


@dataclass(frozen=True, slots=True)
class Receipt:
    carrier_message_id: str
    outcome: Outcome


@dataclass(frozen=True, slots=True)
class InboundSms:
    carrier_message_id: str  # lets the platform drop a redelivered message
    source: str
    destination: str
    text: str


class CarrierRejected(Exception):
    """The carrier refused the submission for good; retrying will not help."""

    def __init__(self, outcome: Outcome) -> None:
        super().__init__(outcome.value)
        self.outcome = outcome


class CarrierUnavailable(Exception):
    """The carrier could not take the submission now (link down, throttled); retry later."""


ReceiptSink = Callable[[Receipt], Awaitable[None]]
InboundSink = Callable[[InboundSms], Awaitable[object]]


class Carrier(Protocol):
    name: str

    async def start(self, on_receipt: ReceiptSink, on_inbound: InboundSink) -> None: ...

    async def submit(self, submission: Submission) -> str:
        """Hand the message to the carrier; returns the carrier's message id. Raises CarrierRejected or
        CarrierUnavailable."""
        ...

    async def resume(self, pending: list[tuple[Submission, str]]) -> None:
        """Given submissions (with their carrier ids) still awaiting a receipt after a restart, arrange for
        their receipts to arrive. A carrier whose peer redelivers receipts by itself does nothing."""
        ...

    async def stop(self) -> None: ...
