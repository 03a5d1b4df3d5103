"""The one table from carrier outcomes to message statuses and Twilio delivery codes."""

from __future__ import annotations

from mycpaas.delivery.carriers.base import Outcome
from mycpaas.domain.messages import MessageStatus
from mycpaas.errors import ErrorCode

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
