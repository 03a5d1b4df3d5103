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
    NO_ROUTE = "no_route"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Submission:
    reference: str  # the platform's id for the message
    source: str
    destination: str
    text: str
    validity_seconds: int | None = None  # how long the carrier may keep trying; None = its default


@dataclass(frozen=True, slots=True)
class Submitted:
    """What the carrier accepted: its own id for every part, in order, so each part's receipt finds it."""

    carrier: str  # who correlates the receipts: a receipt's `carrier` is the same string
    part_ids: tuple[str, ...]
    lookup_ids: tuple[str, ...] = ()  # every spelling of the part ids a receipt may have used (hex/decimal)


@dataclass(frozen=True, slots=True)
class Receipt:
    carrier: str
    carrier_message_ids: tuple[
        str, ...
    ]  # the id as reported, then any other spelling it may have been stored as
    outcome: Outcome


@dataclass(frozen=True, slots=True)
class InboundSms:
    carrier: str
    carrier_message_id: str  # lets the platform drop a redelivered message
    source: str
    destination: str
    text: str
    part: tuple[int, int, int] | None = None  # (reference, total, number) of a concatenated message's part


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


class Carrier(Protocol):
    name: str

    async def start(self, on_receipt: ReceiptSink, on_inbound: InboundSink) -> None: ...

    async def submit(self, submission: Submission) -> Submitted:
        """Hand the message to the carrier. Raises CarrierRejected or CarrierUnavailable; raises
        CarrierUnavailable only when no part was accepted, so a retry cannot send a part twice."""
        ...

    async def resume(self, pending: list[tuple[Submission, str]]) -> None:
        """Given submissions (with their carrier ids) still awaiting a receipt after a restart, arrange for
        their receipts to arrive. A carrier whose peer redelivers receipts by itself does nothing."""
        ...

    async def stop(self) -> None: ...
