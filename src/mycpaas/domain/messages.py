"""The Message record, its statuses and the one table of allowed status changes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from mycpaas.domain.segments import Segmentation, split_parts
from mycpaas.domain.sids import Prefix, new_ordered_sid


class MessageStatus(StrEnum):
    ACCEPTED = "accepted"
    SCHEDULED = "scheduled"
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"
    FAILED = "failed"
    CANCELED = "canceled"
    RECEIVING = "receiving"
    RECEIVED = "received"
    READ = "read"
    PARTIALLY_DELIVERED = "partially_delivered"


class Direction(StrEnum):
    INBOUND = "inbound"
    OUTBOUND_API = "outbound-api"
    OUTBOUND_CALL = "outbound-call"
    OUTBOUND_REPLY = "outbound-reply"


S = MessageStatus

# Status changes only move forward: a late "sent" after "delivered" must never regress the record.
ALLOWED_PREDECESSORS: dict[MessageStatus, frozenset[MessageStatus]] = {
    S.ACCEPTED: frozenset({S.SCHEDULED}),  # a scheduled message at SendAt (its sender is picked next)
    S.QUEUED: frozenset({S.ACCEPTED, S.SCHEDULED}),
    S.SENDING: frozenset({S.QUEUED}),
    S.SENT: frozenset({S.QUEUED, S.SENDING}),
    S.DELIVERED: frozenset({S.QUEUED, S.SENDING, S.SENT}),
    S.UNDELIVERED: frozenset({S.QUEUED, S.SENDING, S.SENT}),
    S.FAILED: frozenset({S.ACCEPTED, S.SCHEDULED, S.QUEUED, S.SENDING}),
    S.CANCELED: frozenset({S.SCHEDULED}),
    S.RECEIVED: frozenset({S.RECEIVING}),
    S.READ: frozenset({S.DELIVERED}),
}

FINAL_STATUSES = frozenset({S.DELIVERED, S.UNDELIVERED, S.FAILED, S.CANCELED, S.RECEIVED, S.READ})
IN_FLIGHT_STATUSES = frozenset({S.ACCEPTED, S.QUEUED, S.SENDING, S.RECEIVING})
# The statuses of an inbound message: it is created `received` (Message.inbound), and no status change leads out
# of it or into it from an outbound status (ALLOWED_PREDECESSORS); an outbound message never has one of them.
INBOUND_STATUSES = frozenset({S.RECEIVING, S.RECEIVED})
# A message whose body may still go out cannot be redacted: in flight, or scheduled (its body is sent at SendAt;
# a scheduled message can be canceled or deleted instead).
UNREDACTABLE_STATUSES = IN_FLIGHT_STATUSES | {S.SCHEDULED}


def segments_to_send(body: str, parts: Segmentation | None = None) -> int:
    """The segments an outbound message takes: its body's (`parts`, if already split), or one for a
    media-only message."""
    return (parts or split_parts(body)).count if body else 1


@dataclass(slots=True, kw_only=True)
class Message:
    """A message as stored. New ones are made by `outbound` or `inbound`; storage maps rows by field name."""

    sid: str
    account_sid: str
    direction: Direction
    from_number: str | None
    to_number: str
    body: str
    status: MessageStatus
    num_segments: int
    num_media: int = 0
    encoding: str
    error_code: int | None = None
    error_message: str | None = None
    status_callback: str | None = None
    validity_period: int | None = None
    messaging_service_sid: str | None = None
    price: str | None = None
    price_unit: str | None = "USD"
    carrier_message_id: str | None = None
    created_at: datetime
    updated_at: datetime
    sent_at: datetime | None = None

    @classmethod
    def outbound(
        cls,
        *,
        account_sid: str,
        direction: Direction,
        from_number: str | None,
        to_number: str,
        body: str,
        num_media: int,
        status_callback: str | None,
        validity_period: int | None,
        now: datetime,
        messaging_service_sid: str | None = None,
    ) -> Message:
        """A new message to send, `queued` (its send job is written with it: storage/messages.insert_new)."""
        segmentation = split_parts(body)
        return cls(
            sid=new_ordered_sid(Prefix.MESSAGE),
            account_sid=account_sid,
            direction=direction,
            from_number=from_number,
            to_number=to_number,
            body=body,
            status=MessageStatus.QUEUED,
            num_segments=segments_to_send(body, segmentation),
            num_media=num_media,
            encoding=segmentation.encoding.value,
            status_callback=status_callback,
            validity_period=validity_period,
            messaging_service_sid=messaging_service_sid,
            created_at=now,
            updated_at=now,
        )

    @classmethod
    def accepted(
        cls,
        *,
        account_sid: str,
        direction: Direction,
        messaging_service_sid: str,
        to_number: str,
        body: str,
        num_media: int,
        status_callback: str | None,
        validity_period: int | None,
        now: datetime,
        from_number: str | None = None,
    ) -> Message:
        """A new message sent through a Messaging Service: `accepted` (as at Twilio, From or not), with no
        segments yet (`"num_segments": "0"`) and no sender unless the request named one (`"from": null`); the
        delivery worker picks its sender, or checks the one named, and counts its segments
        (services/service_sending.py). Its send job is written with it."""
        message = cls.outbound(
            account_sid=account_sid,
            direction=direction,
            from_number="",
            to_number=to_number,
            body=body,
            num_media=num_media,
            status_callback=status_callback,
            validity_period=validity_period,
            now=now,
            messaging_service_sid=messaging_service_sid,
        )
        message.from_number, message.status, message.num_segments = from_number, MessageStatus.ACCEPTED, 0
        return message

    @classmethod
    def inbound(
        cls,
        *,
        account_sid: str,
        from_number: str,
        to_number: str,
        body: str,
        carrier_message_id: str,
        now: datetime,
        messaging_service_sid: str | None = None,
    ) -> Message:
        """A message a carrier delivered to one of the platform's numbers, `received`; a number in a Messaging
        Service's pool receives it for the service (Twilio's messaging_service_sid on inbound messages)."""
        segmentation = split_parts(body)
        return cls(
            sid=new_ordered_sid(Prefix.MESSAGE),
            account_sid=account_sid,
            direction=Direction.INBOUND,
            from_number=from_number,
            to_number=to_number,
            body=body,
            status=MessageStatus.RECEIVED,
            num_segments=segmentation.count,
            encoding=segmentation.encoding.value,
            carrier_message_id=carrier_message_id,
            messaging_service_sid=messaging_service_sid,
            created_at=now,
            updated_at=now,
            sent_at=now,
        )


@dataclass(slots=True)
class MessageFilter:
    """Which messages a list returns; every field set narrows it."""

    to_number: str | None = None
    from_number: str | None = None
    sent_at_or_after: datetime | None = None
    sent_before: datetime | None = None
    # The dashboard's log also narrows by these (the API has no such filters).
    status: MessageStatus | None = None
    direction: Direction | None = None
    created_at_or_after: datetime | None = None
    created_before: datetime | None = None
    sid: str | None = None
    # Every word must appear in the From, To or body (domain/message_search.py).
    words: tuple[str, ...] = ()

    def matches_nothing(self) -> bool:
        """A status and a direction no message has together (delivered and inbound, received and outbound):
        known without reading the log, which a database would otherwise walk whole to find nothing (nothing
        indexes the direction; 0.5-0.7 s on SQLite at 1M messages)."""
        if self.status is None or self.direction is None:
            return False
        return (self.status in INBOUND_STATUSES) != (self.direction is Direction.INBOUND)
