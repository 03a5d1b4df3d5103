"""What the platform hands a carrier and what a carrier reports back: small value types, and the one table
from a carrier's outcome to a message status and Twilio delivery code.

A carrier knows nothing of HTTP, SQL, accounts or Twilio codes: it speaks in these types (delivery/carriers/),
and the use cases (services/) turn them into status changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from mycpaas.domain.messages import MessageStatus
from mycpaas.errors import ErrorCode


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
    # A part's user data and data_coding as received: the parts are joined before they are decoded
    # (domain/alphabets.assemble), since an escape or a surrogate pair may straddle two parts.
    payload: bytes | None = None
    coding: int = 0
    # The same for a redelivery of this delivery (e.g. a digest of the PDU without its sequence number): a
    # second one within MYCPAAS_SMPP_MO_DEDUPE_SECONDS is acknowledged and dropped. None: no such check.
    fingerprint: str | None = None


OUTCOMES: dict[Outcome, tuple[MessageStatus, ErrorCode | None]] = {
    Outcome.DELIVERED: (MessageStatus.DELIVERED, None),
    Outcome.UNREACHABLE: (MessageStatus.UNDELIVERED, ErrorCode.UNREACHABLE_HANDSET),
    Outcome.UNKNOWN_SUBSCRIBER: (MessageStatus.UNDELIVERED, ErrorCode.UNKNOWN_HANDSET),
    Outcome.LANDLINE: (MessageStatus.UNDELIVERED, ErrorCode.LANDLINE),
    Outcome.FILTERED: (MessageStatus.UNDELIVERED, ErrorCode.CARRIER_VIOLATION),
    Outcome.REJECTED: (MessageStatus.FAILED, ErrorCode.MESSAGE_BLOCKED),
    Outcome.EXPIRED: (MessageStatus.FAILED, ErrorCode.QUEUE_OVERFLOW),
    Outcome.NO_ROUTE: (MessageStatus.FAILED, ErrorCode.UNKNOWN_ERROR),
    Outcome.UNKNOWN: (MessageStatus.UNDELIVERED, ErrorCode.UNKNOWN_ERROR),
}
