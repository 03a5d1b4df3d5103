"""Twilio's test "magic numbers", and the sandbox carrier's own numbers for delivery outcomes.

The magic numbers lie in the 555-0100 block that no real subscriber holds, so they behave the same for every
account: code written against Twilio's test credentials gets the same answers here. The outcome numbers let a
developer watch a message end as undelivered or failed without a real carrier.
"""

from __future__ import annotations

from enum import StrEnum

from mycpaas.errors import ErrorCode

MAGIC_VALID_FROM = "+15005550006"

MAGIC_FROM_ERRORS: dict[str, ErrorCode] = {
    "+15005550001": ErrorCode.FROM_INVALID,
    "+15005550007": ErrorCode.FROM_NOT_OWNED,
    "+15005550008": ErrorCode.QUEUE_FULL,
}

MAGIC_TO_ERRORS: dict[str, ErrorCode] = {
    "+15005550001": ErrorCode.TO_INVALID,
    "+15005550002": ErrorCode.TO_UNREACHABLE,
    "+15005550003": ErrorCode.REGION_NOT_ENABLED,
    "+15005550004": ErrorCode.TO_UNSUBSCRIBED,
    "+15005550009": ErrorCode.TO_NOT_MOBILE,
}


class SandboxOutcome(StrEnum):
    """How the sandbox network treats a destination; the delivery layer maps these to Twilio codes."""

    DELIVERED = "delivered"
    UNREACHABLE = "unreachable"
    UNKNOWN_SUBSCRIBER = "unknown_subscriber"
    LANDLINE = "landline"
    FILTERED = "filtered"
    REJECTED = "rejected"


SANDBOX_OUTCOMES: dict[str, SandboxOutcome] = {
    "+15005550010": SandboxOutcome.UNREACHABLE,
    "+15005550011": SandboxOutcome.UNKNOWN_SUBSCRIBER,
    "+15005550012": SandboxOutcome.LANDLINE,
    "+15005550013": SandboxOutcome.FILTERED,
    "+15005550014": SandboxOutcome.REJECTED,
}
